-- aws.client: AWS clients and the calls they make.
--
-- A client keeps its settings (region, profile, endpoint, retry mode), a
-- credentials provider, a retry quota and one kept-alive HTTP session that
-- all its services share. `client.rds` (any service of aws.model) is a
-- service object whose fields are the service's operations in boto3 snake
-- case: `client.rds.describe_db_instances{ DBInstanceIdentifier = "x" }`.
--
-- One call: validate the parameters (nothing is sent when they are
-- invalid) -> dry-run check for writes -> build the request -> resolve the
-- endpoint -> sign (a fresh signature per attempt) -> send -> parse, with
-- standard-mode retries (aws.retry) around sign/send/parse, and one
-- run-record entry per call. Successes return the output table; failures
-- raise aws.errors values.
local aws_config = require("aws.config")
local aws_errors = require("aws.errors")
local credentials = require("aws.credentials")
local endpoints = require("aws.endpoints")
local model = require("aws.model")
local retry = require("aws.retry")
local errors = require("mnem.errors")
local log = require("mnem.log")
local misuse = require("mnem.misuse")
local secret = require("mnem.secret")
local sigv4 = require("mnem._sigv4")
local sys = require("mnem._sys")

local M = {}

M.USER_AGENT = "mnem/0.1.0"

local OPTION_KEYS = {
  region = "string", profile = "string", endpoint_url = "string", max_attempts = "number",
  retry_mode = "string", access_key_id = "string", secret_access_key = "string", session_token = "string",
  timeout = "number", connect_timeout = "number", random = "function",
}

-- ---- helpers ------------------------------------------------------------

