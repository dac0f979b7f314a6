-- The simulator's request log masks by field, not by searching each line
-- for secret values. After a client stores "3" and "0" as SecureStrings,
-- the time, status and request id of every line stay readable. A long
-- SecureString a client sent still never appears, not even in the one
-- field a client chooses freely (the path of a load balancer request).
local t = require("t")
local cjson = require("cjson")
local sim_process = require("sim_process")

local dir = t.tmpdir()
local scenario = dir .. "/lb.lua"
sim_process.write(scenario, [[
return {
  name = "lb",
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  elbv2 = {
    target_groups = { { name = "web-tg", port = 8000, protocol = "HTTP", health_check_path = "/health/" } },
    load_balancers = { { name = "web-alb",
                         listeners = { { port = 8080, protocol = "HTTP", target_group = "web-tg" } } } },
  },
}
]])

local LONG = "Client-Sent-Secure-7c1e"

-- Sends the same requests to simulator SIM: SecureStrings "3", "0" and LONG
-- written and read back, a parameter that is not found, and a load
-- balancer request whose path contains LONG.
local function exercise(sim)
  local client = require("aws.client").new{ endpoint_url = sim.endpoint, region = "us-east-1",
                                             access_key_id = "test", secret_access_key = "test" }
  client.ssm.put_parameter{ Name = "/app/replicas", Value = "3", Type = "SecureString" }
  client.ssm.put_parameter{ Name = "/app/offset", Value = "0", Type = "SecureString" }
  client.ssm.put_parameter{ Name = "/app/key", Value = LONG, Type = "SecureString" }
  for _ = 1, 3 do
    client.ssm.get_parameter{ Name = "/app/replicas", WithDecryption = true }
    client.ssm.get_parameter{ Name = "/app/key", WithDecryption = true }
  end
  local _, err = client.ssm.try.get_parameter{ Name = "/app/missing" }
  t.eq(err and err.code, "ParameterNotFound")
  local port = math.tointeger(sim.info.listeners[1].local_port)
  sim_process.sh(("curl -s -o /dev/null http://127.0.0.1:%d/health/%s"):format(port, LONG))
  -- The simulator writes each line after it sends the response, and the
  -- load balancer's line comes last.
  for _ = 1, 50 do
    if t.read_file(sim.log):find("web-alb", 1, true) then break end
    os.execute("sleep 0.1")
  end
  return t.read_file(sim.log)
end

local text_sim = sim_process.start("--scenario " .. scenario)
local text_log = exercise(text_sim)

t.test("text log keeps times readable", function()
  local lines = 0
  for line in text_log:gmatch("[^\n]+") do
    if line:find(" ssm%.") then
      lines = lines + 1
      t.ok(line:match("^%d%d:%d%d:%d%d info ssm%.%a+ %d%d%d"), "unmasked time and status: " .. line)
      t.not_contains(line, "********", "no mask in an ssm request line")
    end
  end
  t.eq(lines, 10, "one line per ssm request")
end)

t.test("text log shows statuses", function()
  t.contains(text_log, " info ssm.PutParameter 200 ")
  t.contains(text_log, " info ssm.GetParameter 400 ParameterNotFound ")
end)

t.test("text log masks a client path", function()
  t.not_contains(text_log, LONG)
  t.contains(text_log, "web-alb:8080 GET /health/********")
end)

local json_sim = sim_process.start("--scenario " .. scenario .. " --log-format json")
local json_log = exercise(json_sim)

t.test("json log keeps fields readable", function()
  local statuses = {}
  -- Lines that are not JSON objects (the start banner) are not request lines.
  for line in json_log:gmatch("{[^\n]+") do
    local ok, e = pcall(cjson.decode, line)
    t.ok(ok, "a JSON line: " .. line)
    if e.service == "ssm" then
      t.eq(e.message, "request")
      t.eq(e.level, "info")
      t.ok(tostring(e.time):match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), "time: " .. tostring(e.time))
      t.ok(tostring(e.request_id):match("^%x+%-"), "request id: " .. tostring(e.request_id))
      statuses[#statuses + 1] = math.tointeger(e.status)
    end
  end
  t.eq(#statuses, 10)
  t.eq(statuses[#statuses], 400, "the missing parameter")
  t.eq(statuses[1], 200)
end)

t.test("json log masks a client path", function()
  t.not_contains(json_log, LONG)
  t.contains(json_log, "GET \\/health\\/********")
end)

sim_process.stop_all()
return t.done()
