-- jmespath.lexer: splits a JMESPath expression into tokens.
--
-- A token is { type = NAME, value = V, column = N }, with N the 1-based
-- byte column where it starts. The list ends with an "eof" token. Invalid
-- input raises a syntax failure (jmespath.types.fail).
local json = require("jmespath.json")
local types = require("jmespath.types")

local M = {}

local fail = types.fail

-- Tokens of one character that never start a longer token.
local SINGLE = {
  ["."] = "dot", ["*"] = "star", ["]"] = "rbracket", ["{"] = "lbrace", ["}"] = "rbrace",
  ["("] = "lparen", [")"] = "rparen", [","] = "comma", [":"] = "colon", ["@"] = "current",
}

-- Tokens of one or two characters: the first character, then the token
-- for each possible second character, and the token when it stands alone.
local PAIRS = {
  ["|"] = { ["|"] = "or", alone = "pipe" },
  ["&"] = { ["&"] = "and", alone = "expref" },
  ["!"] = { ["="] = "ne", alone = "not" },
  ["<"] = { ["="] = "lte", alone = "lt" },
  [">"] = { ["="] = "gte", alone = "gt" },
  ["="] = { ["="] = "eq" },
  ["["] = { ["]"] = "flatten", ["?"] = "filter", alone = "lbracket" },
}

-- Returns the position of the closing DELIMITER of a token that starts at
-- START, skipping characters escaped with a backslash.
local function find_closing(text, start, delimiter, what)
  local pos = start + 1
  while true do
    local c = text:sub(pos, pos)
    if c == "" then fail("syntax", "unterminated " .. what, start) end
    if c == "\\" then
      pos = pos + 2
    elseif c == delimiter then
      return pos
    else
      pos = pos + 1
    end
  end
end

local function quoted_identifier(text, start)
  local stop = find_closing(text, start, '"', "quoted identifier")
  local value, message = json.decode(text:sub(start, stop))
  if value == nil then
    fail("syntax", "invalid quoted identifier: " .. message, start)
  end
  return value, stop + 1
end

-- A raw string: its only escape is \' for a quote; other backslashes stay.
local function raw_string(text, start)
  local stop = find_closing(text, start, "'", "raw string")
  return (text:sub(start + 1, stop - 1):gsub("\\'", "'")), stop + 1
end

-- A JSON literal between backticks, where \` stands for a backtick.
local function json_literal(text, start)
  local stop = find_closing(text, start, "`", "JSON literal")
  local body = text:sub(start + 1, stop - 1):gsub("\\`", "`")
  local value, message = json.decode(body)
  if value == nil then
    fail("syntax", "invalid JSON literal: " .. message, start)
  end
  return value, stop + 1
end

--- Returns the token list of expression TEXT.
function M.tokenize(text)
  local tokens = {}
  local pos, len = 1, #text
  local function add(kind, value, column)
    tokens[#tokens + 1] = { type = kind, value = value, column = column }
  end
  while pos <= len do
    local c = text:sub(pos, pos)
    local start = pos
    if c:match("[ \t\r\n]") then
      pos = pos + 1
    elseif c:match("[%a_]") then
      local word = text:match("^[%w_]+", pos)
      add("unquoted_identifier", word, start)
      pos = pos + #word
    elseif c:match("[-%d]") then
      local digits = text:match("^-?%d+", pos)
      if not digits then fail("syntax", "'-' must be followed by digits", start) end
      add("number", math.tointeger(tonumber(digits)) or fail("syntax", "number too large", start), start)
      pos = pos + #digits
    elseif SINGLE[c] then
      add(SINGLE[c], nil, start)
      pos = pos + 1
    elseif PAIRS[c] then
      local choices = PAIRS[c]
      local second = choices[text:sub(pos + 1, pos + 1)]
      if second then
        add(second, nil, start)
        pos = pos + 2
      elseif choices.alone then
        add(choices.alone, nil, start)
        pos = pos + 1
      else
        fail("syntax", "'=' must be '=='", start)
      end
    elseif c == '"' then
      local value
      value, pos = quoted_identifier(text, start)
      add("quoted_identifier", value, start)
    elseif c == "'" then
      local value
      value, pos = raw_string(text, start)
      add("literal", value, start)
    elseif c == "`" then
      local value
      value, pos = json_literal(text, start)
      add("literal", types.loaded(value), start)
    else
      fail("syntax", ("unexpected character %q"):format(c), start)
    end
  end
  add("eof", nil, len + 1)
  return tokens
end

return M
