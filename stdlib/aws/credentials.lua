-- aws.credentials: where a client's AWS credentials come from.
--
-- The chain, first match wins (the AWS CLI v2 order, without the providers
-- mnem does not have):
--   1. the client's access_key_id / secret_access_key / session_token options;
--   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
--      AWS_SESSION_TOKEN (skipped when the client's profile option is set,
--      as the CLI skips them for --profile);
--   3. the profile (profile option, else AWS_PROFILE, else "default") in the
--      shared config and credentials files: role_arn with source_profile or
--      credential_source = Environment (STS AssumeRole through the client);
--   4. web identity: a token file and a role, exchanged by an unsigned STS
--      AssumeRoleWithWebIdentity call. AWS_WEB_IDENTITY_TOKEN_FILE,
--      AWS_ROLE_ARN and AWS_ROLE_SESSION_NAME each win over the profile's
--      web_identity_token_file, role_arn and role_session_name, unless the
--      client's profile option is set;
--   5. the profile's static aws_access_key_id / aws_secret_access_key /
--      aws_session_token, then its credential_process;
--   6. container credentials from AWS_CONTAINER_CREDENTIALS_FULL_URI, which
--      must be a loopback URL.
-- The EC2 instance metadata service is never used, and
-- AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (whose host would be
-- 169.254.170.2) is rejected with an error. Secret keys, session tokens and
-- web identity tokens are marked secret as soon as they are read. Temporary
-- credentials are cached until 5 minutes before they expire, and the web
-- identity token file is read again at each refresh, because the platform
-- rotates it.
local cjson = require("cjson")
local aws_config = require("aws.config")
local aws_errors = require("aws.errors")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

local M = {}

M.REFRESH_MARGIN = 300

local function nonempty(value)
  if type(value) == "string" and value ~= "" then return value end
  return nil
end

local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

