-- mnem.misuse: raises a misuse error at the playbook line that made the
-- mistake.
--
-- A fixed error() level counts frames from the raising function. The
-- standard library reaches many of its checks through a metamethod
-- (`aws.rdss`, `exec{...}`), a non-raising wrapper (`aws.rds.try.x`,
-- `aws.try`) or a shared helper, so one check sits at different depths.
-- M.raise instead names the nearest Lua function up the stack that is not
-- part of mnem's standard library: the playbook, a module of its own or a
-- test script.
local embed = require("mnem._embed")

local M = {}

-- Whether the function with debug source SOURCE comes from mnem's standard
-- library. Its chunk name is then "@stdlib/PATH" and PATH is built into the
-- binary, so a user's own file in a folder named stdlib/ does not count.
local stdlib_sources = {}
local function is_stdlib(source)
  if source:sub(1, 8) ~= "@stdlib/" then return false end
  local known = stdlib_sources[source]
  if known ~= nil then return known end
  local path = "bytecode/" .. source:sub(9)
  known = false
  for _, found in ipairs(embed.list(path)) do
    if found == path then known = true end
  end
  stdlib_sources[source] = known
  return known
end

-- Returns the level, counted inside this function, of the nearest Lua
-- function at level FIRST or above that is outside the standard library.
-- Returns nil when there is none, as for a recipe's step run by the engine.
local function outside_level(first)
  local level = first
  while true do
    local info = debug.getinfo(level, "S")
    if not info then return nil end
    if info.what ~= "C" and not is_stdlib(info.source) then return level end
    level = level + 1
  end
end

-- Returns the name of the chunk with debug source SOURCE: a file's whole
-- path, or the whole name given to load(). short_src would cut either to
-- 60 bytes, and the masking of secrets needs whole values. A chunk loaded
-- from a string without a name is "[string]", because short_src would
-- quote the start of its code, which may hold a secret cut at any byte.
local function chunk_name(source)
  local first = source:sub(1, 1)
  if first == "@" or first == "=" then return source:sub(2) end
  return "[string]"
end

--- Returns where the function calling this one was called from outside
-- mnem's standard library, or nil when there is no such caller. The text
-- is "FILE:LINE" of the nearest such Lua function. Up to two of its own
-- callers outside the library follow as ", called from FILE:LINE", so a
-- user's module line comes with the playbook line that called it.
function M.position()
  local places = {}
  -- Level 3 inside outside_level is the caller of the function calling
  -- M.position; outside_level counts one level more than this function.
  local found = outside_level(4)
  while found and #places < 3 do
    local info = debug.getinfo(found - 1, "Sl")
    if info and info.currentline >= 0 then
      places[#places + 1] = chunk_name(info.source) .. ":" .. info.currentline
    end
    found = outside_level(found + 1)
  end
  if #places == 0 then return nil end
  return table.concat(places, ", called from ")
end

--- Raises MESSAGE (a string) prefixed with the file and line of the
-- nearest caller outside mnem's standard library. When every Lua caller
-- belongs to the standard library, it raises at LEVEL instead, counted as
-- error() counts it in the calling function (0 adds no position).
function M.raise(message, level)
  -- Inside outside_level, level 3 is the function that called M.raise and
  -- level 4 its caller. Each is one level lower here.
  local found = outside_level(4)
  if found then error(message, found - 1) end
  error(message, level > 0 and level + 1 or 0)
end

return M
