-- sim.scenario_lines: the source line of every table and field of a
-- scenario file, so that a mistake found after the file ran can be
-- reported as FILE:LINE as well as by its key path.
--
-- A scenario is a Lua chunk, and a table built by a constructor keeps no
-- trace of where it was written. So load() tokenizes the file and wraps
-- each constructor `{ ... }` in a call that records, in a weak table, the
-- constructor's line and the line of each of its fields:
--
--   { name = "/a", tier = "Ultra" }
--   becomes
--   (MARK(3, { name = "/a", tier = "Ultra" }, { ["name"] = 3, ["tier"] = 3 }))
--
-- The rewrite adds text only inside lines, so error messages and
-- debug.getinfo lines stay those of the file. A call `f{...}` stays a call
-- because `f(...)` is one too. When the tokenizer cannot match the
-- brackets, the file runs unchanged and no lines are known.
local lua_tokens = require("mnem.lua_tokens")

local M = {}

-- The local name the rewritten chunk gives the recording function.
local MARK = "__mnem_scenario_mark"

-- Tables made by a constructor of a loaded scenario: table -> { line =,
-- fields = { [key] = line } }. Weak keys, so it never keeps a scenario alive.
local positions = setmetatable({}, { __mode = "k" })

local CLOSING = { ["}"] = "{", [")"] = "(", ["]"] = "[" }

-- Records in CONSTRUCTOR the line of the field that starts at token I.
local function record_field(constructor, tokens, i)
  local token, following = tokens[i], tokens[i + 1]
  if token.kind == "name" and following and following.kind == "punct" and following.text == "=" then
    constructor.fields[#constructor.fields + 1] = ("[%q]=%d"):format(token.text, token.line)
  elseif not (token.kind == "punct" and token.text == "[") then
    constructor.index = constructor.index + 1
    constructor.fields[#constructor.fields + 1] = ("[%d]=%d"):format(constructor.index, token.line)
  end
end

-- Returns SOURCE with every table constructor wrapped in a call of MARK,
-- or nil when its brackets and blocks do not match.
local function instrument(source)
  local tokens = lua_tokens.tokenize(source)
  local before, after, stack = {}, {}, {}
  for i, token in ipairs(tokens) do
    local top = stack[#stack]
    local punct = token.kind == "punct" and token.text
    if top and top.opener == "{" and top.expect_field and punct ~= "}" then
      top.expect_field = false
      record_field(top, tokens, i)
    end
    if punct == "{" then
      before[token.first] = ("(%s(%d,"):format(MARK, token.line)
      stack[#stack + 1] = { opener = "{", expect_field = true, fields = {}, index = 0 }
    elseif punct == "(" or punct == "[" then
      stack[#stack + 1] = { opener = punct }
    elseif punct and CLOSING[punct] then
      local open = table.remove(stack)
      if not open or open.opener ~= CLOSING[punct] then return nil end
      if punct == "}" then after[token.last] = (",{%s}))"):format(table.concat(open.fields, ",")) end
    elseif (punct == "," or punct == ";") and top and top.opener == "{" then
      top.expect_field = true
    elseif lua_tokens.opens_block(token) then
      stack[#stack + 1] = { opener = "block" }
    elseif lua_tokens.closes_block(token) then
      local open = table.remove(stack)
      if not open or open.opener ~= "block" then return nil end
    end
  end
  if #stack > 0 then return nil end
  local parts, position = {}, 1
  for _, token in ipairs(tokens) do
    if before[token.first] then
      parts[#parts + 1] = source:sub(position, token.first - 1)
      parts[#parts + 1] = before[token.first]
      position = token.first
    end
    if after[token.last] then
      parts[#parts + 1] = source:sub(position, token.last)
      parts[#parts + 1] = after[token.last]
      position = token.last + 1
    end
  end
  parts[#parts + 1] = source:sub(position)
  return table.concat(parts)
end

local function record(line, constructed, fields)
  positions[constructed] = { line = line, fields = fields }
  return constructed
end

--- Loads the scenario file PATH as a text chunk. Returns a function that
-- runs it (every table its constructors build records its lines), or nil
-- and the message of loadfile for a missing file or a syntax error.
function M.load(path)
  local chunk, load_error = loadfile(path, "t")
  if not chunk then return nil, load_error end
  local file = io.open(path, "rb")
  if not file then return chunk end
  local source = file:read("a")
  file:close()
  -- loadfile skips a UTF-8 byte order mark and a first line starting with
  -- "#"; load does not, so they are removed here, keeping the newline.
  source = source:gsub("^\239\187\191", ""):gsub("^#[^\n]*", "")
  local rewritten = instrument(source)
  local marked = rewritten and load(("local %s = ...; %s"):format(MARK, rewritten), "@" .. path, "t")
  if not marked then return chunk end
  return function() return marked(record) end
end

-- Splits the key path at the start of TEXT ("ssm.parameters[1].tier",
-- 'ecs.services["api"]', "faults[2]") into keys. Returns the keys.
local function path_keys(text)
  local keys = {}
  local first, position = text:match("^([%a_][%w_]*)()")
  if not first then return keys end
  keys[1] = first
  while true do
    local name, after = text:match("^%.([%a_][%w_]*)()", position)
    local key = name
    if not key then
      local index
      index, after = text:match("^%[(%d+)%]()", position)
      key = index and math.tointeger(tonumber(index))
    end
    if not key then
      local quoted
      quoted, after = text:match('^%[(%b"")%]()', position)
      key = quoted and quoted:sub(2, -2)
    end
    if not key then return keys end
    keys[#keys + 1] = key
    position = after
  end
end

--- Returns the line in its file of the entry that the scenario message
-- TEXT is about, or nil when it is unknown. TEXT starts with a key path
-- into the scenario table ROOT ("ssm.parameters[1].tier (parameter /a):
-- ..."). The line is that of the last key of the path found in ROOT,
-- refined to the field X of "unknown key X" and "invalid parameter X"
-- when the message names one.
function M.line_of(root, text)
  if not positions[root] then return nil end
  local keys = path_keys(text)
  local node, line = root, positions[root].line
  for _, key in ipairs(keys) do
    local position = type(node) == "table" and positions[node]
    if type(node) ~= "table" or node[key] == nil then break end
    node = node[key]
    if position and position.fields[key] then
      line = position.fields[key]
    elseif type(node) == "table" and positions[node] then
      line = positions[node].line
    end
  end
  local field = text:match("unknown key ([%w_%-]+)") or text:match("invalid parameter ([%w_]+)")
  local position = type(node) == "table" and positions[node]
  if field and position and position.fields[field] then line = position.fields[field] end
  return line
end

return M
