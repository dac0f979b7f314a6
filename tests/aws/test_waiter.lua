-- aws.waiter driven by scripted service objects: a table with the real
-- embedded model and operation functions that return scripted outputs or
-- raise scripted AWS errors, so acceptor logic is tested without a network.
local errors = require("mnem.errors")
local log = require("mnem.log")
local model = require("aws.model")
local sys = require("mnem._sys")
local t = require("t")
local waiter = require("aws.waiter")

-- Progress lines are checked by one test only; the others stay quiet.
log.configure{ level = "warn" }

-- Fast polling for every scripted wait.
local FAST = { interval = 0.01 }

local function options(extra)
  local o = {}
  for k, v in pairs(FAST) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function aws_error(code, status)
  return {
    aws_error = errors.new{ kind = "aws", code = code, message = code .. " (scripted)", http_status = status or 400 },
  }
end

-- Returns a service object whose OPERATION returns the entries of SCRIPT
-- in turn (repeating the last one); an entry made by aws_error raises.
local function fake(service_name, operation, script, service_model)
  local svc = { name = service_name, model = service_model or model.load(service_name), calls = {} }
  svc[operation] = function(params)
    svc.calls[#svc.calls + 1] = params
    local entry = script[math.min(#svc.calls, #script)]
    if entry.aws_error then error(entry.aws_error, 0) end
    return entry
  end
  return svc
end

local function instances(...)
  local list = {}
  for i, status in ipairs({ ... }) do
    list[i] = { DBInstanceIdentifier = "db" .. i, DBInstanceStatus = status }
  end
  return { DBInstances = list }
end

local function rds(script)
  return fake("rds", "describe_db_instances", script)
end

local DB = { DBInstanceIdentifier = "db1" }

t.test("every waiter compiles", function()
  local count = 0
  for _, service in ipairs(model.services()) do
    local m = model.load(service)
    for aws_name, published in pairs(m.waiters) do
      local definition = waiter.definition(m, aws_name)
      t.eq(definition.operation, published.operation, aws_name)
      t.ok(#definition.acceptors >= #published.acceptors, aws_name .. " keeps the published acceptors")
      for _, acceptor in ipairs(definition.acceptors) do
        if acceptor.matcher:match("^path") then
          t.ok(acceptor.expression, aws_name .. " " .. acceptor.argument .. " compiled")
        end
      end
      count = count + 1
    end
  end
  t.ok(count >= 19, "expected at least 19 waiters across the models, got " .. count)
end)

t.test("rds additions skip published", function()
  local definition = waiter.definition(model.load("rds"), "db_instance_available")
  local added, published = {}, {}
  for _, acceptor in ipairs(definition.acceptors) do
    if acceptor.added then added[#added + 1] = acceptor.expected else published[#published + 1] = acceptor.expected end
  end
  t.eq(added, { "stopped", "stopping", "storage-full", "incompatible-network",
                "inaccessible-encryption-credentials", "restore-error" })
  for _, state in ipairs(published) do
    for _, mine in ipairs(added) do t.ok(state ~= mine, "duplicate acceptor for " .. state) end
  end
  t.eq(definition.acceptors[1].added, true, "additions come first")
end)

t.test("pathAll success after polls", function()
  local svc = rds({ instances("creating"), instances("backing-up"), instances("available") })
  local seen = {}
  local output, state = waiter.wait(svc, "db_instance_available", DB, options{
    on_poll = function(_, text) seen[#seen + 1] = text end,
  })
  t.eq(state, "available")
  t.eq(output.DBInstances[1].DBInstanceStatus, "available")
  t.eq(#svc.calls, 3)
  t.eq(svc.calls[1].DBInstanceIdentifier, "db1")
  t.eq(seen, { "creating", "backing-up", "available" })
end)

t.test("pathAll needs every element", function()
  local svc = rds({ instances("available", "creating"), instances(), instances("available", "available") })
  local _, state = waiter.wait(svc, "DBInstanceAvailable", {}, options())
  t.eq(#svc.calls, 3, "a mixed list and an empty list do not match pathAll")
  t.eq(state, "available, available")
end)

t.test("failure acceptor names state", function()
  local svc = rds({ instances("modifying"), instances("incompatible-parameters") })
  local err = t.raises(function() waiter.wait(svc, "db_instance_available", DB, options()) end)
  t.ok(errors.is(err), "a mnem.errors value")
  t.eq(err.kind, "waiter")
  t.eq(err.code, "WaiterFailure")
  t.eq(err.message,
    'rds db_instance_available failed: DBInstanceStatus is "incompatible-parameters" (acceptor failure)')
  t.eq(err.last_state, "incompatible-parameters")
  t.eq(err.retryable, false)
  t.eq(#svc.calls, 2)
end)

t.test("rds stopped fails fast", function()
  local svc = rds({ instances("stopped") })
  local err = t.raises(function() waiter.wait(svc, "db_instance_available", DB, options()) end)
  t.eq(err.code, "WaiterFailure")
  t.contains(err.message, 'DBInstanceStatus is "stopped" (mnem fail-fast acceptor: ')
  t.eq(#svc.calls, 1)
end)

t.test("rds storage-full fails fast", function()
  local svc = rds({ instances("modifying"), instances("storage-full") })
  local err = t.raises(function() waiter.wait(svc, "db_instance_available", DB, options()) end)
  t.contains(err.message, 'DBInstanceStatus is "storage-full"')
  t.contains(err.message, "no storage left")
  t.eq(#svc.calls, 2)
end)

t.test("timeout names last state", function()
  local svc = rds({ instances("modifying") })
  local err = t.raises(function()
    -- Polls every 0.01 s for 1 s: a second poll fits even on a slow machine.
    waiter.wait(svc, "db_instance_available", DB, options{ timeout = 1 })
  end)
  t.eq(err.kind, "timeout")
  t.eq(err.code, "WaiterTimeout")
  t.eq(err.last_state, "modifying")
  t.contains(err.message, "timed out after ")
  t.contains(err.message, "waiting for rds db_instance_available; last state: modifying")
  t.not_contains(err.message, "max attempts")
  t.ok(#svc.calls >= 2, "polled more than once before timing out")
end)

t.test("timeout accepts duration text", function()
  local svc = rds({ instances("creating") })
  local started = sys.monotonic()
  local err = t.raises(function()
    waiter.wait(svc, "db_instance_available", DB, { timeout = "50ms", interval = "20ms" })
  end)
  t.eq(err.code, "WaiterTimeout")
  t.ok(sys.monotonic() - started < 10, "stopped near the 50ms timeout")
end)

t.test("leave_state ignores stale available", function()
  local svc = rds({ instances("available"), instances("modifying"), instances("available") })
  local _, state = waiter.wait(svc, "db_instance_available", DB, options{ leave_state = "available", grace = 10 })
  t.eq(#svc.calls, 3, "the first available was the old state")
  t.eq(state, "available")
end)

t.test("without leave_state stale available wins", function()
  local svc = rds({ instances("available"), instances("modifying"), instances("available") })
  waiter.wait(svc, "db_instance_available", DB, options())
  t.eq(#svc.calls, 1)
end)

t.test("leave_state ends after grace", function()
  local svc = rds({ instances("available") })
  local started = sys.monotonic()
  local _, state = waiter.wait(svc, "db_instance_available", DB, options{ leave_state = "available", grace = 0.3 })
  t.eq(state, "available")
  -- The elapsed time, not a count of polls, shows that the wait lasted the
  -- grace time, because a loaded machine may fit fewer polls into it.
  t.ok(#svc.calls >= 2, "the first poll was not accepted, polls: " .. #svc.calls)
  t.ok(sys.monotonic() - started >= 0.3, "kept polling through the grace time")
end)

t.test("leave_state skips stopped failure", function()
  local svc = rds({ instances("stopped"), instances("starting"), instances("available") })
  local _, state = waiter.wait(svc, "db_instance_available", DB, options{ leave_state = "stopped", grace = 10 })
  t.eq(state, "available")
  t.eq(#svc.calls, 3)
end)

t.test("expect_change waits for change", function()
  local svc = rds({ instances("available"), instances("available"), instances("modifying"), instances("available") })
  waiter.wait(svc, "db_instance_available", DB, options{ expect_change = true, grace = 10 })
  t.eq(#svc.calls, 4)
end)

t.test("min_polls delays success", function()
  local svc = rds({ instances("available") })
  waiter.wait(svc, "db_instance_available", DB, options{ min_polls = 3 })
  t.eq(#svc.calls, 3)
end)

t.test("error acceptor means deleted", function()
  local svc = rds({ instances("deleting"), aws_error("DBInstanceNotFound", 404) })
  local output, state = waiter.wait(svc, "db_instance_deleted", DB, options())
  t.eq(output, nil)
  t.eq(state, "error DBInstanceNotFound")
  t.eq(#svc.calls, 2)
end)

t.test("path boolean acceptor succeeds", function()
  local svc = rds({ instances("deleting"), instances() })
  local output = waiter.wait(svc, "db_instance_deleted", DB, options())
  t.eq(#output.DBInstances, 0)
end)

t.test("unmatched error ends wait", function()
  local svc = rds({ instances("creating"), aws_error("AccessDenied", 403) })
  local err = t.raises(function() waiter.wait(svc, "db_instance_available", DB, options()) end)
  t.eq(err.kind, "aws")
  t.eq(err.code, "AccessDenied")
  t.eq(err.waiter, "rds db_instance_available")
end)

t.test("misuse errors propagate", function()
  local svc = rds({ instances("creating") })
  svc.describe_db_instances = function() error("aws.rds.describe_db_instances: unknown parameter Foo") end
  t.raises(function() waiter.wait(svc, "db_instance_available", DB, options()) end, "unknown parameter Foo")
end)

t.test("status and retry error acceptors", function()
  local svc = fake("elbv2", "describe_load_balancers",
    { aws_error("LoadBalancerNotFound", 400), { LoadBalancers = { { State = { Code = "provisioning" } } } } })
  local output = waiter.wait(svc, "load_balancer_exists", { Names = { "lb" } }, options())
  t.eq(#svc.calls, 2, "LoadBalancerNotFound is a retry acceptor, HTTP 200 the success")
  t.eq(output.LoadBalancers[1].State.Code, "provisioning")
end)

t.test("pathAny retry acceptor", function()
  local svc = fake("elbv2", "describe_load_balancers", {
    { LoadBalancers = { { State = { Code = "provisioning" } } } },
    { LoadBalancers = { { State = { Code = "active" } } } },
  })
  local _, state = waiter.wait(svc, "load_balancer_available", {}, options())
  t.eq(state, "active")
  t.eq(#svc.calls, 2)
end)

t.test("path matcher on ssm", function()
  local svc = fake("ssm", "get_command_invocation", {
    aws_error("InvocationDoesNotExist"), { Status = "InProgress" }, { Status = "Success" },
  })
  local _, state = waiter.wait(svc, "command_executed", { CommandId = "c", InstanceId = "i" }, options())
  t.eq(state, "Success")
  t.eq(#svc.calls, 3)
  local failing = fake("ssm", "get_command_invocation", { { Status = "Pending" }, { Status = "Failed" } })
  local err = t.raises(function() waiter.wait(failing, "command_executed", {}, options()) end)
  t.eq(err.message, 'ssm command_executed failed: Status is "Failed" (acceptor failure)')
end)

-- A model with one waiter per case that the published models lack.
local custom_model = {
  service = "custom",
  waiters = {
    AnyError = { operation = "Describe", delay = 1, maxAttempts = 3, acceptors = {
      { state = "failure", matcher = "error", expected = true },
      { state = "success", matcher = "path", argument = "count", expected = 2 },
    } },
    NoError = { operation = "Describe", delay = 1, maxAttempts = 3, acceptors = {
      { state = "success", matcher = "error", expected = false },
    } },
    NotFoundStatus = { operation = "Describe", delay = 1, maxAttempts = 3, acceptors = {
      { state = "success", matcher = "status", expected = 404 },
      { state = "retry", matcher = "error", expected = true },
    } },
  },
}

t.test("error true fails any error", function()
  local svc = fake("custom", "describe", { { count = 1 }, aws_error("Boom", 500) }, custom_model)
  local err = t.raises(function() waiter.wait(svc, "any_error", {}, options()) end)
  t.eq(err.code, "WaiterFailure")
  t.eq(err.message, "custom any_error failed: error is true (acceptor failure)")
  local ok_svc = fake("custom", "describe", { { count = 1 }, { count = 2 } }, custom_model)
  t.eq(waiter.wait(ok_svc, "AnyError", {}, options()).count, 2)
end)

t.test("error false means success", function()
  local svc = fake("custom", "describe", { { count = 0 } }, custom_model)
  t.eq(waiter.wait(svc, "no_error", {}, options()).count, 0)
  local failing = fake("custom", "describe", { aws_error("Nope") }, custom_model)
  t.raises(function() waiter.wait(failing, "no_error", {}, options()) end, "Nope")
end)

t.test("status matcher on errors", function()
  local svc = fake("custom", "describe", { aws_error("Throttled", 500), aws_error("NotFound", 404) }, custom_model)
  local output, state = waiter.wait(svc, "not_found_status", {}, options())
  t.eq(output, nil)
  t.eq(state, "error NotFound")
  t.eq(#svc.calls, 2)
end)

local function ecs_service(status, running, desired, deployments)
  return { serviceName = "web", status = status, runningCount = running, desiredCount = desired,
           deployments = deployments }
end

t.test("ecs rollout failed fails fast", function()
  local rolling = {
    { status = "PRIMARY", rolloutState = "IN_PROGRESS" }, { status = "ACTIVE", rolloutState = "COMPLETED" },
  }
  local failed = {
    { status = "PRIMARY", rolloutState = "IN_PROGRESS" }, { status = "ACTIVE", rolloutState = "FAILED" },
  }
  local svc = fake("ecs", "describe_services", {
    { services = { ecs_service("ACTIVE", 1, 2, rolling) }, failures = {} },
    { services = { ecs_service("ACTIVE", 2, 2, failed) }, failures = {} },
  })
  local err = t.raises(function()
    waiter.wait(svc, "services_stable", { cluster = "c", services = { "web" } }, options())
  end)
  t.eq(err.code, "WaiterFailure")
  t.contains(err.message, 'ecs services_stable failed: rolloutState is "FAILED" (mnem fail-fast acceptor: ')
  t.eq(#svc.calls, 2)
end)

t.test("ecs stable service succeeds", function()
  local svc = fake("ecs", "describe_services", {
    { services = { ecs_service("ACTIVE", 1, 2, { { rolloutState = "IN_PROGRESS" } }) }, failures = {} },
    { services = { ecs_service("ACTIVE", 2, 2, { { rolloutState = "COMPLETED" } }) }, failures = {} },
  })
  local _, state = waiter.wait(svc, "services_stable", { services = { "web" } }, options())
  t.eq(state, "ACTIVE 2/2 running, 1 deployments")
  t.eq(#svc.calls, 2)
end)

t.test("ecs draining service fails", function()
  local svc = fake("ecs", "describe_services", { { services = { ecs_service("DRAINING", 0, 0, {}) }, failures = {} } })
  local err = t.raises(function() waiter.wait(svc, "services_stable", {}, options()) end)
  t.eq(err.message, 'ecs services_stable failed: status is "DRAINING" (acceptor failure)')
end)

t.test("unknown option suggests key", function()
  local svc = rds({ instances("available") })
  t.raises(function() waiter.wait(svc, "db_instance_available", DB, { timout = 5 }) end,
    'aws.rds.wait: unknown option "timout" (did you mean timeout?)')
  t.raises(function() waiter.wait(svc, "db_instance_available", DB, { on_poll = 5 }) end,
    "on_poll must be a function")
  t.raises(function() waiter.wait(svc, "db_instance_available", DB, { timeout = "soon" }) end,
    "aws.rds.wait: timeout")
  t.eq(#svc.calls, 0, "misuse raises before polling")
end)

t.test("unknown waiter suggests name", function()
  local svc = rds({ instances("available") })
  t.raises(function() waiter.wait(svc, "db_instance_availble", DB) end,
    'aws.rds.wait: unknown waiter "db_instance_availble" for rds (did you mean db_instance_available?)')
end)

t.test("engine deadline caps timeout", function()
  local saved = package.loaded["mnem.engine"]
  package.loaded["mnem.engine"] = { remaining = function() return 0.03 end }
  local svc = rds({ instances("creating") })
  local ok, err = pcall(waiter.wait, svc, "db_instance_available", DB, { interval = 0.01 })
  package.loaded["mnem.engine"] = saved
  t.eq(ok, false)
  t.eq(err.code, "WaiterTimeout")
  t.contains(err.message, "(limited by the step or run deadline)")
end)

t.test("signal interrupts wait", function()
  sys.trap_signals()
  local svc = rds({ instances("creating") })
  -- system() ignores SIGINT while its child runs, so the kill comes later
  -- from a background shell, during the waiter's sleep.
  local err = t.raises(function()
    waiter.wait(svc, "db_instance_available", DB, { interval = 60, timeout = 120, on_poll = function()
      os.execute("(sleep 0.3; kill -INT " .. sys.getpid() .. ") &")
    end })
  end)
  sys.clear_signal()
  t.eq(err.kind, "interrupted")
  t.contains(err.message, "while waiting for rds db_instance_available; last state: creating")
  t.eq(#svc.calls, 1)
end)

t.test("progress lines on state change", function()
  local path = t.tmpdir() .. "/log.txt"
  local file = assert(io.open(path, "w"))
  log.configure{ stream = file, level = "info" }
  local svc = rds({ instances("creating"), instances("creating"), instances("backing-up"), instances("available") })
  local ok, err = pcall(waiter.wait, svc, "db_instance_available", DB, options())
  log.configure{ stream = io.stderr, level = "warn" }
  file:close()
  t.ok(ok, tostring(err))
  local text = t.read_file(path)
  t.contains(text, "waiting for rds db_instance_available (DBInstanceIdentifier=db1) (timeout 30m00s")
  t.contains(text, "waiting for rds db_instance_available (DBInstanceIdentifier=db1): creating (",
    "state line")
  t.contains(text, "): backing-up (")
  t.contains(text, " left)")
  t.contains(text, "rds db_instance_available: done after ")
  local _, creating_lines = text:gsub(": creating %(", "")
  t.eq(creating_lines, 1, "an unchanged state is not logged again within 30s")
end)

t.test("client service delegates wait", function()
  -- Port 9 on loopback refuses connections, so the one poll fails with an
  -- AWS transport error that no acceptor of the waiter matches.
  local client = require("aws.client").new{
    endpoint_url = "http://127.0.0.1:9", max_attempts = 1, region = "us-east-1",
  }
  local err = t.raises(function()
    client.rds.wait("db_instance_available", DB, { interval = 0.01, timeout = 5 })
  end)
  t.ok(errors.is(err), "a mnem.errors value: " .. tostring(err))
  t.eq(err.kind, "aws")
  t.eq(err.code, "ConnectionRefused")
  t.eq(err.waiter, "rds db_instance_available")
end)

return t.done()
