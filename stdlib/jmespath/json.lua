-- jmespath.json: a JSON decoder and encoder that keep what JMESPath needs
-- and cjson drops: `[]` and `{}` stay different (arrays and objects are
-- marked as jmespath.types describes) and objects keep their key order.
--
-- Used for backtick literals, for `to_string`, and by tests that load the
-- JMESPath compliance suite. null decodes to cjson.null. Numbers decode as
-- Lua integers when written without a fraction or exponent and fit in 64
-- bits, else as floats.
local types = require("jmespath.types")

local M = {}

local NULL = types.NULL

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

-- The decoder's state: the text and a 1-based position in it.
local Decoder = {}
Decoder.__index = Decoder

function Decoder:fail(message)
  error({ json_error = ("%s at byte %d"):format(message, self.pos) }, 0)
end

function Decoder:skip_space()
  self.pos = self.text:find("[^ \t\r\n]", self.pos) or #self.text + 1
end

function Decoder:peek()
  return self.text:sub(self.pos, self.pos)
end

function Decoder:hex4()
  local digits = self.text:match("^%x%x%x%x", self.pos)
  if not digits then self:fail("invalid \\u escape") end
  self.pos = self.pos + 4
  return tonumber(digits, 16)
end

-- Reads one \u escape (a surrogate pair counts as one) after the "\u".
function Decoder:unicode_escape()
  local code = self:hex4()
  if code >= 0xD800 and code <= 0xDBFF then
    if self.text:sub(self.pos, self.pos + 1) ~= "\\u" then self:fail("unpaired surrogate") end
    self.pos = self.pos + 2
    local low = self:hex4()
    if low < 0xDC00 or low > 0xDFFF then self:fail("invalid low surrogate") end
    code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
  elseif code >= 0xDC00 and code <= 0xDFFF then
    self:fail("unpaired surrogate")
  end
  return utf8.char(code)
end

