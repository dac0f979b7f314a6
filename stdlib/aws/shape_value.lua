-- aws.shape_value: conversions of scalar values between Lua and the AWS wire.
--
-- Timestamps travel as ISO-8601 text in the query protocol and as epoch
-- seconds in JSON; playbooks see them as ISO-8601 UTC strings
-- "YYYY-MM-DDTHH:MM:SS[.fff]Z". Blobs travel base64-encoded. Numbers in
-- query bodies are written as Python's str() writes them, because the AWS
-- CLI (botocore) does, and request bodies are compared byte for byte.
local sys = require("mnem._sys")

local format_epoch, is_canonical_iso = sys.format_epoch, sys.is_canonical_iso

local M = {}

-- Calendar ----------------------------------------------------------------

-- Days since 1970-01-01 of a proleptic Gregorian date.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Inverse of days_from_civil: year, month, day.
local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m, d
end

-- Timestamps --------------------------------------------------------------

-- TWO_DIGITS[n] is n from 0 to 99 written with two digits.
local TWO_DIGITS = {}
for n = 0, 99 do TWO_DIGITS[n] = ("%02d"):format(n) end

-- Splits a number of epoch seconds into whole seconds and microseconds.
local function split_epoch(value)
  local seconds = math.floor(value)
  local micros = math.floor((value - seconds) * 1e6 + 0.5)
  if micros >= 1000000 then
    seconds, micros = seconds + 1, micros - 1000000
  end
  return math.tointeger(seconds) or seconds, micros
end

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

--- Returns the number of days in month MONTH (1 to 12) of YEAR, in the
-- proleptic Gregorian calendar.
function M.days_in_month(year, month)
  if month == 2 and year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0) then return 29 end
  return MONTH_DAYS[month]
end

--- Parses TEXT as an ISO-8601 date-time ("2024-01-02T03:04:05Z",
-- "2024-01-02T03:04:05.123+02:00", "2024-01-02 03:04:05", "2024-01-02"; no
-- zone means UTC) or as decimal epoch seconds. Returns whole epoch seconds
-- and microseconds, or nil when TEXT is not a timestamp, including a date
-- that does not exist (February 30).
function M.parse_timestamp(text)
  if type(text) == "string" and text:match("^%-?%d+%.?%d*$") and not text:match("^%d%d%d%d%-") then
    text = tonumber(text)
  end
  if type(text) == "number" then
    -- NaN, infinities and numbers beyond about 30 million years have no
    -- calendar date to write. The comparison is written so that NaN fails
    -- it and math.mininteger, whose math.abs overflows, is rejected too.
    if not (text > -1e15 and text < 1e15) then return nil end
    return split_epoch(text)
  end
  if type(text) ~= "string" then return nil end
  local y, mo, d, rest = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  local h, mi, s, frac, zone = "0", "0", "0", "", ""
  if rest ~= "" then
    h, mi, s, frac, zone = rest:match("^[Tt ](%d%d):(%d%d):(%d%d)%.?(%d*)(.*)$")
    if not h then return nil end
  end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > M.days_in_month(y, mo) or h > 23 or mi > 59 or s > 60 then return nil end
  local offset = 0
  if zone ~= "" and zone ~= "Z" and zone ~= "z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(zh) * 60 + tonumber(zm)) * 60
    if sign == "-" then offset = -offset end
  end
  local micros = 0
  if frac ~= "" then micros = tonumber((frac .. "000000"):sub(1, 6)) end
  local seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
  return seconds, micros
end

