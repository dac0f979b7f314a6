-- aws.validate: checks a call's parameters against the operation's input
-- shape before anything is sent.
--
-- The checks are those botocore's ParamValidator makes (botocore does not
-- check patterns, and neither does this): unknown and missing members, Lua
-- types per shape type, min/max of numbers, lengths of strings, lists and
-- maps, and enums. The first problem raises a plain string error (no
-- position prefix) naming the service, the operation, the member path and
-- what was expected, because a bad parameter is the playbook author's
-- mistake and is reported at once.
local model = require("aws.model")
local compiled_for = require("aws.protocol.common").compiled_for
local shape_value = require("aws.shape_value")
local secret = require("mnem.secret")

local M = {}

-- Describes VALUE for a message: its type and, for scalars, the value.
local function describe(value)
  local kind = type(value)
  if kind == "string" then
    if #value > 40 then value = value:sub(1, 37) .. "..." end
    return ("string %q"):format(value)
  end
  if kind == "number" or kind == "boolean" then return kind .. " " .. tostring(value) end
  if kind == "table" then
    if next(value) ~= nil and #value > 0 then return "list" end
    return "table"
  end
  return kind
end

local function is_array(value)
  local count = 0
  for key in pairs(value) do
    if math.type(key) ~= "integer" or key < 1 then return false end
    count = count + 1
  end
  return count == #value
end

local check

-- Raises the validation message PROBLEM about member PATH.
local function fail(ctx, path, problem)
  error(("%s: invalid parameter %s: %s"):format(ctx.where, path, problem), 0)
end

local function expect(ctx, path, expected, value)
  fail(ctx, path, ("expected %s, got %s"):format(expected, describe(value)))
end

local function join(path, name)
  if path == "" then return name end
  return path .. "." .. name
end

-- Formats a bound from the model, which JSON decoding may have made a float.
local function bound(number)
  return tostring(math.tointeger(number) or number)
end

local function check_range(ctx, path, shape, value, what)
  local prefix = what and (what .. " ") or ""
  if shape.min and value < shape.min then
    fail(ctx, path, ("%s%s is below the minimum %s"):format(prefix, bound(value), bound(shape.min)))
  end
  if shape.max and value > shape.max then
    fail(ctx, path, ("%s%s is above the maximum %s"):format(prefix, bound(value), bound(shape.max)))
  end
end

local function check_structure(ctx, path, shape, value)
  if type(value) ~= "table" then expect(ctx, path, "a table", value) end
  if shape.document then return end
  local names = ctx.model:member_names(shape)
  for key in pairs(value) do
    if type(key) ~= "string" then
      fail(ctx, path == "" and "(parameters)" or path,
        ("expected a table with string keys, got key %s"):format(describe(key)))
    end
    if not shape.members[key] then
      local hint = model.closest(key, names)
      local advice = hint and (" (did you mean " .. join(path, hint) .. "?)")
        or ("; valid parameters: " .. table.concat(names, ", "))
      error(("%s: unknown parameter %s%s"):format(ctx.where, join(path, key), advice), 0)
    end
  end
  for _, name in ipairs(shape.required or {}) do
    if value[name] == nil then
      error(("%s: missing required parameter %s"):format(ctx.where, join(path, name)), 0)
    end
  end
  for _, name in ipairs(names) do
    if value[name] ~= nil then check(ctx, join(path, name), shape.members[name], value[name]) end
  end
end

