-- sim.services.common: helpers shared by the simulated AWS services.
--
-- ARNs, deterministic identifiers, pagination tokens, timestamps, deep
-- copies, small input checks and the checks of scenario sections. Nothing
-- here keeps state: every function takes the world or the request context
-- it works on.
local model = require("aws.model")

local M = {}

--- Returns the state table of service NAME in WORLD, creating it empty.
function M.state(world, name)
  world.state = world.state or {}
  local state = world.state[name]
  if not state then
    state = {}
    world.state[name] = state
  end
  return state
end

--- Returns a random number in [0, 1) from the world's deterministic
-- generator (math.random when the world has none).
function M.random(world)
  if world and world.random then
    local r = world:random()
    if type(r) == "number" and r >= 0 and r < 1 then return r end
    if type(r) == "number" then return (r % 1000003) / 1000003 end
  end
  return math.random()
end

--- Returns N random characters from ALPHABET (lowercase hex by default).
function M.random_string(world, n, alphabet)
  alphabet = alphabet or "0123456789abcdef"
  local out = {}
  for i = 1, n do
    local k = math.floor(M.random(world) * #alphabet) + 1
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end

--- Returns a random UUID (version 4 layout) from the world's generator.
function M.uuid(world)
  local h = M.random_string(world, 32)
  return ("%s-%s-4%s-a%s-%s"):format(h:sub(1, 8), h:sub(9, 12), h:sub(14, 16), h:sub(18, 20), h:sub(21, 32))
end

--- Returns the ARN "arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE". REGION may be
-- "" (IAM, STS user ARNs).
function M.arn(service, region, account, resource)
  return ("arn:aws:%s:%s:%s:%s"):format(service, region, account, resource)
end

--- Returns the region of a request: the credential scope's, else the world's.
function M.region(ctx)
  return ctx.region or ctx.world.region or "us-east-1"
end

--- Returns the simulated time of the request, in epoch seconds.
function M.now(ctx)
  return ctx.world:now()
end

--- Returns epoch seconds T as epoch milliseconds (an integer).
function M.ms(t)
  return math.floor(t * 1000)
end

--- Returns epoch seconds T as an ISO-8601 UTC string with milliseconds.
function M.iso(t)
  local s = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. (".%03dZ"):format(math.floor((t - s) * 1000))
end

--- Returns a deep copy of VALUE (tables copied, functions shared), so a
-- response never aliases the service state.
function M.copy(value)
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do out[k] = M.copy(v) end
  return out
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Returns the standard base64 encoding of the bytes of S.
function M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chars = 4
    if not b then chars = 2 elseif not c then chars = 3 end
    for j = 1, 4 do
      if j <= chars then
        local k = ((n >> (6 * (4 - j))) & 63) + 1
        out[#out + 1] = B64:sub(k, k)
      else
        out[#out + 1] = "="
      end
    end
  end
  return table.concat(out)
end

--- Returns the bytes encoded by base64 text S, or nil when S is not base64.
function M.unbase64(s)
  s = s:gsub("%s", "")
  if #s % 4 ~= 0 or s:find("[^%w%+/=]") then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local n, pad = 0, 0
    for j = i, i + 3 do
      local ch = s:sub(j, j)
      local v = 0
      if ch == "=" then pad = pad + 1 else v = B64:find(ch, 1, true) - 1 end
      n = (n << 6) | v
    end
    local bytes = string.char((n >> 16) & 255, (n >> 8) & 255, n & 255)
    out[#out + 1] = bytes:sub(1, 3 - pad)
  end
  return table.concat(out)
end

local TOKEN_PREFIX = "mnem-sim:"

--- Returns an opaque pagination token that encodes list offset N.
function M.token(n)
  return M.base64(TOKEN_PREFIX .. tostring(n))
end

--- Returns the offset inside pagination token TOKEN, or nil when it is
-- not one of ours.
function M.token_offset(token)
  if type(token) ~= "string" then return nil end
  local text = M.unbase64(token)
  if not text or text:sub(1, #TOKEN_PREFIX) ~= TOKEN_PREFIX then return nil end
  local n = text:sub(#TOKEN_PREFIX + 1):match("^%d+$")
  return n and math.tointeger(tonumber(n))
end

--- Returns one page of LIST: the items after TOKEN (nil = from the start),
-- at most LIMIT of them, and the token of the next page (nil at the end).
-- Returns nil, "invalid" when TOKEN is not a token made by M.token.
function M.page(list, token, limit)
  local start = 0
  if token ~= nil and token ~= "" then
    start = M.token_offset(token)
    if not start or start > #list then return nil, "invalid" end
  end
  local out = {}
  for i = start + 1, math.min(#list, start + limit) do out[#out + 1] = list[i] end
  local next_token
  if start + limit < #list then next_token = M.token(start + limit) end
  return out, next_token
end

--- Returns the keys of table T, sorted.
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- Returns the values of table T ordered by their keys.
function M.sorted_values(t)
  local out = {}
  for _, k in ipairs(M.sorted_keys(t)) do out[#out + 1] = t[k] end
  return out
end

--- Returns true when S starts with PREFIX (plain text).
function M.starts_with(s, prefix)
  return type(s) == "string" and s:sub(1, #prefix) == prefix
end

--- Raises CODE through ctx.fail unless INPUT[FIELD] is present, with the
-- message AWS query services use for a missing parameter.
function M.require_field(ctx, input, field, code)
  local v = input[field]
  if v == nil or v == "" then
    ctx.fail(code or "MissingParameter",
      ("The request must contain the parameter %s"):format(field), 400)
  end
  return v
end

--- Returns the access key id named in the request's Authorization header
-- (or in X-Amz-Credential for a presigned query), or nil.
function M.access_key_id(ctx)
  local req = ctx.request
  local headers = req and req.headers or {}
  local auth = headers.authorization or ""
  local key = auth:match("Credential=([^/,%s]+)/")
  if not key and req and req.query then
    key = req.query:match("X%-Amz%-Credential=([^%%/&]+)")
  end
  return key
end

--- Returns TAGS (a list of {Key, Value}) as a map of key to value.
function M.tag_map(tags, key_field, value_field)
  local out = {}
  for _, tag in ipairs(tags or {}) do
    out[tag[key_field or "Key"]] = tag[value_field or "Value"]
  end
  return out
end

--- Returns MAP (key to value) as a list of {Key, Value} sorted by key.
function M.tag_list(map, key_field, value_field)
  local out = {}
  for _, k in ipairs(M.sorted_keys(map or {})) do
    out[#out + 1] = { [key_field or "Key"] = k, [value_field or "Value"] = map[k] }
  end
  return out
end

-- ---- scenario checks: a service's init raises a plain string naming the
-- key ("rds.instances[1].class: ..."), which sim.world reports with the
-- scenario file's name ----

-- Describes VALUE for a scenario message.
local function describe(value)
  if type(value) == "string" then return ("%q"):format(value) end
  if type(value) == "table" then return "a table" end
  return tostring(value)
end

--- Raises the scenario mistake MESSAGE about the key WHERE.
function M.scenario_fail(where, message)
  error(("%s: %s"):format(where, message), 0)
end

--- Checks that VALUE at WHERE is nil or a table whose keys are in KEYS
-- (a list; nil skips the key check). Returns VALUE, or {} for nil.
function M.scenario_table(where, value, keys)
  if value == nil then return {} end
  if type(value) ~= "table" then M.scenario_fail(where, "must be a table, got " .. describe(value)) end
  if keys then
    for key in pairs(value) do
      local known = false
      for _, k in ipairs(keys) do known = known or k == key end
      if not known then
        local hint = model.closest(key, keys)
        M.scenario_fail(where, ("unknown key %s (%s)"):format(tostring(key),
          hint and ("did you mean " .. hint .. "?") or ("keys: " .. table.concat(keys, ", "))))
      end
    end
  end
  return value
end

--- Checks that VALUE at WHERE is nil or a list of tables. Returns VALUE,
-- or {} for nil.
function M.scenario_list(where, value)
  if value == nil then return {} end
  if type(value) ~= "table" then M.scenario_fail(where, "must be a list of tables, got " .. describe(value)) end
  for key, item in pairs(value) do
    if math.type(key) ~= "integer" or key < 1 or key > #value then
      M.scenario_fail(where, ("must be a list, got key %s"):format(tostring(key)))
    end
    if type(item) ~= "table" then
      M.scenario_fail(("%s[%d]"):format(where, key), "must be a table, got " .. describe(item))
    end
  end
  return value
end

local KINDS = {
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" end,
  boolean = function(v) return type(v) == "boolean" end,
  ["non-negative number"] = function(v) return type(v) == "number" and v >= 0 and v == v and v < math.huge end,
  ["non-negative integer"] = function(v) return type(v) == "number" and math.tointeger(v) ~= nil and v >= 0 end,
  ["port number (1-65535)"] = function(v)
    return type(v) == "number" and math.tointeger(v) ~= nil and v >= 1 and v <= 65535
  end,
  ["string or number"] = function(v) return type(v) == "string" or type(v) == "number" end,
}

--- Checks that VALUE at WHERE is of KIND (string, number, boolean,
-- "non-negative number", "non-negative integer", "port number (1-65535)",
-- "string or number"), or nil when OPTIONAL. Returns VALUE.
function M.scenario_value(where, value, kind, optional)
  if value == nil then
    if optional then return nil end
    M.scenario_fail(where, ("is missing: expected a %s"):format(kind))
  end
  if not KINDS[kind](value) then M.scenario_fail(where, ("must be a %s, got %s"):format(kind, describe(value))) end
  return value
end

--- Checks that VALUE at WHERE is nil or one of ALLOWED (a list). Returns VALUE.
function M.scenario_enum(where, value, allowed)
  if value == nil then return nil end
  for _, v in ipairs(allowed) do
    if v == value then return value end
  end
  M.scenario_fail(where, ("must be one of %s, got %s"):format(table.concat(allowed, ", "), describe(value)))
end

return M
