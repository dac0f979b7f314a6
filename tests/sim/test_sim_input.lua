-- What the simulator does with bad input: parameters that break the
-- model's constraints, mistakes in a scenario's service sections, the
-- advertised endpoint of other loopback addresses, and unknown services
-- in --fault-service.
local t = require("t")
local cjson = require("cjson")

local MNEM = os.getenv("MNEM_BIN") or "build/mnem"
local DIR = t.tmpdir()

local function sh(command)
  local p = io.popen(command .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  return out:gsub("exit=%d+%s*$", ""), status
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- ---- parameter validation, through the dispatcher in this process ----

local sim_server = require("sim.server")
local sigv4 = require("mnem._sigv4")
local dispatcher = sim_server.new{ log = false }

-- Returns a request table as mnem._server makes it, signed for SERVICE.
-- TARGET is the X-Amz-Target of a JSON request, nil for a query request.
local function signed(service, target, body)
  local content_type = target and "application/x-amz-json-1.1" or "application/x-www-form-urlencoded"
  local list = { { "Host", "127.0.0.1:" .. dispatcher.port }, { "Content-Type", content_type } }
  if target then list[#list + 1] = { "X-Amz-Target", target } end
  local s = sigv4.sign{ method = "POST", path = "/", headers = list, body = body, access_key = "test",
    secret_key = "test", region = "us-east-1", service = service }
  local headers = { ["x-amz-date"] = s.headers[1][2], authorization = s.authorization }
  for _, pair in ipairs(list) do headers[pair[1]:lower()] = pair[2] end
  return { method = "POST", target = "/", path = "/", query = "", body = body, local_port = dispatcher.port,
    remote = "127.0.0.1:1", conn = 1, headers = headers }
end

local function ssm(operation, body)
  local resp = dispatcher:handle(signed("ssm", "AmazonSSM." .. operation, body))
  return resp.status, cjson.decode(resp.body)
end

t.test("a number for a string member is a validation error", function()
  local status, body = ssm("GetParameter", '{"Name": 5}')
  t.eq(status, 400)
  t.eq(body.__type, "ValidationException")
  t.eq(body.message, "1 validation error detected: Value '5' at 'name' failed to satisfy constraint: "
    .. "Member must be a string")
end)

t.test("an empty body misses the required name", function()
  for _, body in ipairs({ "", "{}" }) do
    local status, answer = ssm("GetParameter", body)
    t.eq(status, 400, body)
    t.eq(answer.__type, "ValidationException", body)
    t.eq(answer.message, "1 validation error detected: Value null at 'name' failed to satisfy constraint: "
      .. "Member must not be null")
  end
end)

t.test("lengths, enums and list items are checked", function()
  local _, body = ssm("GetParameter", '{"Name": ""}')
  t.contains(body.message, "Value '' at 'name' failed to satisfy constraint: Member must have length greater than "
    .. "or equal to 1")
  _, body = ssm("PutParameter", '{"Name": "/x", "Value": "v", "Type": "Bogus"}')
  t.contains(body.message, "Value 'Bogus' at 'type' failed to satisfy constraint: Member must satisfy enum value "
    .. "set: [String, StringList, SecureString]")
  _, body = ssm("GetParameters", '{"Names": ["/a", 3]}')
  t.contains(body.message, "at 'names.2.member'")
end)

t.test("a wrong container type names the member", function()
  local status, body = ssm("GetParameters", '{"Names": "/a"}')
  t.eq(status, 400)
  t.eq(body.__type, "ValidationException")
  t.eq(body.message, "1 validation error detected: The value at 'names' failed to satisfy constraint: "
    .. "Member must be a list")
  local resp = dispatcher:handle(signed("ecs", "AmazonEC2ContainerServiceV20141113.DescribeServices",
    '{"services": ["api"], "cluster": "c", "include": {"a": 1}}'))
  t.eq(resp.status, 400)
  t.contains(resp.body, "The value at 'include' failed to satisfy constraint: Member must be a list")
  status, body = ssm("GetParametersByPath", '{"Path": "/a", "ParameterFilters": [["Key"]]}')
  t.eq(status, 400)
  t.contains(body.message, "The value at 'parameterFilters.1.member' failed to satisfy constraint: "
    .. "Member must be a structure")
end)

t.test("sensitive values stay out of the message", function()
  local _, body = ssm("PutParameter", '{"Name": "/x", "Value": 12345678, "Type": "String"}')
  t.eq(body.__type, "ValidationException")
  t.contains(body.message, "Value '***' at 'value'")
  t.ok(not body.message:find("12345678", 1, true), "the value is not echoed")
end)

t.test("query services answer ValidationError", function()
  local resp = dispatcher:handle(signed("rds", nil,
    "Action=CreateDBInstance&Version=2014-10-31&DBInstanceIdentifier=db1&Engine=postgres"))
  t.eq(resp.status, 400)
  t.contains(resp.body, "<Code>ValidationError</Code>")
  t.contains(resp.body, "Value null at &apos;dBInstanceClass&apos;")
end)

t.test("valid requests still reach the handler", function()
  local status, body = ssm("PutParameter", '{"Name": "/ok", "Value": "v", "Type": "String"}')
  t.eq(status, 200)
  t.eq(math.tointeger(body.Version), 1)
  status, body = ssm("GetParameter", '{"Name": "/ok", "WithDecryption": true}')
  t.eq(status, 200)
  t.eq(body.Parameter.Value, "v")
  status, body = ssm("GetParameter", '{"Name": "/missing"}')
  t.eq(status, 400)
  t.eq(body.__type, "ParameterNotFound")
end)

dispatcher:close()

-- ---- processes: the advertised endpoint and usage errors ----

local AWS_ENV = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true "
  .. "AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1 AWS_PAGER= "
  .. "AWS_MAX_ATTEMPTS=1 "
local counter = 0

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

-- Starts `mnem sim serve ARGS`; returns the ready file's table, the log
-- path and the pid, or nil and the log when it did not start.
local function start_sim(args)
  counter = counter + 1
  local ready, log = ("%s/ready%d.json"):format(DIR, counter), ("%s/sim%d.log"):format(DIR, counter)
  local pid_file = ("%s/pid%d"):format(DIR, counter)
  os.execute(("%s sim serve --port 0 --ready-file %s %s >%s 2>&1 & echo $! >%s"):format(MNEM, ready, args, log,
    pid_file))
  local pid = math.tointeger(tonumber(t.read_file(pid_file)))
  -- Up to 30 s: a loaded machine can be slow to start the simulator.
  for _ = 1, 300 do
    if exists(ready) then break end
    if os.execute(("kill -0 %d 2>/dev/null"):format(pid)) ~= true then break end
    os.execute("sleep 0.1")
  end
  if not exists(ready) then
    os.execute(("kill %d 2>/dev/null"):format(pid))
    return nil, t.read_file(log)
  end
  return cjson.decode(t.read_file(ready)), log, pid
end

local function stop(pid)
  os.execute(("kill %d 2>/dev/null"):format(pid))
  for _ = 1, 50 do
    if os.execute(("kill -0 %d 2>/dev/null"):format(pid)) ~= true then return end
    os.execute("sleep 0.1")
  end
end

local LB_SCENARIO = DIR .. "/lb.lua"
write(LB_SCENARIO, [[return { elbv2 = {
  target_groups = { { name = "tg", port = 8080, protocol = "HTTP" } },
  load_balancers = { { name = "lb", listeners = { { port = 80, protocol = "HTTP", target_group = "tg" } } } },
} }]])

t.test("another IPv4 loopback address is advertised", function()
  local info, log, pid = start_sim("--host 127.5.5.5 --scenario " .. LB_SCENARIO)
  t.ok(info ~= nil, "started: " .. tostring(log))
  local ok, err = pcall(function()
    local port = math.tointeger(info.port)
    t.eq(info.endpoint, "http://127.5.5.5:" .. port)
    t.contains(t.read_file(log), "serving on http://127.5.5.5:" .. port)
    t.eq(info.connect_to[1], ("%s:80:127.5.5.5:%d"):format(info.listeners[1].dns_name,
      math.tointeger(info.listeners[1].local_port)))
    local out, status = sh(("%s /usr/bin/aws --endpoint-url %s --output json sts get-caller-identity"):format(
      AWS_ENV, info.endpoint))
    t.eq(status, 0, out)
    t.contains(out, '"Account": "123456789012"')
    out = sh(("curl -s -o /dev/null -w '%%{http_code}' --connect-to %s http://%s/"):format(info.connect_to[1],
      info.listeners[1].dns_name))
    t.ok(out == "200" or out == "503", "the listener answers through connect_to: " .. out)
  end)
  stop(pid)
  if not ok then error(err, 0) end
end)

t.test("IPv6 loopback is advertised in brackets", function()
  local info, log, pid = start_sim("--host ::1")
  if not info then
    if log:find("cannot listen", 1, true) then t.skip("this machine has no IPv6 loopback: " .. log) end
    error("the simulator did not start: " .. log)
  end
  local ok, err = pcall(function()
    local port = math.tointeger(info.port)
    t.eq(info.endpoint, "http://[::1]:" .. port)
    t.contains(t.read_file(log), "serving on http://[::1]:" .. port)
    -- The AWS CLI of this machine (botocore 1.29) refuses IPv6 endpoint
    -- URLs, so mnem's own client signs the call.
    local out, status = sh(("%s %s aws sts get_caller_identity --endpoint-url %s"):format(AWS_ENV, MNEM,
      info.endpoint))
    t.eq(status, 0, out)
    t.contains(out, '"Account": "123456789012"')
  end)
  stop(pid)
  if not ok then error(err, 0) end
end)

t.test("an unknown fault service is a usage error", function()
  local out, status = sh(MNEM .. " sim serve --port 0 --fault throttle=0.1 --fault-service nosvc")
  t.eq(status, 2, out)
  t.contains(out, "--fault-service: unknown service nosvc (services: sts, rds, ssm,")
  out, status = sh("MNEM_SIM_FAULTS=throttle=0.1,service=nosvc " .. MNEM .. " sim serve --port 0")
  t.eq(status, 2, out)
  t.contains(out, "MNEM_SIM_FAULTS: unknown service nosvc")
  local path = DIR .. "/fault_service.lua"
  write(path, 'return { faults = { { service = "nosvc", throttle = 0.5 } } }\n')
  out, status = sh(("%s sim serve --port 0 --scenario %s"):format(MNEM, path))
  t.eq(status, 2, out)
  t.contains(out, path .. ": faults[1]: unknown service nosvc")
end)

t.test("service aliases still name known services", function()
  local info, log, pid = start_sim("--quiet --fault throttle=0 --fault-service elasticloadbalancing")
  t.ok(info ~= nil, "started: " .. tostring(log))
  stop(pid)
end)

-- ---- mistakes in a scenario's service sections ----

-- Each case: the scenario's text after "return ", and what the message
-- must contain after the file name.
local SCENARIO_MISTAKES = {
  { '{ rds = { instances = { { identifier = "Bad Name!", engine = "oracle-xx" } } } }',
    "rds.instances[1] (Bad Name!): missing required parameter class (DBInstanceClass)" },
  { '{ rds = { instances = { { identifier = "Bad Name!", engine = "postgres", class = "db.t3.micro", '
    .. 'allocated_storage = 20, master_username = "u" } } } }',
    "rds.instances[1] (Bad Name!): InvalidParameterValue: The parameter identifier (DBInstanceIdentifier) is not "
    .. "a valid identifier" },
  { '{ rds = { instances = { { identifier = "db1", engine = "postgres", class = "db.t3.micro", '
    .. 'allocated_storage = "big", master_username = "u" } } } }',
    'rds.instances[1] (db1): invalid parameter allocated_storage (AllocatedStorage): expected an integer, got '
    .. 'string "big"' },
  { '{ rds = { durations = { creating = "fast" } } }',
    'rds.durations.creating: must be a non-negative number, got "fast"' },
  { '{ rds = { durations = { createing = 10 } } }', "rds.durations: unknown key createing (did you mean creating?)" },
  { '{ ecs = { services = { api = { task_definition = "nope:1" } } } }',
    'ecs.services["api"].task_definition: nope:1 is not registered in ecs.task_definitions (registered: none)' },
  { '{ ecs = { timings = { pending = "slow" } } }', 'ecs.timings.pending: must be a non-negative number, got "slow"' },
  { '{ elbv2 = { target_groups = { { name = "tg" } }, load_balancers = { { name = "lb", '
    .. 'listeners = { { port = "x", target_group = "tg" } } } } } }',
    'elbv2.load_balancers[1].listeners[1].port: must be a port number (1-65535), got "x"' },
  { '{ elbv2 = { load_balancers = { { name = "lb", listeners = { { port = 80, target_group = "nope" } } } } } }',
    'elbv2.load_balancers[1].listeners[1].target_group: "nope" is not in elbv2.target_groups' },
  { '{ ssm = { parameters = { { name = "/a" } } } }',
    "ssm.parameters[1].value (parameter /a): is missing: expected a string or number" },
  { '{ ssm = { parameters = { { name = "/a", value = "v", type = "Bogus" } } } }',
    'ssm.parameters[1].type (parameter /a): must be one of SecureString, String, StringList, got "Bogus"' },
  { '{ ssm = { parameters = { { name = "/a", value = "v", tier = "Ultra" } } } }',
    'ssm.parameters[1].tier (parameter /a): must be one of Advanced, Intelligent-Tiering, Standard, got "Ultra"' },
  { '{ ssm = { params = {} } }', "ssm: unknown key params (keys: parameters)" },
  { '{ logs = { groups = { { name = 5 } } } }', "logs.groups[1].name: must be a string, got 5" },
  { '{ secretsmanager = { secrets = "app/key" } }',
    'secretsmanager.secrets: must be a list of tables, got "app/key"' },
}

t.test("scenario section mistakes exit 2 naming the file and key", function()
  for i, case in ipairs(SCENARIO_MISTAKES) do
    local path = ("%s/mistake%d.lua"):format(DIR, i)
    write(path, "return " .. case[1] .. "\n")
    local out, status = sh(("%s sim serve --port 0 --scenario %s"):format(MNEM, path))
    t.eq(status, 2, case[1] .. " -> " .. out)
    t.contains(out, ("invalid scenario %s: %s"):format(path, case[2]), case[1])
    t.ok(not out:find("traceback", 1, true) and not out:find("internal error", 1, true), "no traceback: " .. out)
    t.ok(not out:find("serving on", 1, true), "not served: " .. out)
  end
end)

t.test("scenario mistakes raise from sim.server.new", function()
  local ok, err = pcall(sim_server.new, { log = false, scenario = { ssm = { parameters = { { name = "/a" } } } } })
  t.ok(not ok, "new raised")
  t.eq(err.scenario_error, true)
  t.contains(err.message, "invalid scenario table: ssm.parameters[1].value (parameter /a): is missing")
end)

t.test("a valid scenario with every section still loads", function()
  local path = DIR .. "/valid.lua"
  write(path, [[return {
  sts = { user = "ops" },
  rds = { durations = { creating = 1, ["backing-up"] = 2 }, endpoint = { address = "127.0.0.1", port = 5432 },
    instances = { { identifier = "db1", engine = "postgres", class = "db.t3.micro", allocated_storage = 20,
      master_username = "u", tags = { team = "x" } } } },
  ssm = { parameters = { { name = "/a", value = 5 }, { name = "/b", value = "s", type = "SecureString",
    tier = "Advanced" } } },
  ecs = { timings = { pending = 1 }, clusters = { "c" }, task_definitions = { { family = "app", revision = 3,
    containerDefinitions = { { name = "web", image = "i", portMappings = { { containerPort = 80 } } } } } },
    services = { api = { cluster = "c", task_definition = "app:3", desired = 1, health = "healthy" },
      later = { health = "unhealthy" } } },
  logs = { groups = { { name = "/g", retention_in_days = 7, streams = { { name = "s" } } } } },
  secretsmanager = { secrets = { { name = "k", value = "v" } } },
  application_autoscaling = { targets = { { resource_id = "service/c/api", min = 1, max = 2 } } },
}
]])
  local info, log, pid = start_sim("--quiet --scenario " .. path)
  t.ok(info ~= nil, "served: " .. tostring(log))
  if pid then stop(pid) end
end)

return t.done()
