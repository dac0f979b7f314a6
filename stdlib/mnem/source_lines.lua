-- mnem.source_lines: the lines of the fields of a table constructor in a
-- Lua file, so that a mistake in a playbook's fields found after the file
-- ran can be reported at the field's own line.
--
-- A table built by a constructor keeps no trace of where it was written,
-- so the file is read again and tokenized. Only constructors written in
-- place are found: a field whose value is a variable has its own line, but
-- the fields of the table the variable refers to are not known.
local lua_tokens = require("mnem.lua_tokens")

local M = {}

local function is_punct(token, text)
  return token ~= nil and token.kind == "punct" and token.text == text
end

-- Returns the index of the first token at or after I that ends the
-- expression starting at I: a "," ";" or closing bracket outside any
-- bracket or block opened after I, or #TOKENS + 1.
local function expression_end(tokens, i)
  local depth = 0
  while tokens[i] do
    local token = tokens[i]
    local text = token.text
    if token.kind == "punct" then
      if text == "(" or text == "{" or text == "[" then
        depth = depth + 1
      elseif text == ")" or text == "}" or text == "]" then
        if depth == 0 then return i end
        depth = depth - 1
      elseif (text == "," or text == ";") and depth == 0 then
        return i
      end
    elseif lua_tokens.opens_block(token) then
      depth = depth + 1
    elseif lua_tokens.closes_block(token) then
      depth = depth - 1
    end
    i = i + 1
  end
  return i
end

-- Returns the key of a "[KEY] =" field whose KEY is the single token
-- TOKEN, or nil when that key is not a plain string or integer.
local function bracket_key(token)
  if token.kind == "number" then return math.tointeger(tonumber(token.text)) end
  if token.kind == "string" and token.text:find("^[\"']") then
    local inner = token.text:sub(2, -2)
    if not inner:find("\\", 1, true) then return inner end
  end
  return nil
end

local read_constructor

-- Reads the constructor entry starting at token I into NODE, INDEX being
-- the count of positional entries before it. Returns the index of the
-- token after the entry and the new positional count.
local function read_entry(tokens, i, node, index)
  local token, key, value = tokens[i], nil, i
  if token.kind == "name" and is_punct(tokens[i + 1], "=") then
    key, value = token.text, i + 2
  elseif is_punct(token, "[") then
    local close = expression_end(tokens, i + 1)
    if close == i + 2 then key = bracket_key(tokens[i + 1]) end
    value = close + 2
  else
    index = index + 1
    key = index
  end
  if key ~= nil then node.fields[key] = token.line end
  if key ~= nil and is_punct(tokens[value], "{") then
    local child, after = read_constructor(tokens, value)
    node.tables[key] = child
    value = after
  end
  return expression_end(tokens, value), index
end

-- Reads the constructor whose "{" is token I. Returns its positions
-- { line, fields = { [key] = line }, tables = { [key] = positions } } and
-- the index of the token after its "}".
read_constructor = function(tokens, i)
  local node = { line = tokens[i].line, fields = {}, tables = {} }
  local index = 0
  i = i + 1
  while tokens[i] and not is_punct(tokens[i], "}") do
    i, index = read_entry(tokens, i, node, index)
    if is_punct(tokens[i], ",") or is_punct(tokens[i], ";") then
      i = i + 1
    elseif not is_punct(tokens[i], "}") then
      -- A bracket that does not match (the file has a syntax error, which
      -- loadfile reports): stop rather than guess.
      return node, #tokens + 1
    end
  end
  return node, i + 1
end

-- Returns the index of the "{" of the table passed to the call of the name
-- CALLEE on line LINE (`playbook { ... }` or `playbook({ ... })`), or nil.
local function call_constructor(tokens, callee, line)
  for i, token in ipairs(tokens) do
    if token.line == line and token.kind == "name" and token.text == callee then
      if is_punct(tokens[i + 1], "{") then return i + 1 end
      if is_punct(tokens[i + 1], "(") and is_punct(tokens[i + 2], "{") then return i + 2 end
    end
  end
  return nil
end

-- Returns the index of the "{" of the last `return { ... }` of the main
-- chunk, outside any function or block, or nil.
local function returned_constructor(tokens)
  local depth, found = 0, nil
  for i, token in ipairs(tokens) do
    if lua_tokens.opens_block(token) then
      depth = depth + 1
    elseif lua_tokens.closes_block(token) then
      depth = depth - 1
    elseif token.kind == "keyword" and token.text == "return" and depth == 0 and is_punct(tokens[i + 1], "{") then
      found = i + 1
    end
  end
  return found
end

-- Tokens of the files read so far, by path. A check reads each file once.
local cache = {}

local function tokens_of(path)
  local cached = cache[path]
  if cached then return cached end
  local file = io.open(path, "rb")
  if not file then return nil end
  local source = file:read("a") or ""
  file:close()
  -- loadfile skips a first line starting with "#", so the lines count
  -- the same either way as long as its newline stays.
  cached = lua_tokens.tokenize((source:gsub("^#[^\n]*", "")))
  cache[path] = cached
  return cached
end

--- Returns the positions of the table constructor passed to the call of
-- the global CALLEE on line LINE of the Lua file PATH, or, with CALLEE
-- nil, of the table the file's main chunk returns. Positions are
-- { line, fields = { [key] = line }, tables = { [key] = positions } } for
-- the fields written in place, positional entries keyed 1, 2, ...
-- Returns nil when the file cannot be read or no such constructor is found.
function M.constructor(path, callee, line)
  local tokens = tokens_of(path)
  if not tokens then return nil end
  local first
  if callee then first = call_constructor(tokens, callee, line) else first = returned_constructor(tokens) end
  if not first then return nil end
  return (read_constructor(tokens, first))
end

--- Returns the line of the field at KEYS (a list of keys, such as { "vars",
-- "env", "default" }) in POSITIONS (from M.constructor). When the path
-- leaves the fields written in place, returns the line of the deepest
-- field found, or POSITIONS.line when even the first key is not found.
function M.field_line(positions, keys)
  local line, node = positions.line, positions
  for _, key in ipairs(keys) do
    if not node or node.fields[key] == nil then break end
    line = node.fields[key]
    node = node.tables[key]
  end
  return line
end

--- Forgets the files read so far, so that a file changed since is read again.
function M.forget()
  cache = {}
end

return M
