-- sim.services.ecs: the simulated Amazon ECS clusters, task definitions,
-- services, deployments and tasks.
--
-- Tasks move through PROVISIONING → PENDING → RUNNING by simulated time.
-- When a task reaches RUNNING the scenario decides whether it is healthy;
-- an unhealthy task writes its crash lines to CloudWatch Logs (through the
-- simulated logs service) and stops with exit code 1 a few seconds later,
-- and the service scheduler starts a replacement. Every operation first
-- replays the events due up to world:now(), so nothing runs in the
-- background.
--
-- Scenario section (all optional):
--   ecs = {
--     timings = { provisioning = 5, pending = 15, crash_after = 10, stop = 30 },  -- simulated seconds
--     clusters = { "name", ... },
--     task_definitions = { { family =, revision = 41 (first revision number), containerDefinitions = {...} } },
--     services = {
--       ["svc"] = {
--         cluster = "name", task_definition = "family:41", desired = 1,  -- present: exists at start
--         target_group = "tg-name", container_name =, container_port =,
--         circuit_breaker = { enable = true, rollback = true }, health_check_grace_period = 60,
--         health = "healthy" | "unhealthy" | function(info) return ok, reason end
--                | { requires_schema = "app", database_from_ssm = "/app/db/",
--                    ssm_names = { host = "host", port = "port", dbname = "name",
--                                  user = "admin_user", password = "admin_password" } },
--         logs = { on_start = { lines }, healthy = { lines }, unhealthy = { lines } },
--       },
--     },
--   }
-- Log lines may contain {service}, {task_id}, {schema} and {reason}.
-- A health function gets { world, service = name, task_id, task_definition }.
local common = require("sim.services.common")

local M = {}

M.model = "ecs"

local DEFAULT_TIMINGS = { provisioning = 5, pending = 15, crash_after = 10, stop = 30 }
local MAX_EVENTS = 100
local MAX_STOPPED_PER_SERVICE = 100

local function state(world)
  return common.state(world, "ecs")
end

local function region_of(world)
  return world.region or "us-east-1"
end

local function fail_cluster(ctx)
  ctx.fail("ClusterNotFoundException", "Cluster not found.", 400)
end

local function cluster_name(ref)
  ref = ref or "default"
  return ref:match("^arn:aws:ecs:[^:]*:%d+:cluster/(.+)$") or ref
end

local function find_cluster(ctx, ref)
  local cluster = state(ctx.world).clusters[cluster_name(ref)]
  if not cluster then fail_cluster(ctx) end
  return cluster
end

local function create_cluster(world, name)
  local st = state(world)
  local cluster = st.clusters[name]
  if cluster then return cluster end
  cluster = {
    name = name, services = {}, tasks = {}, created = world:now(),
    arn = common.arn("ecs", region_of(world), world.account, "cluster/" .. name),
  }
  st.clusters[name] = cluster
  return cluster
end

-------------------------------------------------------------------------------
-- Task definitions
-------------------------------------------------------------------------------

local function register_task_definition(world, input)
  local st = state(world)
  local family = input.family
  local revision = (st.latest[family] or 0) + 1
  st.latest[family] = revision
  local containers = common.copy(input.containerDefinitions or {})
  for _, c in ipairs(containers) do
    if c.essential == nil then c.essential = true end
    c.cpu = c.cpu or 0
    c.environment = c.environment or {}
    c.mountPoints = c.mountPoints or {}
    c.volumesFrom = c.volumesFrom or {}
    c.portMappings = c.portMappings or {}
    for _, pm in ipairs(c.portMappings) do
      pm.protocol = pm.protocol or "tcp"
      pm.hostPort = pm.hostPort or pm.containerPort
    end
  end
  local arn = common.arn("ecs", region_of(world), world.account,
    ("task-definition/%s:%d"):format(family, revision))
  local td = {
    taskDefinitionArn = arn, family = family, revision = revision, containerDefinitions = containers,
    taskRoleArn = input.taskRoleArn, executionRoleArn = input.executionRoleArn,
    networkMode = input.networkMode or "bridge", volumes = common.copy(input.volumes or {}),
    status = "ACTIVE", requiresAttributes = {}, placementConstraints = {},
    compatibilities = { "EC2", "FARGATE" }, requiresCompatibilities = common.copy(input.requiresCompatibilities),
    cpu = input.cpu, memory = input.memory, registeredAt = world:now(),
    registeredBy = common.arn("iam", "", world.account, "user/mnem-sim"),
  }
  st.task_definitions[family] = st.task_definitions[family] or {}
  st.task_definitions[family][revision] = td
  st.tags[arn] = common.copy(input.tags or {})
  return td
end

-- Returns the task definition named by REF (family, family:revision or
-- ARN), or nil.
local function lookup_task_definition(world, ref)
  local st = state(world)
  if type(ref) ~= "string" then return nil end
  local bare = ref:match("^arn:aws:ecs:[^:]*:%d+:task%-definition/(.+)$") or ref
  local family, revision = bare:match("^(.-):(%d+)$")
  if not family then
    family = bare
    revision = st.latest[family]
    local revisions = st.task_definitions[family] or {}
    while revision and revision > 0 and (not revisions[revision] or revisions[revision].status ~= "ACTIVE") do
      revision = revision - 1
    end
  end
  local revisions = st.task_definitions[family]
  return revisions and revisions[math.tointeger(tonumber(revision))]
end

local function essential_container(td)
  for _, c in ipairs(td.containerDefinitions) do
    if c.essential ~= false then return c end
  end
  return td.containerDefinitions[1]
end

-------------------------------------------------------------------------------
-- Services: events and deployments
-------------------------------------------------------------------------------

local function add_event(world, svc, t, message)
  table.insert(svc.events, 1, { id = common.uuid(world), createdAt = t, message = message })
  while #svc.events > MAX_EVENTS do table.remove(svc.events) end
end

local function new_deployment(world, td_arn, desired, t)
  local digits = common.random_string(world, 19, "0123456789"):gsub("^0", "1")
  return {
    id = "ecs-svc/" .. digits, status = "PRIMARY", taskDefinition = td_arn, desiredCount = desired,
    createdAt = t, updatedAt = t, rolloutState = "IN_PROGRESS",
    rolloutStateReason = "ECS deployment ecs-svc/" .. digits .. " in progress.", failedTasks = 0,
  }
