-- An AWS error response with an empty message (SSM ParameterNotFound, as
-- AWS sends it) gets the request's identifying parameter in its message,
-- in the client's errors and so in a playbook's final message and record.
local t = require("t")
local sim_process = require("sim_process")

local sim = sim_process.start("--scenario empty")
local client = require("aws.client").new{ endpoint_url = sim.endpoint, region = "us-east-1",
                                           access_key_id = "test", secret_access_key = "test" }

t.test("empty message names the parameter", function()
  local _, err = client.ssm.try.get_parameter{ Name = "/app/missing" }
  t.eq(err.code, "ParameterNotFound")
  t.eq(err.message, 'no message in the response; the request\'s Name is "/app/missing"')
  t.contains(tostring(err), 'ParameterNotFound: no message in the response; the request\'s Name is "/app/missing"')
end)

t.test("sent message is kept", function()
  local _, err = client.ecs.try.describe_services{ cluster = "nope", services = { "x" } }
  t.ok(err, "describe_services of a missing cluster fails")
  t.ok(err.message ~= "", "a message")
  t.not_contains(err.message, "no message in the response")
end)

t.test("playbook error names the parameter", function()
  local dir = t.tmpdir()
  sim_process.write(dir .. "/p.lua", [[
playbook { name = "missing", steps = { step "Read" { run = function()
  aws.client{ endpoint_url = os.getenv("SIM_ENDPOINT") }.ssm.get_parameter{ Name = "/shop/prod/db_url" }
end } } }
]])
  local out, status = sim_process.sh(("env SIM_ENDPOINT=%s %s run %s/p.lua --state-dir %s/state"):format(
    sim.endpoint, sim_process.MNEM, dir, dir))
  t.eq(status, 1, out)
  t.contains(out, 'ParameterNotFound: no message in the response; the request\'s Name is "/shop/prod/db_url"')
  local record = sim_process.sh("cat " .. dir .. "/state/runs/*.jsonl")
  t.contains(record, "the request's Name is \\\"\\/shop\\/prod\\/db_url\\\"", "in the record, JSON-escaped")
end)

sim_process.stop_all()
return t.done()
