-- pg.sql: SQL text helpers for the pg module that need no connection.
--
-- Quoting of identifiers and literals, the conversion of Lua values to
-- statement parameters, the read/write classification used by dry runs,
-- and the search for passwords in connection strings so they can be marked
-- secret before libpq parses them.
local misuse = require("mnem.misuse")

local M = {}

-- PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes).
local MAX_IDENTIFIER_BYTES = 63

local function check_text(fn, what, text)
  if text:find("\0", 1, true) then
    misuse.raise(("%s: %s contains a NUL byte, which PostgreSQL text cannot hold"):format(fn, what), 3)
  end
  if not utf8.len(text) then
    misuse.raise(("%s: %s is not valid UTF-8"):format(fn, what), 3)
  end
end

--- Quotes NAME as an SQL identifier: wraps it in double quotes and doubles
-- any double quote inside, so any name (spaces, quotes, unicode) is taken
-- literally. Raises for a non-string, an empty name, a NUL byte, invalid
-- UTF-8, or a name longer than 63 bytes (PostgreSQL would truncate it).
function M.quote_ident(name)
  if type(name) ~= "string" then
    misuse.raise(("pg.quote_ident: argument 1 must be a string, got a %s"):format(type(name)), 2)
  end
  if name == "" then misuse.raise("pg.quote_ident: argument 1 must not be empty", 2) end
  check_text("pg.quote_ident", "the name", name)
  if #name > MAX_IDENTIFIER_BYTES then
    misuse.raise(("pg.quote_ident: name %q is %d bytes long; PostgreSQL truncates names after %d bytes"):format(
      name, #name, MAX_IDENTIFIER_BYTES), 2)
  end
  return '"' .. name:gsub('"', '""') .. '"'
end

--- Formats the number N as PostgreSQL parameter text: integers exactly,
-- floats with the fewest digits that read back as the same double, and
-- NaN and infinities in PostgreSQL's spelling.
function M.number_text(n)
  if math.type(n) == "integer" then return ("%d"):format(n) end
  if n ~= n then return "NaN" end
  if n == math.huge then return "Infinity" end
  if n == -math.huge then return "-Infinity" end
  for digits = 15, 17 do
    local text = ("%." .. digits .. "g"):format(n)
    if tonumber(text) == n then return text end
  end
  return ("%.17g"):format(n)
end

--- Quotes VALUE as an SQL literal. Strings are wrapped in single quotes
-- with quotes doubled. A string containing a backslash becomes an E''
-- literal with backslashes doubled, so the result means the same whatever
-- standard_conforming_strings is. nil and pg.null give NULL, booleans
-- TRUE or FALSE, numbers their quoted text.
function M.quote_literal(value, null)
  local kind = type(value)
  if value == nil or (null ~= nil and value == null) then return "NULL" end
  if kind == "boolean" then return value and "TRUE" or "FALSE" end
  if kind == "number" then return "'" .. M.number_text(value) .. "'" end
  if kind ~= "string" then
    misuse.raise(("pg.quote_literal: argument 1 must be a string, number, boolean or nil, got a %s"):format(kind), 2)
  end
  check_text("pg.quote_literal", "the value", value)
  local quoted = value:gsub("'", "''")
  if quoted:find("\\", 1, true) then
    return "E'" .. quoted:gsub("\\", "\\\\") .. "'"
  end
  return "'" .. quoted .. "'"
end

--- Converts parameter number INDEX of function FN to the text libpq sends,
-- or false for SQL NULL. Raises for tables and other values with no SQL
-- form, naming the parameter.
function M.encode_param(fn, index, value, null)
  local kind = type(value)
  if value == nil or value == null then return false end
  if kind == "string" then
    if value:find("\0", 1, true) then
      misuse.raise(("%s: parameter $%d contains a NUL byte, which PostgreSQL text cannot hold"):format(fn, index), 3)
    end
    return value
  end
  if kind == "boolean" then return value and "true" or "false" end
  if kind == "number" then return M.number_text(value) end
  misuse.raise(("%s: parameter $%d must be a string, number, boolean, nil or pg.null, got a %s"):format(
    fn, index, kind), 3)
end

-- ---- read/write classification for dry runs ----

-- Replaces comments, string literals, quoted identifiers and dollar-quoted
-- bodies with spaces, so the keyword search finds only SQL words.
local function strip_quoted(sql)
  local out, i, n = {}, 1, #sql
  while i <= n do
    local c, pair = sql:sub(i, i), sql:sub(i, i + 1)
    if pair == "--" then
      i = (sql:find("\n", i, true) or n) + 1
      out[#out + 1] = " "
    elseif pair == "/*" then
      local depth = 0
      repeat
        local p = sql:sub(i, i + 1)
        if p == "/*" then depth, i = depth + 1, i + 2
        elseif p == "*/" then depth, i = depth - 1, i + 2
        else i = i + 1 end
      until depth == 0 or i > n
      out[#out + 1] = " "
    elseif c == "'" or c == '"' then
      local escapes = c == "'" and sql:sub(i - 1, i - 1):match("[eE]") ~= nil
      i = i + 1
      while i <= n do
        local d = sql:sub(i, i)
        if escapes and d == "\\" then i = i + 2
        elseif d == c and sql:sub(i + 1, i + 1) == c then i = i + 2
        elseif d == c then break
        else i = i + 1 end
      end
      i = i + 1
      out[#out + 1] = " "
    elseif c == "$" and sql:match("^%$[%a_]*[%w_]*%$", i) and not sql:sub(i - 1, i - 1):match("[%w_]") then
      local tag = sql:match("^%$[%a_]*[%w_]*%$", i)
      local close = sql:find(tag, i + #tag, true)
      i = close and close + #tag or n + 1
      out[#out + 1] = " "
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

local READ_FIRST_WORDS = { SELECT = true, SHOW = true, VALUES = true, TABLE = true, WITH = true, EXPLAIN = true }

-- Words that make a statement count as a write even after a read keyword:
-- data-modifying CTEs, SELECT INTO, EXPLAIN ANALYZE (which executes), row
-- locks, and functions known to change state.
local WRITE_WORDS = {}
for word in ([[INSERT UPDATE DELETE MERGE INTO TRUNCATE COPY CREATE DROP ALTER GRANT REVOKE CALL DO
    ANALYZE ANALYSE VACUUM REINDEX CLUSTER REFRESH NOTIFY LISTEN LOCK SHARE NEXTVAL SETVAL SET_CONFIG
    PG_TERMINATE_BACKEND PG_CANCEL_BACKEND PG_RELOAD_CONF PG_ROTATE_LOGFILE PG_SWITCH_WAL LO_IMPORT
    LO_EXPORT LO_UNLINK LO_CREATE PG_ADVISORY_LOCK PG_ADVISORY_XACT_LOCK DBLINK_EXEC]]):gmatch("%S+") do
  WRITE_WORDS[word] = true
end

--- Returns true when SQL only reads: its first word is SELECT, SHOW,
-- VALUES, TABLE, WITH or EXPLAIN, and no word outside comments and quotes
-- is a data-changing keyword (INSERT, UPDATE, DELETE, INTO, ANALYZE, ...)
-- or a known state-changing function (nextval, setval, set_config, ...).
-- Anything else counts as a write. NOTE: a SELECT calling some other
-- function with side effects is counted as a read.
function M.is_read_only(sql)
  local words = strip_quoted(sql):upper()
  local first = words:match("[%a_][%w_]*")
  if not first or not READ_FIRST_WORDS[first] then return false end
  for word in words:gmatch("[%a_][%w_]*") do
    if WRITE_WORDS[word] then return false end
  end
  return true
end

-- ---- passwords inside connection strings ----

local function percent_decode(text)
  return (text:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

--- Returns the passwords that TEXT (a keyword=value string or a URI)
-- appears to contain, raw and percent-decoded. It runs before libpq parses
-- the string, so even a string libpq rejects has its password masked.
function M.conninfo_passwords(text)
  local found = {}
  local function add(value)
    if value and value ~= "" then
      found[#found + 1] = value
      found[#found + 1] = percent_decode(value)
    end
  end
  local userinfo = text:match("^%a[%w+.-]*://([^/?#]*)@")
  if userinfo then add(userinfo:match("^[^:]*:(.*)$")) end
  for value in text:gmatch("[?&]password=([^&#]*)") do add(value) end
  for quoted in text:gmatch("password%s*=%s*'(.-[^\\])'") do
    add(quoted)
    add((quoted:gsub("\\(.)", "%1")))
  end
  for plain in text:gmatch("password%s*=%s*([^%s'][^%s]*)") do add(plain) end
  return found
end

return M
