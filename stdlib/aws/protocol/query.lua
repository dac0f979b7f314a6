-- aws.protocol.query: the AWS query protocol (RDS, ELBv2, STS), both sides.
--
-- Requests are form-encoded POST bodies ("Action=...&Version=...&A.B=..."),
-- responses and errors are XML. The client side (build_request,
-- parse_response, parse_error) is what mnem's AWS client uses; the server
-- side (parse_request, build_response, build_error) is what the simulator
-- uses. Request bodies match botocore's byte for byte: parameters in the
-- order Action, Version, then members in the published model's order, each
-- key and value encoded like Python's urllib.parse.quote_plus.
local common = require("aws.protocol.common")
local shape_value = require("aws.shape_value")
local xml = require("mnem._xml")

local M = {}

local ref_attr, header_value = common.ref_attr, common.header_value
local find_operation, excerpt, error_shape = common.find_operation, common.excerpt, common.error_shape
local compiled_for = common.compiled_for

-- Shape helpers ------------------------------------------------------------

-- Returns the XML element / query key name of member NAME with reference REF.
local function member_key_name(m, ref, name)
  local shape = m.shapes[ref.shape]
  if shape.type == "list" and ref_attr(m, ref, "flattened") then
    local item_name = ref_attr(m, shape.member, "locationName")
    if item_name then return item_name end
  end
  return ref_attr(m, ref, "locationName") or name
end

local function namespace(m)
  local ns = m.metadata.xmlNamespace
  if type(ns) == "table" then ns = ns.uri end
  return ns
end

-- Form encoding ------------------------------------------------------------

-- Percent-encodes TEXT like Python's quote_plus: unreserved characters kept,
-- space as "+", every other byte as %XX.
local function quote_plus(text)
  return (text:gsub("[^%w_%.%-~ ]", function(c) return ("%%%02X"):format(c:byte()) end):gsub(" ", "+"))
end