function Decoder:string()
  self.pos = self.pos + 1 -- opening quote
  local parts = {}
  while true do
    local stop = self.text:find('["\\%c]', self.pos)
    if not stop then self:fail("unterminated string") end
    parts[#parts + 1] = self.text:sub(self.pos, stop - 1)
    local c = self.text:sub(stop, stop)
    self.pos = stop + 1
    if c == '"' then break end
    if c ~= "\\" then self:fail("control character in string") end
    local e = self.text:sub(self.pos, self.pos)
    self.pos = self.pos + 1
    if ESCAPES[e] then
      parts[#parts + 1] = ESCAPES[e]
    elseif e == "u" then
      parts[#parts + 1] = self:unicode_escape()
    else
      self.pos = self.pos - 1
      self:fail("invalid escape")
    end
  end
  return table.concat(parts)
end

function Decoder:number()
  local text = self.text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", self.pos)
  if not text or not M.is_number_text(text) then self:fail("invalid number") end
  self.pos = self.pos + #text
  return M.to_number(text)
end

function Decoder:literal(word, value)
  if self.text:sub(self.pos, self.pos + #word - 1) ~= word then self:fail("invalid value") end
  self.pos = self.pos + #word
  return value
end

function Decoder:array()
  self.pos = self.pos + 1
  local items = {}
  self:skip_space()
  if self:peek() == "]" then
    self.pos = self.pos + 1
    return types.array(items)
  end
  while true do
    items[#items + 1] = self:value()
    self:skip_space()
    local c = self:peek()
    self.pos = self.pos + 1
    if c == "]" then return types.array(items) end
    if c ~= "," then self.pos = self.pos - 1; self:fail("expected ',' or ']'") end
  end
end

function Decoder:object()
  self.pos = self.pos + 1
  local members, keys = {}, {}
  self:skip_space()
  if self:peek() == "}" then
    self.pos = self.pos + 1
    return types.object(members, keys)
  end
  while true do
    self:skip_space()
    if self:peek() ~= '"' then self:fail("expected a string key") end
    local key = self:string()
    self:skip_space()
    if self:peek() ~= ":" then self:fail("expected ':'") end
    self.pos = self.pos + 1
    if members[key] == nil then keys[#keys + 1] = key end
    members[key] = self:value()
    self:skip_space()
    local c = self:peek()
    self.pos = self.pos + 1
    if c == "}" then return types.object(members, keys) end
    if c ~= "," then self.pos = self.pos - 1; self:fail("expected ',' or '}'") end
  end
end

function Decoder:value()
  self:skip_space()
  local c = self:peek()
  if c == "{" then return self:object() end
  if c == "[" then return self:array() end
  if c == '"' then return self:string() end
  if c == "t" then return self:literal("true", true) end
  if c == "f" then return self:literal("false", false) end
  if c == "n" then return self:literal("null", NULL) end
  if c:match("[-%d]") then return self:number() end
  self:fail(c == "" and "unexpected end of text" or "unexpected character")
end

--- Returns true when TEXT is exactly a JSON number.
function M.is_number_text(text)
  local int, frac, exp = text:match("^-?(%d+)(%.?%d*)([eE]?[-+]?%d*)$")
  if not int then return false end
  if #int > 1 and int:sub(1, 1) == "0" then return false end
  if frac == "." or exp:match("^[eE][-+]?$") then return false end
  return true
end

--- Converts TEXT, a valid JSON number, to an integer when it has no
-- fraction or exponent and fits, else to a float.
function M.to_number(text)
  if not text:find("[.eE]") then
    local n = math.tointeger(tonumber(text))
    if n and tostring(n) == (text:gsub("^%-0$", "0")) then return n end
  end
  return tonumber(text) + 0.0
end

--- Decodes JSON TEXT. Returns the value, or nil and a message.
function M.decode(text)
  local d = setmetatable({ text = text, pos = 1 }, Decoder)
  local ok, value = pcall(function()
    local v = d:value()
    d:skip_space()
    if d.pos <= #text then d:fail("trailing characters") end
    return v
  end)
  if ok then return value end
  if type(value) == "table" and value.json_error then return nil, value.json_error end
  error(value, 0)
end

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    if c == "\n" then return "\\n" end
    if c == "\t" then return "\\t" end
    if c == "\r" then return "\\r" end
    return ("\\u%04x"):format(c:byte())
  end) .. '"'
end

--- Formats number N as JSON: integers in full, floats in the shortest
-- form that reads back as the same float, with ".0" when integral.
function M.encode_number(n)
  if math.type(n) == "integer" then return tostring(n) end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  local text
  for digits = 15, 17 do
    text = ("%." .. digits .. "g"):format(n)
    if tonumber(text) == n then break end
  end
  if not text:find("[.eEn]") then text = text .. ".0" end
  return text
end

local function encode(v, out)
  local kind = type(v)
  if v == nil or v == NULL then
    out[#out + 1] = "null"
  elseif kind == "string" then
    out[#out + 1] = encode_string(v)
  elseif kind == "number" then
    out[#out + 1] = M.encode_number(v)
  elseif kind == "boolean" then
    out[#out + 1] = tostring(v)
  elseif kind == "table" and types.is_array(v) then
    out[#out + 1] = "["
    for i = 1, #v do
      if i > 1 then out[#out + 1] = "," end
      encode(v[i], out)
    end
    out[#out + 1] = "]"
  elseif kind == "table" then
    out[#out + 1] = "{"
    for i, k in ipairs(types.keys(v)) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = encode_string(k)
      out[#out + 1] = ":"
      encode(v[k], out)
    end
    out[#out + 1] = "}"
  else
    out[#out + 1] = "null"
  end
end

--- Encodes V as compact JSON text (no spaces), objects in the key order
-- jmespath.types defines. Values JSON cannot hold become null.
function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

return M
