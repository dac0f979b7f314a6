-- The web identity credential provider (STS AssumeRoleWithWebIdentity),
-- against a loopback capture server (to see the exact request) and
-- `mnem sim serve` (to see the credentials work). The AWS CLI is never run
-- here: with AWS_WEB_IDENTITY_TOKEN_FILE set it would call the real STS.
local t = require("t")
local helper = require("client_helper")
local sim_process = require("sim_process")
local aws = require("aws")
local common = require("sim.services.common")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

local dir = t.tmpdir()
local CONFIG, CREDENTIALS = dir .. "/config", dir .. "/credentials"
local TOKEN_FILE = dir .. "/token"
local ROLE = "arn:aws:iam::123456789012:role/ci-deploy"

local function base64url(text)
  return (common.base64(text):gsub("=+$", ""):gsub("%+", "-"):gsub("/", "_"))
end

-- Returns a token shaped like a JWT whose claims are CLAIMS (JSON text).
local function jwt(claims)
  return base64url('{"alg":"RS256","kid":"k1"}') .. "." .. base64url(claims) .. "." .. base64url("signature-bytes")
end

local counter = 0

-- Returns a fresh valid token, different at each call, expiring in an hour.
local function fresh_token()
  counter = counter + 1
  return jwt(('{"iss":"https://token.actions.githubusercontent.com","sub":"repo:ops/mnem:ref:refs/heads/main",'
    .. '"aud":"sts.amazonaws.com","exp":%d,"jti":"token-%d"}'):format(math.floor(sys.now()) + 3600, counter))
end

-- A clean environment: no keys, no profile, our files, no container URIs,
-- no web identity unless EXTRA sets it.
local function base_env(extra)
  local vars = {
    AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_SESSION_TOKEN = false, AWS_PROFILE = false,
    AWS_CONFIG_FILE = CONFIG, AWS_SHARED_CREDENTIALS_FILE = CREDENTIALS,
    AWS_CONTAINER_CREDENTIALS_FULL_URI = false, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = false,
    AWS_WEB_IDENTITY_TOKEN_FILE = false, AWS_ROLE_ARN = false, AWS_ROLE_SESSION_NAME = false,
    AWS_REGION = "us-east-1", AWS_DEFAULT_REGION = false, AWS_EC2_METADATA_DISABLED = "true",
  }
  for k, v in pairs(extra or {}) do vars[k] = v end
  return vars
end

local function files(config)
  helper.write(CONFIG, config or "")
  helper.write(CREDENTIALS, "")
end

-- Returns the query-protocol response of AssumeRoleWithWebIdentity with
-- keys named after N, expiring at epoch EXPIRES.
local function sts_response(n, expires)
  return {
    status = 200, headers = { ["Content-Type"] = "text/xml" },
    body = ([[<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAWEB%d</AccessKeyId>
<SecretAccessKey>web-secret-key-%d</SecretAccessKey><SessionToken>web-session-token-%d</SessionToken>
<Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/ci-deploy/s</Arn>
</AssumedRoleUser><Provider>token.actions.githubusercontent.com</Provider><Audience>sts.amazonaws.com</Audience>
</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>req-web</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>]]):format(n, n, n, os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(expires))),
  }
end

-- Decodes the form body BODY into a table of parameters.
local function form(body)
  local params = {}
  for key, value in body:gmatch("([^&=]+)=([^&]*)") do
    params[key] = value:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  end
  return params
end

-- ---- the request, on a capture server -------------------------------------------