end

local function behaviour_of(world, svc)
  return (state(world).behaviour or {})[svc.name] or {}
end

local function tasks_of(cluster, svc, deployment)
  local out = {}
  for _, task in pairs(cluster.tasks) do
    if task.service == svc.name and (not deployment or task.deployment == deployment.id) then
      out[#out + 1] = task
    end
  end
  table.sort(out, function(a, b)
    if a.created ~= b.created then return a.created < b.created end
    return a.id < b.id
  end)
  return out
end

-- Counts the tasks of DEPLOYMENT: running, pending, and running healthy.
local function counts(cluster, svc, deployment)
  local running, pending, healthy, active = 0, 0, 0, 0
  for _, task in ipairs(tasks_of(cluster, svc, deployment)) do
    if task.last_status == "RUNNING" then
      running = running + 1
      if task.healthy and task.desired_status == "RUNNING" then healthy = healthy + 1 end
    elseif task.last_status == "PROVISIONING" or task.last_status == "PENDING" then
      pending = pending + 1
    end
    if task.desired_status == "RUNNING" then active = active + 1 end
  end
  return running, pending, healthy, active
end

local function circuit_breaker(svc)
  local dc = svc.deploymentConfiguration or {}
  return dc.deploymentCircuitBreaker or { enable = false, rollback = false }
end

-- AWS's failed-task threshold: half the desired count rounded up, at
-- least 3 and at most 200.
local function failure_threshold(desired)
  return math.min(math.max(math.ceil(0.5 * desired), 3), 200)
end

-------------------------------------------------------------------------------
-- Tasks: launch, health, logs, stop
-------------------------------------------------------------------------------

local function private_ip(st)
  st.next_ip = st.next_ip + 1
  return ("10.0.%d.%d"):format(16 + (st.next_ip // 250) % 200, st.next_ip % 250 + 2)
end

local function launch_task(world, cluster, svc, deployment, t)
  local st = state(world)
  local id = common.random_string(world, 32)
  local td = lookup_task_definition(world, deployment.taskDefinition)
  local task = {
    id = id, arn = common.arn("ecs", region_of(world), world.account, ("task/%s/%s"):format(cluster.name, id)),
    service = svc.name, deployment = deployment.id, task_definition = deployment.taskDefinition,
    container = td and essential_container(td) or { name = svc.name },
    created = t, last_status = "PROVISIONING", desired_status = "RUNNING",
    next_at = t + st.timings.provisioning, ip = private_ip(st), version = 1,
    cpu = td and td.cpu, memory = td and td.memory,
  }
  cluster.tasks[id] = task
  return task
end

local function fill(line, vars)
  return (line:gsub("{(%w+)}", function(k) return vars[k] ~= nil and tostring(vars[k]) or "{" .. k .. "}" end))
end

-- Returns the log group and stream of TASK under the awslogs driver, or nil.
local function log_target(world, task)
  local td = lookup_task_definition(world, task.task_definition)
  local container = td and essential_container(td)
  local lc = container and container.logConfiguration
  if not lc or lc.logDriver ~= "awslogs" then return nil end
  local options = lc.options or {}
  local group = options["awslogs-group"]
  if not group then return nil end
  local prefix = options["awslogs-stream-prefix"]
  local stream = prefix and ("%s/%s/%s"):format(prefix, container.name, task.id) or task.id
  return group, stream
end

local function write_logs(world, task, lines, t, vars)
  if not lines or #lines == 0 then return end
  local group, stream = log_target(world, task)
  if not group then return end
  local messages = {}
  for _, line in ipairs(lines) do messages[#messages + 1] = fill(line, vars) end
  world:service("logs").append(world, group, stream, messages, t)
end

local function default_crash_lines(schema)
  local lines = {
    "Traceback (most recent call last):",
    '  File "/app/main.py", line 12, in <module>',
    "    app = create_app()",
  }
  if schema then
    lines[#lines + 1] = 'sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InvalidSchemaName) schema "{schema}" '
      .. "does not exist"
  else
    lines[#lines + 1] = "RuntimeError: {reason}"
  end
  return lines
end

-- Health checks that connect to PostgreSQL are cached for a second of real
-- time, so a backlog of task starts replayed at once costs one connection.
local health_cache = {}

local function real_now()
  local ok, sys = pcall(require, "mnem._sys")
  if ok and sys.now then return sys.now() end
  return os.time()
end

-- Checks that the schema named by SPEC exists in the database whose
-- settings are in the simulated SSM parameters under SPEC.database_from_ssm.
-- Returns true, or false and a reason.
local function check_schema(world, spec)
  local names = spec.ssm_names or {}
  local prefix = spec.database_from_ssm or ""
  local ssm = world:service("ssm")
  local function param(key, fallbacks)
    local candidates = { table.unpack(fallbacks) }
    if names[key] then table.insert(candidates, 1, names[key]) end
    for _, name in ipairs(candidates) do
      local v = ssm.value(world, prefix .. name)
      if v then return v end
    end
  end
  local settings = {
    host = param("host", { "host" }), port = param("port", { "port" }),
    dbname = param("dbname", { "name", "dbname", "database" }),
    user = param("user", { "admin_user", "user", "username" }),
    password = param("password", { "admin_password", "password" }),
  }
  if not settings.host then return false, ("SSM parameter %shost is not set"):format(prefix) end
  local key = table.concat({ settings.host, settings.port or "", settings.dbname or "", settings.user or "",
                             spec.requires_schema }, "\0")
  local cached = health_cache[key]
  if cached and real_now() - cached.at < 1 then return cached.ok, cached.reason end
  local ok, reason = false, nil
  local loaded, pg = pcall(require, "pg")
  if not loaded then
    reason = "pg unavailable: " .. tostring(pg)
    require("mnem.log").warn("sim ecs: health check cannot use PostgreSQL, treating the task as unhealthy",
      { reason = reason })
  else
    local connected, result = pcall(function()
      local conn <close> = pg.connect{ host = settings.host, port = settings.port, dbname = settings.dbname,
                                       user = settings.user, password = settings.password, connect_timeout = 3 }
      return conn:query_one("select 1 as present from pg_namespace where nspname = $1", spec.requires_schema)
    end)
    if not connected then
      reason = "could not connect to the database: " .. tostring(result)
    elseif result then
      ok = true
    else
      reason = ('schema "%s" does not exist'):format(spec.requires_schema)
    end
  end
  health_cache[key] = { at = real_now(), ok = ok, reason = reason }
  return ok, reason
end

-- Decides whether TASK of SVC stays healthy; returns ok, reason.
local function decide_health(world, svc, task)
  local health = behaviour_of(world, svc).health
  if health == nil or health == "healthy" then return true end
  if health == "unhealthy" then return false, "the scenario marks this service unhealthy" end
  if type(health) == "function" then
    local ok, healthy, reason = pcall(health, { world = world, service = svc.name, task_id = task.id,
                                               task_definition = task.task_definition })
    if not ok then return false, "health function failed: " .. tostring(healthy) end
    return healthy and true or false, reason
  end
  if type(health) == "table" and health.requires_schema then return check_schema(world, health) end
  return true
end

local function task_vars(svc, task, reason)
  local health = svc.behaviour_health_schema
  return { service = svc.name, task_id = task.id, schema = health, reason = reason or "" }
end

-- TASK reaches RUNNING at time T: decide its health and log its start.
local function start_task(world, svc, task, t)
  local st = state(world)
  task.last_status, task.started_at = "RUNNING", t
  local ok, reason = decide_health(world, svc, task)
  task.healthy, task.unhealthy_reason = ok, reason
  local b = behaviour_of(world, svc)
  local logs = b.logs or {}
  local vars = task_vars(svc, task, reason)
  write_logs(world, task, logs.on_start, t, vars)
  if ok then
    write_logs(world, task, logs.healthy, t + 0.001, vars)
    task.next_at = nil
  else
    local schema = type(b.health) == "table" and b.health.requires_schema
    local lines = logs.unhealthy or default_crash_lines(schema)
    if logs.unhealthy and reason and not reason:find("does not exist", 1, true) then
      -- The scenario's crash lines describe a missing schema; say what really failed.
      lines = { "mnem simulator: the task is unhealthy because {reason}", table.unpack(lines) }
    end
    write_logs(world, task, lines, t + st.timings.crash_after - 0.5, vars)
    task.next_at = t + st.timings.crash_after
  end
end

local function stop_task(task, t, reason, code, exit_code)
  task.last_status, task.desired_status = "STOPPED", "STOPPED"
  task.stopped_at = t
  task.stopping_at = task.stopping_at or t
  task.stopped_reason = task.stopped_reason or reason
  task.stop_code = task.stop_code or code
  task.exit_code = task.exit_code or exit_code
  task.next_at = nil
end

-- Starts the scheduler's stop of TASK (a deployment being drained).
local function drain_task(world, task, t, deployment_id)
  if task.last_status == "RUNNING" then
    task.desired_status, task.last_status = "STOPPED", "DEACTIVATING"
    task.stopping_at = t
    task.stopped_reason = ("Scaling activity initiated by (deployment %s)"):format(deployment_id)
    task.stop_code = "ServiceSchedulerInitiated"
    task.exit_code = 0
    task.next_at = t + state(world).timings.stop
  else
    stop_task(task, t, ("Scaling activity initiated by (deployment %s)"):format(deployment_id),
      "ServiceSchedulerInitiated", nil)
  end
end

-------------------------------------------------------------------------------
-- The scheduler: replays due events and reconciles each service
-------------------------------------------------------------------------------

local function fail_deployment(world, cluster, svc, deployment, t)
  deployment.rolloutState = "FAILED"
  deployment.rolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
  deployment.updatedAt = t
  add_event(world, svc, t, ("(service %s) deployment %s deployment failed: tasks failed to start.")
    :format(svc.name, deployment.id))
  if not circuit_breaker(svc).rollback then return end
  local previous = svc.deployments[2]
  if not previous and svc.last_completed_task_definition then
    previous = new_deployment(world, svc.last_completed_task_definition, deployment.desiredCount, t)
    svc.deployments[2] = previous
  end
  if not previous then return end
  table.remove(svc.deployments, 2)
  deployment.status = "ACTIVE"
  table.insert(svc.deployments, 1, previous)
  previous.status = "PRIMARY"
  previous.rolloutState = "IN_PROGRESS"
  previous.rolloutStateReason = ("ECS deployment circuit breaker: rolling back to deploymentId %s.")
    :format(previous.id)
  previous.desiredCount = svc.desiredCount
  previous.updatedAt = t
  svc.taskDefinition = previous.taskDefinition
  svc.steady = false
  add_event(world, svc, t, ("(service %s) rolling back to deployment %s."):format(svc.name, previous.id))
  for _, task in ipairs(tasks_of(cluster, svc, deployment)) do
    if task.desired_status == "RUNNING" then drain_task(world, task, t, previous.id) end
  end
end

local function target_group_events(world, svc, t, verb, n)
  for _, lb in ipairs(svc.loadBalancers or {}) do
    if lb.targetGroupArn then
      add_event(world, svc, t, ("(service %s) %s %d targets in (target-group %s)")
        :format(svc.name, verb, n, lb.targetGroupArn))
    end
  end
end

-- Applies the transition of TASK that is due at time T.
local function step_task(world, cluster, svc, task, t)
  if task.last_status == "PROVISIONING" then
    task.last_status = "PENDING"
    task.next_at = task.created + state(world).timings.provisioning + state(world).timings.pending
  elseif task.last_status == "PENDING" then
    start_task(world, svc, task, t)
    if task.healthy then target_group_events(world, svc, t, "registered", 1) end
  elseif task.last_status == "RUNNING" then
    local essential = task.container.name
    stop_task(task, t, "Essential container in task exited", "EssentialContainerExited", 1)
    task.container_reason = nil
    task.essential = essential
    for _, d in ipairs(svc.deployments) do
      if d.id == task.deployment then
        d.failedTasks = d.failedTasks + 1
        local cb = circuit_breaker(svc)
        if cb.enable and d.rolloutState == "IN_PROGRESS" and d == svc.deployments[1]
           and d.failedTasks >= failure_threshold(d.desiredCount) then
          fail_deployment(world, cluster, svc, d, t)
        end
      end
    end
  elseif task.last_status == "DEACTIVATING" then
    stop_task(task, t)
    target_group_events(world, svc, t, "deregistered", 1)
  end
end

local function launch_missing(world, cluster, svc, t)
  local primary = svc.deployments[1]
  if not primary then return end
  local cb = circuit_breaker(svc)
  if primary.rolloutState == "FAILED" and cb.enable then return end
  local _, _, _, active = counts(cluster, svc, primary)
  local started = {}
  for _ = active + 1, primary.desiredCount do
    started[#started + 1] = "(task " .. launch_task(world, cluster, svc, primary, t).id .. ")"
  end
  if #started > 0 then
    add_event(world, svc, t, ("(service %s) has started %d tasks: %s."):format(svc.name, #started,
      table.concat(started, " ")))
  end
  local extra = active - primary.desiredCount
  if extra > 0 then
    local stopped = {}
    local tasks = tasks_of(cluster, svc, primary)
    for i = #tasks, 1, -1 do
      if extra > 0 and tasks[i].desired_status == "RUNNING" then
        drain_task(world, tasks[i], t, primary.id)
        stopped[#stopped + 1] = "(task " .. tasks[i].id .. ")"
        extra = extra - 1
      end
    end
    add_event(world, svc, t, ("(service %s) has stopped %d running tasks: %s."):format(svc.name, #stopped,
      table.concat(stopped, " ")))
  end
end

-- Stops tasks of older deployments as healthy primary tasks replace them
-- (minimumHealthyPercent 100 %).
-- NOTE: a lower minimumHealthyPercent does not stop old tasks earlier here.
local function drain_old(world, cluster, svc, t)
  local primary = svc.deployments[1]
  local _, _, healthy = counts(cluster, svc, primary)
  local keep = math.max(0, primary.desiredCount - healthy)
  local stopped = {}
  for i = 2, #svc.deployments do
    for _, task in ipairs(tasks_of(cluster, svc, svc.deployments[i])) do
      if task.desired_status == "RUNNING" then
        if keep > 0 and task.last_status == "RUNNING" and task.healthy then
          keep = keep - 1
        else
          drain_task(world, task, t, primary.id)
          stopped[#stopped + 1] = "(task " .. task.id .. ")"
        end
      end
    end
  end
  if #stopped > 0 then
    add_event(world, svc, t, ("(service %s) has stopped %d running tasks: %s."):format(svc.name, #stopped,
      table.concat(stopped, " ")))
  end
  for i = #svc.deployments, 2, -1 do
    local live = false
    for _, task in ipairs(tasks_of(cluster, svc, svc.deployments[i])) do
      if task.last_status ~= "STOPPED" then live = true end
    end
    if not live then table.remove(svc.deployments, i) end
  end
end

local function check_steady(world, cluster, svc, t)
  if svc.starting_up then
    -- A scenario service counts as steady until its first tasks start.
    for _, task in pairs(cluster.tasks) do
      if task.service == svc.name and task.last_status == "PENDING" then return end
    end
    svc.starting_up = nil
  end
  local primary = svc.deployments[1]
  local running, pending, healthy = counts(cluster, svc, primary)
  local steady = #svc.deployments == 1 and healthy == primary.desiredCount and running == healthy and pending == 0
  if steady and primary.rolloutState == "IN_PROGRESS" then
    primary.rolloutState = "COMPLETED"
    primary.rolloutStateReason = ("ECS deployment %s completed."):format(primary.id)
    primary.updatedAt = t
    svc.last_completed_task_definition = primary.taskDefinition
    add_event(world, svc, t, ("(service %s) (deployment %s) deployment completed."):format(svc.name, primary.id))
  end
  if steady and not svc.steady then
    add_event(world, svc, t, ("(service %s) has reached a steady state."):format(svc.name))
  end
  svc.steady = steady
end

local function prune_stopped(cluster, svc)
  local stopped = {}
  for _, task in ipairs(tasks_of(cluster, svc)) do
    if task.last_status == "STOPPED" then stopped[#stopped + 1] = task end
  end
  for i = 1, #stopped - MAX_STOPPED_PER_SERVICE do cluster.tasks[stopped[i].id] = nil end
end

local function reconcile(world, cluster, svc, t)
  if svc.status ~= "ACTIVE" then return end
  launch_missing(world, cluster, svc, t)
  drain_old(world, cluster, svc, t)
  check_steady(world, cluster, svc, t)
end

local function next_due(cluster, svc)
  local best
  for _, task in pairs(cluster.tasks) do
    if task.service == svc.name and task.next_at and (not best or task.next_at < best.next_at
        or (task.next_at == best.next_at and task.id < best.id)) then
      best = task
    end
  end
  return best
end

-- Replays SVC's events up to NOW. The step limit bounds the work after a
-- long idle period with crashing tasks.
local function simulate(world, cluster, svc, now)
  reconcile(world, cluster, svc, svc.clock)
  for _ = 1, 10000 do
    local task = next_due(cluster, svc)
    if not task or task.next_at > now then break end
    local t = task.next_at
    step_task(world, cluster, svc, task, t)
    reconcile(world, cluster, svc, t)
  end
  svc.clock = now
  prune_stopped(cluster, svc)
end

local function advance(world)
  local now = world:now()
  for _, cluster in ipairs(common.sorted_values(state(world).clusters)) do
    for _, svc in ipairs(common.sorted_values(cluster.services)) do simulate(world, cluster, svc, now) end
  end
end

-------------------------------------------------------------------------------
-- Output shapes
-------------------------------------------------------------------------------

local function deployment_output(cluster, svc, d)
  local running, pending = counts(cluster, svc, d)
  local out = common.copy(d)
  out.runningCount, out.pendingCount = running, pending
  out.launchType = svc.launchType
  out.networkConfiguration = common.copy(svc.networkConfiguration)
  out.platformVersion = svc.launchType == "FARGATE" and "1.4.0" or nil
  out.platformFamily = svc.launchType == "FARGATE" and "Linux" or nil
  return out
end

local function service_output(cluster, svc)
  local running, pending = 0, 0
  for _, task in ipairs(tasks_of(cluster, svc)) do
    if task.last_status == "RUNNING" then running = running + 1 end
    if task.last_status == "PENDING" or task.last_status == "PROVISIONING" then pending = pending + 1 end
  end
  local deployments = {}
  for _, d in ipairs(svc.deployments) do deployments[#deployments + 1] = deployment_output(cluster, svc, d) end
  return {
    serviceArn = svc.arn, serviceName = svc.name, clusterArn = cluster.arn, status = svc.status,
    desiredCount = svc.desiredCount, runningCount = running, pendingCount = pending,
    launchType = svc.launchType, platformVersion = svc.launchType == "FARGATE" and "LATEST" or nil,
    platformFamily = svc.launchType == "FARGATE" and "Linux" or nil,
    taskDefinition = svc.taskDefinition, deploymentConfiguration = common.copy(svc.deploymentConfiguration),
    deployments = deployments, events = common.copy(svc.events), createdAt = svc.createdAt,
    loadBalancers = common.copy(svc.loadBalancers), serviceRegistries = {},
    healthCheckGracePeriodSeconds = svc.healthCheckGracePeriodSeconds,
    networkConfiguration = common.copy(svc.networkConfiguration), schedulingStrategy = "REPLICA",
    deploymentController = { type = "ECS" }, placementConstraints = {}, placementStrategy = {},
    createdBy = common.arn("iam", "", cluster.account or "", "user/mnem-sim"), enableECSManagedTags = false,
    propagateTags = "NONE", enableExecuteCommand = false, roleArn = svc.roleArn,
  }
end

local function task_output(world, cluster, svc_name, task)
  local container = {
    containerArn = common.arn("ecs", region_of(world), world.account, "container/" .. cluster.name .. "/"
      .. task.id .. "/" .. task.id:sub(1, 8) .. "-0000-4000-8000-" .. task.id:sub(21, 32)),
    taskArn = task.arn, name = task.container.name, image = task.container.image,
    lastStatus = task.last_status == "DEACTIVATING" and "RUNNING" or task.last_status,
    exitCode = task.exit_code, healthStatus = "UNKNOWN",
    networkInterfaces = { { attachmentId = task.id:sub(1, 8) .. "-eni", privateIpv4Address = task.ip } },
    cpu = tostring(task.container.cpu or 0), memory = task.container.memory and tostring(task.container.memory),
  }
  if task.last_status == "PROVISIONING" or task.last_status == "PENDING" then container.lastStatus = "PENDING" end
  return {
    taskArn = task.arn, clusterArn = cluster.arn, taskDefinitionArn = task.task_definition,
    group = "service:" .. svc_name, startedBy = task.deployment, lastStatus = task.last_status,
    desiredStatus = task.desired_status, createdAt = task.created, startedAt = task.started_at,
    pullStartedAt = task.started_at and (task.started_at - 8), pullStoppedAt = task.started_at and
      (task.started_at - 2), connectivity = "CONNECTED", connectivityAt = task.created + 3,
    stoppingAt = task.stopping_at, stoppedAt = task.stopped_at, executionStoppedAt = task.stopped_at,
    stoppedReason = task.stopped_reason, stopCode = task.stop_code, containers = { container },
    launchType = "FARGATE", platformVersion = "1.4.0", platformFamily = "Linux", cpu = task.cpu,
    memory = task.memory, availabilityZone = region_of(world) .. "a", version = task.version,
    healthStatus = "UNKNOWN", tags = {}, overrides = { containerOverrides = { { name = task.container.name } },
                                                     inferenceAcceleratorOverrides = {} },
    attachments = { { id = task.id:sub(1, 8) .. "-eni", type = "ElasticNetworkInterface", status = "ATTACHED",
                      details = { { name = "privateIPv4Address", value = task.ip } } } },
    enableExecuteCommand = false, ephemeralStorage = { sizeInGiB = 20 },
  }
end

local function cluster_output(world, cluster)
  local running, pending = 0, 0
  for _, task in pairs(cluster.tasks) do
    if task.last_status == "RUNNING" then running = running + 1 end
    if task.last_status == "PENDING" or task.last_status == "PROVISIONING" then pending = pending + 1 end
  end
  local active = 0
  for _, svc in pairs(cluster.services) do if svc.status == "ACTIVE" then active = active + 1 end end
  return {
    clusterArn = cluster.arn, clusterName = cluster.name, status = "ACTIVE",
    registeredContainerInstancesCount = 0, runningTasksCount = running, pendingTasksCount = pending,
    activeServicesCount = active, statistics = {}, tags = common.copy(state(world).tags[cluster.arn] or {}),
    settings = { { name = "containerInsights", value = "disabled" } }, capacityProviders = {},
    defaultCapacityProviderStrategy = {},
  }
end

-------------------------------------------------------------------------------
-- Operations
-------------------------------------------------------------------------------

M.operations = {}

--- CreateCluster: returns the existing cluster when the name is taken.
function M.operations.CreateCluster(ctx, input)
  local cluster = create_cluster(ctx.world, input.clusterName or "default")
  if input.tags then state(ctx.world).tags[cluster.arn] = common.copy(input.tags) end
  advance(ctx.world)
  return { cluster = cluster_output(ctx.world, cluster) }
end

--- DescribeClusters: unknown clusters go to failures with reason MISSING.
function M.operations.DescribeClusters(ctx, input)
  advance(ctx.world)
  local out, failures = {}, {}
  for _, ref in ipairs(input.clusters or { "default" }) do
    local cluster = state(ctx.world).clusters[cluster_name(ref)]
    if cluster then
      out[#out + 1] = cluster_output(ctx.world, cluster)
    else
      local arn = ref:find("^arn:") and ref or common.arn("ecs", common.region(ctx), ctx.world.account,
        "cluster/" .. ref)
      failures[#failures + 1] = { arn = arn, reason = "MISSING" }
    end
  end
  return { clusters = out, failures = failures }
end

--- ListClusters.
function M.operations.ListClusters(ctx, input)
  local arns = {}
  for _, cluster in ipairs(common.sorted_values(state(ctx.world).clusters)) do arns[#arns + 1] = cluster.arn end
  local page, token = common.page(arns, input.nextToken, input.maxResults or 100)
  if not page then ctx.fail("InvalidParameterException", "Invalid token", 400) end
  return { clusterArns = page, nextToken = token }
end

--- RegisterTaskDefinition: a new revision of the family.
function M.operations.RegisterTaskDefinition(ctx, input)
  if type(input.family) ~= "string" or not input.family:match("^[%w_%-]+$") or #input.family > 255 then
    ctx.fail("ClientException", "Family contains invalid characters. Up to 255 letters (uppercase and lowercase), "
      .. "numbers, hyphens, and underscores are allowed.", 400)
  end
  if not input.containerDefinitions or #input.containerDefinitions == 0 then
    ctx.fail("ClientException", "Container list cannot be empty.", 400)
  end
  for _, c in ipairs(input.containerDefinitions) do
    if not c.name or not c.image then
      ctx.fail("ClientException", "Container.name and Container.image should not be null or empty.", 400)
    end
  end
  local td = register_task_definition(ctx.world, input)
  return { taskDefinition = common.copy(td), tags = common.copy(input.tags) }
end

--- DescribeTaskDefinition: by family (latest ACTIVE), family:revision or ARN.
function M.operations.DescribeTaskDefinition(ctx, input)
  local td = lookup_task_definition(ctx.world, input.taskDefinition)
  if not td then ctx.fail("ClientException", "Unable to describe task definition.", 400) end
  local tags
  for _, v in ipairs(input.include or {}) do
    if v == "TAGS" then tags = common.copy(state(ctx.world).tags[td.taskDefinitionArn] or {}) end
  end
  return { taskDefinition = common.copy(td), tags = tags }
end

--- ListTaskDefinitions: ARNs by familyPrefix and status, sorted.
function M.operations.ListTaskDefinitions(ctx, input)
  local arns = {}
  local st = state(ctx.world)
  for _, family in ipairs(common.sorted_keys(st.task_definitions)) do
    if not input.familyPrefix or common.starts_with(family, input.familyPrefix) then
      for _, rev in ipairs(common.sorted_keys(st.task_definitions[family])) do
        local td = st.task_definitions[family][rev]
        if td.status == (input.status or "ACTIVE") then arns[#arns + 1] = td.taskDefinitionArn end
      end
    end
  end
  if input.sort == "DESC" then
    local reversed = {}
    for i = #arns, 1, -1 do reversed[#reversed + 1] = arns[i] end
    arns = reversed
  end
  local page, token = common.page(arns, input.nextToken, input.maxResults or 100)
  if not page then ctx.fail("InvalidParameterException", "Invalid token", 400) end
  return { taskDefinitionArns = page, nextToken = token }
end

local function target_group_arn(world, name)
  if not name then return nil end
  if name:find("^arn:") then return name end
  return world:service("elbv2").target_group_arn(world, name)
end

local function default_deployment_configuration(given)
  local dc = common.copy(given or {})
  dc.maximumPercent = dc.maximumPercent or 200
  dc.minimumHealthyPercent = dc.minimumHealthyPercent or 100
  dc.deploymentCircuitBreaker = dc.deploymentCircuitBreaker or { enable = false, rollback = false }
  return dc
end

-- Creates service INPUT.serviceName in CLUSTER at time T.
local function create_service(world, cluster, input, td, t)
  local svc = {
    name = input.serviceName, status = "ACTIVE", desiredCount = input.desiredCount or 0,
    taskDefinition = td.taskDefinitionArn, launchType = input.launchType or "FARGATE",
    deploymentConfiguration = default_deployment_configuration(input.deploymentConfiguration),
    loadBalancers = common.copy(input.loadBalancers or {}),
    networkConfiguration = common.copy(input.networkConfiguration),
    healthCheckGracePeriodSeconds = input.healthCheckGracePeriodSeconds or (input.loadBalancers and 0 or nil),
    createdAt = t, events = {}, clock = t, steady = false, roleArn = input.role,
    arn = common.arn("ecs", region_of(world), world.account, ("service/%s/%s"):format(cluster.name,
      input.serviceName)),
  }
  svc.deployments = { new_deployment(world, td.taskDefinitionArn, svc.desiredCount, t) }
  cluster.services[svc.name] = svc
  local health = behaviour_of(world, svc).health
  svc.behaviour_health_schema = type(health) == "table" and health.requires_schema or nil
  return svc
end

local function check_service_input(ctx, input)
  if input.desiredCount and input.desiredCount < 0 then
    ctx.fail("InvalidParameterException", "Desired count must be greater than or equal to 0.", 400)
  end
  local dc = input.deploymentConfiguration
  if dc and dc.maximumPercent and dc.minimumHealthyPercent and dc.maximumPercent < dc.minimumHealthyPercent then
    ctx.fail("InvalidParameterException",
      "The maximumPercent value must be greater than or equal to the minimumHealthyPercent value.", 400)
  end
end

--- CreateService: starts the first deployment of the service.
function M.operations.CreateService(ctx, input)
  advance(ctx.world)
  local cluster = find_cluster(ctx, input.cluster)
  common.require_field(ctx, input, "serviceName", "InvalidParameterException")
  check_service_input(ctx, input)
  local existing = cluster.services[input.serviceName]
  if existing and existing.status == "ACTIVE" then
    ctx.fail("InvalidParameterException", "Creation of service was not idempotent.", 400)
  end
  local td = lookup_task_definition(ctx.world, input.taskDefinition)
  if not td then ctx.fail("InvalidParameterException", "TaskDefinition not found.", 400) end
  local svc = create_service(ctx.world, cluster, input, td, ctx.world:now())
  simulate(ctx.world, cluster, svc, ctx.world:now())
  return { service = service_output(cluster, svc) }
end

local function find_service(ctx, cluster, ref)
  local name = ref and (ref:match("^arn:aws:ecs:[^:]*:%d+:service/[^/]+/(.+)$") or ref)
  local svc = name and cluster.services[name]
  if not svc then ctx.fail("ServiceNotFoundException", "Service not found.", 400) end
  if svc.status ~= "ACTIVE" then ctx.fail("ServiceNotActiveException", "Service was not ACTIVE.", 400) end
  return svc
end

--- DescribeServices: up to 10 services; unknown ones go to failures.
function M.operations.DescribeServices(ctx, input)
  advance(ctx.world)
  local cluster = find_cluster(ctx, input.cluster)
  local out, failures = {}, {}
  if #(input.services or {}) > 10 then
    ctx.fail("InvalidParameterException", "services can have at most 10 items.", 400)
  end
  for _, ref in ipairs(input.services or {}) do
    local name = ref:match("^arn:aws:ecs:[^:]*:%d+:service/[^/]+/(.+)$") or ref
    local svc = cluster.services[name]
    if svc then
      out[#out + 1] = service_output(cluster, svc)
    else
      local arn = ref:find("^arn:") and ref or common.arn("ecs", common.region(ctx), ctx.world.account,
        ("service/%s/%s"):format(cluster.name, ref))
      failures[#failures + 1] = { arn = arn, reason = "MISSING" }
    end
  end
  return { services = out, failures = failures }
end

--- ListServices.
function M.operations.ListServices(ctx, input)
  local cluster = find_cluster(ctx, input.cluster)
  local arns = {}
  for _, svc in ipairs(common.sorted_values(cluster.services)) do
    if svc.status == "ACTIVE" then arns[#arns + 1] = svc.arn end
  end
  local page, token = common.page(arns, input.nextToken, input.maxResults or 10)
  if not page then ctx.fail("InvalidParameterException", "Invalid token", 400) end
  return { serviceArns = page, nextToken = token }
end

--- UpdateService: desiredCount, taskDefinition, forceNewDeployment,
-- healthCheckGracePeriodSeconds, deploymentConfiguration. A new task
-- definition or forceNewDeployment starts a new PRIMARY deployment.
function M.operations.UpdateService(ctx, input)
  advance(ctx.world)
  local world = ctx.world
  local cluster = find_cluster(ctx, input.cluster)
  local svc = find_service(ctx, cluster, input.service)
  check_service_input(ctx, input)
  local t = world:now()
  local td
  if input.taskDefinition then
    td = lookup_task_definition(world, input.taskDefinition)
    if not td then ctx.fail("ClientException", "TaskDefinition not found.", 400) end
  end
  if input.deploymentConfiguration then
    local dc = svc.deploymentConfiguration
    for k, v in pairs(input.deploymentConfiguration) do dc[k] = common.copy(v) end
  end
  if input.healthCheckGracePeriodSeconds then
    svc.healthCheckGracePeriodSeconds = input.healthCheckGracePeriodSeconds
  end
  if input.networkConfiguration then svc.networkConfiguration = common.copy(input.networkConfiguration) end
  if input.desiredCount then
    svc.desiredCount = input.desiredCount
    svc.deployments[1].desiredCount = input.desiredCount
    svc.deployments[1].updatedAt = t
  end
  local new_td = td and td.taskDefinitionArn ~= svc.taskDefinition
  if new_td or input.forceNewDeployment then
    local d = new_deployment(world, td and td.taskDefinitionArn or svc.taskDefinition, svc.desiredCount, t)
    for _, old in ipairs(svc.deployments) do old.status = "ACTIVE" end
    table.insert(svc.deployments, 1, d)
    svc.taskDefinition = d.taskDefinition
    svc.steady = false
  end
  simulate(world, cluster, svc, t)
  return { service = service_output(cluster, svc) }
end

--- DeleteService: rejected while desiredCount > 0 unless force.
function M.operations.DeleteService(ctx, input)
  advance(ctx.world)
  local cluster = find_cluster(ctx, input.cluster)
  local svc = find_service(ctx, cluster, input.service)
  if svc.desiredCount > 0 and not input.force then
    ctx.fail("InvalidParameterException", "The service cannot be stopped while it is scaled above 0.", 400)
  end
  local t = ctx.world:now()
  for _, task in ipairs(tasks_of(cluster, svc)) do
    if task.desired_status == "RUNNING" then drain_task(ctx.world, task, t, svc.deployments[1].id) end
  end
  svc.status = "DRAINING"
  local out = service_output(cluster, svc)
  return { service = out }
end

--- ListTasks: by serviceName, family, startedBy and desiredStatus
-- (RUNNING by default).
function M.operations.ListTasks(ctx, input)
  advance(ctx.world)
  local cluster = find_cluster(ctx, input.cluster)
  if input.serviceName then find_service(ctx, cluster, input.serviceName) end
  local want = input.desiredStatus or "RUNNING"
  local tasks = {}
  for _, task in pairs(cluster.tasks) do
    local family = task.task_definition:match("task%-definition/([^:]+):")
    if task.desired_status == want and (not input.serviceName or task.service == input.serviceName)
       and (not input.family or family == input.family) and (not input.startedBy or task.deployment == input.startedBy)
    then
      tasks[#tasks + 1] = task
    end
  end
  table.sort(tasks, function(a, b)
    if a.created ~= b.created then return a.created > b.created end
    return a.id < b.id
  end)
  local arns = {}
  for _, task in ipairs(tasks) do arns[#arns + 1] = task.arn end
  local page, token = common.page(arns, input.nextToken, input.maxResults or 100)
  if not page then ctx.fail("InvalidParameterException", "Invalid token", 400) end
  return { taskArns = page, nextToken = token }
end

--- DescribeTasks: up to 100 tasks by ID or ARN; unknown ones go to failures.
function M.operations.DescribeTasks(ctx, input)
  advance(ctx.world)
  local cluster = find_cluster(ctx, input.cluster)
  if #(input.tasks or {}) > 100 then
    ctx.fail("InvalidParameterException", "Tasks cannot have more than 100 elements", 400)
  end
  local out, failures = {}, {}
  for _, ref in ipairs(input.tasks or {}) do
    local id = ref:match("/([%x]+)$") or ref
    local task = cluster.tasks[id]
    if task then
      out[#out + 1] = task_output(ctx.world, cluster, task.service, task)
    else
      local arn = ref:find("^arn:") and ref or common.arn("ecs", common.region(ctx), ctx.world.account,
        ("task/%s/%s"):format(cluster.name, ref))
      failures[#failures + 1] = { arn = arn, reason = "MISSING" }
    end
  end
  return { tasks = out, failures = failures }
end

-------------------------------------------------------------------------------
-- API for other simulated services
-------------------------------------------------------------------------------

--- Returns the targets that ECS services register in target group TG_ARN,
-- advanced to now: a list of { id = ip, port, state = "healthy" |
-- "unhealthy" | "draining", reason, description, primary = boolean,
-- service, task_id }.
function M.targets(world, tg_arn)
  advance(world)
  local out = {}
  for _, cluster in ipairs(common.sorted_values(state(world).clusters)) do
    for _, svc in ipairs(common.sorted_values(cluster.services)) do
      for _, lb in ipairs(svc.loadBalancers or {}) do
        if lb.targetGroupArn == tg_arn then
          for _, task in ipairs(tasks_of(cluster, svc)) do
            local target = { id = task.ip, port = lb.containerPort or 80, service = svc.name, task_id = task.id,
                             primary = task.deployment == svc.deployments[1].id }
            if task.last_status == "RUNNING" and task.healthy then
              target.state = "healthy"
            elseif task.last_status == "RUNNING" then
              target.state = "unhealthy"
              target.reason = "Target.FailedHealthChecks"
              target.description = "Health checks failed"
              target.detail = task.unhealthy_reason
            elseif task.last_status == "DEACTIVATING" then
              target.state = "draining"
              target.reason = "Target.DeregistrationInProgress"
              target.description = "Target deregistration is in progress"
            end
            if target.state then out[#out + 1] = target end
          end
        end
      end
    end
  end
  return out
end

-------------------------------------------------------------------------------
-- Scenario
-------------------------------------------------------------------------------

local function scenario_service(world, name, spec)
  local cluster = create_cluster(world, spec.cluster or "default")
  local td = lookup_task_definition(world, spec.task_definition)
  if not td then
    local known = {}
    for family, revisions in pairs(state(world).task_definitions) do
      for revision in pairs(revisions) do known[#known + 1] = ("%s:%d"):format(family, revision) end
    end
    table.sort(known)
    common.scenario_fail(("ecs.services[%q].task_definition"):format(name), ("%s is not registered in "
      .. "ecs.task_definitions (registered: %s)"):format(tostring(spec.task_definition),
        #known > 0 and table.concat(known, ", ") or "none"))
  end
  local lbs
  if spec.target_group then
    local container = essential_container(td)
    local port = spec.container_port or (container.portMappings[1] or {}).containerPort or 80
    lbs = { { targetGroupArn = target_group_arn(world, spec.target_group),
              containerName = spec.container_name or container.name, containerPort = port } }
  end
  local cb = spec.circuit_breaker or {}
  local now = world:now()
  local t0 = now - 86400
  local svc = create_service(world, cluster, {
    serviceName = name, desiredCount = spec.desired or 1, launchType = spec.launch_type or "FARGATE",
    loadBalancers = lbs, healthCheckGracePeriodSeconds = spec.health_check_grace_period,
    deploymentConfiguration = { maximumPercent = 200, minimumHealthyPercent = 100,
                                deploymentCircuitBreaker = { enable = cb.enable or false,
                                                             rollback = cb.rollback or false } },
    networkConfiguration = spec.network_configuration,
  }, td, t0)
  local d = svc.deployments[1]
  d.rolloutState = "COMPLETED"
  d.rolloutStateReason = ("ECS deployment %s completed."):format(d.id)
  svc.last_completed_task_definition = td.taskDefinitionArn
  svc.steady = true
  local timings = state(world).timings
  for _ = 1, svc.desiredCount do
    local task = launch_task(world, cluster, svc, d, now - timings.provisioning - timings.pending)
    task.last_status = "PENDING"
    task.next_at = now
  end
  svc.clock = now
  svc.starting_up = true
  add_event(world, svc, t0, ("(service %s) has reached a steady state."):format(name))
end

-- The keys of a service in the scenario's ecs.services.
local SERVICE_KEYS = { "cluster", "task_definition", "desired", "target_group", "container_name", "container_port",
  "circuit_breaker", "health_check_grace_period", "health", "logs", "network_configuration", "launch_type" }

-- Checks the scenario's `ecs` SECTION; raises naming the key at fault.
local function check_section(section)
  common.scenario_table("ecs", section, { "timings", "clusters", "task_definitions", "services" })
  local timing_keys = common.sorted_keys(DEFAULT_TIMINGS)
  for key, value in pairs(common.scenario_table("ecs.timings", section.timings, timing_keys)) do
    common.scenario_value("ecs.timings." .. key, value, "non-negative number")
  end
  local clusters = common.scenario_table("ecs.clusters", section.clusters)
  for i = 1, #clusters do common.scenario_value(("ecs.clusters[%d]"):format(i), clusters[i], "string") end
  for i, td in ipairs(common.scenario_list("ecs.task_definitions", section.task_definitions)) do
    local where = ("ecs.task_definitions[%d]"):format(i)
    common.scenario_value(where .. ".family", td.family, "string")
    if td.revision ~= nil and not (math.tointeger(td.revision) and td.revision >= 1) then
      common.scenario_fail(where .. ".revision", ("must be a positive integer, got %s"):format(tostring(td.revision)))
    end
    common.scenario_list(where .. ".containerDefinitions", td.containerDefinitions)
  end
  for name, spec in pairs(common.scenario_table("ecs.services", section.services)) do
    local where = ("ecs.services[%q]"):format(tostring(name))
    if type(name) ~= "string" then common.scenario_fail(where, "service names must be strings") end
    common.scenario_table(where, spec, SERVICE_KEYS)
    common.scenario_value(where .. ".task_definition", spec.task_definition, "string", true)
    common.scenario_value(where .. ".cluster", spec.cluster, "string", true)
    common.scenario_value(where .. ".desired", spec.desired, "non-negative integer", true)
    common.scenario_value(where .. ".target_group", spec.target_group, "string", true)
    common.scenario_value(where .. ".container_port", spec.container_port, "port number (1-65535)", true)
    common.scenario_value(where .. ".health_check_grace_period", spec.health_check_grace_period,
      "non-negative integer", true)
    local health = spec.health
    if health ~= nil and health ~= "healthy" and health ~= "unhealthy" and type(health) ~= "function"
      and type(health) ~= "table" then
      common.scenario_fail(where .. ".health", ('must be "healthy", "unhealthy", a function or a table, got %s')
        :format(type(health) == "string" and ("%q"):format(health) or tostring(health)))
    end
  end
end

--- Sets up clusters, task definitions and services from the scenario's
-- `ecs` SECTION.
function M.init(world, section)
  section = section or {}
  check_section(section)
  local st = state(world)
  st.clusters, st.task_definitions, st.latest, st.tags = {}, {}, {}, {}
  st.next_ip = 0
  st.behaviour = section.services or {}
  st.timings = {}
  for k, v in pairs(DEFAULT_TIMINGS) do st.timings[k] = (section.timings or {})[k] or v end
  for _, name in ipairs(section.clusters or {}) do create_cluster(world, name) end
  for _, td in ipairs(section.task_definitions or {}) do
    if td.revision then st.latest[td.family] = td.revision - 1 end
    register_task_definition(world, td)
  end
  for _, name in ipairs(common.sorted_keys(st.behaviour)) do
    local spec = st.behaviour[name]
    if spec.task_definition then scenario_service(world, name, spec) end
  end
end

return M
