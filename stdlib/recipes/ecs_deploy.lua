-- recipes.ecs_deploy: redeploy an ECS service and wait until it is stable,
-- explaining a failure with the evidence an engineer would otherwise dig
-- out by hand: stop reasons, container exit codes and the last lines of
-- the stopped tasks' CloudWatch log streams.
--
--   step "Redeploy the API" (ecs_deploy.redeploy(function(ctx)
--     return { cluster = "c", service = "s", desired_count = 2,
--              health_check_grace_period = 180, minimum_healthy_percent = 100,
--              maximum_percent = 200, circuit_breaker = { enable = true, rollback = true },
--              timeout = "20m", needs_restart = function(ctx) return false end }
--   end))
--
-- Only cluster and service are required. Unknown settings and values of
-- the wrong type raise (see recipes.settings and REDEPLOY_FIELDS below).
--
-- The wait fails early when the deployment's rolloutState becomes FAILED
-- (the circuit breaker gave up) or when the same task failure repeats
-- REPEAT_LIMIT times, instead of polling until a timeout.
local aws = require("aws")
local errors = require("mnem.errors")
local settings = require("recipes.settings")
local wait = require("mnem.wait")

local M = {}

-- The settings of redeploy, as recipes.settings declares them.
local REDEPLOY_FIELDS = {
  cluster = { type = "string", required = true },
  service = { type = "string", required = true },
  desired_count = { type = "integer" },
  health_check_grace_period = { type = "integer" },
  minimum_healthy_percent = { type = "integer" },
  maximum_percent = { type = "integer" },
  circuit_breaker = { type = "table", fields = { enable = { type = "boolean" }, rollback = { type = "boolean" } } },
  timeout = { type = "duration" },
  interval = { type = "duration" },
  needs_restart = { type = "function" },
}

-- Identical task failures (same stop reason, exit code and last log line)
-- seen this many times end the wait: the next task will fail the same way.
M.REPEAT_LIMIT = 3

-- Log lines fetched from each stopped task's stream.
M.LOG_LINES = 20

local function describe_service(spec)
  local out = aws.ecs.describe_services{ cluster = spec.cluster, services = { spec.service } }
  local svc = out.services and out.services[1]
  if not svc or svc.status == "INACTIVE" then
    local reason = out.failures and out.failures[1] and out.failures[1].reason or "INACTIVE"
    errors.raise{ kind = "ecs", code = "ServiceNotFound",
                  message = ("ECS service %s in cluster %s not found (%s)"):format(spec.service, spec.cluster, reason) }
  end
  return svc
end

local function settings_match(svc, spec)
  local config = svc.deploymentConfiguration or {}
  local breaker = config.deploymentCircuitBreaker or {}
  local want = spec.circuit_breaker
  return (spec.desired_count == nil or svc.desiredCount == spec.desired_count)
    and (spec.health_check_grace_period == nil or svc.healthCheckGracePeriodSeconds == spec.health_check_grace_period)
    and (spec.maximum_percent == nil or config.maximumPercent == spec.maximum_percent)
    and (spec.minimum_healthy_percent == nil or config.minimumHealthyPercent == spec.minimum_healthy_percent)
    and (want == nil or (breaker.enable == (want.enable ~= false) and breaker.rollback == (want.rollback == true)))
end

local function is_steady(svc)
  local deployments = svc.deployments or {}
  local primary = deployments[1]
  return #deployments == 1 and primary.rolloutState ~= "FAILED" and primary.rolloutState ~= "IN_PROGRESS"
    and svc.runningCount == svc.desiredCount and (svc.pendingCount or 0) == 0
end

local function find_deployment(svc, id)
  for _, d in ipairs(svc.deployments or {}) do
    if d.id == id then return d end
  end
  return nil
end

local function task_id(arn) return arn:match("([^/]+)$") end

