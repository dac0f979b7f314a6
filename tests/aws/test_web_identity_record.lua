-- A run whose credentials come from a web identity token: `mnem run`
-- against `mnem sim serve`. The AssumeRoleWithWebIdentity call is in the
-- run record, and the token appears nowhere: not in the output, the log,
-- the record or the report, even when the playbook logs it or STS rejects
-- it. The web identity variables are passed to the mnem child only, never
-- to an AWS CLI process.
local t = require("t")
local common = require("sim.services.common")
local sim_process = require("sim_process")
local sys = require("mnem._sys")

local sim = sim_process.start()
local dir = t.tmpdir()
local ROLE = "arn:aws:iam::123456789012:role/ci-deploy"

local function base64url(text)
  return (common.base64(text):gsub("=+$", ""):gsub("%+", "-"):gsub("/", "_"))
end

local TOKEN = base64url('{"alg":"RS256"}') .. "."
  .. base64url(('{"iss":"https://oidc.example","sub":"system:serviceaccount:ops:mnem","aud":"sts.amazonaws.com",'
    .. '"exp":%d}'):format(math.floor(sys.now()) + 3600)) .. "." .. base64url("signature-of-the-record-test")
local BAD_TOKEN = "opaque-bad-token-value-7f3a9c"

sim_process.write(dir .. "/p.lua", [[
playbook { name = "web-identity", steps = { step "Who" { run = function()
  local c = aws.client{ endpoint_url = os.getenv("SIM_ENDPOINT") }
  log.info("arn " .. c.sts.get_caller_identity().Arn)
  local f = assert(io.open(os.getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), "rb"))
  local token = f:read("a")
  f:close()
  log.info("token read by the playbook: " .. token)
  print("printed token: " .. token)
end } } }
]])

-- Runs the playbook with the token file PATH and returns its output (stdout
-- and stderr), exit status and the text of every file in its state folder.
local function run_with_token(name, path)
  local state = ("%s/state-%s"):format(dir, name)
  local out, status = sim_process.sh(("env AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null"
    .. " AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= AWS_SESSION_TOKEN= AWS_PROFILE= AWS_EC2_METADATA_DISABLED=true"
    .. " AWS_WEB_IDENTITY_TOKEN_FILE=%s AWS_ROLE_ARN=%s AWS_ROLE_SESSION_NAME=record-test SIM_ENDPOINT=%s"
    .. " %s run %s/p.lua --state-dir %s"):format(path, ROLE, sim.endpoint, sim_process.MNEM, dir, state))
  local saved = sim_process.sh(("find %s -type f -exec cat {} +"):format(state))
  local report = sim_process.sh(("env XDG_STATE_HOME= %s report last --state-dir %s"):format(sim_process.MNEM, state))
  return out, status, saved, report
end

t.test("token masked in a run", function()
  local path = dir .. "/token"
  sim_process.write(path, TOKEN)
  local out, status, saved, report = run_with_token("good", path)
  t.eq(status, 0, out)
  t.contains(out, "assumed-role/ci-deploy/record-test")
  t.contains(out, "token read by the playbook: ********", "the logged token is masked")
  t.contains(out, "printed token: ********", "the printed token is masked")
  t.not_contains(out, TOKEN, "no token in the output")
  t.contains(saved, '"name":"aws.sts.assume_role_with_web_identity"', "the STS call is recorded")
  t.contains(saved, '"WebIdentityToken":"********"', "the recorded parameter is masked")
  t.contains(saved, "record-test", "the session name is recorded")
  t.not_contains(saved, TOKEN, "no token in the state folder")
  t.ok(not saved:find('"SecretAccessKey":"[^*"]', 1), "no secret access key in the record")
  t.ok(not saved:find('"SessionToken":"[^*"]', 1), "no session token in the record")
  t.contains(report, "web-identity", "the report names the playbook")
  t.not_contains(report, TOKEN, "no token in the report")
end)

t.test("rejected token stays masked", function()
  local path = dir .. "/bad-token"
  sim_process.write(path, BAD_TOKEN)
  local out, status, saved, report = run_with_token("bad", path)
  t.ok(status ~= 0, "the run fails: " .. out)
  t.contains(out, "InvalidIdentityToken")
  t.not_contains(out, BAD_TOKEN, "no token in the output")
  t.contains(saved, '"name":"aws.sts.assume_role_with_web_identity"', "the failed call is recorded")
  t.contains(saved, "InvalidIdentityToken", "the error is recorded")
  t.not_contains(saved, BAD_TOKEN, "no token in the state folder")
  t.contains(report, "InvalidIdentityToken", "the report names the error")
  t.not_contains(report, BAD_TOKEN, "no token in the report")
end)

sim_process.stop_all()
return t.done()
