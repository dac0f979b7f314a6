-- Credential and region resolution, from tables of environment and shared
-- file setups. Container credentials and AssumeRole go to a loopback
-- capture server; nothing else is contacted.
local t = require("t")
local helper = require("client_helper")
local aws = require("aws")
local secret = require("mnem.secret")

local dir = t.tmpdir()
local CONFIG, CREDENTIALS = dir .. "/config", dir .. "/credentials"

-- A clean environment: no keys, no profile, our files, no container URIs.
local function base_env(extra)
  local vars = {
    AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_SESSION_TOKEN = false, AWS_PROFILE = false,
    AWS_CONFIG_FILE = CONFIG, AWS_SHARED_CREDENTIALS_FILE = CREDENTIALS,
    AWS_CONTAINER_CREDENTIALS_FULL_URI = false, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = false,
    AWS_CONTAINER_AUTHORIZATION_TOKEN = false, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = false,
    AWS_REGION = "us-east-1", AWS_DEFAULT_REGION = false,
  }
  for k, v in pairs(extra or {}) do vars[k] = v end
  return vars
end

local function files(config, credentials)
  helper.write(CONFIG, config or "")
  helper.write(CREDENTIALS, credentials or "")
end

local function resolve(options, env, config, credentials)
  files(config, credentials)
  return helper.with_env(base_env(env), function() return aws.client(options):credentials() end)
end

local function resolve_error(options, env, config, credentials)
  local ok, err = pcall(resolve, options, env, config, credentials)
  t.ok(not ok, "expected resolution to fail")
  return err
end

t.test("client options beat environment", function()
  local c = resolve({ access_key_id = "AKOPT", secret_access_key = "opt-secret" },
    { AWS_ACCESS_KEY_ID = "AKENV", AWS_SECRET_ACCESS_KEY = "env-secret" })
  t.eq(c.access_key, "AKOPT")
  t.eq(c.source, "client options")
  t.ok(secret.is_secret("opt-secret"), "option secret key is marked secret")
end)

t.test("environment keys and token", function()
  local c = resolve({}, { AWS_ACCESS_KEY_ID = "AKENV", AWS_SECRET_ACCESS_KEY = "env-secret-2",
                          AWS_SESSION_TOKEN = "env-token-2" })
  t.eq(c.access_key, "AKENV")
  t.eq(c.secret_key, "env-secret-2")
  t.eq(c.session_token, "env-token-2")
  t.eq(c.source, "environment")
  t.ok(secret.is_secret("env-token-2"), "session token is marked secret")
end)

