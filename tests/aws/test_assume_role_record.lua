-- A role assumed while resolving credentials (role_arn with
-- source_profile) is a call in the run record, like any AWS call, and
-- the temporary credentials it returns appear nowhere in the record.
local t = require("t")
local sim_process = require("sim_process")

local root = os.getenv("MNEM_ROOT") or "."
local sim = sim_process.start("--scenario " .. root .. "/stdlib/sim/scenarios/parity.lua")
local dir = t.tmpdir()
local config = dir .. "/config"
sim_process.write(config, ([[
[profile base]
aws_access_key_id = %s
aws_secret_access_key = %s
region = eu-west-1

[profile deployer]
role_arn = arn:aws:iam::123456789012:role/deployer
source_profile = base
region = eu-west-1
]]):format(sim.info.access_key_id, sim.info.secret_access_key))
sim_process.write(dir .. "/p.lua", [[
playbook { name = "role", steps = { step "Who" { run = function()
  local c = aws.client{ profile = "deployer", endpoint_url = os.getenv("SIM_ENDPOINT") }
  log.info("arn " .. c.sts.get_caller_identity().Arn)
end } } }
]])

t.test("assumed role recorded", function()
  local out, status = sim_process.sh(("env AWS_CONFIG_FILE=%s AWS_SHARED_CREDENTIALS_FILE=/dev/null "
    .. "AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= AWS_PROFILE= SIM_ENDPOINT=%s %s run %s/p.lua --state-dir %s/state")
    :format(config, sim.endpoint, sim_process.MNEM, dir, dir))
  t.eq(status, 0, out)
  t.contains(out, "assumed-role/deployer")
  local records = sim_process.sh("cat " .. dir .. "/state/runs/*.jsonl")
  t.contains(records, '"name":"aws.sts.assume_role"')
  t.contains(records, "arn:aws:iam::123456789012:role\\/deployer", "the role, with cjson's escaped slash")
  t.contains(records, '"name":"aws.sts.get_caller_identity"')
  -- The secret and token of the new credentials must not be in the record.
  t.ok(not records:find('"SecretAccessKey":"[^*"]', 1), "no secret access key in the record")
  t.ok(not records:find('"SessionToken":"[^*"]', 1), "no session token in the record")
end)

sim_process.stop_all()
return t.done()
