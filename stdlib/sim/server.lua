-- sim.server: request dispatch of the local AWS simulator.
--
-- Every request on the API port goes through the same steps. The service
-- comes from the SigV4 credential scope, and sim.auth checks the
-- signature. The service's published model (aws.protocol) parses the
-- operation and its parameters. Then sim.faults may inject a failure, the
-- service module's handler runs, and its output or error is serialized in
-- the service's own wire format. Requests on a load balancer's listener port
-- go to the elbv2 module's listener_request instead. STS
-- AssumeRoleWithWebIdentity is the one operation accepted without a
-- signature, as AWS accepts it. One log line is
-- written per request. Before the handler runs, parameters that break the
-- input shape's constraints (types, required members, lengths, ranges,
-- enums) get the protocol's validation error: ValidationException for JSON
-- services, ValidationError for query services.
local cjson = require("cjson")
local errors = require("mnem.errors")
local faults_module = require("sim.faults")
local log = require("mnem.log")
local model = require("aws.model")
local protocol = require("aws.protocol")
local secret = require("mnem.secret")
local server = require("mnem._server")
local sim_auth = require("sim.auth")
local sys = require("mnem._sys")
local validate = require("aws.validate")
local world_module = require("sim.world")

local M = {}

--- SigV4 signing names mapped to the simulator's service module names.
M.SIGNING_NAMES = {
  rds = "rds", ssm = "ssm", ecs = "ecs", logs = "logs", elasticloadbalancing = "elbv2",
  ["application-autoscaling"] = "application_autoscaling", sts = "sts", secretsmanager = "secretsmanager",
}

-- JSON models by their X-Amz-Target prefix, so an unsigned JSON request
-- gets its error in the right envelope. Filled on first use.
local by_target_prefix

local Sim = {}
Sim.__index = Sim

-- An error raised by ctx.fail, turned into the service's error response.
local AwsFailure = {}
AwsFailure.__index = AwsFailure
AwsFailure.__tostring = function(e) return ("%s: %s"):format(e.code, e.message) end

local function load_model(module)
  local m = model.load(module.model)
  return m, protocol.for_model(m), m.metadata.protocol
end

local function error_response(m, codec, code, message, status, request_id, sender_fault)
  local s, headers, body = codec.build_error(m, code, message, status, request_id, sender_fault)
  -- mnem._server ignores error_code; the request log shows it.
  return { status = s, headers = headers, body = body, error_code = code }, code
end

-- Returns the model and codec for the error response to an unsigned or
-- unroutable request: the JSON service its X-Amz-Target names, else STS.
local function fallback_model(req)
  if not by_target_prefix then
    by_target_prefix = {}
    for _, name in ipairs(model.services()) do
      local m = model.load(name)
      if m.metadata.targetPrefix then by_target_prefix[m.metadata.targetPrefix] = m end
    end
  end
  local target = req.headers["x-amz-target"]
  local prefix = target and target:match("^(.*)%.[^.]+$")
  local m = prefix and by_target_prefix[prefix] or model.load("sts")
  return m, protocol.for_model(m), m.metadata.protocol
end

-- Makes the ctx handed to service handlers.
local function make_context(sim, module, operation, req, region, request_id)
  return {
    world = sim.world, region = region, account = sim.world.account, request_id = request_id,
    service = module, operation = operation, request = req,
    fail = function(code, message, status, sender_fault)
      error(setmetatable({ code = code, message = message or code, status = status or 400,
        sender_fault = sender_fault }, AwsFailure), 2)
    end,
  }
end

local function with_traceback(e)
  if getmetatable(e) == AwsFailure then return e end
  return { traceback = debug.traceback(tostring(e), 2), value = e }
end

-- ---- input validation ----