local function unquote_plus(text)
  text = text:gsub("+", " ")
  if text:find("%%%X") or text:find("%%%x?$") then return nil end
  return (text:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

local function format_timestamp(value, format)
  local seconds, micros = shape_value.parse_timestamp(value)
  format = (format or "iso8601"):lower()
  if format == "unixtimestamp" then return tostring(seconds) end
  return shape_value.format_iso(seconds, micros, 6)
end

local serialize

local function serialize_structure(m, out, value, shape, prefix)
  for _, name in ipairs(m:member_names(shape)) do
    local member_value = value[name]
    if member_value ~= nil then
      local ref = shape.members[name]
      local key = ref_attr(m, ref, "locationName") or name
      if prefix ~= "" then key = prefix .. "." .. key end
      serialize(m, out, member_value, ref, key)
    end
  end
end

local function serialize_list(m, out, value, ref, shape, prefix)
  if #value == 0 then
    out[#out + 1] = { prefix, "" }
    return
  end
  local list_prefix
  if ref_attr(m, ref, "flattened") then
    list_prefix = prefix
    local item_name = ref_attr(m, shape.member, "locationName")
    if item_name then list_prefix = prefix:gsub("[^.]*$", item_name, 1) end
  else
    list_prefix = prefix .. "." .. (ref_attr(m, shape.member, "locationName") or "member")
  end
  for i, element in ipairs(value) do
    serialize(m, out, element, shape.member, list_prefix .. "." .. i)
  end
end

local function serialize_map(m, out, value, ref, shape, prefix)
  local base = ref_attr(m, ref, "flattened") and prefix or (prefix .. ".entry")
  local key_name = ref_attr(m, shape.key, "locationName") or "key"
  local value_name = ref_attr(m, shape.value, "locationName") or "value"
  local keys = {}
  for key in pairs(value) do keys[#keys + 1] = key end
  table.sort(keys)
  for i, key in ipairs(keys) do
    serialize(m, out, key, shape.key, ("%s.%d.%s"):format(base, i, key_name))
    serialize(m, out, value[key], shape.value, ("%s.%d.%s"):format(base, i, value_name))
  end
end

-- Appends the {key, text} pairs of VALUE, typed by member reference REF,
-- to OUT under PREFIX.
serialize = function(m, out, value, ref, prefix)
  local shape = m.shapes[ref.shape]
  local kind = shape.type
  if kind == "structure" then
    serialize_structure(m, out, value, shape, prefix)
  elseif kind == "list" then
    serialize_list(m, out, value, ref, shape, prefix)
  elseif kind == "map" then
    serialize_map(m, out, value, ref, shape, prefix)
  elseif kind == "boolean" then
    out[#out + 1] = { prefix, value and "true" or "false" }
  elseif kind == "timestamp" then
    out[#out + 1] = { prefix, format_timestamp(value, ref_attr(m, ref, "timestampFormat")) }
  elseif kind == "blob" then
    out[#out + 1] = { prefix, shape_value.base64_encode(value) }
  elseif type(value) == "number" then
    -- A whole float such as 20.0 passes validation for an integer member,
    -- and botocore writes integers without a fraction.
    if kind == "integer" or kind == "long" then value = math.tointeger(value) or value end
    out[#out + 1] = { prefix, shape_value.format_number(value) }
  else
    out[#out + 1] = { prefix, tostring(value) }
  end
end

--- Builds the HTTP request for OPERATION (AWS or snake_case name) with
-- PARAMS (already validated). Returns { method, path, headers = list of
-- {name, value}, body }.
function M.build_request(m, operation, params)
  local op = find_operation(m, operation)
  local pairs_out = { { "Action", op.name }, { "Version", m.metadata.apiVersion } }
  if op.input then serialize(m, pairs_out, params or {}, op.input, "") end
  local parts = {}
  for i, pair in ipairs(pairs_out) do
    parts[i] = quote_plus(pair[1]) .. "=" .. quote_plus(pair[2])
  end
  return {
    method = (op.http and op.http.method) or "POST",
    path = (op.http and op.http.requestUri) or "/",
    headers = { { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" } },
    body = table.concat(parts, "&"),
  }
end

-- XML reading --------------------------------------------------------------

-- The name of element NODE without its namespace prefix ("soap:Body" ->
-- "Body").
local function local_name(node)
  local name = node.name
  if not name:find(":", 1, true) then return name end
  return (name:gsub("^.*:", ""))
end

-- Returns the element children of NODE. mnem._xml keeps only elements as
-- children, so this is NODE itself; the function marks where the tree's
-- layout is relied on.
local function element_children(node)
  return node
end

local function child_named(node, name)
  for i = 1, #node do
    local child = node[i]
    if local_name(child) == name then return child end
  end
  return nil
end

-- Returns the root element of XML TEXT; raises the parser's message when
-- TEXT is not well-formed.
local function parse_xml(text)
  local root, problem = xml.parse(text)
  if type(root) ~= "table" then error(problem or "invalid XML", 0) end
  return root
end

-- Reading plans ---------------------------------------------------------------
--
-- mnem._xml.read builds a response's output straight from the parser's
-- events by a plan per shape (the plan forms are listed at the head of
-- interp/xml.c). Whether a list or map is flattened (has no element of its
-- own) is a property of the member that contains it. So the flag is in the
-- structure's fields and the list's item, and a plan depends on its shape
-- alone.

local function to_timestamp(text)
  return shape_value.to_iso(text) or text
end

local function to_blob(text)
  return shape_value.base64_decode(text) or text
end

local SCALAR_PLANS = {
  integer = "integer", long = "integer", float = "float", double = "float", boolean = "boolean",
  timestamp = to_timestamp, blob = to_blob,
}

local function is_flattened(m, ref)
  local kind = m.shapes[ref.shape].type
  return (kind == "list" or kind == "map") and ref_attr(m, ref, "flattened") and true or false
end

local plan_for

-- Returns the plan of shape NAME and, for shapes with members, a function
-- that fills in the members' plans (see common.compiled_for).
local function build_plan(m, name)
  local shape = m.shapes[name]
  local kind = shape.type
  if kind == "structure" then
    local plan = { 1, {}, false }
    return plan, function()
      local fields, attributes = plan[2], false
      for member_name, member in pairs(shape.members) do
        fields[member_key_name(m, member, member_name)] = { member_name, plan_for(m, member.shape),
          is_flattened(m, member) }
        if member.xmlAttribute then
          attributes = attributes or {}
          attributes[#attributes + 1] = { member_name, ref_attr(m, member, "locationName") or member_name }
        end
      end
      plan[3] = attributes
    end
  elseif kind == "list" then
    local plan = { 2, false, false }
    return plan, function()
      plan[2], plan[3] = plan_for(m, shape.member.shape), is_flattened(m, shape.member)
    end
  elseif kind == "map" then
    local plan = { 3, ref_attr(m, shape.key, "locationName") or "key",
      ref_attr(m, shape.value, "locationName") or "value", false, false }
    return plan, function()
      plan[4], plan[5] = plan_for(m, shape.key.shape), plan_for(m, shape.value.shape)
    end
  end
  return SCALAR_PLANS[kind] or "string"
end

plan_for = function(m, name)
  return compiled_for(m, "xml_plans", name, build_plan)
end

-- Member names under which the plan of a response's root element puts its
-- request id, apart from the output's own members.
local METADATA, ROOT_ID, ROOT_ID_UPPER, OUTPUT = "\0metadata", "\0id", "\0ID", "\0output"

-- Returns the plan of the root element of OPERATION's responses: the
-- output (inside its result wrapper element, or the root itself) and the
-- request id, from ResponseMetadata/RequestId or a RequestId child.
local function build_root_plan(m, operation)
  local op = find_operation(m, operation)
  local fields = {}
  local plan = { 1, fields, false }
  local output = op.output
  if output and output.resultWrapper then
    fields[output.resultWrapper] = { OUTPUT, plan_for(m, output.shape), false }
  elseif output then
    local output_plan = plan_for(m, output.shape)
    for element, field in pairs(output_plan[2]) do fields[element] = field end
    plan[3] = output_plan[3]
  end
  local metadata = { 1, { RequestId = { "RequestId", "string", false } }, false }
  fields.ResponseMetadata = fields.ResponseMetadata or { METADATA, metadata, false }
  fields.RequestId = fields.RequestId or { ROOT_ID, "string", false }
  fields.RequestID = fields.RequestID or { ROOT_ID_UPPER, "string", false }
  return plan
end

local function root_plan(m, operation)
  return compiled_for(m, "xml_roots", operation, build_root_plan)
end

--- Parses the XML BODY of a successful response to OPERATION. Returns the
-- output table typed by the output shape and the request id (or nil).
-- Raises a string error when BODY is not the XML this operation returns.
function M.parse_response(m, operation, _, headers, body)
  local op = find_operation(m, operation)
  if not op.output and (body == nil or body == "") then
    return {}, header_value(headers, "x-amzn-RequestId")
  end
  local root, problem = xml.read(body or "", root_plan(m, op.name))
  if type(root) ~= "table" then
    error(("%s.%s: invalid XML response: %s"):format(m.service, op.name, tostring(problem or "no root element")), 2)
  end
  local metadata = root[METADATA]
  local request_id = metadata and metadata.RequestId or root[ROOT_ID] or root[ROOT_ID_UPPER]
    or header_value(headers, "x-amzn-RequestId")
  if not op.output then return {}, request_id end
  if op.output.resultWrapper then
    -- botocore 1.43 (QueryParser._find_result_wrapped_shape) fails on a
    -- response without the result element too. Such a document (an HTML
    -- page from a proxy, another operation's response) would otherwise
    -- read as an output with no members, such as an empty list of instances.
    if root[OUTPUT] == nil then
      error(("%s.%s: invalid XML response: no <%s> element in the document"):format(m.service, op.name,
        op.output.resultWrapper), 2)
    end
    return root[OUTPUT], request_id
  end
  root[METADATA], root[ROOT_ID], root[ROOT_ID_UPPER] = nil, nil, nil
  return root, request_id
end

-- Errors -------------------------------------------------------------------

local function find_descendant(node, name)
  for _, child in ipairs(element_children(node)) do
    if local_name(child) == name then return child end
    local found = find_descendant(child, name)
    if found then return found end
  end
  return nil
end

--- Parses an error response. Returns { code, message, request_id,
-- sender_fault }; never raises, even for an empty, HTML or truncated BODY.
function M.parse_error(_, status, headers, body)
  local header_id = header_value(headers, "x-amzn-RequestId") or header_value(headers, "x-amz-request-id")
  local ok, root = pcall(parse_xml, body or "")
  local err = ok and (local_name(root) == "Error" and root or find_descendant(root, "Error"))
  local code = err and child_named(err, "Code")
  if code and code.text and code.text ~= "" then
    local message = child_named(err, "Message")
    local fault = child_named(err, "Type")
    local sender_fault
    if fault and fault.text == "Sender" then sender_fault = true end
    if fault and fault.text == "Receiver" then sender_fault = false end
    local id = find_descendant(root, "RequestId") or find_descendant(root, "RequestID")
    return {
      code = code.text,
      message = message and message.text or "",
      request_id = (id and id.text) or header_id,
      sender_fault = sender_fault,
    }
  end
  local body_excerpt = excerpt(body)
  return {
    code = math.type(status) and status >= 400 and ("HTTP " .. status) or "UnknownError",
    message = ("HTTP %s with %s"):format(tostring(status), body_excerpt == "" and "an empty body"
      or ("an unrecognized body: " .. body_excerpt)),
    request_id = header_id,
  }
end

-- Server side: requests ----------------------------------------------------

local function malformed(code, message)
  error({ code = code, message = message, status = 400 }, 0)
end

-- Splits a form body into a tree: each node is { value = text or nil,
-- children = { [segment] = node } } keyed by the dot-separated key parts.
local function form_tree(body)
  local root, fields = { children = {} }, {}
  for part in (body or ""):gmatch("[^&]+") do
    local raw_key, raw_value = part:match("^([^=]*)=?(.*)$")
    local key, value = unquote_plus(raw_key), unquote_plus(raw_value)
    if not key or not value then malformed("MalformedQueryString", "invalid percent-encoding in " .. excerpt(part)) end
    fields[key] = value
    local node = root
    for segment in key:gmatch("[^.]+") do
      node.children[segment] = node.children[segment] or { children = {} }
      node = node.children[segment]
    end
    node.value = value
  end
  return root, fields
end

local read_form

local function numbered(node)
  local items = {}
  for segment, child in pairs(node.children) do
    local index = tonumber(segment)
    if math.type(index) == "integer" and index >= 1 then items[#items + 1] = { index, child } end
  end
  table.sort(items, function(a, b) return a[1] < b[1] end)
  return items
end

local function invalid_value(text, path, expected)
  malformed("ValidationError", ("invalid value %q for %s: expected %s"):format(text, path, expected))
end

local function read_scalar(kind, text, path)
  if kind == "integer" or kind == "long" then
    local number = math.tointeger(tonumber(text))
    if not number then invalid_value(text, path, "an integer") end
    return number
  elseif kind == "float" or kind == "double" then
    local number = tonumber(text)
    if not number then invalid_value(text, path, "a number") end
    return number + 0.0
  elseif kind == "boolean" then
    if text ~= "true" and text ~= "false" then invalid_value(text, path, "true or false") end
    return text == "true"
  elseif kind == "timestamp" then
    local iso = shape_value.to_iso(text)
    if not iso then invalid_value(text, path, "an ISO-8601 timestamp") end
    return iso
  elseif kind == "blob" then
    local data = shape_value.base64_decode(text)
    if not data then invalid_value(text, path, "base64 data") end
    return data
  end
  return text
end

local function read_list(m, ref, shape, parent, name, path)
  local node
  local flattened = ref_attr(m, ref, "flattened")
  if flattened then
    node = parent.children[member_key_name(m, ref, name)] or parent.children[name]
  else
    node = parent.children[ref_attr(m, ref, "locationName") or name]
  end
  if not node then return nil end
  if not flattened then
    node = node.children[ref_attr(m, shape.member, "locationName") or "member"] or node.children.member
    if not node then return {} end
  end
  local result = {}
  for i, item in ipairs(numbered(node)) do
    result[i] = read_form(m, shape.member, item[2], ("%s[%d]"):format(path, i))
  end
  return result
end

local function read_map(m, ref, shape, node, path)
  if not ref_attr(m, ref, "flattened") then node = node.children.entry or { children = {} } end
  local key_name = ref_attr(m, shape.key, "locationName") or "key"
  local value_name = ref_attr(m, shape.value, "locationName") or "value"
  local result = {}
  for _, item in ipairs(numbered(node)) do
    local key_node, value_node = item[2].children[key_name], item[2].children[value_name]
    if key_node then
      local key = read_form(m, shape.key, key_node, path)
      result[key] = value_node and read_form(m, shape.value, value_node, path .. "." .. tostring(key))
    end
  end
  return result
end

local function read_structure(m, shape, node, path)
  local result = {}
  for name, ref in pairs(shape.members) do
    local member_shape = m.shapes[ref.shape]
    local member_path = path == "" and name or (path .. "." .. name)
    if member_shape.type == "list" then
      result[name] = read_list(m, ref, member_shape, node, name, member_path)
    else
      local child = node.children[ref_attr(m, ref, "locationName") or name]
      if child then result[name] = read_form(m, ref, child, member_path) end
    end
  end
  return result
end

-- Converts form tree NODE to a Lua value typed by member reference REF.
read_form = function(m, ref, node, path)
  local shape = m.shapes[ref.shape]
  if shape.type == "structure" then return read_structure(m, shape, node, path) end
  if shape.type == "map" then return read_map(m, ref, shape, node, path) end
  if shape.type == "list" then
    local holder = { children = { item = node } }
    return read_list(m, { shape = ref.shape }, shape, holder, "item", path) or {}
  end
  return read_scalar(shape.type, node.value or "", path)
end

--- Parses a query request (server side). Returns the AWS operation name
-- and the params table typed by the input shape. Raises a table
-- { code, message, status = 400 } for a malformed request.
function M.parse_request(m, _, body)
  if type(body) ~= "string" then malformed("MissingAction", "the request has no body") end
  local tree, fields = form_tree(body)
  local action = fields.Action
  if not action or action == "" then malformed("MissingAction", "the request must contain the parameter Action") end
  local op = m.operations[action]
  if not op then
    malformed("InvalidAction", ("the action %s is not valid for this web service"):format(action))
  end
  if not op.input then return op.name, {} end
  return op.name, read_structure(m, m.shapes[op.input.shape], tree, "")
end

-- Server side: responses ---------------------------------------------------

local escape = xml.escape

local write_node

local function scalar_text(m, ref, kind, value)
  if kind == "boolean" then return value and "true" or "false" end
  if kind == "timestamp" then
    local format = ref_attr(m, ref, "timestampFormat")
    if format and format:lower() == "unixtimestamp" then return tostring(shape_value.to_epoch(value)) end
    return shape_value.to_iso(value) or tostring(value)
  end
  if kind == "blob" then return shape_value.base64_encode(value) end
  if type(value) == "number" then
    if (kind == "integer" or kind == "long") and math.tointeger(value) then return tostring(math.tointeger(value)) end
    return shape_value.format_number(value)
  end
  return tostring(value)
end

local function write_members(m, out, shape, value)
  for _, name in ipairs(m:member_names(shape)) do
    local member_value = value[name]
    if member_value ~= nil then write_node(m, out, shape.members[name], member_value, name) end
  end
end

-- Appends the XML of VALUE, typed by member reference REF and named by
-- member NAME, to the string list OUT.
write_node = function(m, out, ref, value, name)
  local shape = m.shapes[ref.shape]
  local kind = shape.type
  local tag = ref_attr(m, ref, "locationName") or name
  local flattened = ref_attr(m, ref, "flattened")
  if kind == "list" then
    local item_tag = ref_attr(m, shape.member, "locationName") or "member"
    if flattened then
      for _, item in ipairs(value) do write_node(m, out, shape.member, item, member_key_name(m, ref, name)) end
      return
    end
    out[#out + 1] = "<" .. tag .. ">"
    for _, item in ipairs(value) do write_node(m, out, shape.member, item, item_tag) end
    out[#out + 1] = "</" .. tag .. ">"
  elseif kind == "map" then
    local key_name = ref_attr(m, shape.key, "locationName") or "key"
    local value_name = ref_attr(m, shape.value, "locationName") or "value"
    local keys = {}
    for key in pairs(value) do keys[#keys + 1] = key end
    table.sort(keys)
    if not flattened then out[#out + 1] = "<" .. tag .. ">" end
    for _, key in ipairs(keys) do
      out[#out + 1] = flattened and ("<" .. tag .. ">") or "<entry>"
      write_node(m, out, shape.key, key, key_name)
      write_node(m, out, shape.value, value[key], value_name)
      out[#out + 1] = flattened and ("</" .. tag .. ">") or "</entry>"
    end
    if not flattened then out[#out + 1] = "</" .. tag .. ">" end
  elseif kind == "structure" then
    out[#out + 1] = "<" .. tag .. ">"
    write_members(m, out, shape, value)
    out[#out + 1] = "</" .. tag .. ">"
  else
    out[#out + 1] = ("<%s>%s</%s>"):format(tag, escape(scalar_text(m, ref, kind, value)), tag)
  end
end

local function xml_headers(request_id)
  return { { "Content-Type", "text/xml" }, { "x-amzn-RequestId", request_id } }
end

--- Builds the successful response to OPERATION with OUTPUT (timestamps as
-- ISO-8601 text or epoch seconds). Returns status, headers (list of
-- {name, value}) and the XML body.
function M.build_response(m, operation, output, request_id)
  local op = find_operation(m, operation)
  request_id = request_id or ""
  local root = op.name .. "Response"
  local out = { ('<%s xmlns="%s">'):format(root, escape(namespace(m) or "")) }
  if op.output then
    local shape = m.shapes[op.output.shape]
    local wrapper = op.output.resultWrapper
    if wrapper then out[#out + 1] = "<" .. wrapper .. ">" end
    write_members(m, out, shape, output or {})
    if wrapper then out[#out + 1] = "</" .. wrapper .. ">" end
  end
  out[#out + 1] = ("<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%s>"):format(
    escape(request_id), root)
  return 200, xml_headers(request_id), table.concat(out)
end

--- Builds an error response in the query protocol's ErrorResponse
-- envelope. CODE may be the wire code or the model's error shape name;
-- STATUS and SENDER_FAULT default to the error shape's, else 400 and
-- whether the status is below 500.
function M.build_error(m, code, message, status, request_id, sender_fault)
  local shape = error_shape(m, code)
  local info = shape and shape.error or {}
  code = info.code or code
  status = status or info.httpStatusCode or 400
  if sender_fault == nil then
    if info.senderFault ~= nil then sender_fault = info.senderFault else sender_fault = status < 500 end
  end
  request_id = request_id or ""
  local body = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
    .. '<RequestId>%s</RequestId></ErrorResponse>'):format(escape(namespace(m) or ""),
    sender_fault and "Sender" or "Receiver", escape(code), escape(message or ""), escape(request_id))
  return status, xml_headers(request_id), body
end

return M
