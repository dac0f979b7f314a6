-- jmespath.eval: compiles a syntax tree (jmespath.parser) into a Lua
-- closure `fn(value) -> result`, so a compiled expression is evaluated
-- without walking the tree again.
--
-- Inside the evaluator null is nil. Arrays and objects that the evaluator
-- builds store null as cjson.null instead, so arrays have no holes and
-- objects keep their null members.
local functions = require("jmespath.functions")
local types = require("jmespath.types")

local M = {}

local NULL = types.NULL
local is_array = types.is_array
local truthy = types.truthy
local stored = types.stored
local array = types.array

local compilers = {}

local function compile(node)
  return compilers[node.type](node)
end

local function as_array(v)
  if type(v) == "table" and is_array(v) then return v end
  return nil
end

local function as_object(v)
  if type(v) == "table" and not is_array(v) then
    local mt = getmetatable(v)
    if not (mt and mt.__jmespath == "expref") then return v end
  end
  return nil
end

function compilers.identity()
  return function(v) return v end
end

function compilers.literal(node)
  local value = node.value
  return function() return value end
end

function compilers.field(node)
  local name = node.name
  return function(v)
    if type(v) ~= "table" then return nil end
    local result = v[name]
    if result == NULL then return nil end
    return result
  end
end

function compilers.subexpression(node)
  local left, right = compile(node.left), compile(node.right)
  return function(v) return right(left(v)) end
end

compilers.pipe = compilers.subexpression

function compilers.index(node)
  local index = node.index
  return function(v)
    local list = as_array(v)
    if not list then return nil end
    local i = index >= 0 and index + 1 or #list + index + 1
    local result = list[i]
    if result == NULL or i < 1 then return nil end
    return result
  end
end

-- Clamps a slice bound as Python does; LENGTH is the array length.
local function slice_bound(value, default, length, step)
  if value == nil then return default end
  if value < 0 then
    value = value + length
    if value < 0 then return step < 0 and -1 or 0 end
  elseif value >= length then
    return step < 0 and length - 1 or length
  end
  return value
end

function compilers.slice(node)
  local step = node.step or 1
  return function(v)
    local list = as_array(v)
    if not list then return nil end
    local length = #list
    local first = slice_bound(node.start, step < 0 and length - 1 or 0, length, step)
    local stop = slice_bound(node.stop, step < 0 and -1 or length, length, step)
    local out, i = {}, first
    while (step > 0 and i < stop) or (step < 0 and i > stop) do
      out[#out + 1] = list[i + 1]
      i = i + step
    end
    return array(out)
  end
end

function compilers.projection(node)
  local left, right = compile(node.left), compile(node.right)
  return function(v)
    local list = as_array(left(v))
    if not list then return nil end
    local out = {}
    for i = 1, #list do
      local element = list[i]
      if element == NULL then element = nil end
      local result = right(element)
      if result ~= nil and result ~= NULL then out[#out + 1] = result end
    end
    return array(out)
  end
end

function compilers.value_projection(node)
  local left, right = compile(node.left), compile(node.right)
  return function(v)
    local object = as_object(left(v))
    if not object then return nil end
    local out = {}
    for _, key in ipairs(types.keys(object)) do
      local element = object[key]
      if element == NULL then element = nil end
      local result = right(element)
      if result ~= nil and result ~= NULL then out[#out + 1] = result end
    end
    return array(out)
  end
end

function compilers.filter_projection(node)
  local left, right, condition = compile(node.left), compile(node.right), compile(node.condition)
  return function(v)
    local list = as_array(left(v))
    if not list then return nil end
    local out = {}
    for i = 1, #list do
      local element = list[i]
      if element == NULL then element = nil end
      if truthy(condition(element)) then
        local result = right(element)
        if result ~= nil and result ~= NULL then out[#out + 1] = result end
      end
    end
    return array(out)
  end
end

function compilers.flatten(node)
  local child = compile(node.child)
  return function(v)
    local list = as_array(child(v))
    if not list then return nil end
    local out = {}
    for i = 1, #list do
      local element = list[i]
      if type(element) == "table" and is_array(element) then
        for j = 1, #element do out[#out + 1] = element[j] end
      else
        out[#out + 1] = element
      end
    end
    return array(out)
  end
end

function compilers.multiselect_list(node)
  local items = {}
  for i, item in ipairs(node.items) do items[i] = compile(item) end
  return function(v)
    if v == nil then return nil end
    local out = {}
    for i = 1, #items do out[i] = stored(items[i](v)) end
    return array(out)
  end
end

function compilers.multiselect_hash(node)
  local keys, values = node.keys, {}
  for i, value in ipairs(node.values) do values[i] = compile(value) end
  return function(v)
    if v == nil then return nil end
    local out = {}
    for i = 1, #keys do out[keys[i]] = stored(values[i](v)) end
    return types.object(out, keys)
  end
end

compilers["or"] = function(node)
  local left, right = compile(node.left), compile(node.right)
  return function(v)
    local result = left(v)
    if truthy(result) then return result end
    return right(v)
  end
end

compilers["and"] = function(node)
  local left, right = compile(node.left), compile(node.right)
  return function(v)
    local result = left(v)
    if not truthy(result) then return result end
    return right(v)
  end
end

compilers["not"] = function(node)
  local child = compile(node.child)
  return function(v) return not truthy(child(v)) end
end

-- Ordering comparators apply to numbers only; other operands give null.
local ORDERING = {
  ["<"] = function(a, b) return a < b end,
  ["<="] = function(a, b) return a <= b end,
  [">"] = function(a, b) return a > b end,
  [">="] = function(a, b) return a >= b end,
}

function compilers.comparator(node)
  local left, right = compile(node.left), compile(node.right)
  if node.op == "==" then
    return function(v) return types.equal(left(v), right(v)) end
  elseif node.op == "!=" then
    return function(v) return not types.equal(left(v), right(v)) end
  end
  local compare = ORDERING[node.op]
  return function(v)
    local a, b = left(v), right(v)
    if type(a) ~= "number" or type(b) ~= "number" then return nil end
    return compare(a, b)
  end
end

function compilers.expref(node)
  local ref = functions.expref(compile(node.child))
  return function() return ref end
end

function compilers.func(node)
  local args = {}
  for i, arg in ipairs(node.args) do args[i] = compile(arg) end
  return functions.compile_call(node.name, args, node.column)
end

--- Compiles syntax tree TREE into a function of the input value. Raises
-- unknown-function and invalid-arity failures found while compiling.
function M.compile(tree)
  return compile(tree)
end

return M
