-- sim.services.sts: the simulated AWS Security Token Service.
--
-- GetCallerIdentity names the IAM user of the scenario's access key, or
-- the assumed role when the key came from AssumeRole or
-- AssumeRoleWithWebIdentity. Both mint temporary credentials (AccessKeyId
-- ASIA...) and register them with the world, so the simulator's signature
-- check accepts them.
--
-- Scenario section (optional): sts = { user = "deploy" } names the IAM
-- user behind the scenario's credentials (default "mnem-sim").
local cjson = require("cjson")
local common = require("sim.services.common")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

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

-- Checks RoleArn, RoleSessionName and DurationSeconds (900 to 43200,
-- default 3600) of an AssumeRole-style INPUT, then mints temporary
-- credentials for the role and registers them with the world. Returns the
-- Credentials and AssumedRoleUser members of the response.
local function start_role_session(ctx, input)
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
  local credentials = { AccessKeyId = access_key, SecretAccessKey = secret_key, SessionToken = token,
                        Expiration = expiration }
  return credentials, { AssumedRoleId = session.assumed_id, Arn = session.assumed_arn }
end

--- AssumeRole: temporary credentials for RoleArn, valid DurationSeconds
-- (900 to 43200, default 3600) of simulated time.
function M.operations.AssumeRole(ctx, input)
  local credentials, user = start_role_session(ctx, input)
  return { Credentials = credentials, AssumedRoleUser = user, PackedPolicySize = input.Policy and 6 or nil }
end

-- Decodes base64url TEXT without padding, as JWTs write it. Returns nil
-- when TEXT is not base64url.
local function decode_base64url(text)
  if text == "" or text:find("[^%w_%-]") or #text % 4 == 1 then return nil end
  local standard = text:gsub("%-", "+"):gsub("_", "/")
  return common.unbase64(standard .. ("="):rep((4 - #standard % 4) % 4))
end

-- Returns the claims of web identity TOKEN when it has the shape of a JWT
-- (RFC 7519): three base64url parts separated by dots, the first two
-- decoding to JSON objects. Returns nil and the reason otherwise. The
-- signature (third part) is not verified, because the simulator trusts
-- every identity provider.
local function token_claims(token)
  local parts = {}
  for part in (token .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = part end
  if #parts ~= 3 then return nil, "it is not three base64url parts separated by dots" end
  if parts[3] == "" or not decode_base64url(parts[3]) then return nil, "its signature part is not base64url" end
  local decoded = {}
  for i, name in ipairs({ "header", "payload" }) do
    local text = decode_base64url(parts[i])
    -- cjson decodes a JSON array to a table too, so the text must open
    -- an object.
    local ok, value = pcall(cjson.decode, text or "")
    if not text or not text:match("^%s*{") or not ok or type(value) ~= "table" then
      return nil, ("its %s is not a base64url-encoded JSON object"):format(name)
    end
    decoded[name] = value
  end
  return decoded.payload
end

-- Returns claim VALUE as a string (the first entry of a list, as an aud
-- claim may be), or nil.
local function claim_text(value)
  if type(value) == "table" then value = value[1] end
  if type(value) == "string" or math.type(value) == "integer" then return tostring(value) end
  return nil
end

--- AssumeRoleWithWebIdentity: temporary credentials for RoleArn, like
-- AssumeRole, for a WebIdentityToken shaped like a JWT. The request needs
-- no signature (sim.server lets this operation through unsigned). The
-- response carries the token's sub, iss (or ProviderId) and aud claims as
-- SubjectFromWebIdentityToken, Provider and Audience, as the STS API
-- reference describes them for OpenID Connect tokens. A token with an exp
-- claim (epoch seconds) earlier than the real clock is rejected with
-- ExpiredTokenException.
function M.operations.AssumeRoleWithWebIdentity(ctx, input)
  local token = common.require_field(ctx, input, "WebIdentityToken")
  secret.mark(token)
  local claims, problem = token_claims(token)
  if not claims then
    ctx.fail("InvalidIdentityToken", "Couldn't parse the web identity token: " .. problem
      .. " (the simulator accepts a JWT: base64url header.payload.signature)", 400)
  end
  local expires = claims.exp
  if type(expires) == "number" and expires < sys.now() then
    ctx.fail("ExpiredTokenException", ("Token expired: current date/time %s must be before the expiration"
      .. " date/time %s"):format(os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(sys.now())),
      os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(expires))), 400)
  end
  local credentials, user = start_role_session(ctx, input)
  local issuer = claim_text(claims.iss)
  return {
    Credentials = credentials, AssumedRoleUser = user,
    SubjectFromWebIdentityToken = claim_text(claims.sub),
    Provider = issuer or input.ProviderId,
    Audience = claim_text(claims.aud),
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
