-- jmespath.types: how JSON values are represented in Lua, shared by the
-- lexer, parser, evaluator and functions.
--
-- JSON null is `cjson.null`; a nil member (a missing key of a Lua table) is
-- null too. Arrays and objects are both Lua tables, so they are told apart
-- by a marker in the metatable (`__jmespath = "array"` or "object"), set by
-- this library on every table it makes and by `jmespath.json.decode`. An
-- unmarked table is classified by shape: a table with `t[1]` is an array,
-- an empty table is an array (AWS outputs have empty lists far more often
-- than empty maps), and any other table is an object.
--
-- An object's metatable may list its keys in order (`keys = {...}`); such
-- objects are iterated in that order, all other objects in sorted key
-- order, so results never depend on the hash order of a Lua table.
local cjson = require("cjson")

local M = {}

M.NULL = cjson.null

--- Metatable marking a table as a JSON array.
M.array_mt = { __jmespath = "array", __name = "jmespath.array" }

--- Metatable marking a table as a JSON object (keys iterated sorted).
M.object_mt = { __jmespath = "object", __name = "jmespath.object" }

local NULL = M.NULL
local array_mt = M.array_mt

-- The error value raised inside the library. The public entry points turn
-- it into a string naming the kind and the expression.
local Failure = { __name = "jmespath.Failure" }
Failure.__index = Failure
function Failure.__tostring(f)
  return ("jmespath %s error: %s"):format(f.kind, f.message)
end

--- Raises a JMESPath error of KIND (syntax, invalid-arity, invalid-type,
-- invalid-value, unknown-function) with MESSAGE; COLUMN (1-based) is the
-- position in the expression, when known.
function M.fail(kind, message, column)
  error(setmetatable({ kind = kind, message = message, column = column }, Failure), 0)
end

--- Returns true when E was raised by `fail`.
function M.is_failure(e)
  return getmetatable(e) == Failure
end

--- Returns true when V is JSON null (nil or cjson.null).
function M.is_null(v)
  return v == nil or v == NULL
end

--- Returns true when table T is a JSON array (see the file header).
function M.is_array(t)
  local mt = getmetatable(t)
  local tag = mt and mt.__jmespath
  if tag then return tag == "array" end
  return t[1] ~= nil or next(t) == nil
end

--- Returns the JMESPath type name of V: number, string, boolean, array,
-- object, null, or "expref" for an expression reference.
function M.type_of(v)
  local kind = type(v)
  if kind == "table" then
    local mt = getmetatable(v)
    if mt and mt.__jmespath == "expref" then return "expref" end
    return M.is_array(v) and "array" or "object"
  end
  if v == nil or v == NULL then return "null" end
  if kind == "number" or kind == "string" or kind == "boolean" then return kind end
  return "unknown"
end

--- Returns a new array from list T (taken over, must have no holes).
function M.array(t)
  return setmetatable(t, array_mt)
end

--- Returns a new object from table T (taken over), iterated in the order
-- of the list KEYS when given, else in sorted key order.
function M.object(t, keys)
  if keys then
    return setmetatable(t, { __jmespath = "object", __name = "jmespath.object", keys = keys })
  end
  return setmetatable(t, M.object_mt)
end

--- Returns the keys of object T in iteration order (see the file header).
function M.keys(t)
  local mt = getmetatable(t)
  local order = mt and mt.keys
  local keys = {}
  if order then
    for _, k in ipairs(order) do
      if t[k] ~= nil then keys[#keys + 1] = k end
    end
    return keys
  end
  for k in pairs(t) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

--- Returns false for JMESPath's false values (null, false, "", an empty
-- array or object), true for everything else.
function M.truthy(v)
  if v == nil or v == NULL or v == false or v == "" then return false end
  if type(v) == "table" then return next(v) ~= nil end
  return true
end

--- Compares two JSON values deeply; null and nil are equal.
function M.equal(a, b)
  if M.is_null(a) then return M.is_null(b) end
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  local a_array, b_array = M.is_array(a), M.is_array(b)
  if a_array ~= b_array then return false end
  if a_array then
    if #a ~= #b then return false end
    for i = 1, #a do
      if not M.equal(a[i], b[i]) then return false end
    end
    return true
  end
  for k, v in pairs(a) do
    if b[k] == nil or not M.equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

--- Returns V as stored in a container: null becomes cjson.null.
function M.stored(v)
  if v == nil then return NULL end
  return v
end

--- Returns V as the evaluator sees it: cjson.null becomes nil.
function M.loaded(v)
  if v == NULL then return nil end
  return v
end

return M
