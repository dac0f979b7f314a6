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
local shape_value = require("aws.shape_value")

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
  if type(value) == "number" then return end
  if type(value) ~= "string" or not shape_value.parse_timestamp(value) then
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