t.test("environment with only a key id", function()
  local err = resolve_error({}, { AWS_ACCESS_KEY_ID = "AKENV" })
  t.contains(tostring(err), "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
end)

t.test("default profile in credentials file", function()
  local c = resolve({}, {}, "", "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = def-secret\n")
  t.eq(c.access_key, "AKDEF")
  t.eq(c.source, "profile default")
  t.ok(secret.is_secret("def-secret"), "file secret key is marked secret")
end)

t.test("AWS_PROFILE selects a profile", function()
  local creds = "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = file-secret-0\n"
    .. "[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = file-secret-1\n"
  t.eq(resolve({}, { AWS_PROFILE = "dev" }, "", creds).access_key, "AKDEV")
end)

t.test("config file uses [profile NAME]", function()
  local config = "[profile dev]\naws_access_key_id = AKCFG\naws_secret_access_key = file-secret-2\n"
    .. "[ops]\naws_access_key_id = AKWRONG\naws_secret_access_key = file-secret-3\n"
  t.eq(resolve({ profile = "dev" }, {}, config).access_key, "AKCFG")
  local err = resolve_error({ profile = "ops" }, {}, config)
  t.eq(err.code, "ProfileNotFound", "[ops] in the config file is not profile ops")
  t.contains(tostring(err), CONFIG)
end)

t.test("credentials file beats config file", function()
  local c = resolve({ profile = "dev" }, {},
    "[profile dev]\naws_access_key_id = AKCFG\naws_secret_access_key = file-secret-2\nregion = eu-west-3\n",
    "[dev]\naws_access_key_id = AKCRED\naws_secret_access_key = file-secret-4\n")
  t.eq(c.access_key, "AKCRED")
end)

t.test("profile option skips environment", function()
  local c = resolve({ profile = "dev" }, { AWS_ACCESS_KEY_ID = "AKENV", AWS_SECRET_ACCESS_KEY = "env-secret-x" }, "",
    "[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = file-secret-1\n")
  t.eq(c.access_key, "AKDEV")
end)

t.test("AWS_PROFILE does not skip environment", function()
  local env = { AWS_PROFILE = "dev", AWS_ACCESS_KEY_ID = "AKENV", AWS_SECRET_ACCESS_KEY = "env-secret-x" }
  local c = resolve({}, env, "",
    "[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = file-secret-1\n")
  t.eq(c.access_key, "AKENV")
end)

local function process_script(name, body)
  local path = dir .. "/" .. name
  helper.write(path, "#!/bin/sh\n" .. body)
  os.execute("chmod +x '" .. path .. "'")
  return path
end

t.test("credential_process with quoted argument", function()
  local script = process_script("creds one.sh", [[
printf 'run\n' >> "$2"
printf '{"Version": 1, "AccessKeyId": "AKPROC", "SecretAccessKey": "proc-secret", "SessionToken": "%s",
 "Expiration": "2999-01-01T00:00:00Z"}' "$1"
]])
  local count_file = dir .. "/process-count"
  helper.write(count_file, "")
  local config = ("[profile p]\ncredential_process = \"%s\" 'tok en' %s\n"):format(script, count_file)
  files(config, "")
  helper.with_env(base_env(), function()
    local client = aws.client{ profile = "p" }
    local c = client:credentials()
    t.eq(c.access_key, "AKPROC")
    t.eq(c.session_token, "tok en", "argument with a space passed as one word")
    t.eq(c.expiration, 32472144000)
    t.ok(secret.is_secret("proc-secret"), "process secret is marked secret")
    client:credentials()
  end)
  t.eq(t.read_file(count_file), "run\n", "cached until near expiry: the process ran once")
end)

t.test("credential_process refreshed near expiry", function()
  local soon = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 120)
  local count_file = dir .. "/process-count-2"
  helper.write(count_file, "")
  local script = process_script("creds-soon.sh", ([[
printf 'run\n' >> %s
printf '{"Version": 1, "AccessKeyId": "AKSOON", "SecretAccessKey": "soon-secret", "Expiration": "%s"}'
]]):format(count_file, soon))
  files("[profile p]\ncredential_process = " .. script .. "\n", "")
  helper.with_env(base_env(), function()
    local client = aws.client{ profile = "p" }
    client:credentials()
    client:credentials()
  end)
  t.eq(t.read_file(count_file), "run\nrun\n", "expires within 5 minutes: fetched again")
end)

t.test("credential_process failure", function()
  local script = process_script("creds-fail.sh", "echo oops >&2\nexit 3\n")
  local err = resolve_error({ profile = "p" }, {}, "[profile p]\ncredential_process = " .. script .. "\n")
  t.eq(err.code, "CredentialProcessFailed")
  t.contains(tostring(err), "exit 3")
  t.contains(tostring(err), "oops", "the process's last stderr line is in the message")
end)

t.test("credential_process missing program", function()
  local err = resolve_error({ profile = "p" }, {}, "[profile p]\ncredential_process = /nonexistent/creds-helper a\n")
  t.eq(err.code, "CredentialProcessFailed")
  t.contains(tostring(err), "/nonexistent/creds-helper")
end)

