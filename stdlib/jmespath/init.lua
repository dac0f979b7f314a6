-- jmespath: the JMESPath query language (https://jmespath.org), used by
-- AWS waiters and by playbooks to pick values out of AWS outputs.
--
--   local jmespath = require("jmespath")
--   jmespath.search("DBInstances[].DBInstanceStatus", output) --> { "available" }
--   local expr = jmespath.compile("services[?status=='ACTIVE'].serviceName")
--   expr:search(output)
--
-- Values: JSON null is cjson.null, and a missing member (nil) is null too;
-- a null result is returned as nil, and nulls inside returned arrays and
-- objects are cjson.null. Arrays and objects are told apart as described
-- in jmespath.types: mark a table with `jmespath.array_mt` or
-- `jmespath.object_mt` when its shape is ambiguous (an empty table counts
-- as an array). Results built by the evaluator carry those marks.
--
-- Errors: an invalid expression, or a function called with the wrong
-- arity or argument types, raises a string that starts with
-- "jmespath KIND error", where KIND is the compliance suite's error name
-- (syntax, invalid-arity, invalid-type, invalid-value, unknown-function),
-- and names the expression, e.g.
--   jmespath syntax error at column 5 in 'foo[': unexpected end of expression
-- `jmespath.error_kind(message)` returns KIND from such a string.
local eval = require("jmespath.eval")
local json = require("jmespath.json")
local parser = require("jmespath.parser")
local types = require("jmespath.types")

local M = {}

M.array_mt = types.array_mt
M.object_mt = types.object_mt
M.null = types.NULL

-- Compiled expressions by text. The cache is emptied when it reaches
-- CACHE_LIMIT entries, which bounds memory for callers that build
-- expressions from data; playbooks and waiters use a few dozen.
local CACHE_LIMIT = 512
local cache, cached = {}, 0

local Expression = { __name = "jmespath.Expression" }
Expression.__index = Expression

-- Re-raises library failure F as the documented error string.
local function raise(f, text)
  if not types.is_failure(f) then error(f, 0) end
  local where = f.column and (" at column %d"):format(f.column) or ""
  error(("jmespath %s error%s in '%s': %s"):format(f.kind, where, text, f.message), 0)
end

--- Evaluates the compiled expression against VALUE and returns the result
-- (nil for null). Raises "jmespath invalid-type error ..." when a function
-- gets an argument of the wrong type.
function Expression:search(value)
  local ok, result = pcall(self.fn, value)
  if not ok then raise(result, self.expression) end
  if result == types.NULL then return nil end
  return result
end

function Expression:__tostring()
  return "jmespath.Expression(" .. self.expression .. ")"
end

--- Compiles expression TEXT once and returns an object with
-- `:search(value)`. Compiled expressions are cached by text. Raises
-- "jmespath syntax error ..." (or invalid-value, unknown-function,
-- invalid-arity) for an invalid expression.
function M.compile(text)
  if type(text) ~= "string" then
    error(("jmespath.compile: expression must be a string, got %s"):format(type(text)), 2)
  end
  local expression = cache[text]
  if expression then return expression end
  local ok, fn = pcall(function() return eval.compile(parser.parse(text)) end)
  if not ok then raise(fn, text) end
  expression = setmetatable({ expression = text, fn = fn }, Expression)
  if cached >= CACHE_LIMIT then
    cache, cached = {}, 0
  end
  cache[text] = expression
  cached = cached + 1
  return expression
end

--- Evaluates expression TEXT against VALUE and returns the result (nil
-- for null). Compiles TEXT on first use; errors as `compile` and
-- `Expression:search`.
function M.search(text, value)
  if type(text) ~= "string" then
    error(("jmespath.search: expression must be a string, got %s"):format(type(text)), 2)
  end
  return M.compile(text):search(value)
end

--- Returns the error kind (syntax, invalid-type, ...) named by a message
-- raised by this module, or nil for any other value.
function M.error_kind(message)
  if type(message) ~= "string" then return nil end
  return message:match("jmespath (%S+) error")
end

--- Returns the JMESPath type name of V: number, string, boolean, array,
-- object or null.
function M.type(v)
  return types.type_of(v)
end

--- Returns whether JSON values A and B are equal, as `==` in an
-- expression compares them (deeply; nil and cjson.null are both null).
function M.equal(a, b)
  return types.equal(a, b)
end

--- Decodes JSON TEXT keeping arrays and objects apart and object key
-- order; returns the value (cjson.null for null), or nil and a message.
M.decode_json = json.decode

--- Encodes V as compact JSON text, as `to_string` does.
M.encode_json = json.encode

return M
