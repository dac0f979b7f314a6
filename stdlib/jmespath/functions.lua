-- jmespath.functions: the JMESPath built-in functions and their
-- signatures.
--
-- Each function declares the types each argument accepts. A call is
-- checked for arity when the expression is compiled (unknown-function,
-- invalid-arity), and for argument types each time it runs (invalid-type).
-- Type names: any, number, string, boolean, array, object, null, expref,
-- array[number], array[string].
local json = require("jmespath.json")
local types = require("jmespath.types")

local M = {}

local NULL = types.NULL
local fail = types.fail
local type_of = types.type_of
local stored = types.stored
local loaded = types.loaded

local EXPREF_MT = { __jmespath = "expref", __name = "jmespath.expref" }

--- Wraps compiled function FN as an expression reference value (`&expr`).
function M.expref(fn)
  return setmetatable({ fn = fn }, EXPREF_MT)
end

-- Returns whether value V (of JMESPath type KIND) is accepted by the
-- signature type name EXPECTED.
local function accepts(expected, kind, v)
  if expected == "any" then return kind ~= "expref" end
  if expected == kind then return true end
  local element = expected:match("^array%[(%a+)%]$")
  if not element or kind ~= "array" then return false end
  for i = 1, #v do
    if type_of(v[i]) ~= element then return false end
  end
  return true
end

local function check_arg(name, position, v, expected)
  local kind = type_of(v)
  for _, accepted in ipairs(expected) do
    if accepts(accepted, kind, v) then return end
  end
  fail("invalid-type", ("%s() argument %d must be %s, got %s"):format(
    name, position, table.concat(expected, " or "), kind))
end

-- Evaluates expression reference REF on each element of LIST and checks
-- every key is a number or a string, all of one type, for sort_by,
-- max_by and min_by.
local function sort_keys(name, list, ref)
  local keys, first_kind = {}, nil
  for i = 1, #list do
    local key = ref.fn(loaded(list[i]))
    local kind = type_of(key)
    if kind ~= "number" and kind ~= "string" then
      fail("invalid-type", ("%s() expression must return a number or a string, got %s"):format(name, kind))
    end
    first_kind = first_kind or kind
    if kind ~= first_kind then
      fail("invalid-type", ("%s() expression returned both %s and %s values"):format(name, first_kind, kind))
    end
    keys[i] = key
  end
  return keys
end

local function extreme_by(name, list, ref, better)
  if #list == 0 then return nil end
  local keys = sort_keys(name, list, ref)
  local best = 1
  for i = 2, #list do
    if better(keys[i], keys[best]) then best = i end
  end
  return loaded(list[best])
end

local function extreme(list, better)
  local best = list[1]
  for i = 2, #list do
    if better(list[i], best) then best = list[i] end
  end
  return best
end

local function less(a, b) return a < b end
local function greater(a, b) return a > b end

local function copy_array(list)
  local out = {}
  for i = 1, #list do out[i] = list[i] end
  return types.array(out)
end

-- The built-in functions: argument types, a variadic flag meaning the last
-- argument may repeat (at least once), and the implementation, called
-- with the argument values.
local BUILTINS = {}

BUILTINS.abs = { { "number" }, fn = math.abs }

BUILTINS.avg = { { "array[number]" }, fn = function(list)
  if #list == 0 then return nil end
  local total = 0
  for i = 1, #list do total = total + list[i] end
  return total / #list
end }

BUILTINS.ceil = { { "number" }, fn = math.ceil }

BUILTINS.floor = { { "number" }, fn = math.floor }

BUILTINS.contains = { { "array", "string" }, { "any" }, fn = function(subject, search)
  if type(subject) == "string" then
    return type(search) == "string" and subject:find(search, 1, true) ~= nil
  end
  for i = 1, #subject do
    if types.equal(subject[i], search) then return true end
  end
  return false
end }

