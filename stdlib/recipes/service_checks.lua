-- recipes.service_checks: read-only checks of a running service.
--
--   step "Check there is no autoscaling" (service_checks.no_scalable_targets(svc))
--   step "Check the health endpoint" (service_checks.load_balancer_health(lb))
--   step "Check the migration gate" (service_checks.migration_gate(gate))
--
-- Unknown settings and values of the wrong type raise (see
-- recipes.settings).
local aws = require("aws")
local dryrun = require("mnem.dryrun")
local duration = require("mnem.duration")
local errors = require("mnem.errors")
local http = require("http")
local settings = require("recipes.settings")

local M = {}

-- The settings of each check, as recipes.settings declares them.
local SCALABLE_TARGETS_FIELDS = {
  cluster = { type = "string", required = true },
  service = { type = "string", required = true },
}

local HEALTH_FIELDS = {
  name = { type = "string", required = true },
  port = { type = "integer", required = true },
  path = { type = "string" },
  expect_status = { type = { "integer", "list" }, items = { type = "integer" } },
  expect_json = { type = "table" },
  timeout = { type = "duration" },
  interval = { type = "duration" },
}

local GATE_FIELDS = {
  log_group = { type = "string", required = true },
  required = { type = "string", required = true },
  lookback = { type = "duration" },
}

--- Returns the fields of a step that fails when Application Auto Scaling
-- has scalable targets for the ECS service SPEC(ctx) = { cluster, service },
-- because a target would override the desired count the playbook sets.
function M.no_scalable_targets(spec_of)
  settings.expect_function("service_checks.no_scalable_targets", spec_of)
  return {
    description = "Verify Application Auto Scaling has no scalable targets for the service",
    run = function(ctx)
      local spec = settings.read("service_checks.no_scalable_targets", spec_of, ctx, SCALABLE_TARGETS_FIELDS)
      local resource = ("service/%s/%s"):format(spec.cluster, spec.service)
      local out = aws.application_autoscaling.describe_scalable_targets{
        ServiceNamespace = "ecs", ResourceIds = { resource } }
      local targets = out.ScalableTargets or {}
      if #targets > 0 then
        errors.raise{ kind = "check", code = "ScalableTargetFound",
                      message = ("%s has %d scalable target(s) (%s, min %s, max %s): they would override the desired "
                        .. "count; deregister them or set the count through them"):format(resource, #targets,
                        targets[1].ScalableDimension, tostring(targets[1].MinCapacity),
                        tostring(targets[1].MaxCapacity)) }
      end
      ctx.log.info(resource .. " has no scalable targets")
      return { resource = resource, scalable_targets = 0 }
    end,
  }
end

--- Returns the fields of a step that finds the load balancer SPEC(ctx).name
-- and waits until http://DNSNAME:PORT/PATH answers SPEC.expect_status (200)
-- with a JSON body containing SPEC.expect_json ({ status = "ok" }).
function M.load_balancer_health(spec_of)
  settings.expect_function("service_checks.load_balancer_health", spec_of)
  return {
    description = "Wait until the load balancer's health endpoint answers as expected",
    run = function(ctx)
      local spec = settings.read("service_checks.load_balancer_health", spec_of, ctx, HEALTH_FIELDS)
      local out = aws.elbv2.describe_load_balancers{ Names = { spec.name } }
      local lb = out.LoadBalancers[1]
      local url = ("http://%s:%d%s"):format(lb.DNSName, spec.port, spec.path or "/health/")
      http.wait_healthy(url, { expect_status = spec.expect_status or 200,
                               expect_json = spec.expect_json or { status = "ok" },
                               timeout = spec.timeout or "5m", interval = spec.interval or "5s" })
      return { url = url, load_balancer = lb.LoadBalancerName }
    end,
  }
end

-- Parses "Command finished with code N in Xs: COMMAND" log lines.
local function gate_lines(events)
  local results = {}
  for _, e in ipairs(events) do
    local code, seconds, command = e.message:match("Command finished with code (%-?%d+) in ([%d.]+)s: (.+)$")
    if code then
      results[#results + 1] = { code = tonumber(code), seconds = tonumber(seconds), command = command,
                                time = e.timestamp, stream = e.logStreamName, line = e.message }
    end
  end
  return results
end

--- Returns the fields of a step that reads the service's log events for
-- the migration gate: SPEC(ctx) = { log_group, required = "alembic upgrade
-- heads", lookback = a duration (default "1h") }. It fails unless a line
-- from the last LOOKBACK reports REQUIRED finishing with code 0; earlier
-- failures (such as `alembic check` with code 255) are listed in the
-- outputs and recorded as recovered problems.
function M.migration_gate(spec_of)
  settings.expect_function("service_checks.migration_gate", spec_of)
  return {
    description = "Read the service's logs for the migration gate",
    run = function(ctx)
      local spec = settings.read("service_checks.migration_gate", spec_of, ctx, GATE_FIELDS)
      local now_ms = math.floor(require("mnem._sys").now() * 1000)
      local lookback = duration.parse(spec.lookback or "1h", "service_checks.migration_gate: lookback")
      local params = { logGroupName = spec.log_group, filterPattern = '"Command finished with code"',
                       startTime = now_ms - math.floor(lookback * 1000) }
      local events = {}
      for page in aws.logs.paginate("filter_log_events", params) do
        for _, e in ipairs(page.events or {}) do events[#events + 1] = e end
      end
      local results = gate_lines(events)
      local passed, failures = nil, {}
      for _, r in ipairs(results) do
        if r.code == 0 and r.command:find(spec.required, 1, true) then passed = r end
        if r.code ~= 0 then failures[#failures + 1] = r end
      end
      for _, f in ipairs(failures) do
        ctx.log.warn(("migration gate: %s finished with code %d"):format(f.command, f.code))
      end
      if not passed then
        dryrun.missing_change(("no %q finishing with code 0 in %s yet"):format(spec.required, spec.log_group))
        errors.raise{ kind = "check", code = "MigrationGateNotPassed",
                      message = ("no log line in %s reports %q finishing with code 0 (%d gate lines, %d failed)")
                        :format(spec.log_group, spec.required, #results, #failures) }
      end
      if #failures > 0 then
        ctx.problem{ summary = ("%d migration gate command(s) failed before it passed, e.g. %s (code %d)")
                       :format(#failures, failures[1].command, failures[1].code),
                     resolution = ("%s finished with code 0 in %ss"):format(passed.command, tostring(passed.seconds)) }
      end
      ctx.log.info("migration gate passed: " .. passed.line)
      return { passed = passed.line, failed_before = #failures }
    end,
  }
end

--- The settings each recipe function accepts, as recipes.settings declares
-- them: function name -> setting name -> { type, required, ... }.
M.FIELDS = { no_scalable_targets = SCALABLE_TARGETS_FIELDS, load_balancer_health = HEALTH_FIELDS,
             migration_gate = GATE_FIELDS }

return M