-- Returns the last log lines of CONTAINER in TASK, or {} when the task
-- definition has no awslogs configuration or the stream does not exist.
local function log_tail(task, container, definitions)
  local arn = task.taskDefinitionArn
  definitions[arn] = definitions[arn] or aws.ecs.describe_task_definition{ taskDefinition = arn }.taskDefinition
  for _, c in ipairs(definitions[arn].containerDefinitions or {}) do
    local logging = c.logConfiguration
    if c.name == container.name and logging and logging.logDriver == "awslogs" then
      local options = logging.options or {}
      local group, prefix = options["awslogs-group"], options["awslogs-stream-prefix"]
      if not group or not prefix then return {} end
      local stream = ("%s/%s/%s"):format(prefix, c.name, task_id(task.taskArn))
      local out = aws.try(aws.logs.get_log_events, { logGroupName = group, logStreamName = stream,
                                                     startFromHead = false, limit = M.LOG_LINES })
      local lines = {}
      for _, e in ipairs(out and out.events or {}) do lines[#lines + 1] = e.message end
      return lines, group .. " " .. stream
    end
  end
  return {}
end

-- The line of LINES most likely to explain a crash: the last one that
-- looks like an error, else the last line.
local function likely_cause_line(lines)
  for i = #lines, 1, -1 do
    local lower = lines[i]:lower()
    if lower:find("error", 1, true) or lower:find("exception", 1, true) or lower:find("fatal", 1, true)
        or lower:find("does not exist", 1, true) then
      return lines[i]
    end
  end
  return lines[#lines]
end

-- Describes newly stopped tasks of the deployment and returns their
-- evidence records: { task, reason, exit_code, container, line, lines, stream }.
local function new_failures(spec, deployment_id, seen, definitions)
  local listed = aws.ecs.list_tasks{ cluster = spec.cluster, serviceName = spec.service, desiredStatus = "STOPPED" }
  local fresh = {}
  for _, arn in ipairs(listed.taskArns or {}) do
    if not seen[arn] then fresh[#fresh + 1] = arn end
  end
  if #fresh == 0 then return {} end
  local evidence = {}
  local described = aws.ecs.describe_tasks{ cluster = spec.cluster, tasks = fresh }
  for _, task in ipairs(described.tasks or {}) do
    seen[task.taskArn] = true
    if task.startedBy == deployment_id or task.startedBy == nil then
      for _, container in ipairs(task.containers or {}) do
        if container.exitCode ~= nil and container.exitCode ~= 0 then
          local lines, stream = log_tail(task, container, definitions)
          evidence[#evidence + 1] = {
            task = task_id(task.taskArn), reason = task.stoppedReason, exit_code = container.exitCode,
            container = container.name, line = likely_cause_line(lines), lines = lines, stream = stream,
          }
        end
      end
    end
  end
  return evidence
end

local function evidence_text(item)
  local text = ("task %s stopped: %s; container %s exited with code %s"):format(item.task,
    item.reason or "no reason given", item.container or "?", tostring(item.exit_code))
  if item.line then text = text .. "; last log line: " .. item.line end
  return text
end

local function fail_with(spec, deployment_id, cause, evidence)
  local lines = { ("ECS service %s deployment %s failed: %s"):format(spec.service, deployment_id, cause) }
  for _, item in ipairs(evidence) do lines[#lines + 1] = "  " .. evidence_text(item) end
  errors.raise{ kind = "ecs", code = "DeploymentFailed", retryable = false, deployment = deployment_id,
                evidence = evidence, message = table.concat(lines, "\n") }
end

-- Polls until the deployment DEPLOYMENT_ID is the only one and complete.
local function wait_stable(ctx, spec, deployment_id)
  local seen, definitions, evidence, repeats = {}, {}, {}, {}
  -- Tasks already stopped before this deployment are not its evidence.
  local before = aws.ecs.list_tasks{ cluster = spec.cluster, serviceName = spec.service, desiredStatus = "STOPPED" }
  for _, arn in ipairs(before.taskArns or {}) do seen[arn] = true end

  return wait.until_(function()
    local svc = describe_service(spec)
    local deployment = find_deployment(svc, deployment_id)
    for _, item in ipairs(new_failures(spec, deployment_id, seen, definitions)) do
      evidence[#evidence + 1] = item
      local key = ("%s|%s|%s"):format(item.reason, item.exit_code, item.line)
      repeats[key] = (repeats[key] or 0) + 1
      ctx.log.warn("ECS " .. evidence_text(item))
      if repeats[key] >= M.REPEAT_LIMIT then
        fail_with(spec, deployment_id, ("the same task failure repeated %d times"):format(repeats[key]), evidence)
      end
    end
    if not deployment then
      fail_with(spec, deployment_id, "the deployment disappeared (rolled back or replaced)", evidence)
    end
    if deployment.rolloutState == "FAILED" then
      fail_with(spec, deployment_id, "rollout FAILED: " .. (deployment.rolloutStateReason or "no reason given"),
        evidence)
    end
    local done = #svc.deployments == 1 and deployment.rolloutState == "COMPLETED"
      and deployment.runningCount == deployment.desiredCount
    local state = ("rollout %s, %d/%d running, %d deployment%s, %d failed task%s"):format(
      deployment.rolloutState or "?", deployment.runningCount or 0, deployment.desiredCount or 0,
      #svc.deployments, #svc.deployments == 1 and "" or "s", #evidence, #evidence == 1 and "" or "s")
    return done, state
  end, { timeout = spec.timeout or "20m", interval = spec.interval or "5s",
         description = ("ECS service %s stable"):format(spec.service) })
end

--- Returns the fields of a step that forces a new deployment of the
-- service with the given settings and waits until it is stable. Skipped
-- when the service is already steady with those settings and
-- SPEC.needs_restart(ctx) is false. Outputs: { deployment, desired_count,
-- task_definition }.
function M.redeploy(spec_of)
  settings.expect_function("ecs_deploy.redeploy", spec_of)
  local function read(ctx) return settings.read("ecs_deploy.redeploy", spec_of, ctx, REDEPLOY_FIELDS) end
  return {
    description = "Force a new deployment with the given settings and wait until the service is stable",
    already_done = function(ctx)
      local spec = read(ctx)
      if spec.needs_restart and spec.needs_restart(ctx) then return false end
      local svc = describe_service(spec)
      if not (is_steady(svc) and settings_match(svc, spec)) then return false end
      return { deployment = svc.deployments[1].id, desired_count = svc.desiredCount,
               task_definition = svc.taskDefinition }
    end,
    run = function(ctx)
      local spec = read(ctx)
      local config = { maximumPercent = spec.maximum_percent, minimumHealthyPercent = spec.minimum_healthy_percent }
      if spec.circuit_breaker then
        config.deploymentCircuitBreaker = { enable = spec.circuit_breaker.enable ~= false,
                                            rollback = spec.circuit_breaker.rollback == true }
      end
      local out = aws.ecs.update_service{
        cluster = spec.cluster, service = spec.service, forceNewDeployment = true,
        desiredCount = spec.desired_count, healthCheckGracePeriodSeconds = spec.health_check_grace_period,
        deploymentConfiguration = next(config) and config or nil,
      }
      ctx.change{ action = "modified", resource = "ecs:service", id = spec.cluster .. "/" .. spec.service,
                  details = { force_new_deployment = true, desired_count = spec.desired_count,
                              health_check_grace_period = spec.health_check_grace_period } }
      if ctx.dry_run then return out end
      local primary = out.service.deployments[1]
      for _, d in ipairs(out.service.deployments) do
        if d.status == "PRIMARY" then primary = d end
      end
      ctx.log.info(("ECS deployment %s started for %s"):format(primary.id, spec.service))
      wait_stable(ctx, spec, primary.id)
      return { deployment = primary.id, desired_count = out.service.desiredCount,
               task_definition = out.service.taskDefinition }
    end,
  }
end

--- The settings each recipe function accepts, as recipes.settings declares
-- them: function name -> setting name -> { type, required, ... }.
M.FIELDS = { redeploy = REDEPLOY_FIELDS }

return M