-- Splits a member path of aws.validate ("A.B[2].C", map keys as ["k"] or
-- {key}) into member names and list indexes. Stops at a map key, whose
-- value the message then leaves out.
local function path_parts(path)
  local parts, position = {}, 1
  while position <= #path do
    local name, after = path:match("^%.?([%w_]+)()", position)
    local index
    if not name then index, after = path:match("^%[(%d+)%]()", position) end
    if not name and not index then break end
    parts[#parts + 1] = name or math.tointeger(tonumber(index))
    position = after
  end
  return parts, position > #path
end

-- Returns the value at validate's PATH in PARAMS and its shape, or nil.
local function value_at(m, op, params, path)
  local parts, complete = path_parts(path)
  if not complete or not op.input then return nil end
  local value, shape = params, m.shapes[op.input.shape]
  for _, part in ipairs(parts) do
    if type(value) ~= "table" or not shape then return nil end
    local ref
    if type(part) == "number" then ref = shape.member else ref = shape.members and shape.members[part] end
    if not ref then return nil end
    value, shape = value[part], m.shapes[ref.shape]
  end
  return value, shape
end

-- Writes validate's PATH the way AWS names members in its messages:
-- lower camel case, list items as NAME.N.member.
local function aws_member_path(path)
  path = path:gsub("%[(%d+)%]", ".%1.member"):gsub("%[.*$", ""):gsub("{key}$", "")
  return (path:gsub("[^.]+", function(part) return part:sub(1, 1):lower() .. part:sub(2) end))
end

-- Turns validate's description of a problem into AWS's constraint text.
local function constraint_text(problem)
  local what, limit = problem:match("^(%a+) %S+ is below the minimum (%S+)$")
  if what then return ("Member must have %s greater than or equal to %s"):format(what, limit) end
  what, limit = problem:match("^(%a+) %S+ is above the maximum (%S+)$")
  if what then return ("Member must have %s less than or equal to %s"):format(what, limit) end
  limit = problem:match("^%S+ is below the minimum (%S+)$")
  if limit then return "Member must have value greater than or equal to " .. limit end
  limit = problem:match("^%S+ is above the maximum (%S+)$")
  if limit then return "Member must have value less than or equal to " .. limit end
  local set = problem:match(" must be one of (.*)$")
  if set then return ("Member must satisfy enum value set: [%s]"):format(set) end
  local expected = problem:match("^expected (.-), got ")
  if expected then return "Member must be " .. expected end
  return problem
end

-- Formats VALUE (of SHAPE) for the message; sensitive values are hidden.
local function value_text(value, shape)
  if shape and shape.sensitive then return "'***'" end
  if type(value) == "string" or math.type(value) == "integer" or type(value) == "boolean" then
    local text = tostring(value)
    if #text > 64 then text = text:sub(1, 61) .. "..." end
    return ("'%s'"):format(text)
  end
  if type(value) == "number" then return ("'%s'"):format(tostring(math.tointeger(value) or value)) end
  return nil
end

-- Returns the member path in raw JSON request VALUE (decoded, checked
-- against SHAPE) whose value has the wrong container type, and the type
-- expected, or nil. The JSON parser drops such members, so without this
-- check a string sent for a list would read as an absent member.
local function json_container_problem(m, shape, value, path)
  for name, ref in pairs(shape.members or {}) do
    local raw = value[ref.locationName or name]
    local member_shape = m.shapes[ref.shape]
    local member_path = path == "" and name or (path .. "." .. name)
    if raw ~= nil and raw ~= cjson.null and member_shape then
      local kind = member_shape.type
      local is_object = type(raw) == "table" and (next(raw) == nil or #raw == 0)
      local is_array = type(raw) == "table" and (next(raw) == nil or #raw > 0)
      if (kind == "structure" and not member_shape.document or kind == "map") and not is_object then
        return member_path, kind == "map" and "a map" or "a structure"
      elseif kind == "list" and not is_array then
        return member_path, "a list"
      elseif kind == "structure" and not member_shape.document then
        local inner, expected = json_container_problem(m, member_shape, raw, member_path)
        if inner then return inner, expected end
      elseif kind == "list" and m.shapes[member_shape.member.shape].type == "structure" then
        for i, item in ipairs(raw) do
          local item_path = ("%s[%d]"):format(member_path, i)
          if type(item) ~= "table" or #item > 0 then return item_path, "a structure" end
          local inner, expected = json_container_problem(m, m.shapes[member_shape.member.shape], item, item_path)
          if inner then return inner, expected end
        end
      end
    end
  end
  return nil
end

-- Checks PARAMS (parsed from BODY) against the input shape of operation
-- OP_NAME of model M.
-- Returns nil when they are valid, else the message AWS sends with its
-- validation error, e.g. "1 validation error detected: Value null at
-- 'name' failed to satisfy constraint: Member must not be null".
local function validation_problem(m, op_name, params, body)
  local op = m.operations[op_name]
  if m.metadata.protocol == "json" and op.input and type(body) == "string" and body:find("%S") then
    local decoded, raw = pcall(cjson.decode, body)
    local path, expected
    if decoded and type(raw) == "table" then
      path, expected = json_container_problem(m, m.shapes[op.input.shape], raw, "")
    end
    if path then
      return ("1 validation error detected: The value at '%s' failed to satisfy constraint: Member must be %s")
        :format(aws_member_path(path), expected)
    end
  end
  local ok, problem = pcall(validate.input, m, op_name, params)
  if ok then return nil end
  problem = tostring(problem)
  local text = problem:gsub("^[%w%-]+%.[%w]+: ", "")
  local path = text:match("^missing required parameter (.+)$")
  if path then
    return ("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null")
      :format(aws_member_path(path))
  end
  local member, what = text:match("^invalid parameter (.-): (.+)$")
  if member then
    local value, shape = value_at(m, op, params, member)
    local shown = value_text(value, shape)
    return ("1 validation error detected: %s at '%s' failed to satisfy constraint: %s"):format(
      shown and ("Value " .. shown) or "The value", aws_member_path(member), constraint_text(what))
  end
  return "1 validation error detected: " .. text
end

-- ---- request encoding ----

-- Returns the 0-based offset of the first byte in TEXT that does not start
-- a valid UTF-8 sequence, and that byte, or nil when TEXT is valid UTF-8.
-- Lua 5.4's utf8.len also rejects overlong forms, surrogates and code
-- points above U+10FFFF. It took 2.9 ms for 1 MiB of text on an AMD EPYC
-- host, so the check needs no C.
local function invalid_utf8(text)
  local length, position = utf8.len(text)
  if length then return nil end
  return position - 1, text:byte(position)
end

-- Decodes one form-encoded key or value ("+" as space, %XX escapes), or
-- returns nil for a bad escape, which the query codec rejects itself.
local function form_unescape(text)
  text = text:gsub("+", " ")
  if text:find("%%%X") or text:find("%%%x?$") then return nil end
  return (text:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

-- Returns the problem with the encoding of request BODY of protocol
-- PROTO as { code, message }, or nil. AWS reads JSON bodies and
-- form-encoded parameters as UTF-8 and rejects other bytes, the JSON
-- services with SerializationException.
local function encoding_problem(proto, body)
  if proto == "json" then
    local offset, byte = invalid_utf8(body)
    if not offset then return nil end
    return { code = "SerializationException",
      message = ("the request body is not valid UTF-8: byte 0x%02X at byte offset %d does not start a valid "
        .. "UTF-8 sequence"):format(byte, offset) }
  end
  for part in body:gmatch("[^&]+") do
    local raw_key, raw_value = part:match("^([^=]*)=?(.*)$")
    local key, value = form_unescape(raw_key), form_unescape(raw_value)
    for _, item in ipairs({ { "name", key }, { "value", value } }) do
      local offset, byte
      if item[2] then offset, byte = invalid_utf8(item[2]) end
      if offset then
        local name_text = key and not invalid_utf8(key) and key or raw_key
        return { code = "MalformedQueryString",
          message = ("the %s of parameter %s is not valid UTF-8 after percent-decoding: byte 0x%02X at byte "
            .. "offset %d does not start a valid UTF-8 sequence"):format(item[1], name_text, byte, offset) }
      end
    end
  end
  return nil
end

-- Calls the handler and builds the response. Returns resp, code.
local function run_operation(sim, module, m, codec, op, params, req, region, request_id)
  local handler = module.operations and module.operations[op]
  if not handler then
    local code = m.metadata.protocol == "json" and "UnknownOperationException" or "InvalidAction"
    return error_response(m, codec, code, ("mnem simulator does not implement %s.%s"):format(
      m.metadata.endpointPrefix or module.model, op), 400, request_id, true)
  end
  local ctx = make_context(sim, module, op, req, region, request_id)
  local ok, output = xpcall(handler, with_traceback, ctx, params)
  if not ok and getmetatable(output) == AwsFailure then
    return error_response(m, codec, output.code, output.message, output.status, request_id, output.sender_fault)
  end
  local status, headers, body
  if ok then
    ok, status, headers, body = xpcall(codec.build_response, with_traceback, m, op, output or {}, request_id)
    if not ok then output = status end
  end
  if not ok then
    io.stderr:write(("mnem sim: %s.%s failed (request %s): %s\n"):format(module.model, op, request_id,
      output.traceback or tostring(output)))
    return error_response(m, codec, "InternalFailure", "The request processing has failed because of an unknown "
      .. "error, exception or failure.", 500, request_id, false)
  end
  return { status = status, headers = headers, body = body }, nil
end

-- The one operation the simulator accepts without a signature, as AWS
-- does: STS AssumeRoleWithWebIdentity, whose web identity token is the
-- proof of identity.
local UNSIGNED_ACTION = "AssumeRoleWithWebIdentity"

-- Returns true when REQ has no Authorization header and is an STS query
-- request (form body, or query string for GET) for UNSIGNED_ACTION.
local function is_unsigned_sts(req)
  local authorization = req.headers.authorization
  if (authorization and authorization ~= "") or req.headers["x-amz-target"] then return false end
  local body = req.body
  if body == "" and req.method == "GET" then body = req.query or "" end
  return ("&" .. body .. "&"):find("&Action=" .. UNSIGNED_ACTION .. "&", 1, true) ~= nil
end

-- Handles a request on the API port. Returns resp and the service and
-- operation names for the log line.
local function handle_api(sim, req)
  local request_id = sim.world:request_id()
  local auth = sim_auth.parse_authorization(req.headers.authorization)
  local unsigned = is_unsigned_sts(req)
  local module_name = unsigned and "sts" or (auth and M.SIGNING_NAMES[auth.service])
  local module = module_name and sim.world:service(module_name)
  if not module then
    local m, codec = fallback_model(req)
    if not req.headers.authorization or req.headers.authorization == "" or not auth then
      local _, failure = sim_auth.check(sim.world, m.metadata.protocol, req, sys.now())
      return error_response(m, codec, failure.code, failure.message, failure.status, request_id, true), "-", "-"
    end
    return error_response(m, codec, "UnrecognizedService", ("mnem simulator does not simulate service %s"):format(
      auth.service), 400, request_id, true), secret.redact(auth.service), "-"
  end
  local m, codec, proto = load_model(module)
  if not unsigned then
    local checked, failure = sim_auth.check(sim.world, proto, req, sys.now())
    if not checked then
      return error_response(m, codec, failure.code, failure.message, failure.status, request_id, true), module_name,
        "-"
    end
  end
  local body = req.body
  if proto == "query" and body == "" and req.method == "GET" then body = req.query end
  local parsed, op, params = pcall(codec.parse_request, m, req.headers, body)
  if not parsed then
    local e = type(op) == "table" and op or { code = "InternalFailure", message = tostring(op), status = 500 }
    return error_response(m, codec, e.code, e.message, e.status, request_id, true), module_name, "-"
  end
  -- A body naming Action twice could pass is_unsigned_sts and parse as
  -- another operation, which must still be signed.
  if unsigned and op ~= UNSIGNED_ACTION then
    local _, failure = sim_auth.check(sim.world, proto, req, sys.now())
    return error_response(m, codec, failure.code, failure.message, failure.status, request_id, true), module_name, op
  end
  local bad_encoding = encoding_problem(proto, body)
  if bad_encoding then
    return error_response(m, codec, bad_encoding.code, bad_encoding.message, 400, request_id, true), module_name, op
  end
  local fault, delay = sim.faults:decide(module_name, op)
  local resp
  if fault and fault.drop then
    resp = { drop = true }
  elseif fault and fault.throttle then
    local e = faults_module.throttle_error(proto)
    resp = error_response(m, codec, e.code, e.message, e.status, request_id, e.sender_fault)
  elseif fault then
    local e = faults_module.server_error(fault.status)
    resp = error_response(m, codec, e.code, e.message, e.status, request_id, e.sender_fault)
  else
    local problem = validation_problem(m, op, params, body)
    if problem then
      local code = proto == "query" and "ValidationError" or "ValidationException"
      resp = error_response(m, codec, code, problem, 400, request_id, true)
    else
      -- An unsigned request has no credential scope, so it gets the
      -- world's region.
      local region = auth and auth.region or sim.world.region
      resp = run_operation(sim, module, m, codec, op, params, req, region, request_id)
    end
  end
  if delay > 0 then resp.delay = delay end
  return resp, module_name, op
end

-- Handles a request on a load balancer listener's port.
local function handle_listener(sim, listener, req)
  local elbv2 = sim.world:service("elbv2")
  local request_id = sim.world:request_id()
  local ctx = make_context(sim, elbv2, "listener", req, sim.world.region, request_id)
  local ok, status, headers, body = xpcall(elbv2.listener_request, with_traceback, ctx, listener, req)
  if not ok then
    io.stderr:write(("mnem sim: listener %s:%d failed: %s\n"):format(listener.dns_name, listener.port,
      status.traceback or tostring(status)))
    return { status = 502, headers = { { "Content-Type", "text/plain" } }, body = "502 Bad Gateway\n" }
  end
  local list = {}
  if type(headers) == "table" and headers[1] == nil then
    for name, value in pairs(headers) do list[#list + 1] = { name, tostring(value) } end
  else
    list = headers or {}
  end
  return { status = status or 200, headers = list, body = body or "" }
end

-- Writes one request line to standard error in mnem.log's layout (text:
-- "HH:MM:SS info MESSAGE", json: FIELDS with time, level and message),
-- but without mnem.log's search for secret values. A value search would
-- mask every "3" of the time, the status and the request id once a client
-- stored "3" as a SecureString. So the caller masks the fields instead:
-- the line contains the simulator's own words, and each field a client
-- chooses freely is passed through secret.redact before it gets here.
local function write_request_line(message, fields)
  local now = sys.now()
  if log.format() == "json" then
    local seconds = math.floor(now)
    fields.time = os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. (".%03dZ"):format(math.floor((now - seconds) * 1000))
    fields.level, fields.message = "info", "request"
    io.stderr:write(cjson.encode(fields), "\n")
  else
    io.stderr:write(os.date("%H:%M:%S", math.floor(now)), " info ", message, "\n")
  end
end

-- Logs one request. SERVICE and OPERATION are the simulator's names (a
-- module name and an operation of its model), "-" or text a client chose
-- that the caller has masked already. Status, error code, duration and
-- request id are the simulator's own.
local function log_request(sim, resp, service, operation, started, request_id)
  if not sim.log then return end
  local status = resp.drop and "dropped" or tostring(resp.status)
  if resp.error_code then status = status .. " " .. resp.error_code end
  local duration_ms = (sys.monotonic() - started) * 1000
  local message = ("%s.%s %s %.1fms %s"):format(service, operation, status, duration_ms, request_id or "-")
  write_request_line(message, { service = service, operation = operation, status = resp.drop and 0 or resp.status,
    code = resp.error_code, dropped = resp.drop or nil, duration_ms = duration_ms, request_id = request_id,
    delay = resp.delay })
end

--- Handles one request REQ (as mnem._server passes it). Returns the
-- response table for mnem._server. Tests may call it directly.
function Sim:handle(req)
  local started = sys.monotonic()
  local listener = self.listeners_by_port[req.local_port]
  if listener then
    local resp = handle_listener(self, listener, req)
    log_request(self, resp, "elb", listener.load_balancer .. ":" .. listener.port .. " "
      .. secret.redact(req.method .. " " .. req.path), started, nil)
    return resp
  end
  local resp, service, operation = handle_api(self, req)
  local request_id
  for _, pair in ipairs(resp.headers or {}) do
    if pair[1]:lower() == "x-amzn-requestid" then request_id = pair[2] end
  end
  log_request(self, resp, service or "-", operation or "-", started, request_id)
  return resp
end

--- Returns the bound address as clients write it in a URL: 127.0.0.1 for
-- localhost (which the server binds as 127.0.0.1), IPv6 in brackets.
function Sim:url_host()
  if self.host == "localhost" then return "127.0.0.1" end
  if self.host:find(":", 1, true) then return "[" .. self.host .. "]" end
  return self.host
end

--- Returns the ready-file contents (see start) as a table.
function Sim:ready_info()
  local listeners, connect_to = {}, {}
  local host = self:url_host()
  for _, l in ipairs(self.listeners) do
    listeners[#listeners + 1] = { load_balancer = l.load_balancer, dns_name = l.dns_name, port = l.port,
      local_port = l.local_port }
    connect_to[#connect_to + 1] = ("%s:%d:%s:%d"):format(l.dns_name, l.port, host, l.local_port)
  end
  local first_key = self.scenario.credentials and self.scenario.credentials[1]
  return {
    endpoint = ("http://%s:%d"):format(host, self.port), port = self.port, pid = sys.getpid(),
    region = self.world.region, account = self.world.account,
    access_key_id = first_key and first_key.access_key_id or "test",
    secret_access_key = first_key and first_key.secret_access_key or "test",
    session_token = first_key and first_key.session_token,
    listeners = listeners, connect_to = connect_to,
  }
end

-- Encodes the ready-file table INFO. lua-cjson 2.1 writes an empty table
-- as {}, so the two lists are encoded here to stay [] when empty.
local function encode_ready_info(info)
  local function list(value) return #value == 0 and "[]" or cjson.encode(value) end
  local rest = {}
  for key, value in pairs(info) do
    if key ~= "listeners" and key ~= "connect_to" then rest[key] = value end
  end
  return cjson.encode(rest):sub(1, -2) .. ',"listeners":' .. list(info.listeners) .. ',"connect_to":'
    .. list(info.connect_to) .. "}"
end

local function write_ready_file(path, info)
  local temp = path .. ".tmp." .. sys.getpid()
  os.remove(temp)
  -- Mode 0600, because the file contains the scenario's access keys.
  local f, err = sys.open_record(temp)
  if not f then error(errors.new{ kind = "sim", code = "ReadyFile", message = "cannot write " .. tostring(err) }) end
  f:write(encode_ready_info(info) .. "\n")
  f:close()
  local ok, rename_error = os.rename(temp, path)
  if not ok then
    os.remove(temp)
    error(errors.new{ kind = "sim", code = "ReadyFile", message = "cannot write " .. tostring(rename_error) })
  end
end

-- Binds HOST:PORT on the C server SERVER_OBJECT and returns the bound port.
-- The C binding names its caller's line in its messages, and pcall is that
-- caller here, so a rejected address or a busy port raises its bare message
-- (`mnem sim serve` prints it after "mnem sim: " and exits 2).
local function listen(server_object, host, port)
  local ok, result = pcall(server_object.listen, server_object, host, port)
  if not ok then error(result, 0) end
  return result
end

local OPTION_KEYS = { "port", "scenario", "scenario_path", "seed", "time_scale", "ready_file", "log", "faults",
  "host", "clock", "start_time" }

--- Makes the simulator without serving: loads the world, binds the API
-- port and one port per load balancer listener. OPTIONS: port (default 0:
-- a free port), scenario (a table) or scenario_path (a file), seed,
-- time_scale, faults (extra rules, added to the scenario's), log (default
-- true), host (a loopback address, default 127.0.0.1). A string
-- `scenario` is taken as a file path. Invalid scenarios raise
-- { scenario_error = true, message }.
function M.new(options)
  options = options or {}
  local known = {}
  for _, key in ipairs(OPTION_KEYS) do known[key] = true end
  for key in pairs(options) do
    if not known[key] then
      error(("sim_server.new: unknown option %s (expected one of %s)"):format(tostring(key),
        table.concat(OPTION_KEYS, ", ")), 2)
    end
  end
  local scenario, scenario_path = options.scenario, options.scenario_path
  if type(scenario) == "string" then scenario, scenario_path = nil, scenario end
  if scenario_path then scenario = world_module.load_scenario(scenario_path) end
  scenario = scenario or {}
  local world = world_module.new{ scenario = scenario, seed = options.seed, time_scale = options.time_scale,
    clock = options.clock, start_time = options.start_time, scenario_path = scenario_path }
  local rules = {}
  for _, rule in ipairs(scenario.faults or {}) do rules[#rules + 1] = rule end
  for _, rule in ipairs(options.faults or {}) do rules[#rules + 1] = rule end
  local ok, injector = pcall(faults_module.new, rules, world.seed)
  if not ok then
    error({ scenario_error = true, message = world_module.scenario_message(scenario_path or "table", scenario,
      tostring(injector)) }, 0)
  end
  local self = setmetatable({
    world = world, scenario = scenario, log = options.log ~= false, listeners = {}, listeners_by_port = {},
    faults = injector,
  }, Sim)
  self.server = server.new{}
  local host = options.host or "127.0.0.1"
  self.host = host
  self.port = listen(self.server, host, options.port or 0)
  local elbv2 = world:service("elbv2")
  if elbv2 and elbv2.listeners then
    for _, l in ipairs(elbv2.listeners(world)) do
      local entry = { load_balancer = l.load_balancer, dns_name = l.dns_name, port = l.port }
      entry.local_port = listen(self.server, host, 0)
      self.listeners[#self.listeners + 1] = entry
      self.listeners_by_port[entry.local_port] = entry
    end
  end
  return self
end

--- Serves until stop() or SIGINT/SIGTERM. Returns "stopped" or "signal".
function Sim:run()
  sys.trap_signals()
  return self.server:run(function(req) return self:handle(req) end)
end

--- Makes run() return.
function Sim:stop() self.server:stop() end

--- Closes every socket.
function Sim:close() self.server:close() end

--- Starts the simulator (see new for OPTIONS, plus ready_file: a path the
-- ready file is written to, atomically, once every port is bound) and
-- serves until SIGINT or SIGTERM. The ready file is JSON: endpoint, port,
-- pid, region, account, access_key_id, secret_access_key and, when that
-- key has one, session_token (the scenario's first key, so a client can
-- sign without reading the scenario), listeners ({ load_balancer,
-- dns_name, port, local_port } each) and connect_to (curl CONNECT_TO
-- strings "DNSNAME:PORT:HOST:LOCALPORT"), with HOST the bound address
-- (IPv6 in brackets) in the endpoint and connect_to. Returns the reason run()
-- returned.
function M.start(options)
  options = options or {}
  local ready_file = options.ready_file
  local rest = {}
  for key, value in pairs(options) do if key ~= "ready_file" then rest[key] = value end end
  local sim = M.new(rest)
  local host = sim:url_host()
  io.stderr:write(("mnem sim: serving on http://%s:%d\n"):format(host, sim.port))
  for _, l in ipairs(sim.listeners) do
    io.stderr:write(("mnem sim: load balancer %s listener %s:%d on http://%s:%d\n"):format(
      l.load_balancer, l.dns_name, l.port, host, l.local_port))
  end
  -- Signals are trapped before the ready file appears, so a client that
  -- sends SIGTERM as soon as the file exists gets a clean stop.
  sys.trap_signals()
  if ready_file then write_ready_file(ready_file, sim:ready_info()) end
  local reason = sim:run()
  sim:close()
  return reason
end

return M