BUILTINS.ends_with = { { "string" }, { "string" }, fn = function(subject, suffix)
  return suffix == "" or subject:sub(-#suffix) == suffix
end }

BUILTINS.starts_with = { { "string" }, { "string" }, fn = function(subject, prefix)
  return subject:sub(1, #prefix) == prefix
end }

BUILTINS.join = { { "string" }, { "array[string]" }, fn = function(glue, list)
  return table.concat(list, glue)
end }

BUILTINS.keys = { { "object" }, fn = function(object)
  return types.array(types.keys(object))
end }

BUILTINS.values = { { "object" }, fn = function(object)
  local out = {}
  for i, key in ipairs(types.keys(object)) do out[i] = object[key] end
  return types.array(out)
end }

BUILTINS.length = { { "string", "array", "object" }, fn = function(v)
  if type(v) == "string" then return utf8.len(v) or #v end
  if types.is_array(v) then return #v end
  return #types.keys(v)
end }

BUILTINS.map = { { "expref" }, { "array" }, fn = function(ref, list)
  local out = {}
  for i = 1, #list do out[i] = stored(ref.fn(loaded(list[i]))) end
  return types.array(out)
end }

BUILTINS.max = { { "array[number]", "array[string]" }, fn = function(list)
  return extreme(list, greater)
end }

BUILTINS.min = { { "array[number]", "array[string]" }, fn = function(list)
  return extreme(list, less)
end }

BUILTINS.max_by = { { "array" }, { "expref" }, fn = function(list, ref)
  return extreme_by("max_by", list, ref, greater)
end }

BUILTINS.min_by = { { "array" }, { "expref" }, fn = function(list, ref)
  return extreme_by("min_by", list, ref, less)
end }

BUILTINS.merge = { { "object" }, variadic = true, fn = function(...)
  local out, order = {}, {}
  for i = 1, select("#", ...) do
    local object = select(i, ...)
    for _, key in ipairs(types.keys(object)) do
      if out[key] == nil then order[#order + 1] = key end
      out[key] = object[key]
    end
  end
  return types.object(out, order)
end }

BUILTINS.not_null = { { "any" }, variadic = true, fn = function(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v ~= nil and v ~= NULL then return v end
  end
  return nil
end }

BUILTINS.reverse = { { "string", "array" }, fn = function(v)
  if type(v) == "string" then
    local chars = {}
    for _, code in utf8.codes(v) do table.insert(chars, 1, utf8.char(code)) end
    return table.concat(chars)
  end
  local out, n = {}, #v
  for i = 1, n do out[i] = v[n + 1 - i] end
  return types.array(out)
end }

BUILTINS.sort = { { "array[number]", "array[string]" }, fn = function(list)
  local out = copy_array(list)
  table.sort(out)
  return out
end }

BUILTINS.sort_by = { { "array" }, { "expref" }, fn = function(list, ref)
  local keys = sort_keys("sort_by", list, ref)
  local order = {}
  for i = 1, #list do order[i] = i end
  -- Ties keep their input order: the spec requires a stable sort.
  table.sort(order, function(a, b)
    if keys[a] ~= keys[b] then return keys[a] < keys[b] end
    return a < b
  end)
  local out = {}
  for i, index in ipairs(order) do out[i] = list[index] end
  return types.array(out)
end }

BUILTINS.sum = { { "array[number]" }, fn = function(list)
  local total = 0
  for i = 1, #list do total = total + list[i] end
  return total
end }

BUILTINS.to_array = { { "any" }, fn = function(v)
  if type_of(v) == "array" then return v end
  return types.array({ stored(v) })
end }

BUILTINS.to_number = { { "any" }, fn = function(v)
  if type(v) == "number" then return v end
  if type(v) == "string" and json.is_number_text(v) then return json.to_number(v) end
  return nil
end }

BUILTINS.to_string = { { "any" }, fn = function(v)
  if type(v) == "string" then return v end
  return json.encode(v)
end }

BUILTINS.type = { { "any" }, fn = function(v)
  return type_of(v)
end }

local function arity_text(signature)
  local n = #signature
  local plural = n == 1 and "" or "s"
  if signature.variadic then return ("at least %d argument%s"):format(n, plural) end
  return ("%d argument%s"):format(n, plural)
end

--- Returns the compiled call of function NAME with compiled argument
-- functions ARGS. Raises unknown-function or invalid-arity (at COLUMN).
function M.compile_call(name, args, column)
  local signature = BUILTINS[name]
  if not signature then
    fail("unknown-function", ("unknown function %s()"):format(name), column)
  end
  local n, expected = #args, #signature
  if n < expected or (n > expected and not signature.variadic) then
    fail("invalid-arity", ("%s() takes %s, got %d"):format(name, arity_text(signature), n), column)
  end
  local fn = signature.fn
  return function(v)
    local values = {}
    for i = 1, n do
      local value = args[i](v)
      check_arg(name, i, value, signature[math.min(i, expected)])
      values[i] = value
    end
    return fn(table.unpack(values, 1, n))
  end
end

--- Returns the names of the built-in functions, sorted.
function M.names()
  local names = {}
  for name in pairs(BUILTINS) do names[#names + 1] = name end
  table.sort(names)
  return names
end

return M
