-- Failed attempts that the AWS client retried are in the run record (code,
-- attempt, delay) and in `mnem report`: as a problem solved by retrying,
-- or left unsolved when the call still failed, and as a column of the
-- calls table. The simulator's request log is the reference count.
local t = require("t")
local cjson = require("cjson")
local sim_process = require("sim_process")

local dir = t.tmpdir()
local scenario = dir .. "/throttle.lua"
sim_process.write(scenario, [[
return {
  name = "throttle", seed = 3,
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  faults = {
    { service = "ssm", operation = "GetParameter", throttle = 0.5 },
    { service = "ssm", operation = "DescribeParameters", throttle = 1 },
  },
}
]])
local sim = sim_process.start("--scenario " .. scenario)

local SECRET = "retried-secure-value-5f2c9"
sim_process.write(dir .. "/p.lua", ([[
playbook { name = "retries", steps = {
  step "Read" { run = function()
    local c = aws.client{ endpoint_url = os.getenv("SIM_ENDPOINT"), max_attempts = 20,
                          random = function() return 0 end }
    c.ssm.put_parameter{ Name = "/r/key", Value = %q, Type = "SecureString" }
    for _ = 1, 8 do c.ssm.get_parameter{ Name = "/r/key", WithDecryption = true } end
  end },
  step "Give up" { run = function()
    local c = aws.client{ endpoint_url = os.getenv("SIM_ENDPOINT"), max_attempts = 3,
                          random = function() return 0 end }
    local out, err = c.ssm.try.describe_parameters{}
    assert(out == nil and err.code == "ThrottlingException", "describe_parameters was throttled")
  end },
} }
]]):format(SECRET))

local out, status = sim_process.sh(("env SIM_ENDPOINT=%s %s run %s/p.lua --state-dir %s/state"):format(
  sim.endpoint, sim_process.MNEM, dir, dir))
local record_text = sim_process.sh("cat " .. dir .. "/state/runs/*.jsonl")
local sim_log = t.read_file(sim.log)

-- Counts the throttled responses to OPERATION in the simulator's log.
local function throttled(operation)
  local n = 0
  for line in sim_log:gmatch("[^\n]+") do
    if line:find(" ssm%." .. operation .. " 400 ThrottlingException ") then n = n + 1 end
  end
  return n
end

-- Returns the primitive events of the record named NAME.
local function primitives(name)
  local list = {}
  for line in record_text:gmatch("[^\n]+") do
    local e = cjson.decode(line)
    if e.event == "primitive" and e.name == name then list[#list + 1] = e end
  end
  return list
end

t.test("run with throttling succeeds", function()
  t.eq(status, 0, out)
end)

t.test("record lists each retried attempt", function()
  local calls = primitives("aws.ssm.get_parameter")
  t.eq(#calls, 8, "get_parameter calls")
  local retried = 0
  for _, e in ipairs(calls) do
    t.eq(e.status, "ok")
    t.eq(math.tointeger(e.retries), #(e.retried or {}), "retries matches the retried list")
    for i, a in ipairs(e.retried or {}) do
      t.eq(math.tointeger(a.attempt), i, "attempt number")
      t.eq(a.code, "ThrottlingException")
      t.eq(math.tointeger(a.http_status), 400)
      t.eq(a.delay, 0, "delay")
      t.contains(a.error, "Rate exceeded")
    end
    retried = retried + math.tointeger(e.retries)
  end
  t.ok(retried > 0, "seed 3 with rate 0.5 throttles some GetParameter requests")
  t.eq(retried, throttled("GetParameter"), "retried attempts in the record = throttled answers in the log")
end)

t.test("record of a call failing after retries", function()
  local calls = primitives("aws.ssm.describe_parameters")
  t.eq(#calls, 1)
  t.eq(calls[1].status, "error")
  t.eq(math.tointeger(calls[1].retries), 2, "3 attempts, 2 retried")
  t.eq(throttled("DescribeParameters"), 3)
end)

t.test("record keeps the secure value masked", function()
  t.not_contains(record_text, SECRET)
  t.contains(record_text, "********")
end)

t.test("report lists the retries as problems", function()
  local report = sim_process.sh(("%s report last --state-dir %s/state"):format(sim_process.MNEM, dir))
  local n = throttled("GetParameter")
  local calls = 0
  for _, e in ipairs(primitives("aws.ssm.get_parameter")) do
    if math.tointeger(e.retries) > 0 then calls = calls + 1 end
  end
  t.contains(report, ("- Read: aws.ssm.get_parameter: %d %s throttled (ThrottlingException) in %d %s, retried by"
    .. " the AWS client. Solved: each call succeeded on a later attempt."):format(n, n == 1 and "attempt" or "attempts",
    calls, calls == 1 and "call" or "calls"))
  t.contains(report, "- Give up: aws.ssm.describe_parameters: 2 attempts throttled (ThrottlingException) in 1 call,"
    .. " retried by the AWS client. 1 of these calls still failed after retrying.\n")
  t.contains(report, ("| `aws.ssm.get_parameter` | 8 | 0 | %d |"):format(n), "calls table")
  t.contains(report, "| `aws.ssm.describe_parameters` | 1 | 1 | 2 |", "calls table")
  t.not_contains(report, SECRET)
end)

t.test("report json has retried counts", function()
  local text = sim_process.sh(("%s report last --format json --state-dir %s/state"):format(sim_process.MNEM, dir))
  local ok, r = pcall(cjson.decode, text)
  t.ok(ok, text)
  local found
  for _, c in ipairs(r.calls or {}) do
    if c.name == "aws.ssm.describe_parameters" then found = c end
  end
  t.ok(found, "describe_parameters in the calls")
  t.eq(math.tointeger(found.retried), 2)
end)

t.test("show names the retries of a call", function()
  local shown = sim_process.sh(("%s show last --state-dir %s/state"):format(sim_process.MNEM, dir))
  t.contains(shown, "aws.ssm.describe_parameters error in ")
  t.contains(shown, " after 2 retries (ThrottlingException, ThrottlingException): ")
  t.not_contains(shown, SECRET)
end)

sim_process.stop_all()
return t.done()