--- Converts an ISO-8601 time ("2030-01-02T03:04:05Z", with optional
-- fraction and a Z or +hh:mm offset) to epoch seconds, or nil when TEXT is
-- not one.
function M.parse_time(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s, rest = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  rest = rest:gsub("^%.%d+", "")
  local offset = 0
  if rest ~= "Z" and rest ~= "" then
    local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
  end
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
end

local function make(access_key, secret_key, session_token, expiration, source)
  secret.mark(secret_key)
  secret.mark(session_token)
  return {
    access_key = access_key, secret_key = secret_key, session_token = nonempty(session_token),
    expiration = expiration, source = source,
  }
end

local function fail(code, message)
  error(aws_errors.client_error(code, message), 0)
end

-- ---- credential_process ----------------------------------------------------

--- Splits COMMAND into words as a POSIX shell would (quotes and
-- backslashes), without expanding anything.
function M.split_command(command)
  local words, word, i, in_word = {}, {}, 1, false
  while i <= #command do
    local c = command:sub(i, i)
    if c == "'" then
      local close = command:find("'", i + 1, true)
      if not close then error("credential_process: unterminated single quote in " .. command, 0) end
      word[#word + 1] = command:sub(i + 1, close - 1)
      i, in_word = close, true
    elseif c == '"' then
      i, in_word = i + 1, true
      while true do
        local q = command:sub(i, i)
        if q == "" then error("credential_process: unterminated double quote in " .. command, 0) end
        if q == '"' then break end
        if q == "\\" and command:sub(i + 1, i + 1):match('[\\"$`]') then
          i = i + 1
          q = command:sub(i, i)
        end
        word[#word + 1] = q
        i = i + 1
      end
    elseif c == "\\" then
      word[#word + 1] = command:sub(i + 1, i + 1)
      i, in_word = i + 1, true
    elseif c:match("%s") then
      if in_word then words[#words + 1] = table.concat(word) end
      word, in_word = {}, false
    else
      word[#word + 1] = c
      in_word = true
    end
    i = i + 1
  end
  if in_word then words[#words + 1] = table.concat(word) end
  return words
end

-- The maximum seconds a credential_process may run, so that a hung helper
-- cannot hang every AWS call of the run.
local PROCESS_TIMEOUT = 60

-- Runs WORDS (program and arguments, no shell) and returns ok, its stdout,
-- its stderr and a description of how it ended ("exit 3", "signal 9",
-- "timed out after 60s", "interrupted", or the reason it did not start).
local function run_process(words)
  local proc = require("mnem._proc")
  local child, spawn_error = proc.spawn{ argv = words, stdout = "pipe", stderr = "pipe" }
  if not child then return false, "", "", spawn_error end
  local out, err = {}, {}
  local started = sys.monotonic()
  local stopped
  while true do
    local got = child:read(0.1)
    if got.stdout then out[#out + 1] = got.stdout end
    if got.stderr then err[#err + 1] = got.stderr end
    if not got.open then break end
    if sys.signal() then
      stopped = "interrupted"
    elseif sys.monotonic() - started > PROCESS_TIMEOUT then
      stopped = ("timed out after %ds"):format(PROCESS_TIMEOUT)
    end
    if stopped then
      child:kill("KILL")
      break
    end
  end
  local status = child:wait()
  local stdout, stderr = table.concat(out), table.concat(err)
  if stopped then return false, stdout, stderr, stopped end
  if status.signal then return false, stdout, stderr, "signal " .. tostring(status.signal) end
  if status.code ~= 0 then return false, stdout, stderr, "exit " .. tostring(status.code) end
  return true, stdout, stderr
end

local function from_process(command, profile_name)
  local words = M.split_command(command)
  if #words == 0 then fail("InvalidConfiguration", "credential_process of profile " .. profile_name .. " is empty") end
  -- The program runs with these exact arguments and no shell. Its stderr
  -- is kept so a failure can quote it.
  local ok, output, stderr, ending = run_process(words)
  local where = ("credential_process of profile %s (%s)"):format(profile_name, words[1])
  if not ok then
    local last_line = stderr:match("([^\n]+)\n*$")
    fail("CredentialProcessFailed", ("%s failed: %s%s"):format(where, ending, last_line and (": " .. last_line) or ""))
  end
  local decoded_ok, data = pcall(cjson.decode, output)
  if not decoded_ok or type(data) ~= "table" then
    fail("CredentialProcessFailed", where .. " did not print a JSON object")
  end
  if data.Version ~= 1 then
    fail("CredentialProcessFailed", where .. " printed Version " .. tostring(data.Version) .. ", expected 1")
  end
  secret.mark(data.SecretAccessKey)
  secret.mark(data.SessionToken)
  if not nonempty(data.AccessKeyId) or not nonempty(data.SecretAccessKey) then
    fail("CredentialProcessFailed", where .. " printed no AccessKeyId or SecretAccessKey")
  end
  local expiration
  if data.Expiration ~= nil then
    expiration = M.parse_time(data.Expiration)
    if not expiration then fail("CredentialProcessFailed", where .. " printed an invalid Expiration") end
  end
  return make(data.AccessKeyId, data.SecretAccessKey, data.SessionToken, expiration,
    "credential_process of profile " .. profile_name)
end

-- ---- container credentials -------------------------------------------------

local function from_container(full_uri)
  local host = full_uri:match("^https?://%[([^%]]+)%]") or full_uri:match("^https?://([^/:?#]+)")
  if not host or not require("mnem.rehearsal").is_loopback(host:lower()) then
    fail("InvalidConfiguration", ("AWS_CONTAINER_CREDENTIALS_FULL_URI %s is not a loopback http(s) URL;"
      .. " mnem only fetches container credentials from 127.0.0.0/8, localhost or [::1]"):format(full_uri))
  end
  local headers = { { "Accept", "application/json" } }
  local token
  local token_file = nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
  if token_file then
    local f = io.open(token_file, "rb")
    if not f then fail("InvalidConfiguration", "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " .. token_file) end
    token = f:read("a"):gsub("%s+$", "")
    f:close()
  else
    token = nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
  end
  if token then
    secret.mark(token)
    headers[#headers + 1] = { "Authorization", token }
  end
  local session = require("mnem._curl").session()
  local response, terr = session:request{ method = "GET", url = full_uri, headers = headers,
                                          timeout = 5, connect_timeout = 2 }
  session:close()
  if not response then
    fail("CredentialsFetchFailed", ("container credentials from %s: %s failed: %s"):format(
      full_uri, tostring(terr.stage), tostring(terr.message)))
  end
  if response.status ~= 200 then
    fail("CredentialsFetchFailed", ("container credentials from %s: HTTP status %d"):format(full_uri, response.status))
  end
  local ok, data = pcall(cjson.decode, response.body)
  if not ok or type(data) ~= "table" or not nonempty(data.AccessKeyId) or not nonempty(data.SecretAccessKey) then
    fail("CredentialsFetchFailed",
      "container credentials from " .. full_uri .. ": the response is not a credentials object")
  end
  return make(data.AccessKeyId, data.SecretAccessKey, data.Token, M.parse_time(data.Expiration),
    "container credentials")
end

-- ---- profiles ---------------------------------------------------------------

local from_profile

-- ---- web identity (AssumeRoleWithWebIdentity) -------------------------------

-- Each web identity setting: its profile key and the variable that wins
-- over it.
local WEB_IDENTITY_SETTINGS = {
  { key = "web_identity_token_file", variable = "AWS_WEB_IDENTITY_TOKEN_FILE" },
  { key = "role_arn", variable = "AWS_ROLE_ARN" },
  { key = "role_session_name", variable = "AWS_ROLE_SESSION_NAME" },
}

-- Returns the web identity settings of PROFILE (named NAME) merged with
-- the environment when USE_ENV: { web_identity_token_file, role_arn,
-- role_session_name, duration_seconds, origin = { key -> where it was
-- set } }, or nil when no token file is configured. Raises when a token
-- file has no role.
local function web_identity_config(profile, name, use_env)
  local config = { origin = {} }
  for _, setting in ipairs(WEB_IDENTITY_SETTINGS) do
    local from_env = use_env and nonempty(os.getenv(setting.variable))
    if from_env then
      config[setting.key], config.origin[setting.key] = from_env, setting.variable
    elseif nonempty(profile[setting.key]) then
      config[setting.key] = profile[setting.key]
      config.origin[setting.key] = setting.key .. " of profile " .. name
    end
  end
  if not config.web_identity_token_file then return nil end
  if not config.role_arn then
    fail("InvalidConfiguration", ("a web identity token file is set (%s) but no role to assume; set AWS_ROLE_ARN"
      .. " or role_arn in profile %s"):format(config.origin.web_identity_token_file, name))
  end
  if profile.duration_seconds ~= nil then
    config.duration_seconds = math.tointeger(tonumber(profile.duration_seconds))
    if not config.duration_seconds then
      fail("InvalidConfiguration", ("duration_seconds of profile %s must be a whole number of seconds, got %s")
        :format(name, tostring(profile.duration_seconds)))
    end
  end
  return config
end

-- Reads the web identity token from PATH (set in ORIGIN) and marks it
-- secret before anything can print it. Surrounding whitespace is removed
-- so that a file written with echo works; botocore sends the file as is.
local function read_token(path, origin)
  local where = ("the web identity token file %s (from %s)"):format(path, origin)
  local fix = "; check that the platform (Kubernetes service account, CI OIDC step) wrote the token there,"
    .. " or point " .. origin .. " at the token file"
  local f, open_error = io.open(path, "rb")
  if not f then
    local reason = tostring(open_error)
    if reason:sub(1, #path + 2) == path .. ": " then reason = reason:sub(#path + 3) end
    fail("NoCredentials", ("cannot read %s: %s%s"):format(where, reason, fix))
  end
  local data, read_error = f:read("a")
  f:close()
  if not data then fail("NoCredentials", ("cannot read %s: %s%s"):format(where, tostring(read_error), fix)) end
  secret.mark(data)
  local token = data:match("^%s*(.-)%s*$")
  if token == "" then fail("NoCredentials", where .. " is empty" .. fix) end
  secret.mark(token)
  return token
end

-- Exchanges the token named by CONFIG (from web_identity_config) for
-- temporary credentials. The file is read at every call, because the
-- platform replaces the token before it expires.
local function from_web_identity(state, config)
  local origin = config.origin.web_identity_token_file
  local token = read_token(config.web_identity_token_file, origin)
  if not state.assume_role_with_web_identity then
    fail("InvalidConfiguration", ("%s configures a web identity, which needs STS AssumeRoleWithWebIdentity,"
      .. " which this caller cannot make"):format(origin))
  end
  local request = {
    RoleArn = config.role_arn,
    RoleSessionName = config.role_session_name or ("mnem-session-" .. math.floor(sys.now())),
    WebIdentityToken = token,
    DurationSeconds = config.duration_seconds,
  }
  local ok, result = pcall(state.assume_role_with_web_identity, request)
  if not ok then
    if type(result) == "table" and type(result.message) == "string" then
      result.message = ("%s (AssumeRoleWithWebIdentity of role %s with the token in %s)"):format(result.message,
        config.role_arn, config.web_identity_token_file)
    end
    error(result, 0)
  end
  local c = result.Credentials or {}
  if not nonempty(c.AccessKeyId) or not nonempty(c.SecretAccessKey) then
    fail("InvalidResponse", "STS AssumeRoleWithWebIdentity returned no AccessKeyId or SecretAccessKey")
  end
  return make(c.AccessKeyId, c.SecretAccessKey, c.SessionToken, M.parse_time(c.Expiration),
    ("AssumeRoleWithWebIdentity %s (%s)"):format(config.role_arn, origin))
end

-- ---- profiles ---------------------------------------------------------------

local function from_assume_role(state, profile, name, depth)
  local source
  if profile.source_profile then
    local source_settings = aws_config.profile(state.files, profile.source_profile)
    if not source_settings then
      fail("ProfileNotFound", ("source_profile %s of profile %s is not in %s or %s"):format(
        profile.source_profile, name, state.files.config_path, state.files.credentials_path))
    end
    -- A source profile's own role_arn (and web identity) is followed only
    -- when it has no static keys, as the CLI does for role_arn.
    if source_settings.aws_access_key_id and profile.source_profile ~= name then
      source_settings = setmetatable({ role_arn = false, web_identity_token_file = false },
        { __index = source_settings })
    elseif profile.source_profile == name then
      source_settings = { aws_access_key_id = profile.aws_access_key_id,
                          aws_secret_access_key = profile.aws_secret_access_key,
                          aws_session_token = profile.aws_session_token }
    end
    source = from_profile(state, source_settings, profile.source_profile, depth + 1)
  elseif profile.credential_source == "Environment" then
    source = M.from_environment()
    if not source then
      fail("NoCredentials", "credential_source Environment of profile " .. name .. ": AWS_ACCESS_KEY_ID is not set")
    end
  elseif profile.credential_source then
    fail("InvalidConfiguration", ("credential_source %s of profile %s is not supported by mnem"
      .. " (only Environment; mnem never uses the instance metadata service)"):format(profile.credential_source, name))
  else
    fail("InvalidConfiguration", "profile " .. name .. " has role_arn but no source_profile, credential_source"
      .. " or web_identity_token_file")
  end
  if not state.assume_role then
    fail("InvalidConfiguration", "profile " .. name .. " needs STS AssumeRole, which this caller cannot make")
  end
  local request = {
    RoleArn = profile.role_arn,
    RoleSessionName = profile.role_session_name or ("mnem-session-" .. math.floor(sys.now())),
    ExternalId = profile.external_id,
    DurationSeconds = profile.duration_seconds and math.tointeger(tonumber(profile.duration_seconds)),
  }
  local result = state.assume_role(source, request, profile)
  local c = result.Credentials or {}
  return make(c.AccessKeyId, c.SecretAccessKey, c.SessionToken, M.parse_time(c.Expiration),
    "AssumeRole " .. profile.role_arn .. " (profile " .. name .. ")")
end

-- Resolves profile NAME (its settings PROFILE). USE_ENV is true for the
-- client's own profile unless the profile option was given, and lets the
-- web identity variables take part, as botocore does.
from_profile = function(state, profile, name, depth, use_env)
  if depth > 8 then
    fail("InvalidConfiguration", "profile " .. name .. ": the source_profile chain is too long or a loop")
  end
  -- A role_arn next to web_identity_token_file belongs to the web identity
  -- provider, as botocore reads it, even with a source_profile.
  if profile.role_arn and not profile.web_identity_token_file then
    return from_assume_role(state, profile, name, depth)
  end
  local web_identity = web_identity_config(profile, name, use_env)
  if web_identity then return from_web_identity(state, web_identity) end
  if nonempty(profile.aws_access_key_id) then
    if not nonempty(profile.aws_secret_access_key) then
      fail("InvalidConfiguration", "profile " .. name .. " has aws_access_key_id but no aws_secret_access_key")
    end
    return make(profile.aws_access_key_id, profile.aws_secret_access_key, profile.aws_session_token, nil,
      "profile " .. name)
  end
  if nonempty(profile.credential_process) then return from_process(profile.credential_process, name) end
  return nil
end

--- Returns credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
-- AWS_SESSION_TOKEN, or nil when the key id is not set. Raises when only
-- one of the two keys is set.
function M.from_environment()
  local id, key = nonempty(os.getenv("AWS_ACCESS_KEY_ID")), nonempty(os.getenv("AWS_SECRET_ACCESS_KEY"))
  if not id and not key then return nil end
  if not id or not key then
    fail("NoCredentials", "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set")
  end
  return make(id, key, os.getenv("AWS_SESSION_TOKEN"), nil, "environment")
end

local function resolve(state)
  local options = state.options
  if options.access_key_id or options.secret_access_key then
    if not (options.access_key_id and options.secret_access_key) then
      error("aws.client: access_key_id and secret_access_key must be given together", 0)
    end
    return make(options.access_key_id, options.secret_access_key, options.session_token, nil, "client options")
  end
  if not options.profile then
    local env = M.from_environment()
    if env then return env end
  end
  local profile_name = state.profile_name
  local profile = aws_config.profile(state.files, profile_name)
  if not profile and profile_name ~= "default" then
    fail("ProfileNotFound", ("profile %s is not in %s or %s"):format(profile_name, state.files.config_path,
      state.files.credentials_path))
  end
  -- A missing default profile is empty, so the web identity variables
  -- still apply.
  local found = from_profile(state, profile or {}, profile_name, 0, not options.profile)
  if found then return found end
  local full_uri = nonempty(os.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
  if full_uri then return from_container(full_uri) end
  local relative = nonempty(os.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
  if relative then
    fail("NoCredentials", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set, but mnem does not fetch credentials"
      .. " from the ECS agent address 169.254.170.2; set AWS_CONTAINER_CREDENTIALS_FULL_URI to a loopback URL"
      .. " or use another credential source")
  end
  local skipped = options.profile and " (skipped for the profile option)" or ""
  fail("NoCredentials", ("no AWS credentials found; mnem looked in: the client options, AWS_ACCESS_KEY_ID and"
    .. " AWS_SECRET_ACCESS_KEY%s, profile %s in %s and %s (role_arn, web_identity_token_file, keys,"
    .. " credential_process), AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN%s,"
    .. " AWS_CONTAINER_CREDENTIALS_FULL_URI"):format(skipped, profile_name, state.files.config_path,
    state.files.credentials_path, skipped))
end

local Provider = {}
Provider.__index = Provider

--- Makes a credentials provider. SETTINGS: { options = the client's
-- options, profile_name = the profile in use, files = aws.config.load(),
-- assume_role = function(source_credentials, AssumeRole params, profile)
-- returning the AssumeRole output, assume_role_with_web_identity =
-- function(AssumeRoleWithWebIdentity params) returning its output, from
-- an unsigned request }.
function M.provider(settings)
  return setmetatable({ state = settings, cached = nil }, Provider)
end

--- Returns credentials { access_key, secret_key, session_token,
-- expiration, source }, resolving the chain on first use and again when
-- temporary credentials are within 5 minutes of their expiration. May run
-- a credential_process or make network calls (AssumeRole,
-- AssumeRoleWithWebIdentity, container).
function Provider:get()
  local c = self.cached
  if c and (not c.expiration or c.expiration - sys.now() > M.REFRESH_MARGIN) then return c end
  self.cached = resolve(self.state)
  return self.cached
end

return M