t.test("env form sends unsigned request", function()
  local server = helper.start()
  server:script{ sts_response(1, sys.now() + 3600) }
  files("")
  local token = fresh_token()
  helper.write(TOKEN_FILE, token .. "\n")
  local ok, c = pcall(helper.with_env, base_env{ AWS_ENDPOINT_URL = server.endpoint,
    AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_ARN = ROLE, AWS_ROLE_SESSION_NAME = "nightly-42" },
    function() return aws.client{}:credentials() end)
  local requests = server:requests()
  server:stop()
  t.ok(ok, tostring(c))
  t.eq(c.access_key, "ASIAWEB1")
  t.eq(c.session_token, "web-session-token-1")
  t.eq(c.source, "AssumeRoleWithWebIdentity " .. ROLE .. " (AWS_WEB_IDENTITY_TOKEN_FILE)")
  t.ok(secret.is_secret("web-secret-key-1"), "the returned secret key is marked secret")
  t.ok(secret.is_secret(token), "the web identity token is marked secret")
  t.eq(#requests, 1, "one STS call")
  local request = requests[1]
  t.eq(request:header("Authorization"), nil, "no Authorization header")
  t.eq(request:header("X-Amz-Security-Token"), nil, "no session token header")
  t.eq(request:header("X-Amz-Date"), nil, "no signing date")
  local params = form(request.body)
  t.eq(params.Action, "AssumeRoleWithWebIdentity")
  t.eq(params.RoleArn, ROLE)
  t.eq(params.RoleSessionName, "nightly-42")
  t.eq(params.WebIdentityToken, token, "the token without the file's newline")
  t.eq(params.DurationSeconds, nil, "no duration unless a profile sets one")
end)

t.test("default session name is generated", function()
  local server = helper.start()
  server:script{ sts_response(2, sys.now() + 3600) }
  files("")
  helper.write(TOKEN_FILE, fresh_token())
  local ok, err = pcall(helper.with_env, base_env{ AWS_ENDPOINT_URL = server.endpoint,
    AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_ARN = ROLE },
    function() return aws.client{}:credentials() end)
  local requests = server:requests()
  server:stop()
  t.ok(ok, tostring(err))
  t.eq(#requests, 1)
  t.ok(form(requests[1].body).RoleSessionName:match("^mnem%-session%-%d+$"), requests[1].body)
end)

t.test("token file re-read on refresh", function()
  local server = helper.start()
  -- The first credentials expire within the 5-minute margin, so the next
  -- use refreshes them; the second last an hour.
  server:script{ sts_response(3, sys.now() + 120), sts_response(4, sys.now() + 3600) }
  files("")
  local first_token, second_token = fresh_token(), fresh_token()
  helper.write(TOKEN_FILE, first_token)
  local ok, first, second, third = pcall(helper.with_env, base_env{ AWS_ENDPOINT_URL = server.endpoint,
    AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_ARN = ROLE }, function()
    local client = aws.client{}
    local a = client:credentials()
    -- The platform rotates the token: a new file replaces the old one.
    helper.write(TOKEN_FILE .. ".new", second_token)
    os.rename(TOKEN_FILE .. ".new", TOKEN_FILE)
    return a, client:credentials(), client:credentials()
  end)
  local requests = server:requests()
  server:stop()
  t.ok(ok, tostring(first))
  t.eq(first.access_key, "ASIAWEB3")
  t.eq(second.access_key, "ASIAWEB4", "refreshed near expiry")
  t.ok(second == third, "the refreshed credentials are cached")
  t.eq(#requests, 2, "two STS calls")
  t.eq(form(requests[1].body).WebIdentityToken, first_token)
  t.eq(form(requests[2].body).WebIdentityToken, second_token, "the rotated token is sent")
end)

t.test("STS AccessDenied is raised", function()
  local server = helper.start()
  server:script{ {
    status = 403, headers = { ["Content-Type"] = "text/xml" },
    body = [[<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
<Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error>
<RequestId>req-denied</RequestId></ErrorResponse>]],
  } }
  files("")
  helper.write(TOKEN_FILE, fresh_token())
  local ok, err = pcall(helper.with_env, base_env{ AWS_ENDPOINT_URL = server.endpoint,
    AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_ARN = ROLE },
    function() return aws.client{}:credentials() end)
  local requests = server:requests()
  server:stop()
  t.ok(not ok, "expected resolution to fail")
  t.eq(err.code, "AccessDenied")
  t.eq(err.retryable, false)
  t.contains(tostring(err), "Not authorized to perform sts:AssumeRoleWithWebIdentity")
  t.contains(tostring(err), "AssumeRoleWithWebIdentity of role " .. ROLE .. " with the token in " .. TOKEN_FILE)
  t.eq(#requests, 1, "not retried")
end)

-- ---- against the simulator --------------------------------------------------------

local sim = sim_process.start()

-- Resolves credentials and the caller identity with ENV (on top of
-- base_env, pointed at the simulator) and the config file CONFIG_TEXT.
local function sim_identity(env, config_text, options)
  files(config_text)
  local vars = base_env(env)
  vars.AWS_ENDPOINT_URL = sim.endpoint
  return helper.with_env(vars, function()
    local client = aws.client(options)
    local identity = client.sts.get_caller_identity()
    return identity, client:credentials()
  end)
end

local function sim_error(env, config_text, options)
  local ok, err = pcall(sim_identity, env, config_text, options)
  t.ok(not ok, "expected resolution to fail")
  return err
end

t.test("env form against simulator", function()
  helper.write(TOKEN_FILE, fresh_token())
  local identity, c = sim_identity({ AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_ARN = ROLE,
                                     AWS_ROLE_SESSION_NAME = "gha-run-7" })
  t.eq(identity.Arn, "arn:aws:sts::123456789012:assumed-role/ci-deploy/gha-run-7")
  t.ok(c.access_key:match("^ASIA"), c.access_key)
  t.ok(c.expiration and c.expiration > sys.now() + 3000, "expires in about an hour")
end)

t.test("profile form against simulator", function()
  helper.write(TOKEN_FILE, fresh_token())
  local config = ("[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/from-profile\n"
    .. "web_identity_token_file = %s\nrole_session_name = profile-session\nduration_seconds = 900\n"):format(TOKEN_FILE)
  local identity, c = sim_identity({ AWS_PROFILE = "ci" }, config)
  t.eq(identity.Arn, "arn:aws:sts::123456789012:assumed-role/from-profile/profile-session")
  t.eq(c.source, "AssumeRoleWithWebIdentity arn:aws:iam::123456789012:role/from-profile"
    .. " (web_identity_token_file of profile ci)")
  t.ok(c.expiration and c.expiration < sys.now() + 1000, "duration_seconds 900 is sent")
end)

t.test("variables win over profile keys", function()
  helper.write(TOKEN_FILE, fresh_token())
  local config = ("[default]\nrole_arn = arn:aws:iam::123456789012:role/from-profile\n"
    .. "web_identity_token_file = %s/absent\n"):format(dir)
  local identity = sim_identity({ AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_SESSION_NAME = "mixed" }, config)
  t.eq(identity.Arn, "arn:aws:sts::123456789012:assumed-role/from-profile/mixed",
    "the token file and session name from the environment, the role from the profile")
end)

t.test("profile option skips the variables", function()
  helper.write(TOKEN_FILE, fresh_token())
  local config = ("[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/from-profile\n"
    .. "web_identity_token_file = %s\n"):format(TOKEN_FILE)
  local identity = sim_identity({ AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/absent", AWS_ROLE_ARN = ROLE,
                                  AWS_ROLE_SESSION_NAME = "from-env" }, config, { profile = "ci" })
  t.ok(identity.Arn:match("^arn:aws:sts::123456789012:assumed%-role/from%-profile/mnem%-session%-%d+$"), identity.Arn)
end)

t.test("environment keys win over web identity", function()
  local identity, c = sim_identity({ AWS_ACCESS_KEY_ID = sim.info.access_key_id,
    AWS_SECRET_ACCESS_KEY = sim.info.secret_access_key, AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/absent",
    AWS_ROLE_ARN = ROLE })
  t.eq(c.source, "environment")
  t.ok(identity.Arn:match(":user/"), identity.Arn)
end)

t.test("web identity as source_profile", function()
  helper.write(TOKEN_FILE, fresh_token())
  local config = ("[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/chained\nsource_profile = ci\n"
    .. "role_session_name = second-hop\n"
    .. "[profile ci]\nrole_arn = %s\nweb_identity_token_file = %s\n"):format(ROLE, TOKEN_FILE)
  local identity = sim_identity({}, config, { profile = "deploy" })
  t.eq(identity.Arn, "arn:aws:sts::123456789012:assumed-role/chained/second-hop")
end)

t.test("missing token file error", function()
  local absent = dir .. "/no-such-token"
  local err = sim_error({ AWS_WEB_IDENTITY_TOKEN_FILE = absent, AWS_ROLE_ARN = ROLE })
  t.eq(err.code, "NoCredentials")
  t.contains(tostring(err), "cannot read the web identity token file " .. absent
    .. " (from AWS_WEB_IDENTITY_TOKEN_FILE): No such file or directory")
  t.contains(tostring(err), "point AWS_WEB_IDENTITY_TOKEN_FILE at the token file")
end)

t.test("token file is a folder", function()
  local err = sim_error({ AWS_WEB_IDENTITY_TOKEN_FILE = dir, AWS_ROLE_ARN = ROLE })
  t.eq(err.code, "NoCredentials")
  t.contains(tostring(err), "cannot read the web identity token file " .. dir)
end)

t.test("empty token file error", function()
  helper.write(TOKEN_FILE, " \n")
  local config = ("[default]\nrole_arn = %s\nweb_identity_token_file = %s\n"):format(ROLE, TOKEN_FILE)
  local err = sim_error({}, config)
  t.eq(err.code, "NoCredentials")
  t.contains(tostring(err), ("the web identity token file %s (from web_identity_token_file of profile default)"
    .. " is empty"):format(TOKEN_FILE))
end)

t.test("token file without role", function()
  helper.write(TOKEN_FILE, fresh_token())
  local err = sim_error({ AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE })
  t.eq(err.code, "InvalidConfiguration")
  t.contains(tostring(err), "set AWS_ROLE_ARN or role_arn in profile default")
end)

t.test("invalid duration_seconds", function()
  helper.write(TOKEN_FILE, fresh_token())
  local config = ("[default]\nrole_arn = %s\nweb_identity_token_file = %s\nduration_seconds = 1h\n"):format(ROLE,
    TOKEN_FILE)
  local err = sim_error({}, config)
  t.eq(err.code, "InvalidConfiguration")
  t.contains(tostring(err), "duration_seconds of profile default must be a whole number of seconds, got 1h")
end)

t.test("simulator rejects malformed token", function()
  local bad = "not-a-jwt-but-a-secret-value"
  helper.write(TOKEN_FILE, bad)
  local err = sim_error({ AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_ARN = ROLE })
  t.eq(err.code, "InvalidIdentityToken")
  t.contains(tostring(err), "three base64url parts")
  t.contains(tostring(err), "with the token in " .. TOKEN_FILE)
  t.not_contains(tostring(err), bad, "the token is not in the message")
  for _, token in ipairs({ "abc.def", "a.b.c.d", jwt("[1]"), base64url("{}") .. ".e30.", "e30.e30.!!" }) do
    helper.write(TOKEN_FILE, token)
    local e = sim_error({ AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_ARN = ROLE })
    t.eq(e.code, "InvalidIdentityToken", "code for token " .. token)
  end
end)

t.test("simulator rejects expired token", function()
  helper.write(TOKEN_FILE, jwt(('{"sub":"x","exp":%d}'):format(math.floor(sys.now()) - 60)))
  local err = sim_error({ AWS_WEB_IDENTITY_TOKEN_FILE = TOKEN_FILE, AWS_ROLE_ARN = ROLE })
  t.eq(err.code, "ExpiredTokenException")
  t.contains(tostring(err), "Token expired")
end)

-- ---- the simulator's response and its unsigned exemption -------------------------------

-- Posts the form BODY to the simulator with no Authorization header and
-- returns the response.
local function post_unsigned(body)
  local session = require("mnem._curl").session()
  local response, terr = session:request{ method = "POST", url = sim.endpoint .. "/", body = body,
    headers = { { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" } }, timeout = 10 }
  session:close()
  assert(response, terr and terr.message)
  return response
end

local function encode(text)
  return (text:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

t.test("simulator response fields", function()
  local token = fresh_token()
  local response = post_unsigned("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" .. encode(ROLE)
    .. "&RoleSessionName=fields&ProviderId=ignored.example&WebIdentityToken=" .. encode(token))
  t.eq(response.status, 200, response.body)
  local body = response.body
  t.contains(body, "<Provider>https://token.actions.githubusercontent.com</Provider>", "the iss claim")
  t.contains(body, "<Audience>sts.amazonaws.com</Audience>", "the aud claim")
  t.contains(body, "<SubjectFromWebIdentityToken>repo:ops/mnem:ref:refs/heads/main</SubjectFromWebIdentityToken>")
  t.contains(body, "<Arn>arn:aws:sts::123456789012:assumed-role/ci-deploy/fields</Arn>")
  t.contains(body, "<AccessKeyId>ASIA")
end)

t.test("other unsigned actions rejected", function()
  local plain = post_unsigned("Action=GetCallerIdentity&Version=2011-06-15")
  t.eq(plain.status, 403)
  t.contains(plain.body, "MissingAuthenticationToken")
  local smuggled = post_unsigned("Action=AssumeRoleWithWebIdentity&Action=AssumeRole&Version=2011-06-15&RoleArn="
    .. encode(ROLE) .. "&RoleSessionName=smuggled&WebIdentityToken=" .. encode(fresh_token()))
  t.ok(smuggled.status ~= 200, "a second Action is not let through unsigned: " .. smuggled.body)
  t.not_contains(smuggled.body, "<AccessKeyId>", "no credentials minted")
end)

sim_process.stop_all()
return t.done()