local function edit_distance(a, b)
  a, b = a:lower(), b:lower()
  local previous = {}
  for j = 0, #b do previous[j] = j end
  for i = 1, #a do
    local current = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[#b]
end

--- Returns the entry of CANDIDATES closest to NAME by edit distance, or
-- nil when none is reasonably close.
function M.closest(name, candidates)
  local best, best_distance
  for _, candidate in ipairs(candidates) do
    local d = edit_distance(name, candidate)
    if not best_distance or d < best_distance then best, best_distance = candidate, d end
  end
  if best and best_distance <= math.max(2, #name // 3) then return best end
  return nil
end

local function suggestion(name, candidates)
  local close = M.closest(name, candidates)
  return close and (" (did you mean " .. close .. "?)") or ""
end

local function optional_module(name)
  local loaded = package.loaded[name]
  if loaded then return loaded end
  local ok, module = pcall(require, name)
  if ok then return module end
  return nil
end

local function check_options(options, where)
  if options == nil then return {} end
  if type(options) ~= "table" then
    misuse.raise(("%s: expected an options table, got %s"):format(where, type(options)), 3)
  end
  local names = {}
  for k in pairs(OPTION_KEYS) do names[#names + 1] = k end
  table.sort(names)
  for key, value in pairs(options) do
    local expected = OPTION_KEYS[key]
    if not expected then
      misuse.raise(("%s: unknown option %s%s"):format(where, tostring(key), suggestion(tostring(key), names)), 3)
    end
    if type(value) ~= expected then
      misuse.raise(("%s: option %s must be a %s, got %s"):format(where, key, expected, type(value)), 3)
    end
  end
  if options.retry_mode and not retry.default_attempts(options.retry_mode) then
    misuse.raise(("%s: option retry_mode must be one of %s, got %q"):format(where, table.concat(retry.modes(), ", "),
      options.retry_mode), 3)
  end
  if options.max_attempts and (math.tointeger(options.max_attempts) or 0) < 1 then
    misuse.raise(("%s: option max_attempts must be an integer of at least 1, got %s"):format(where,
      tostring(options.max_attempts)), 3)
  end
  return options
end

-- Reads are the operations that run even in a dry run: by AWS's naming,
-- Describe*, List*, Get*, and the read-only searches Filter* (Logs
-- FilterLogEvents) and Search*.
local READ_PREFIXES = { "Describe", "List", "Get", "Filter", "Search" }

local function is_read(operation)
  for _, prefix in ipairs(READ_PREFIXES) do
    if operation:sub(1, #prefix) == prefix then return true end
  end
  return false
end
M.is_read = is_read

-- ---- secrets in parameters and outputs -----------------------------------

local function mark_input_secrets(value, operation)
  if type(value) ~= "table" then return end
  for k, v in pairs(value) do
    if type(k) == "string" and (k == "SecretString" or k == "SecretBinary" or k == "ClientSecret"
        or k:find("Password")) then
      if type(v) == "string" or type(v) == "number" then secret.mark(v) end
    end
    mark_input_secrets(v, operation)
  end
  if operation == "PutParameter" and value.Type == "SecureString" then secret.mark(value.Value) end
end

local function mark_parameter(parameter)
  if type(parameter) == "table" and parameter.Type == "SecureString" then secret.mark(parameter.Value) end
end

-- A SecretString is often a JSON object ({"username": ..., "password": ...});
-- its fields are secret too, because playbooks decode it and use them on
-- their own. The fields that describe where and as whom to connect, in the
-- layout Secrets Manager documents for database credentials, are left
-- readable: masking "postgres" or "5432" everywhere would garble every log
-- line that names the engine, a user or a port.
local DESCRIPTIVE_FIELDS = {
  username = true, engine = true, host = true, port = true, dbname = true,
  dbinstanceidentifier = true, dbclusteridentifier = true,
}

local function mark_json_fields(text)
  if type(text) ~= "string" or not text:match("^%s*[{%[]") then return end
  local ok, value = pcall(require("cjson").decode, text)
  if not ok then return end
  local function walk(v)
    local kind = type(v)
    if kind == "string" or kind == "number" then
      secret.mark(v)
    elseif kind == "table" then
      for key, inner in pairs(v) do
        local descriptive = type(key) == "string" and DESCRIPTIVE_FIELDS[key:lower()]
        if not (descriptive and type(inner) ~= "table") then walk(inner) end
      end
    end
  end
  walk(value)
end

local function mark_output_secrets(output, operation)
  if type(output) ~= "table" then return end
  mark_parameter(output.Parameter)
  if type(output.Parameters) == "table" then
    for _, p in ipairs(output.Parameters) do mark_parameter(p) end
  end
  if operation == "GetRandomPassword" then secret.mark(output.RandomPassword) end
  if operation == "GetSecretValue" then
    secret.mark(output.SecretString)
    secret.mark(output.SecretBinary)
    mark_json_fields(output.SecretString)
  end
  if type(output.Credentials) == "table" then
    secret.mark(output.Credentials.SecretAccessKey)
    secret.mark(output.Credentials.SessionToken)
  end
end

-- ---- settings ----------------------------------------------------------------

local function env(name)
  local value = os.getenv(name)
  if value == "" then return nil end
  return value
end

local Client = {}

local recorded_send -- defined with the calls below; settings() needs it for AssumeRole

-- The credentials value that sends a request with no signature, for STS
-- AssumeRoleWithWebIdentity, whose token is the proof of identity.
local UNSIGNED = setmetatable({}, { __tostring = function() return "unsigned" end })

-- Resolves region, profile, retry settings and the credentials provider
-- on first use, so making a client reads no file and sends nothing.
local function settings(client)
  local state = rawget(client, "_state")
  if state.resolved then return state.resolved end
  local options = state.options
  local files = aws_config.load()
  local profile_name = options.profile or env("AWS_PROFILE") or "default"
  local profile = aws_config.profile(files, profile_name) or {}
  local region = options.region or env("AWS_REGION") or env("AWS_DEFAULT_REGION") or profile.region
  if not region then
    error(aws_errors.client_error("NoRegion", ("no AWS region configured; mnem looked in: the region option,"
      .. " AWS_REGION, AWS_DEFAULT_REGION, and region in profile %s (%s)"):format(profile_name,
      files.config_path)), 0)
  end
  local mode = options.retry_mode or env("AWS_RETRY_MODE") or profile.retry_mode or "standard"
  if not retry.default_attempts(mode) then
    error(aws_errors.client_error("InvalidConfiguration", ("retry mode %q is not one of %s"):format(mode,
      table.concat(retry.modes(), ", "))), 0)
  end
  local attempts = options.max_attempts or env("AWS_MAX_ATTEMPTS") or profile.max_attempts
  if attempts ~= nil then
    attempts = math.tointeger(tonumber(attempts))
    if not attempts or attempts < 1 then
      error(aws_errors.client_error("InvalidConfiguration", "max_attempts must be an integer of at least 1"), 0)
    end
  end
  local resolved = {
    files = files, profile_name = profile_name, profile = profile, region = region,
    policy = retry.new{ mode = mode, max_attempts = attempts, random = options.random },
  }
  resolved.provider = credentials.provider{
    options = options, profile_name = profile_name, files = files,
    -- Recorded like any call, so a run record shows which role a run
    -- assumed; the output (the new credentials) is never recorded.
    assume_role = function(source, request)
      return recorded_send(client, client.sts, "AssumeRole", request, source, "aws.sts.assume_role")
    end,
    -- Sent unsigned, as botocore sends it, so it needs no credentials. The
    -- record shows the token masked.
    assume_role_with_web_identity = function(request)
      return recorded_send(client, client.sts, "AssumeRoleWithWebIdentity", request, UNSIGNED,
        "aws.sts.assume_role_with_web_identity")
    end,
  }
  state.resolved = resolved
  return resolved
end

--- Returns the settings the client uses: { region, profile_name,
-- max_attempts, retry_mode }. Reads the shared config files on first use.
function Client:settings()
  local s = settings(self)
  return {
    region = s.region, profile_name = s.profile_name,
    max_attempts = s.policy.max_attempts, retry_mode = s.policy.mode,
  }
end

--- Returns the endpoint URL for SERVICE (a name or service object) and
-- where it was configured.
function Client:endpoint(service)
  local s = settings(self)
  local m = type(service) == "table" and service.model or model.load(service)
  return endpoints.resolve(m, { endpoint_url = rawget(self, "_state").options.endpoint_url, region = s.region,
                                profile = s.profile, files = s.files })
end

--- Returns the current credentials { access_key, secret_key,
-- session_token, expiration, source }. May make network calls.
function Client:credentials()
  return settings(self).provider:get()
end

-- ---- one attempt ------------------------------------------------------------

local function session_of(client)
  local state = rawget(client, "_state")
  if not state.session then state.session = require("mnem._curl").session() end
  return state.session
end

local function sign(request, url_parts, creds, region, signing_name)
  local scheme, authority, base_path = table.unpack(url_parts)
  local path = base_path .. request.path
  -- The codec's header pairs are shared, not copied: neither the signer
  -- nor libcurl changes them.
  local headers = { { "Host", authority } }
  for _, h in ipairs(request.headers or {}) do headers[#headers + 1] = h end
  if creds ~= UNSIGNED then
    local signed = sigv4.sign{
      method = request.method, path = path, query = "", headers = headers, body = request.body or "",
      access_key = creds.access_key, secret_key = creds.secret_key, session_token = creds.session_token,
      region = region, service = signing_name, time = sys.now(),
    }
    for _, h in ipairs(signed.headers or {}) do headers[#headers + 1] = h end
    headers[#headers + 1] = { "Authorization", signed.authorization }
  end
  headers[#headers + 1] = { "User-Agent", M.USER_AGENT }
  return scheme .. "://" .. authority .. path, headers
end

-- Returns what every request to service SVC shares, resolved on its first
-- call and kept for the client's life as the AWS SDKs do: { url_parts =
-- { scheme, authority, base_path }, signing_name, codec }.
local function route_of(client, svc)
  local routes = rawget(client, "_state").routes
  local route = routes[svc.name]
  if route then return route end
  local endpoint, source = client:endpoint(svc)
  local parts = { endpoints.split(endpoint) }
  local rehearsal = require("mnem.rehearsal")
  if rehearsal.active() then
    local host = rehearsal.authority_host(parts[2])
    if not rehearsal.is_loopback(host) then
      local what = ("%s request to %s (endpoint from: %s)"):format(svc.name, endpoint, source)
      error(rehearsal.outside_error("aws", what, host, "Leave out endpoint_url so the client uses the simulator",
        { service = svc.name }), 0)
    end
  end
  route = {
    url_parts = parts, signing_name = endpoints.signing_name(svc.model),
    codec = require("aws.protocol").for_model(svc.model),
  }
  routes[svc.name] = route
  return route
end

-- Returns "the request's Name is \"/app/key\"" for the one required
-- member of OPERATION's input that PARAMS sets to a string, a number or a
-- list of strings, or nil when the input has no such member or more than
-- one required member.
local function identifying_parameter(svc, operation, params)
  local op = svc.model:operation(operation)
  local input = op and op.input and svc.model:shape(op.input.shape)
  local required = input and input.required
  if type(required) ~= "table" or #required ~= 1 or type(params) ~= "table" then return nil end
  local member, value = required[1], params[required[1]]
  if type(value) == "string" or type(value) == "number" then
    return ("the request's %s is \"%s\""):format(member, tostring(value))
  end
  if type(value) ~= "table" or #value == 0 then return nil end
  local items = {}
  for i, item in ipairs(value) do
    if type(item) ~= "string" then return nil end
    items[i] = '"' .. item .. '"'
  end
  return ("the request's %s are %s"):format(member, table.concat(items, ", "))
end

-- Fills in the empty message of error response ERR (SSM sends
-- ParameterNotFound with none) with the request's identifying parameter,
-- so the error names the resource it is about.
local function fill_empty_message(svc, operation, params, err)
  if err.kind ~= "aws" or err.stage or (err.message ~= nil and err.message ~= "") then return end
  local identifying = identifying_parameter(svc, operation, params)
  if identifying then err.message = "no message in the response; " .. identifying end
end

-- Returns output, request_id, or nil and an aws.errors value.
local function attempt(client, svc, operation, request, override)
  local s = settings(client)
  local options = rawget(client, "_state").options
  local creds = override or s.provider:get()
  local route = route_of(client, svc)
  local url, headers = sign(request, route.url_parts, creds, s.region, route.signing_name)
  local response, terr = session_of(client):request{
    method = request.method, url = url, headers = headers, body = request.body,
    timeout = options.timeout or 60, connect_timeout = options.connect_timeout or 10,
  }
  if not response then return nil, aws_errors.from_transport(svc.name, operation, terr) end
  local codec = route.codec
  if response.status >= 200 and response.status < 300 then
    local ok, output, request_id = pcall(codec.parse_response, svc.model, operation, response.status,
      response.headers, response.body)
    if ok then return output, request_id end
    return nil, aws_errors.client_error("InvalidResponse", "cannot parse the response: " .. tostring(output),
      { http_status = response.status, service = svc.name, operation = operation })
  end
  local parsed = codec.parse_error(svc.model, response.status, response.headers, response.body)
  return nil, aws_errors.from_response(svc.name, operation, response.status, parsed)
end

local function engine_remaining()
  local engine = package.loaded["mnem.engine"]
  if type(engine) ~= "table" or type(engine.remaining) ~= "function" then return nil end
  local remaining = engine.remaining()
  return type(remaining) == "number" and remaining or nil
end

--- Sends OPERATION (the AWS name) of service object SVC with PARAMS,
-- retrying under the client's retry policy, and returns the output. With
-- CREDS, signs with those credentials instead of the client's (used for
-- AssumeRole), or sends the request unsigned when CREDS is the internal
-- unsigned marker (AssumeRoleWithWebIdentity). When RETRIED is a table,
-- appends one { attempt, code, http_status, delay, error } entry to it for
-- each failed attempt that was retried, for the run record. Skips
-- validation, dry-run and recording: use the service's operation functions
-- instead.
function Client:_send(svc, operation, params, creds, retried)
  local policy = settings(self).policy
  local request = route_of(self, svc).codec.build_request(svc.model, operation, params)
  local last_cost
  local tries = 0
  while true do
    tries = tries + 1
    local output, err = attempt(self, svc, operation, request, creds)
    if output then
      policy:succeeded(last_cost)
      mark_output_secrets(output, operation)
      return output
    end
    err.attempts = tries
    fill_empty_message(svc, operation, params, err)
    local delay, cost = policy:decide(err, tries)
    local remaining = engine_remaining()
    if delay and remaining then
      if remaining <= 0 then delay = nil else delay = math.min(delay, remaining) end
    end
    if not delay then
      if tries > 1 then err.message = ("%s (after %d attempts)"):format(err.message, tries) end
      error(err, 0)
    end
    local left = policy.max_attempts - tries
    if retried then
      retried[#retried + 1] = { attempt = tries, code = err.code, http_status = err.http_status, delay = delay,
                                error = tostring(err) }
    end
    log.warn(("aws %s.%s failed: %s; retrying in %.2fs (%d %s left)"):format(svc.name, operation, err.code,
      delay, left, left == 1 and "attempt" or "attempts"), { error = tostring(err) })
    if not sys.sleep(delay) then error(aws_errors.interrupted(svc.name, operation), 0) end
    last_cost = cost
  end
end

-- ---- calls with validation, dry-run and recording ---------------------------

-- Sends OPERATION as Client:_send does and adds the call to the run record
-- under RECORD_NAME ("aws.sts.assume_role"), then returns the output or
-- raises the error.
recorded_send = function(client, svc, operation, params, creds, record_name)
  local started = sys.monotonic()
  local retried = {}
  local ok, result = pcall(client._send, client, svc, operation, params, creds, retried)
  local record = optional_module("mnem.record")
  -- Redacting the parameters costs about as much as signing, so it is
  -- done only while a run record is open to receive them.
  if record and type(record.primitive) == "function" and (type(record.active) ~= "function" or record.active()) then
    record.primitive{
      name = record_name, args = secret.redact_value(params),
      status = ok and "ok" or "error", error = not ok and tostring(result) or nil,
      duration = sys.monotonic() - started,
      retries = #retried, retried = #retried > 0 and retried or nil,
    }
  end
  if not ok then error(result, 0) end
  return result
end

-- Returns what every call of OPERATION (the AWS name) of service SVC
-- shares, computed once: the names it is logged and recorded under, the
-- compiled parameter check and whether it is a read.
local function plan_of(svc, operation)
  local snake = model.snake_case(operation)
  return {
    operation = operation, snake = snake, read = is_read(operation),
    check = require("aws.validate").checker(svc.model, operation),
    record_name = ("aws.%s.%s"):format(svc.name, snake),
  }
end

local function call(client, svc, plan, params)
  local operation = plan.operation
  if params == nil then params = {} end
  if type(params) ~= "table" then
    misuse.raise(("aws.%s.%s: expected a parameter table, got %s"):format(svc.name, plan.snake, type(params)), 2)
  end
  local dryrun = require("mnem.dryrun")
  -- The compiled check marks secret members itself. When it fails, the
  -- full walk marks them, reports a dry-run placeholder as the step it
  -- depends on, and raises the validation message.
  if plan.check(params) then
    if operation == "PutParameter" and params.Type == "SecureString" then secret.mark(params.Value) end
  else
    mark_input_secrets(params, operation)
    dryrun.check_known(params)
    -- The validation messages carry no position, so the playbook line is
    -- added here.
    local valid, problem = pcall(require("aws.validate").input, svc.model, operation, params)
    if not valid then
      if type(problem) == "string" then misuse.raise(problem, 0) end
      error(problem, 0)
    end
  end
  if not plan.read and dryrun.active() then
    return dryrun.would(("aws %s %s"):format(svc.name, operation), secret.redact_value(params))
  end
  return recorded_send(client, svc, operation, params, nil, plan.record_name)
end

-- ---- service objects --------------------------------------------------------

local Service = {}

local function unknown_operation(svc, name)
  local names = {}
  for _, n in ipairs(svc.model:operation_names()) do names[#names + 1] = model.snake_case(n) end
  misuse.raise(("aws.%s: unknown operation %s%s"):format(svc.name, tostring(name), suggestion(tostring(name), names)),
    4)
end

local function operation_function(svc, key, raising)
  local op = svc.model:operation(key)
  if not op then unknown_operation(svc, key) end
  local plan = plan_of(svc, op.name)
  local client = rawget(svc, "client")
  if raising then
    return function(params, ...)
      if params == svc then params = ... end
      return call(client, svc, plan, params)
    end
  end
  -- The non-raising form returns nil and the error for failures of the
  -- outside world (mnem.errors values); misuse still raises.
  return function(params, ...)
    if params == svc.try then params = ... end
    local ok, result = pcall(call, client, svc, plan, params)
    if ok then return result end
    if errors.is(result) then return nil, result end
    error(result, 0)
  end
end

Service.__index = function(svc, key)
  if type(key) ~= "string" then return nil end
  local fn = operation_function(svc, key, true)
  rawset(svc, key, fn)
  return fn
end

local function shift_self(svc, ...)
  local first = ...
  if first == svc then return select(2, ...) end
  return ...
end

local function new_service(client, name)
  local canonical = model.canonical_name(name)
  local svc = { name = canonical, model = model.load(canonical), client = client }
  svc.try = setmetatable({}, {
    __index = function(t, key)
      if type(key) ~= "string" then return nil end
      local fn = operation_function(svc, key, false)
      rawset(t, key, fn)
      return fn
    end,
  })
  --- Waits for waiter NAME (snake case or AWS name) of the service; see
  -- aws.waiter. Polls over the network until done or timed out.
  svc.wait = function(...)
    local waiter_name, params, options = shift_self(svc, ...)
    return require("aws.waiter").wait(svc, waiter_name, params, options)
  end
  --- Returns an iterator over the pages of OPERATION; see aws.paginate.
  svc.paginate = function(...)
    local operation, params, options = shift_self(svc, ...)
    return require("aws.paginate").pages(svc, operation, params, options)
  end
  --- Calls every page of OPERATION and returns one result whose result
  -- lists are the concatenation of all pages' lists; see aws.paginate.
  svc.get_all = function(...)
    local operation, params, options = shift_self(svc, ...)
    return require("aws.paginate").get_all(svc, operation, params, options)
  end
  return setmetatable(svc, Service)
end

Client.__index = function(client, key)
  local method = Client[key]
  if method then return method end
  if type(key) ~= "string" then return nil end
  local ok, canonical = pcall(model.canonical_name, key)
  if not ok then
    misuse.raise(("aws: unknown service %s%s"):format(key, suggestion(key, model.services())), 2)
  end
  local services = rawget(client, "_state").services
  local svc = services[canonical]
  if not svc then
    svc = new_service(client, canonical)
    services[canonical] = svc
  end
  rawset(client, key, svc)
  return svc
end

--- Makes a client with OPTIONS: { region, profile, endpoint_url,
-- max_attempts, retry_mode ("standard", "legacy" or "adaptive"),
-- access_key_id, secret_access_key, session_token, timeout (seconds per
-- request, default 60), connect_timeout (default 10), random (a function
-- returning a number in [0, 1) for the retry jitter; tests pass a fixed
-- one) }. Unknown keys raise.
-- Nothing is read or sent until the first call.
function M.new(options)
  options = check_options(options, "aws.client")
  if options.secret_access_key then secret.mark(options.secret_access_key) end
  if options.session_token then secret.mark(options.session_token) end
  local copy = {}
  for k, v in pairs(options) do copy[k] = v end
  return setmetatable({ _state = { options = copy, services = {}, routes = {} } }, Client)
end

return M
