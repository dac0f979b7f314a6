-- jmespath.parser: turns a token list into an abstract syntax tree.
--
-- A top-down operator precedence (Pratt) parser. Each token has a binding
-- power; `expression(rbp)` keeps extending the left side while the next
-- token binds tighter than RBP. Projections (`[*]`, `*`, `[]`, `[?...]`,
-- slices) parse their right-hand side with `projection_rhs`, which stops at
-- tokens that bind looser than a projection (pipe, ||, &&, comparators), so
-- `a[*].b | c` applies `.b` to each element and `| c` to the whole result.
--
-- Nodes are tables { type = NAME, ... }:
--   identity, literal{value}, field{name}, subexpression{left,right},
--   index{index}, slice{start,stop,step}, projection{left,right},
--   value_projection{left,right}, filter_projection{left,right,condition},
--   flatten{child}, multiselect_list{items}, multiselect_hash{keys,values},
--   or/and{left,right}, not{child}, comparator{op,left,right},
--   pipe{left,right}, func{name,args,column}, expref{child}
local lexer = require("jmespath.lexer")
local types = require("jmespath.types")

local M = {}

local fail = types.fail

local BINDING_POWER = {
  eof = 0, unquoted_identifier = 0, quoted_identifier = 0, literal = 0, rbracket = 0, rparen = 0,
  comma = 0, rbrace = 0, number = 0, current = 0, expref = 0, colon = 0,
  pipe = 1, ["or"] = 2, ["and"] = 3,
  eq = 5, ne = 5, lt = 5, lte = 5, gt = 5, gte = 5,
  flatten = 9, star = 20, filter = 21, dot = 40, ["not"] = 45, lbrace = 50, lbracket = 55, lparen = 60,
}

-- Tokens binding looser than this end a projection's right-hand side.
local PROJECTION_STOP = 10

local COMPARATORS = { eq = "==", ne = "!=", lt = "<", lte = "<=", gt = ">", gte = ">=" }

local IDENTITY = { type = "identity" }

-- Token text for error messages.
local function describe(token)
  if token.type == "eof" then return "end of expression" end
  if token.value ~= nil and token.type ~= "literal" then
    return ("%s %s"):format((token.type:gsub("_", " ")), tostring(token.value))
  end
  return (token.type:gsub("_", " "))
end

local Parser = {}
Parser.__index = Parser

function Parser:peek(offset)
  return self.tokens[self.pos + (offset or 0)]
end

function Parser:advance()
  local token = self.tokens[self.pos]
  self.pos = self.pos + 1
  return token
end

-- Consumes the next token when it is of type KIND; returns whether it was.
function Parser:accept(kind)
  if self.tokens[self.pos].type ~= kind then return false end
  self.pos = self.pos + 1
  return true
end

function Parser:unexpected(token, expected)
  token = token or self:peek()
  local message = "unexpected " .. describe(token)
  if expected then message = message .. ", expected " .. expected end
  fail("syntax", message, token.column)
end

function Parser:match(kind, expected)
  local token = self:peek()
  if token.type ~= kind then self:unexpected(token, expected or kind) end
  self.pos = self.pos + 1
  return token
end

function Parser:expression(rbp)
  local token = self:advance()
  local nud = self["nud_" .. token.type]
  if not nud then self:unexpected(token) end
  local left = nud(self, token)
  while rbp < BINDING_POWER[self:peek().type] do
    token = self:advance()
    local led = self["led_" .. token.type]
    if not led then self:unexpected(token) end
    left = led(self, left, token)
  end
  return left
end

-- Parses what follows a projection, or returns identity when the next
-- token ends the projection.
function Parser:projection_rhs(rbp)
  local token = self:peek()
  if BINDING_POWER[token.type] < PROJECTION_STOP then return IDENTITY end
  if token.type == "lbracket" or token.type == "filter" then return self:expression(rbp) end
  if token.type == "dot" then
    self:advance()
    return self:dot_rhs(rbp)
  end
  self:unexpected(token, "'.', '[' or the end of the projection")
end

-- Parses what may follow a dot: an identifier, '*', a multiselect list
-- or a multiselect hash (function calls parse through the identifier).
function Parser:dot_rhs(rbp)
  local kind = self:peek().type
  if kind == "unquoted_identifier" or kind == "quoted_identifier" or kind == "star" then
    return self:expression(rbp)
  end
  if kind == "lbracket" then
    self:advance()
    return self:multiselect_list()
  end
  if kind == "lbrace" then
    self:advance()
    return self:multiselect_hash()
  end
  self:unexpected(nil, "an identifier, '*', '[' or '{' after '.'")
end

