-- sim.services.sts: the simulated AWS Security Token Service.
--
-- GetCallerIdentity names the IAM user of the scenario's access key, or
-- the assumed role when the key came from AssumeRole. AssumeRole mints
-- temporary credentials (AccessKeyId ASIA...) and registers them with the
-- world, so the simulator's signature check accepts them.
--
-- Scenario section (optional): sts = { user = "deploy" } names the IAM
-- user behind the scenario's credentials (default "mnem-sim").
local common = require("sim.services.common")
local secret = require("mnem.secret")

local M = {}

M.model = "sts"

local UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
local SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function state(world)
  return common.state(world, "sts")
end

local function user_id(seed)
  local h = 0
  for i = 1, #seed do h = (h * 33 + seed:byte(i)) % 2147483647 end
  local out = {}
  for i = 1, 17 do
    h = (h * 48271) % 2147483647
    local k = h % #UPPER_DIGITS + 1
    out[i] = UPPER_DIGITS:sub(k, k)
  end
  return "AIDA" .. table.concat(out)
end

M.operations = {}

--- GetCallerIdentity: Account, Arn and UserId of the signing key.
function M.operations.GetCallerIdentity(ctx)
  local world = ctx.world
  local key = common.access_key_id(ctx)
  local session = key and state(world).sessions[key]
  if session then
    return { Account = world.account, Arn = session.assumed_arn, UserId = session.assumed_id }
  end
  local user = state(world).user
  return {
    Account = world.account,
    Arn = common.arn("iam", "", world.account, "user/" .. user),
    UserId = user_id(user),
  }
end

--- AssumeRole: temporary credentials for RoleArn, valid DurationSeconds
-- (900 to 43200, default 3600) of simulated time.
function M.operations.AssumeRole(ctx, input)
  local world = ctx.world
  local role_arn = common.require_field(ctx, input, "RoleArn")
  local session_name = common.require_field(ctx, input, "RoleSessionName")
  local account, role = role_arn:match("^arn:aws:iam::(%d+):role/(.+)$")
  if not account then
    ctx.fail("ValidationError", ("%s is invalid"):format(role_arn), 400)
  end
  if not session_name:match("^[%w_=,%.@%-]+$") or #session_name < 2 or #session_name > 64 then
    ctx.fail("ValidationError", ("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy "
      .. "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"):format(session_name), 400)
  end
  local duration = input.DurationSeconds or 3600
  if duration < 900 or duration > 43200 then
    ctx.fail("ValidationError", ("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy "
      .. "constraint: Member must have value less than or equal to 43200"):format(duration), 400)
  end
  local role_name = role:match("([^/]+)$")
  local access_key = "ASIA" .. common.random_string(world, 16, UPPER_DIGITS)
  local secret_key = common.random_string(world, 40, SECRET_CHARS)
  local token = "FwoGZXIvYXdzE" .. common.random_string(world, 300, SECRET_CHARS)
  secret.mark(secret_key)
  secret.mark(token)
  local role_id = "AROA" .. common.random_string(world, 17, UPPER_DIGITS)
  local expiration = world:now() + duration
  local session = {
    assumed_arn = ("arn:aws:sts::%s:assumed-role/%s/%s"):format(account, role_name, session_name),
    assumed_id = role_id .. ":" .. session_name,
    expiration = expiration,
  }
  state(world).sessions[access_key] = session
  if world.add_credentials then
    world:add_credentials{ access_key_id = access_key, secret_access_key = secret_key, session_token = token,
                           expiration = expiration }
  end
  return {
    Credentials = { AccessKeyId = access_key, SecretAccessKey = secret_key, SessionToken = token,
                    Expiration = expiration },
    AssumedRoleUser = { AssumedRoleId = session.assumed_id, Arn = session.assumed_arn },
    PackedPolicySize = input.Policy and 6 or nil,
  }
end

--- Sets up STS from the scenario's `sts` SECTION.
function M.init(world, section)
  local st = state(world)
  st.sessions = {}
  common.scenario_table("sts", section, { "user" })
  common.scenario_value("sts.user", (section or {}).user, "string", true)
  st.user = (section or {}).user or "mnem-sim"
end

return M
