-- Injected faults: throttling, 5xx, dropped connections and latency seen
-- by the real AWS CLI and curl, the --fault-service limit, the
-- MNEM_SIM_FAULTS variable, scenario rules, and deterministic decisions.
local t = require("t")
local sim_process = require("sim_process")
local cjson = require("cjson")
local sigv4 = require("mnem._sigv4")
local faults = require("sim.faults")

local MNEM = os.getenv("MNEM_BIN") or "build/mnem"
local AWS_ENV = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true "
  .. "AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1 AWS_PAGER= "
local DIR = t.tmpdir()

local sh, write = sim_process.sh, sim_process.write

local start_sim, stop_sim = sim_process.start, sim_process.stop

local function aws(sim, args, attempts)
  return sh(("%s AWS_MAX_ATTEMPTS=%d /usr/bin/aws --endpoint-url %s --output json %s"):format(AWS_ENV,
    attempts or 1, sim.endpoint, args))
end

-- Sends a signed STS GetCallerIdentity with curl; returns the curl
-- output: "STATUS SECONDS" on success.
local function timed_sts(sim)
  local body = "Action=GetCallerIdentity&Version=2011-06-15"
  local headers = { { "Host", "127.0.0.1:" .. sim.port }, { "Content-Type", "application/x-www-form-urlencoded" } }
  local signed = sigv4.sign{ method = "POST", path = "/", headers = headers, body = body, access_key = "test",
    secret_key = "test", region = "us-east-1", service = "sts" }
  return sh(("curl -s -o /dev/null -w '%%{http_code} %%{time_total}' -H 'Content-Type: %s' -H 'X-Amz-Date: %s' "
    .. "-H 'Authorization: %s' -d '%s' %s/"):format(headers[2][2], signed.headers[1][2], signed.authorization, body,
    sim.endpoint))
end

t.test("throttle query service", function()
  local sim = start_sim("--fault throttle=1.0")
  local out, status = aws(sim, "sts get-caller-identity", 2)
  t.ok(status ~= 0, "the CLI fails")
  t.contains(out, "(Throttling)")
  t.contains(out, "reached max retries: 1")
  t.contains(out, "Rate exceeded")
  t.contains(t.read_file(sim.log), "sts.GetCallerIdentity 400 Throttling ")
  stop_sim(sim)
end)

t.test("throttle json service", function()
  local sim = start_sim("--fault throttle=1")
  local out = aws(sim, "ssm get-parameter --name /x")
  t.contains(out, "(ThrottlingException)")
  stop_sim(sim)
end)

t.test("5xx fault", function()
  local sim = start_sim("--fault 5xx=1")
  local out, status = aws(sim, "sts get-caller-identity", 1)
  t.ok(status ~= 0, "the CLI fails")
  t.ok(out:find("(InternalFailure)", 1, true) or out:find("(ServiceUnavailable)", 1, true),
    "InternalFailure or ServiceUnavailable: " .. out)
  local codes = {}
  for _ = 1, 12 do
    local curl_out = timed_sts(sim)
    codes[curl_out:match("^(%d+)")] = true
  end
  t.ok(codes["500"] and codes["503"], "both 500 and 503 appear")
  t.ok(not codes["200"], "no request succeeds")
  stop_sim(sim)
end)

t.test("drop fault closes connection", function()
  local sim = start_sim("--fault drop=1")
  local out, status = aws(sim, "sts get-caller-identity", 1)
  t.ok(status ~= 0, "the CLI fails")
  t.ok(out:find("Connection was closed", 1, true) or out:find("Connection aborted", 1, true)
    or out:find("RemoteDisconnected", 1, true), "connection error: " .. out)
  local curl_out = timed_sts(sim)
  t.ok(curl_out:match("^000 "), "curl got no response: " .. curl_out)
  t.contains(t.read_file(sim.log), "sts.GetCallerIdentity dropped")
  stop_sim(sim)
end)

t.test("latency fault delays answer", function()
  local sim = start_sim("--fault latency=0.6")
  local out = timed_sts(sim)
  local code, seconds = out:match("^(%d+) ([%d.]+)")
  t.eq(code, "200")
  t.ok(tonumber(seconds) >= 0.6, "took at least 0.6 s: " .. out)
  t.ok(tonumber(seconds) < 10, "took less than 10 s: " .. out)
  stop_sim(sim)
end)

t.test("latency does not block others", function()
  -- The SSM response is delayed 20 s. The simulator logs a request once it
  -- has built the response, before the delay, so when the log names it the
  -- request is waiting. An STS response well within 20 s was not blocked.
  local sim = start_sim("--fault latency=20 --fault-service ssm")
  os.execute(("%s AWS_MAX_ATTEMPTS=1 /usr/bin/aws --endpoint-url %s ssm get-parameter --name /x >/dev/null 2>&1 &")
    :format(AWS_ENV, sim.endpoint))
  local waiting = false
  for _ = 1, 300 do
    waiting = t.read_file(sim.log):find("ssm.GetParameter", 1, true) ~= nil
    if waiting then break end
    os.execute("sleep 0.1")
  end
  t.ok(waiting, "the SSM request reached the simulator")
  local out = timed_sts(sim)
  local code, seconds = out:match("^(%d+) ([%d.]+)")
  t.eq(code, "200")
  t.ok(tonumber(seconds) < 10, "sts answered at once: " .. out)
  stop_sim(sim)
end)

