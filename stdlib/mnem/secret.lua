-- mnem.secret: values that must never be shown.
--
-- A value marked secret is remembered for the life of the process, and
-- `redact` replaces every occurrence of it with a fixed mask. The log, the
-- run record, error messages, reports and dry-run output all pass through
-- `redact`, so a primitive only has to mark what it reads (a SecureString, a
-- password, a secret key) and the value can no longer reach any output.
local M = {}

M.MASK = "********"

-- Public placeholder credentials that protect nothing: the local
-- simulator and other AWS emulators accept the secret key "test". Masking
-- it would turn every "test" in output (mnemosys-test-api) into the mask.
local PLACEHOLDERS = { test = true }

local known = {}      -- secret string -> true
local ordered = {}    -- the same strings, longest first

local function rebuild()
  ordered = {}
  for value in pairs(known) do ordered[#ordered + 1] = value end
  table.sort(ordered, function(a, b) return #a > #b end)
end

--- Marks VALUE (a string, or a number turned into one) as secret.
-- Returns VALUE unchanged so a call can wrap an expression. Empty strings,
-- nil and the public placeholder "test" are ignored.
function M.mark(value)
  if value == nil then return value end
  local text = tostring(value)
  if text ~= "" and not known[text] and not PLACEHOLDERS[text] then
    known[text] = true
    -- A secret with a quote, a backslash or a control character (a PEM
    -- key) appears JSON-escaped when a table holding it is encoded for a
    -- log line or a record; that form is masked too.
    local ok, encoded = pcall(require("cjson").encode, text)
    if ok then
      local escaped = encoded:sub(2, -2)
      if escaped ~= text then known[escaped] = true end
    end
    -- Quoting changes a secret with a quote or a backslash in the forms
    -- mnem itself writes: a shell word in exec's command line ('\'' for
    -- each quote), and an SQL literal ('' for each quote, \\ for each
    -- backslash in an E'' string). Those forms are masked too.
    if text:find("'", 1, true) then
      known[(text:gsub("'", "'\\''"))] = true
      known[(text:gsub("'", "''"))] = true
    end
    if text:find("[\\']") then
      known[(text:gsub("'", "''"):gsub("\\", "\\\\"))] = true
    end
    rebuild()
  end
  return value
end

--- Returns true when VALUE was marked secret.
function M.is_secret(value)
  return value ~= nil and known[tostring(value)] == true
end

local function escape_pattern(text)
  return (text:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

--- Returns TEXT with every marked secret replaced by the mask.
function M.redact(text)
  if type(text) ~= "string" or #ordered == 0 then return text end
  for _, value in ipairs(ordered) do
    if text:find(value, 1, true) then
      text = text:gsub(escape_pattern(value), M.MASK)
    end
  end
  return text
end

-- Returns key K, masked only when the whole key is a secret: a secret
-- that merely occurs inside a key ("status" holding "at") must not change
-- the structure of the value, or readers lose the fields they look for.
local function redact_key(k)
  if type(k) == "string" and known[k] then return M.MASK end
  return k
end

--- Returns a deep copy of VALUE with every secret string masked.
-- String values are masked wherever a secret occurs in them; a key only
-- when it equals a secret. Tables met twice are copied once; cycles are cut.
function M.redact_value(value, seen)
  local kind = type(value)
  if kind == "string" then return M.redact(value) end
  if kind ~= "table" then return value end
  seen = seen or {}
  if seen[value] then return seen[value] end
  local copy = {}
  seen[value] = copy
  for k, v in pairs(value) do
    copy[redact_key(k)] = M.redact_value(v, seen)
  end
  return setmetatable(copy, getmetatable(value))
end

return M