function Parser:multiselect_list()
  local items = {}
  repeat
    items[#items + 1] = self:expression(0)
  until not self:accept("comma")
  self:match("rbracket", "',' or ']'")
  return { type = "multiselect_list", items = items }
end

function Parser:multiselect_hash()
  local keys, values = {}, {}
  repeat
    local key = self:advance()
    if key.type ~= "unquoted_identifier" and key.type ~= "quoted_identifier" then
      self:unexpected(key, "a key name")
    end
    self:match("colon", "':'")
    keys[#keys + 1] = key.value
    values[#values + 1] = self:expression(0)
  until not self:accept("comma")
  self:match("rbrace", "',' or '}'")
  return { type = "multiselect_hash", keys = keys, values = values }
end

-- Parses an index [N] or a slice [start:stop:step] after the '['.
function Parser:index_or_slice()
  local parts, part = {}, 1
  local first = self:peek()
  while self:peek().type ~= "rbracket" do
    local token = self:advance()
    if token.type == "colon" then
      part = part + 1
      if part > 3 then self:unexpected(token, "']'") end
    elseif token.type == "number" and parts[part] == nil then
      parts[part] = token.value
    else
      self:unexpected(token, "a number, ':' or ']'")
    end
  end
  self:advance()
  if part == 1 then
    if parts[1] == nil then self:unexpected(first, "a number") end
    return { type = "index", index = parts[1] }
  end
  if parts[3] == 0 then fail("invalid-value", "slice step cannot be 0", first.column) end
  return { type = "slice", start = parts[1], stop = parts[2], step = parts[3] }
end

-- Builds the node for `left[...]` once the index or slice is parsed: a
-- slice projects, an index does not.
function Parser:bracket_access(left)
  local access = self:index_or_slice()
  local node = left and { type = "subexpression", left = left, right = access } or access
  if access.type == "slice" then
    return { type = "projection", left = node, right = self:projection_rhs(BINDING_POWER.star) }
  end
  return node
end

function Parser.nud_literal(_, token)
  return { type = "literal", value = token.value }
end

function Parser.nud_unquoted_identifier(_, token)
  return { type = "field", name = token.value }
end

function Parser:nud_quoted_identifier(token)
  if self:peek().type == "lparen" then
    fail("syntax", "a quoted identifier cannot name a function", token.column)
  end
  return { type = "field", name = token.value }
end

function Parser.nud_current()
  return IDENTITY
end

function Parser:nud_star()
  return { type = "value_projection", left = IDENTITY, right = self:projection_rhs(BINDING_POWER.star) }
end

function Parser:nud_filter(token)
  return self:led_filter(IDENTITY, token)
end

function Parser:nud_lbrace()
  return self:multiselect_hash()
end

function Parser:nud_flatten(token)
  return self:led_flatten(IDENTITY, token)
end

function Parser:nud_lbracket()
  local kind = self:peek().type
  if kind == "number" or kind == "colon" then return self:bracket_access(nil) end
  if kind == "star" and self:peek(1).type == "rbracket" then
    self.pos = self.pos + 2
    return { type = "projection", left = IDENTITY, right = self:projection_rhs(BINDING_POWER.star) }
  end
  return self:multiselect_list()
end

function Parser:nud_expref()
  return { type = "expref", child = self:expression(BINDING_POWER.expref) }
end

function Parser:nud_not()
  return { type = "not", child = self:expression(BINDING_POWER["not"]) }
end

function Parser:nud_lparen()
  local inner = self:expression(0)
  self:match("rparen", "')'")
  return inner
end

function Parser:led_dot(left)
  if self:peek().type == "star" then
    self:advance()
    return { type = "value_projection", left = left, right = self:projection_rhs(BINDING_POWER.dot) }
  end
  return { type = "subexpression", left = left, right = self:dot_rhs(BINDING_POWER.dot) }
end

function Parser:led_pipe(left)
  return { type = "pipe", left = left, right = self:expression(BINDING_POWER.pipe) }
end

function Parser:led_or(left)
  return { type = "or", left = left, right = self:expression(BINDING_POWER["or"]) }
end

function Parser:led_and(left)
  return { type = "and", left = left, right = self:expression(BINDING_POWER["and"]) }
end

function Parser:led_lparen(left, token)
  if left.type ~= "field" then fail("syntax", "unexpected '(': only a function name can be called", token.column) end
  local args = {}
  if self:peek().type ~= "rparen" then
    repeat
      args[#args + 1] = self:expression(0)
    until not self:accept("comma")
  end
  self:match("rparen", "',' or ')'")
  return { type = "func", name = left.name, args = args, column = token.column }
end

function Parser:led_filter(left)
  local condition = self:expression(0)
  self:match("rbracket", "']'")
  local right
  if self:peek().type == "flatten" then
    right = IDENTITY
  else
    right = self:projection_rhs(BINDING_POWER.filter)
  end
  return { type = "filter_projection", left = left, right = right, condition = condition }
end

function Parser:led_flatten(left)
  return {
    type = "projection",
    left = { type = "flatten", child = left },
    right = self:projection_rhs(BINDING_POWER.flatten),
  }
end

function Parser:led_lbracket(left)
  local kind = self:peek().type
  if kind == "number" or kind == "colon" then return self:bracket_access(left) end
  self:match("star", "a number, ':' or '*'")
  self:match("rbracket", "']'")
  return { type = "projection", left = left, right = self:projection_rhs(BINDING_POWER.star) }
end

for kind, op in pairs(COMPARATORS) do
  Parser["led_" .. kind] = function(self, left)
    return { type = "comparator", op = op, left = left, right = self:expression(BINDING_POWER[kind]) }
  end
end

--- Parses expression TEXT into a syntax tree; raises syntax failures.
function M.parse(text)
  local parser = setmetatable({ tokens = lexer.tokenize(text), pos = 1 }, Parser)
  local tree = parser:expression(0)
  local rest = parser:peek()
  if rest.type ~= "eof" then parser:unexpected(rest, "end of expression") end
  return tree
end

return M