t.test("credential_process killed by signal", function()
  local script = process_script("creds-killed.sh", "kill -9 $$\n")
  local err = resolve_error({ profile = "p" }, {}, "[profile p]\ncredential_process = " .. script .. "\n")
  t.eq(err.code, "CredentialProcessFailed")
  t.contains(tostring(err), "signal 9")
end)

t.test("credential_process gets no shell", function()
  -- A shell would expand $HOME and run the second command.
  local marker = os.tmpname()
  os.remove(marker)
  local script = process_script("creds-args.sh", 'printf \'{"Version": 1, "AccessKeyId": "%s", '
    .. '"SecretAccessKey": "no-shell-secret"}\' "$1"\n')
  local c = resolve({ profile = "p" }, {},
    ("[profile p]\ncredential_process = %s $HOME;touch %s\n"):format(script, marker), "")
  t.eq(c.access_key, "$HOME;touch")
  t.eq(io.open(marker) == nil, true, "no command after ; ran")
end)

t.test("credential_process wrong version", function()
  local script = process_script("creds-v2.sh", "echo '{\"Version\": 2, \"AccessKeyId\": \"a\"}'\n")
  local err = resolve_error({ profile = "p" }, {}, "[profile p]\ncredential_process = " .. script .. "\n")
  t.contains(tostring(err), "expected 1")
end)

t.test("nothing configured lists places", function()
  local err = resolve_error({}, {}, "", "")
  t.eq(err.code, "NoCredentials")
  local text = tostring(err)
  t.contains(text, "AWS_ACCESS_KEY_ID")
  t.contains(text, "profile default")
  t.contains(text, CONFIG)
  t.contains(text, CREDENTIALS)
  t.contains(text, "AWS_CONTAINER_CREDENTIALS_FULL_URI")
end)

t.test("explicit missing profile", function()
  local err = resolve_error({}, { AWS_PROFILE = "nope" }, "", "")
  t.eq(err.code, "ProfileNotFound")
  t.contains(tostring(err), "profile nope")
end)

t.test("relative container URI rejected", function()
  local err = resolve_error({}, { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = "/v2/credentials/x" }, "", "")
  t.contains(tostring(err), "169.254.170.2")
  t.contains(tostring(err), "does not fetch")
end)