local function check_list(ctx, path, shape, value)
  if type(value) ~= "table" or not is_array(value) then expect(ctx, path, "a list (array table)", value) end
  check_range(ctx, path, shape, #value, "length")
  for i, item in ipairs(value) do
    check(ctx, ("%s[%d]"):format(path, i), shape.member, item)
  end
end

local function check_map(ctx, path, shape, value)
  if type(value) ~= "table" then expect(ctx, path, "a table", value) end
  local count = 0
  for key, item in pairs(value) do
    count = count + 1
    check(ctx, path .. "{key}", shape.key, key)
    check(ctx, ("%s[%q]"):format(path, tostring(key)), shape.value, item)
  end
  check_range(ctx, path, shape, count, "size")
end

local function check_string(ctx, path, shape, value)
  if type(value) ~= "string" then expect(ctx, path, "a string", value) end
  check_range(ctx, path, shape, #value, "length")
  if shape.enum then
    for _, allowed in ipairs(shape.enum) do
      if value == allowed then return end
    end
    fail(ctx, path, ("%q must be one of %s"):format(value, table.concat(shape.enum, ", ")))
  end
end

local CHECKERS = {
  structure = check_structure,
  list = check_list,
  map = check_map,
  string = check_string,
}

function CHECKERS.integer(ctx, path, shape, value)
  if math.type(value) ~= "integer" and not (math.type(value) == "float" and math.tointeger(value)) then
    expect(ctx, path, "an integer", value)
  end
  check_range(ctx, path, shape, value)
end
CHECKERS.long = CHECKERS.integer

function CHECKERS.double(ctx, path, shape, value)
  if type(value) ~= "number" then expect(ctx, path, "a number", value) end
  check_range(ctx, path, shape, value)
end
CHECKERS.float = CHECKERS.double

function CHECKERS.boolean(ctx, path, _, value)
  if type(value) ~= "boolean" then expect(ctx, path, "a boolean", value) end
end

function CHECKERS.timestamp(ctx, path, _, value)
  -- parse_timestamp rejects NaN, infinities and numbers beyond about 30
  -- million years, which the codecs could not write as a date.
  if (type(value) ~= "string" and type(value) ~= "number") or not shape_value.parse_timestamp(value) then
    expect(ctx, path, "a timestamp (ISO-8601 text such as 2024-01-31T12:00:00Z, or epoch seconds)", value)
  end
end

function CHECKERS.blob(ctx, path, shape, value)
  if type(value) ~= "string" then expect(ctx, path, "a string of bytes", value) end
  check_range(ctx, path, shape, #value, "length")
end

-- Checks VALUE at member PATH against member reference REF.
check = function(ctx, path, ref, value)
  local shape = ctx.model.shapes[ref.shape]
  local checker = CHECKERS[shape.type]
  if checker then checker(ctx, path, shape, value) end
end

-- Compiled checks --------------------------------------------------------------
--
-- The checks above build a member path and a message as they go, for the
-- one error they raise. A call's parameters are almost always valid, so
-- M.checker compiles each shape once into a function that only returns
-- whether a value passes. On false the caller runs M.input for the message.
-- A compiled check accepts nothing M.input would reject: it also returns
-- false for any table with a metatable (a dry-run placeholder), for
-- documents (untyped, so left to M.input) and for non-string keys.

-- Member and map key names whose values are secret wherever they appear in
-- parameters (as aws.client marks them).
local function secret_name(name)
  return name == "SecretString" or name == "SecretBinary" or name == "ClientSecret"
    or name:find("Password", 1, true) ~= nil
end

local function mark_secret(value)
  local kind = type(value)
  if kind == "string" or kind == "number" then secret.mark(value) end
end

local checker_for

local function within(shape, n)
  return not (shape.min and n < shape.min) and not (shape.max and n > shape.max)
end

local function plain_table(value)
  return type(value) == "table" and getmetatable(value) == nil
end

-- Returns the check of shape NAME and, for shapes with members, a function
-- that fills in the members' checks (see aws.protocol.common.compiled_for).
local function build_checker(m, name)
  local shape = m.shapes[name]
  local kind = shape.type
  if kind == "structure" then
    if shape.document then return function() return false end end
    local members, secrets, required = {}, {}, shape.required or {}
    local function passes(value)
      if not plain_table(value) then return false end
      for key, item in next, value do
        local member = members[key]
        if not member or not member(item) then return false end
        if secrets[key] then mark_secret(item) end
      end
      for i = 1, #required do
        if value[required[i]] == nil then return false end
      end
      return true
    end
    return passes, function()
      for member, ref in pairs(shape.members) do
        members[member] = checker_for(m, ref.shape)
        if secret_name(member) then secrets[member] = true end
      end
    end
  elseif kind == "list" then
    local item_check
    local function passes(value)
      if not plain_table(value) then return false end
      local n, count = #value, 0
      for _ in next, value do count = count + 1 end
      if count ~= n or not within(shape, n) then return false end
      for i = 1, n do
        if not item_check(value[i]) then return false end
      end
      return true
    end
    return passes, function() item_check = checker_for(m, shape.member.shape) end
  elseif kind == "map" then
    local key_check, item_check
    local function passes(value)
      if not plain_table(value) then return false end
      local count = 0
      for key, item in next, value do
        count = count + 1
        if not key_check(key) or not item_check(item) then return false end
        if secret_name(key) then mark_secret(item) end
      end
      return within(shape, count)
    end
    return passes, function()
      key_check, item_check = checker_for(m, shape.key.shape), checker_for(m, shape.value.shape)
    end
  elseif kind == "string" then
    local allowed
    if shape.enum then
      allowed = {}
      for _, text in ipairs(shape.enum) do allowed[text] = true end
    end
    return function(value)
      return type(value) == "string" and within(shape, #value) and (not allowed or allowed[value] == true)
    end
  elseif kind == "integer" or kind == "long" then
    return function(value)
      return (math.type(value) == "integer" or (math.type(value) == "float" and math.tointeger(value) ~= nil))
        and within(shape, value)
    end
  elseif kind == "double" or kind == "float" then
    return function(value) return type(value) == "number" and within(shape, value) end
  elseif kind == "boolean" then
    return function(value) return type(value) == "boolean" end
  elseif kind == "timestamp" then
    return function(value)
      local value_type = type(value)
      return (value_type == "number" or value_type == "string") and shape_value.parse_timestamp(value) ~= nil
    end
  elseif kind == "blob" then
    return function(value) return type(value) == "string" and within(shape, #value) end
  end
  return function() return true end
end

checker_for = function(m, name)
  return compiled_for(m, "checks", name, build_checker)
end

local function no_parameters(params)
  return plain_table(params) and next(params) == nil
end

--- Returns a function that takes the parameters of OPERATION (AWS or
-- snake_case name) of model M and returns true when M.input would accept
-- them, marking secret members (SecretString, SecretBinary, ClientSecret,
-- *Password*) as it goes. False means "run M.input": it raises the
-- message, or accepts what the quick check could not judge (documents).
function M.checker(m, operation)
  local op = m:operation(operation)
  if not op then return function() return false end end
  if not op.input then return no_parameters end
  return checker_for(m, op.input.shape)
end

--- Checks PARAMS for OPERATION (AWS or snake_case name) of model M against
-- the operation's input shape. Returns nothing when they are valid; raises
-- a string error describing the first problem otherwise, e.g.
-- "rds.CreateDBInstance: missing required parameter Engine".
function M.input(m, operation, params)
  local op = m:operation(operation)
  if not op then
    local hint = model.closest(operation, m:operation_names())
    error(("%s: unknown operation %s%s"):format(m.service, tostring(operation),
      hint and (" (did you mean " .. hint .. "?)") or ""), 0)
  end
  local ctx = { model = m, where = m.service .. "." .. op.name }
  if params == nil then params = {} end
  if not op.input then
    if type(params) ~= "table" or next(params) ~= nil then
      error(("%s: expected no parameters, got %s"):format(ctx.where, describe(params)), 0)
    end
    return
  end
  if type(params) ~= "table" then
    error(("%s: invalid parameters: expected a table, got %s"):format(ctx.where, describe(params)), 0)
  end
  check_structure(ctx, "", m.shapes[op.input.shape], params)
end

return M