--- Formats whole epoch SECONDS and MICROS as ISO-8601 UTC. DIGITS is the
-- number of fraction digits written when MICROS is not zero (3 by default).
function M.format_iso(seconds, micros, digits)
  local days = seconds // 86400
  local rest = seconds - days * 86400
  local y, m, d = civil_from_days(days)
  local text
  if y >= 1000 and y <= 9999 and math.type(rest) == "integer" then
    -- Joining two-digit strings costs a quarter of string.format's six %d
    -- (callgrind: 2k against 8k instructions).
    text = TWO_DIGITS[y // 100] .. TWO_DIGITS[y % 100] .. "-" .. TWO_DIGITS[m] .. "-" .. TWO_DIGITS[d] .. "T"
      .. TWO_DIGITS[rest // 3600] .. ":" .. TWO_DIGITS[rest % 3600 // 60] .. ":" .. TWO_DIGITS[rest % 60]
  else
    text = ("%04d-%02d-%02dT%02d:%02d:%02d"):format(y, m, d, rest // 3600, rest % 3600 // 60, rest % 60)
  end
  micros = micros or 0
  digits = digits or 3
  local scaled = micros // math.tointeger(10 ^ (6 - digits))
  if scaled ~= 0 then
    if digits == 3 then
      text = text .. "." .. (scaled // 100) .. TWO_DIGITS[scaled % 100]
    else
      text = text .. ("."  .. "%0" .. digits .. "d"):format(scaled)
    end
  end
  return text .. "Z"
end

--- Returns VALUE (ISO-8601 text or epoch seconds) as the canonical
-- "YYYY-MM-DDTHH:MM:SS[.fff]Z", or nil when it is not a timestamp.
function M.to_iso(value)
  -- JSON responses carry epoch seconds, and every timestamp of every
  -- response passes here. For years 1970 to 9999 the C version writes the
  -- same text in a sixth of the instructions.
  if type(value) == "number" then
    local text = format_epoch(value)
    if text then return text end
  elseif type(value) == "string" and is_canonical_iso(value) then
    -- Query responses carry the canonical text already.
    return value
  end
  local seconds, micros = M.parse_timestamp(value)
  if not seconds then return nil end
  return M.format_iso(seconds, micros, 3)
end

--- Returns VALUE (ISO-8601 text or epoch seconds) as epoch seconds: an
-- integer when whole, else a float. Returns nil when it is not a timestamp.
function M.to_epoch(value)
  local seconds, micros = M.parse_timestamp(value)
  if not seconds then return nil end
  if micros == 0 then return seconds end
  return seconds + micros / 1e6
end

-- Numbers -----------------------------------------------------------------

--- Formats number VALUE as Python's str() does: integers plainly, floats
-- with the shortest digits that read back the same and a ".0" when whole.
function M.format_number(value)
  if math.type(value) == "integer" then return tostring(value) end
  if value ~= value then return "nan" end
  if value == math.huge then return "inf" end
  if value == -math.huge then return "-inf" end
  local text
  for precision = 1, 17 do
    text = ("%." .. precision .. "g"):format(value)
    if tonumber(text) == value then break end
  end
  local mantissa, exponent = text:match("^(-?[%d.]+)e([-+]%d+)$")
  if mantissa then
    local e = tonumber(exponent)
    if e >= -4 and e < 16 then
      -- Python writes these plainly; %f with enough digits matches.
      text = ("%.17f"):format(value):gsub("0+$", "")
      text = text:gsub("%.$", ".0")
      return text
    end
    return ("%se%s%02d"):format(mantissa, e < 0 and "-" or "+", math.abs(e))
  end
  if not text:find(".", 1, true) then text = text .. ".0" end
  return text
end

-- Base64 ------------------------------------------------------------------

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local DECODE = {}
for i = 1, #ALPHABET do DECODE[ALPHABET:byte(i)] = i - 1 end

local function sigv4_function(name)
  local ok, sigv4 = pcall(require, "mnem._sigv4")
  if ok and type(sigv4) == "table" and type(sigv4[name]) == "function" then return sigv4[name] end
  return nil
end

--- Encodes string DATA as base64 with padding.
function M.base64_encode(data)
  local native = sigv4_function("base64_encode")
  if native then return native(data) end
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = data:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chars = {}
    for k = 1, 4 do
      local index = (n >> (6 * (4 - k))) & 63
      chars[k] = ALPHABET:sub(index + 1, index + 1)
    end
    if not b then chars[3] = "=" end
    if not c then chars[4] = "=" end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end

--- Decodes base64 TEXT (whitespace ignored). Returns nil when TEXT is not
-- valid base64.
function M.base64_decode(text)
  local native = sigv4_function("base64_decode")
  if native then
    local ok, result = pcall(native, text)
    if ok then return result end
    return nil
  end
  text = text:gsub("%s", "")
  if #text % 4 ~= 0 then return nil end
  local out = {}
  for i = 1, #text, 4 do
    local n, pad = 0, 0
    for k = i, i + 3 do
      local byte = text:byte(k)
      local digit = DECODE[byte]
      if byte == 61 and k >= #text - 1 then
        digit, pad = 0, pad + 1
      elseif not digit or pad > 0 then
        return nil
      end
      n = (n << 6) | digit
    end
    local chunk = string.char((n >> 16) & 255, (n >> 8) & 255, n & 255)
    out[#out + 1] = chunk:sub(1, 3 - pad)
  end
  return table.concat(out)
end

return M