t.test("container URI must be loopback", function()
  local err = resolve_error({}, { AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://192.0.2.10/creds" }, "", "")
  t.contains(tostring(err), "not a loopback")
end)

t.test("container URI loopback forms", function()
  -- Port 1 on loopback refuses the connection, so an accepted URI fails at
  -- the fetch and a rejected one before it.
  for _, uri in ipairs({ "http://[::1]:1/creds", "http://LOCALHOST:1/creds", "http://127.0.0.9:1/creds" }) do
    local err = resolve_error({}, { AWS_CONTAINER_CREDENTIALS_FULL_URI = uri }, "", "")
    t.not_contains(tostring(err), "not a loopback", uri .. " is accepted")
    t.contains(tostring(err), "CredentialsFetchFailed", uri .. " is fetched")
  end
  local rejected = { "http://user@127.0.0.1:1/creds", "http://127.0.0.1@192.0.2.10/creds", "http://[::2]/creds" }
  for _, uri in ipairs(rejected) do
    local err = resolve_error({}, { AWS_CONTAINER_CREDENTIALS_FULL_URI = uri }, "", "")
    t.contains(tostring(err), "not a loopback", uri .. " is rejected")
  end
end)

t.test("container credentials on loopback", function()
  local server = helper.start()
  server:script{ { status = 200, headers = { ["Content-Type"] = "application/json" },
                   body = '{"AccessKeyId": "AKCONT", "SecretAccessKey": "cont-secret", "Token": "cont-token",'
                     .. ' "Expiration": "2999-01-01T00:00:00Z"}' } }
  local token_file = dir .. "/token"
  helper.write(token_file, "file-token\n")
  local ok, c = pcall(resolve, {}, { AWS_CONTAINER_CREDENTIALS_FULL_URI = server.endpoint .. "/creds",
                                     AWS_CONTAINER_AUTHORIZATION_TOKEN = "env-token",
                                     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = token_file }, "", "")
  local requests = server:requests()
  server:stop()
  t.ok(ok, tostring(c))
  t.eq(c.access_key, "AKCONT")
  t.eq(c.session_token, "cont-token")
  t.eq(#requests, 1)
  t.eq(requests[1].path, "/creds")
  t.eq(requests[1]:header("Authorization"), "file-token", "the token file wins over the variable")
end)

local ASSUME_ROLE_RESPONSE = [[<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey>
<SessionToken>role-token</SessionToken><Expiration>2999-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>
</AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>req-role</RequestId></ResponseMetadata>
</AssumeRoleResponse>]]

t.test("role_arn with source_profile", function()
  local server = helper.start()
  server:script{ { status = 200, headers = { ["Content-Type"] = "text/xml" }, body = ASSUME_ROLE_RESPONSE } }
  local config = ("[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\nsource_profile = base\n"
    .. "role_session_name = nightly\nexternal_id = ext-1\nduration_seconds = 1800\nendpoint_url = %s\n"
    .. "[profile base]\naws_access_key_id = AKBASE\naws_secret_access_key = base-secret\n"):format(server.endpoint)
  files(config, "")
  local ok, c, again = pcall(helper.with_env, base_env{ AWS_ENDPOINT_URL = false }, function()
    local client = aws.client{ profile = "deploy" }
    return client:credentials(), client:credentials()
  end)
  local requests = server:requests()
  server:stop()
  t.ok(ok, tostring(c))
  t.eq(c.access_key, "ASIAROLE")
  t.eq(c.session_token, "role-token")
  t.ok(secret.is_secret("role-secret"), "role secret key is marked secret")
  t.ok(c == again, "cached: the second call returns the same credentials")
  t.eq(#requests, 1, "one AssumeRole call")
  local body = requests[1].body
  t.contains(body, "Action=AssumeRole")
  t.contains(body, "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdeploy")
  t.contains(body, "RoleSessionName=nightly")
  t.contains(body, "ExternalId=ext-1")
  t.contains(body, "DurationSeconds=1800")
  t.contains(requests[1]:header("Authorization"), "Credential=AKBASE/", "signed with the source profile's key")
  t.contains(requests[1]:header("Authorization"), "/sts/aws4_request")
end)

t.test("region order", function()
  files("[profile r]\nregion = ap-south-1\naws_access_key_id = AKREGION\naws_secret_access_key = region-secret\n", "")
  local function region(options, env)
    return helper.with_env(base_env(env), function() return aws.client(options):settings().region end)
  end
  t.eq(region({ region = "eu-north-1" }, { AWS_REGION = "eu-west-1" }), "eu-north-1")
  t.eq(region({}, { AWS_REGION = "eu-west-1", AWS_DEFAULT_REGION = "eu-west-2" }), "eu-west-1")
  t.eq(region({}, { AWS_REGION = false, AWS_DEFAULT_REGION = "eu-west-2" }), "eu-west-2")
  t.eq(region({ profile = "r" }, { AWS_REGION = false }), "ap-south-1")
  local ok, err = pcall(region, {}, { AWS_REGION = false })
  t.ok(not ok, "no region anywhere")
  t.eq(err.code, "NoRegion")
  t.contains(tostring(err), "AWS_DEFAULT_REGION")
end)

t.test("client option table is strict", function()
  t.raises(function() aws.client{ regoin = "x" } end, "unknown option regoin (did you mean region?)")
  t.raises(function() aws.client{ retry_mode = "fast" } end, "retry_mode must be one of standard")
  t.raises(function() aws.client{ max_attempts = 0 } end, "max_attempts must be an integer")
end)

t.test("shared file syntax error", function()
  local err = resolve_error({}, {}, "[default]\nthis line is wrong\n", "")
  t.contains(tostring(err), CONFIG .. ":2")
end)

return t.done()
