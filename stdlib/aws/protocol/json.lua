-- aws.protocol.json: the AWS JSON 1.1 protocol (SSM, ECS, CloudWatch Logs,
-- Application Auto Scaling, Secrets Manager), both sides.
--
-- Every request is a POST to "/" naming the operation in X-Amz-Target, with
-- the parameters as a JSON body; responses and errors are JSON. Request
-- bodies are written the way botocore writes them (Python's json.dumps
-- defaults: ", " and ": " separators, non-ASCII as \u escapes, members in
-- the published model's order), so they compare byte for byte with the AWS
-- CLI's. Timestamps go out as whole epoch seconds and come back as
-- ISO-8601 UTC strings.
local cjson = require("cjson")
local common = require("aws.protocol.common")
local shape_value = require("aws.shape_value")

local M = {}

local ref_attr, header_value = common.ref_attr, common.header_value
local find_operation, excerpt, error_shape = common.find_operation, common.excerpt, common.error_shape
local compiled_for = common.compiled_for
local convert = require("mnem._shape").convert

local function content_type(m)
  return "application/x-amz-json-" .. (m.metadata.jsonVersion or "1.1")
end

-- JSON text ----------------------------------------------------------------

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                  ["\b"] = "\\b", ["\f"] = "\\f" }

-- Returns TEXT as a JSON string literal the way Python's json.dumps writes
-- it: every code point above U+007F as \uXXXX (UTF-16 surrogate pairs above
-- U+FFFF). Bytes that are not valid UTF-8 are written as \u00XX.
local function quote(text)
  -- Most names and values are printable ASCII with nothing to escape.
  if not text:find('[%c"\\\128-\255]') then return '"' .. text .. '"' end
  local out = { '"' }
  local ok = pcall(function()
    for _, code in utf8.codes(text) do
      local c = code < 128 and string.char(code)
      if c and ESCAPES[c] then
        out[#out + 1] = ESCAPES[c]
      elseif c and code >= 32 then
        out[#out + 1] = c
      elseif code < 0x10000 then
        out[#out + 1] = ("\\u%04x"):format(code)
      else
        local v = code - 0x10000
        out[#out + 1] = ("\\u%04x\\u%04x"):format(0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
      end
    end
  end)
  if not ok then
    out = { '"' }
    for i = 1, #text do
      local c = text:sub(i, i)
      local byte = c:byte()
      out[#out + 1] = ESCAPES[c] or ((byte < 32 or byte > 126) and ("\\u%04x"):format(byte)) or c
    end
  end
  out[#out + 1] = '"'
  return table.concat(out)
end

local function number_text(value)
  return shape_value.format_number(value):gsub("^inf$", "Infinity"):gsub("^%-inf$", "-Infinity"):gsub("^nan$", "NaN")
end

-- Writes an untyped Lua value (a document member): arrays as lists,
-- other tables as objects with sorted keys.
local function write_document(value, out)
  local kind = type(value)
  if value == nil or value == cjson.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = value and "true" or "false"
  elseif kind == "number" then
    out[#out + 1] = number_text(value)
  elseif kind == "string" then
    out[#out + 1] = quote(value)
  elseif kind == "table" and (#value > 0 or next(value) == nil) then
    out[#out + 1] = "["
    for i, item in ipairs(value) do
      if i > 1 then out[#out + 1] = ", " end
      write_document(item, out)
    end
    out[#out + 1] = "]"
  else
    local keys = {}
    for key in pairs(value) do keys[#keys + 1] = tostring(key) end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, key in ipairs(keys) do
      if i > 1 then out[#out + 1] = ", " end
      out[#out + 1] = quote(key) .. ": "
      write_document(value[key], out)
    end
    out[#out + 1] = "}"
  end
end

-- Compiled writers ------------------------------------------------------------
--
-- writer_for(m, ref) returns a function (value, out, keep_fraction) that
-- appends the JSON text of VALUE, typed by member reference REF, to OUT.
-- KEEP_FRACTION keeps fractions of seconds (responses); requests send whole
-- seconds as botocore does. Writers are cached per reference rather than
-- per shape because a reference's timestampFormat overrides its shape's.

local writer_for

-- Writes a string, or any untyped value, the way write_document does.
local function write_scalar(value, out)
  if type(value) == "string" then
    out[#out + 1] = quote(value)
  else
    write_document(value, out)
  end
end

-- Returns the writer for REF and, for shapes with members, a function that
-- fills in the members' writers (see common.compiled_for).
local function build_writer(m, ref)
  local shape = m.shapes[ref.shape]
  local kind = shape.type
  if kind == "structure" and not shape.document then
    local fields = {}
    local function write(value, out, keep_fraction)
      out[#out + 1] = "{"
      local first = true
      for i = 1, #fields do
        local field = fields[i]
        local member_value = value[field[1]]
        if member_value ~= nil then
          if first then first = false else out[#out + 1] = ", " end
          out[#out + 1] = field[2]
          field[3](member_value, out, keep_fraction)
        end
      end
      out[#out + 1] = "}"
    end
    return write, function()
      for i, name in ipairs(m:member_names(shape)) do
        local member = shape.members[name]
        fields[i] = { name, quote(ref_attr(m, member, "locationName") or name) .. ": ", writer_for(m, member) }
      end
    end
  elseif kind == "list" then
    local write_item
    local function write(value, out, keep_fraction)
      out[#out + 1] = "["
      for i, item in ipairs(value) do
        if i > 1 then out[#out + 1] = ", " end
        write_item(item, out, keep_fraction)
      end
      out[#out + 1] = "]"
    end
    return write, function() write_item = writer_for(m, shape.member) end
  elseif kind == "map" then
    local write_item
    local function write(value, out, keep_fraction)
      local keys = {}
      for key in pairs(value) do keys[#keys + 1] = key end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, key in ipairs(keys) do
        if i > 1 then out[#out + 1] = ", " end
        out[#out + 1] = quote(tostring(key)) .. ": "
        write_item(value[key], out, keep_fraction)
      end
      out[#out + 1] = "}"
    end
    return write, function() write_item = writer_for(m, shape.value) end
  elseif kind == "timestamp" then
    local iso = (ref_attr(m, ref, "timestampFormat") or "unixtimestamp"):lower() == "iso8601"
    return function(value, out, keep_fraction)
      if iso then
        out[#out + 1] = quote(shape_value.to_iso(value) or tostring(value))
      else
        local seconds = shape_value.to_epoch(value)
        if not keep_fraction then seconds = math.floor(seconds) end
        out[#out + 1] = number_text(seconds)
      end
    end
  elseif kind == "blob" then
    return function(value, out) out[#out + 1] = quote(shape_value.base64_encode(value)) end
  elseif kind == "integer" or kind == "long" then
    -- Validation lets a whole float such as 20.0 through, and botocore
    -- writes integers without a fraction.
    return function(value, out) write_document(math.tointeger(value) or value, out) end
  elseif kind == "structure" then
    return write_document
  end
  return write_scalar
end

writer_for = function(m, ref)
  return compiled_for(m, "json_writers", ref, build_writer)
end

-- Returns the JSON text of VALUE typed by REF; timestamps keep fractions of
-- seconds when KEEP_FRACTION is true.
local function encode(m, ref, value, keep_fraction)
  local out = {}
  writer_for(m, ref)(value, out, keep_fraction)
  return table.concat(out)
end

--- Builds the HTTP request for OPERATION (AWS or snake_case name) with
-- PARAMS (already validated). Returns { method, path, headers = list of
-- {name, value}, body }.
function M.build_request(m, operation, params)
  local op = find_operation(m, operation)
  local body = "{}"
  if op.input then body = encode(m, op.input, params or {}, false) end
  return {
    method = (op.http and op.http.method) or "POST",
    path = (op.http and op.http.requestUri) or "/",
    headers = {
      { "X-Amz-Target", m.metadata.targetPrefix .. "." .. op.name },
      { "Content-Type", content_type(m) },
    },
    body = body,
  }
end

-- JSON reading -------------------------------------------------------------

-- Reading plans -----------------------------------------------------------------
--
-- plan_for(m, name) returns the plan by which mnem._shape.convert turns
-- decoded JSON into the Lua value shape NAME types (interp/shape.c lists
-- the plan forms). The conversion drops nulls and unknown members, makes
-- timestamps ISO-8601 UTC text, decodes blobs and makes whole integers Lua
-- integers. Tables are converted in place, because they come fresh from
-- cjson.decode.

local plan_for

-- A list or object where a timestamp or blob belongs becomes nil, as
-- mnem._shape.convert does for the other scalars.
local function read_timestamp(value)
  if type(value) == "table" then return nil end
  return shape_value.to_iso(value) or value
end

local function read_blob(value)
  if type(value) == "table" then return nil end
  return type(value) == "string" and (shape_value.base64_decode(value) or value) or value
end

local SCALAR_PLANS = {
  timestamp = read_timestamp, blob = read_blob,
  integer = "integer", long = "integer", float = "float", double = "float",
  string = "scalar", boolean = "scalar",
}

-- Returns the plan of shape NAME and, for shapes with members, a function
-- that fills in the members' plans (see common.compiled_for).
local function build_plan(m, name)
  local shape = m.shapes[name]
  local kind = shape.type
  if kind == "structure" then
    if shape.document then return false end
    local fields = {}
    return { 1, fields }, function()
      for member, ref in pairs(shape.members) do
        fields[ref_attr(m, ref, "locationName") or member] = { member, plan_for(m, ref.shape) }
      end
    end
  elseif kind == "list" or kind == "map" then
    local plan = { kind == "list" and 2 or 3, false }
    return plan, function() plan[2] = plan_for(m, (kind == "list" and shape.member or shape.value).shape) end
  end
  return SCALAR_PLANS[kind] or false
end

plan_for = function(m, name)
  return compiled_for(m, "json_plans", name, build_plan)
end

-- Returns the output or input table of structure shape NAME read from the
-- decoded JSON VALUE, or nil when VALUE is not an object.
local function read_structure(m, name, value)
  return convert(value, plan_for(m, name))
end

local function decode(body)
  if body == nil or body == "" then return {} end
  if type(body) ~= "string" then return nil, "the body is a " .. type(body) .. ", not text" end
  if body:match("^%s*$") then return {} end
  local ok, value = pcall(cjson.decode, body)
  if not ok then return nil, value end
  return value
end

--- Parses the JSON BODY of a successful response to OPERATION. Returns the
-- output table typed by the output shape and the request id (or nil).
-- Raises a string error when BODY is not JSON.
function M.parse_response(m, operation, _, headers, body)
  local op = find_operation(m, operation)
  local request_id = header_value(headers, "x-amzn-RequestId") or header_value(headers, "x-amz-request-id")
  local value, problem = decode(body)
  if not value then error(("%s.%s: invalid JSON response: %s"):format(m.service, op.name, problem), 2) end
  if not op.output then return {}, request_id end
  return read_structure(m, op.output.shape, value) or {}, request_id
end

--- Parses an error response. Returns { code, message, request_id }: the
-- code from __type (after any "prefix#") or the x-amzn-ErrorType header
-- (before any ":"). sender_fault stays nil because JSON errors do not carry
-- it. Never raises, even for an empty, HTML or truncated BODY.
function M.parse_error(_, status, headers, body)
  local request_id = header_value(headers, "x-amzn-RequestId") or header_value(headers, "x-amz-request-id")
  local value = decode(body)
  if type(value) ~= "table" then value = {} end
  local code = type(value.__type) == "string" and value.__type or nil
  if not code or code == "" then
    code = header_value(headers, "x-amzn-ErrorType")
    if code then code = code:gsub(":.*$", "") end
  end
  if not code or code == "" then code = type(value.code) == "string" and value.code or nil end
  if code then code = code:gsub("^.*#", "") end
  local message = value.message or value.Message or value.errorMessage
  if type(message) ~= "string" then message = nil end
  if code and code ~= "" then
    return { code = code, message = message or "", request_id = request_id }
  end
  local body_excerpt = excerpt(body)
  return {
    code = math.type(status) and status >= 400 and ("HTTP " .. status) or "UnknownError",
    message = message or ("HTTP %s with %s"):format(tostring(status), body_excerpt == "" and "an empty body"
      or ("an unrecognized body: " .. body_excerpt)),
    request_id = request_id,
  }
end

-- Server side --------------------------------------------------------------

local function reject(code, message)
  error({ code = code, message = message, status = 400 }, 0)
end

--- Parses a JSON request (server side): the operation from X-Amz-Target,
-- the params from BODY typed by the input shape. Returns the AWS operation
-- name and params. Raises a table { code, message, status = 400 } for a
-- malformed request.
function M.parse_request(m, headers, body)
  local target = header_value(headers, "X-Amz-Target")
  if not target or target == "" then reject("UnknownOperationException", "the request has no X-Amz-Target header") end
  local prefix, name = target:match("^(.*)%.([^.]+)$")
  local op = name and m.operations[name]
  if not op or prefix ~= m.metadata.targetPrefix then
    reject("UnknownOperationException", "unknown operation " .. target)
  end
  local value, problem = decode(body)
  if type(value) ~= "table" or #value > 0 then
    reject("SerializationException", "the request body is not a JSON object: " .. excerpt(problem or body))
  end
  if not op.input then return op.name, {} end
  return op.name, read_structure(m, op.input.shape, value)
end

--- Builds the successful response to OPERATION with OUTPUT (timestamps as
-- ISO-8601 text or epoch seconds). Returns status, headers (list of
-- {name, value}) and the JSON body, with timestamps as epoch seconds.
function M.build_response(m, operation, output, request_id)
  local op = find_operation(m, operation)
  local body = "{}"
  if op.output then body = encode(m, op.output, output or {}, true) end
  return 200, { { "Content-Type", content_type(m) }, { "x-amzn-RequestId", request_id or "" } }, body
end

--- Builds an error response: {"__type": CODE, "message": MESSAGE} with the
-- x-amzn-RequestId header. STATUS defaults to the error shape's
-- httpStatusCode, else 400. SENDER_FAULT is not sent (the JSON protocol has
-- no field for it) and is accepted for symmetry with the query codec.
function M.build_error(m, code, message, status, request_id, _)
  local shape = error_shape(m, code)
  local info = shape and shape.error or {}
  code = info.code or code
  status = status or info.httpStatusCode or 400
  local out = {}
  write_document({ __type = code, message = message or "" }, out)
  return status, { { "Content-Type", content_type(m) }, { "x-amzn-RequestId", request_id or "" } },
    table.concat(out)
end

return M