t.test("fault service limits rule", function()
  local sim = start_sim("--fault throttle=1 --fault-service ssm")
  local out, status = aws(sim, "sts get-caller-identity")
  t.eq(status, 0, out)
  out = aws(sim, "ssm get-parameter --name /x")
  t.contains(out, "(ThrottlingException)")
  stop_sim(sim)
end)

t.test("environment fault rule", function()
  local sim = start_sim("", "MNEM_SIM_FAULTS='throttle=1,service=sts'")
  local out = aws(sim, "sts get-caller-identity")
  t.contains(out, "(Throttling)")
  stop_sim(sim)
end)

t.test("scenario fault by operation", function()
  local path = DIR .. "/faulty.lua"
  write(path, [[return { faults = { { service = "sts", operation = "AssumeRole", error_5xx = 1 } } }]])
  local sim = start_sim("--scenario " .. path)
  local out, status = aws(sim, "sts get-caller-identity")
  t.eq(status, 0, out)
  out = aws(sim, "sts assume-role --role-arn arn:aws:iam::123456789012:role/r --role-session-name s1")
  t.ok(out:find("(InternalFailure)", 1, true) or out:find("(ServiceUnavailable)", 1, true), out)
  stop_sim(sim)
end)

t.test("invalid fault option exits 2", function()
  local out, status = sh(MNEM .. " sim serve --fault throttle=2")
  t.eq(status, 2, out)
  t.contains(out, "throttle must be a rate between 0 and 1")
  out, status = sh(MNEM .. " sim serve --fault bogus=1")
  t.eq(status, 2, out)
  t.contains(out, "invalid item")
  out, status = sh(MNEM .. " sim serve --fault-service ssm")
  t.eq(status, 2, out)
end)

t.test("parse spec forms", function()
  local rule = faults.parse_spec("throttle=0.1,5xx=0.02,latency=0.05,drop=0.01,service=elasticloadbalancing")
  t.eq(rule.throttle, 0.1)
  t.eq(rule.error_5xx, 0.02)
  t.eq(rule.latency, 0.05)
  t.eq(rule.drop, 0.01)
  t.eq(rule.service, "elbv2")
  t.eq(faults.parse_spec("latency=0.1-0.3").latency, { 0.1, 0.3 })
  t.raises(function() faults.parse_spec("latency=abc") end, "latency needs a number")
  t.raises(function() faults.check_rule({ throtle = 0.1 }, "faults[1]") end, "faults[1]: unknown key throtle")
  t.raises(function() faults.check_rule({ latency = { 2, 1 } }, "r") end, "latency must be seconds")
end)

t.test("decisions repeat for one seed", function()
  local rules = { { throttle = 0.3, error_5xx = 0.2, drop = 0.1, latency = { 0, 1 } } }
  local a, b, c = faults.new(rules, 42), faults.new(rules, 42), faults.new(rules, 43)
  local same_as_other_seed = true
  local seen = {}
  for _ = 1, 200 do
    local da, delay_a = a:decide("ssm", "GetParameter")
    local db, delay_b = b:decide("ssm", "GetParameter")
    local dc = c:decide("ssm", "GetParameter")
    t.eq(da, db)
    t.eq(delay_a, delay_b)
    if not t.same(da, dc) then same_as_other_seed = false end
    local kind = da == nil and "none" or da.drop and "drop" or da.throttle and "throttle" or "5xx"
    seen[kind] = (seen[kind] or 0) + 1
  end
  t.ok(not same_as_other_seed, "another seed gives other decisions")
  t.ok(seen.none and seen.drop and seen.throttle and seen["5xx"], "every outcome appears: " .. cjson.encode(seen))
end)

t.test("rates roughly respected", function()
  local injector = faults.new({ { throttle = 0.25 } }, 1)
  local throttled = 0
  for _ = 1, 4000 do
    local d = injector:decide("sts", "GetCallerIdentity")
    if d and d.throttle then throttled = throttled + 1 end
  end
  t.ok(throttled > 850 and throttled < 1150, "about 1000 of 4000 throttled: " .. throttled)
end)

t.test("rules match service and operation", function()
  local injector = faults.new({ { service = "ssm", operation = "GetParameter", drop = 1 } }, 1)
  t.eq(injector:decide("ssm", "GetParameter"), { drop = true })
  t.eq(injector:decide("ssm", "PutParameter"), nil)
  t.eq(injector:decide("rds", "GetParameter"), nil)
end)

sim_process.stop_all()
return t.done()
