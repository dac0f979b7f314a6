-- mnem.lua_tokens: a tokenizer for Lua 5.4 source whose tokens carry their
-- line and byte positions. mnem.source_lines finds the lines of a
-- playbook's fields with it, and sim.scenario_lines rewrites scenario files
-- with it.
--
-- Both callers tokenize a chunk that load() has accepted, so the tokenizer
-- only finds where each token starts and ends. It does not check the
-- source: a malformed numeral or escape sequence is not reported, and an
-- unclosed long bracket runs to the end of the source.
local M = {}

local KEYWORDS = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or repeat return then
  true until while]]):gmatch("%a+") do
  KEYWORDS[word] = true
end

-- Operators of two or three characters, so that "==" is not read as "=".
local OPERATORS = { "...", "==", "~=", "<=", ">=", "..", "::", "//", "<<", ">>" }

-- Keywords that open a block closed by `end` (`while` and `for` open
-- theirs with `do`), or by `until` for `repeat`.
local BLOCK_OPENERS = { ["function"] = true, ["if"] = true, ["do"] = true, ["repeat"] = true }
local BLOCK_CLOSERS = { ["end"] = true, ["until"] = true }

local function count_newlines(source, first, last)
  local _, count = source:sub(first, last):gsub("\n", "")
  return count
end

-- Returns the position of the last character of the long bracket opened
-- at POSITION with LEVEL "=" signs, or the end of SOURCE when unclosed.
local function long_bracket_end(source, position, level)
  local _, last = source:find("]" .. level .. "]", position, true)
  return last or #source
end

-- Returns the position of the closing quote of the short string opened at
-- POSITION, or the end of SOURCE when unclosed. A backslash escapes the
-- character after it, so an escaped quote or newline belongs to the
-- string.
local function short_string_end(source, position)
  local quote = source:sub(position, position)
  local i = position + 1
  while i <= #source do
    local c = source:sub(i, i)
    if c == "\\" then
      i = i + 2
    elseif c == quote then
      return i
    else
      i = i + 1
    end
  end
  return #source
end

-- Returns the position of the last character of the numeral at POSITION.
-- A sign after an exponent letter belongs to the numeral ("1e-5",
-- "0x1p+4") when a digit follows it.
local function numeral_end(source, position)
  local exponent = "^[eEpP][%+%-]%d"
  local _, last = source:find("^[%w%.]*", position)
  while source:find(exponent, last) do
    _, last = source:find("^[%w%.]*", last + 2)
  end
  return last
end

local function operator_at(source, position)
  for _, op in ipairs(OPERATORS) do
    if source:sub(position, position + #op - 1) == op then return op end
  end
  return source:sub(position, position)
end

--- Splits the Lua SOURCE into a list of tokens { kind, text, line, first,
-- last }. KIND is "name", "keyword", "string", "number" or "punct" (an
-- operator or bracket of one to three characters). TEXT is the token as
-- written, quotes and brackets of a string included. LINE is the line the
-- token starts on, and FIRST and LAST are the byte positions of its first
-- and last characters in SOURCE. Comments and white space make no tokens.
-- Invalid Lua gives tokens too: an unclosed string or long bracket runs to
-- the end of SOURCE, and callers that match brackets then find them
-- unmatched.
function M.tokenize(source)
  local tokens, position, line = {}, 1, 1
  local function add(kind, last)
    tokens[#tokens + 1] = { kind = kind, text = source:sub(position, last), line = line, first = position, last = last }
    line = line + count_newlines(source, position, last)
    position = last + 1
  end
  while position <= #source do
    local c = source:sub(position, position)
    if c == "\n" then
      line, position = line + 1, position + 1
    elseif c:find("%s") then
      position = position + 1
    elseif source:sub(position, position + 1) == "--" then
      local level = source:match("^%-%-%[(=*)%[", position)
      local last = level and long_bracket_end(source, position, level)
        or (source:find("\n", position, true) or #source + 1) - 1
      line = line + count_newlines(source, position, last)
      position = last + 1
    elseif source:find("^%[=*%[", position) then
      add("string", long_bracket_end(source, position, source:match("^%[(=*)%[", position)))
    elseif c == '"' or c == "'" then
      add("string", short_string_end(source, position))
    elseif c:find("[%a_]") then
      local name = source:match("^[%w_]+", position)
      add(KEYWORDS[name] and "keyword" or "name", position + #name - 1)
    elseif c:find("%d") or source:find("^%.%d", position) then
      add("number", numeral_end(source, position))
    else
      add("punct", position + #operator_at(source, position) - 1)
    end
  end
  return tokens
end

--- Returns whether TOKEN (from M.tokenize) is a keyword that opens a block:
-- `function`, `if`, `do` (which also opens the body of `while` and `for`)
-- or `repeat`.
function M.opens_block(token)
  return token.kind == "keyword" and BLOCK_OPENERS[token.text] == true
end

--- Returns whether TOKEN (from M.tokenize) is `end` or `until`, the
-- keywords that close a block.
function M.closes_block(token)
  return token.kind == "keyword" and BLOCK_CLOSERS[token.text] == true
end

return M
