-- mnem.retry: retry policies for playbook steps and groups.
--
-- A policy is an ordered list of retriers. The first retrier whose `match`
-- matches an error decides, where a matcher is an error code or SQLSTATE,
-- an HTTP status, a function, or a list of these (mnem.errors.matches).
-- Retry n waits min(max_delay, interval * backoff^(n-1)) seconds, or a
-- uniform draw below that with full jitter. Retrying stops once
-- max_attempts attempts were made in total. An error that no retrier
-- matches is fatal at once.
local duration = require("mnem.duration")
local errors = require("mnem.errors")
local sys = require("mnem._sys")

local M = {}

local FIELDS = { "match", "interval", "backoff", "max_delay", "jitter", "max_attempts", "description" }
local FIELD_SET = {}
for _, name in ipairs(FIELDS) do FIELD_SET[name] = true end

-- Parses a duration for a retrier, raising its message without a source
-- position: the mistake is in the playbook, which WHERE names.
local function parse_duration(value, what)
  local ok, result = pcall(duration.parse, value, what)
  if ok then return result end
  error((tostring(result):gsub("^[^:\n]+:%d+: ", "")), 0)
end

--- Returns the entry of CANDIDATES closest to NAME by edit distance, or nil
-- when none is close enough to be a likely typo.
function M.closest(name, candidates)
  local best, best_distance
  for _, candidate in ipairs(candidates) do
    local a, b = tostring(name), candidate
    local previous = {}
    for j = 0, #b do previous[j] = j end
    for i = 1, #a do
      local current = { [0] = i }
      for j = 1, #b do
        local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
        current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      end
      previous = current
    end
    local d = previous[#b]
    if d <= math.max(2, math.max(#a, #b) // 2) and (not best_distance or d < best_distance) then
      best, best_distance = candidate, d
    end
  end
  return best
end

local function check_matcher(matcher, where)
  local kind = type(matcher)
  if kind == "string" or kind == "number" or kind == "function" then return end
  if kind == "table" then
    if #matcher == 0 then error(where .. ": match list is empty", 0) end
    for _, m in ipairs(matcher) do
      local k = type(m)
      if k ~= "string" and k ~= "number" and k ~= "function" then
        error(("%s: match entries must be error codes (strings), HTTP statuses (numbers) or functions, got a %s")
          :format(where, k), 0)
      end
    end
    return
  end
  error(("%s: match must be an error code, an HTTP status, a function or a list of these, got a %s")
    :format(where, kind), 0)
end

local function retryable(err) return type(err) == "table" and err.retryable == true end

local function normalize_retrier(raw, where)
  if type(raw) ~= "table" then
    error(("%s: each retrier must be a table, got a %s"):format(where, type(raw)), 0)
  end
  for key in pairs(raw) do
    if not FIELD_SET[key] then
      local hint = type(key) == "string" and M.closest(key, FIELDS)
      error(("%s: unknown retrier field %q%s"):format(where, tostring(key),
        hint and (" (did you mean %q?)"):format(hint) or ""), 0)
    end
  end
  local r = { description = raw.description }
  if raw.match == nil then
    r.match, r.match_text = retryable, "retryable errors"
  else
    check_matcher(raw.match, where)
    r.match = raw.match
  end
  r.interval = parse_duration(raw.interval or 1, where .. ": interval")
  r.backoff = raw.backoff or 2
  if type(r.backoff) ~= "number" or r.backoff < 1 then
    error(("%s: backoff must be a number of 1 or more, got %s"):format(where, tostring(raw.backoff)), 0)
  end
  if raw.max_delay ~= nil then r.max_delay = parse_duration(raw.max_delay, where .. ": max_delay") end
  r.jitter = raw.jitter or "none"
  if r.jitter ~= "none" and r.jitter ~= "full" then
    error(("%s: jitter must be \"none\" or \"full\", got %s"):format(where, tostring(raw.jitter)), 0)
  end
  r.max_attempts = raw.max_attempts or 3
  if math.type(r.max_attempts) ~= "integer" or r.max_attempts < 1 then
    error(("%s: max_attempts must be an integer of 1 or more, got %s"):format(where, tostring(raw.max_attempts)), 0)
  end
  return r
end

--- Validates POLICY (a list of retriers, one retrier table, or false for
-- "never retry") and returns the normalized list. Raises a string error
-- prefixed with WHERE on the first problem.
function M.normalize(policy, where)
  where = where or "retry"
  if policy == false then return {} end
  if type(policy) ~= "table" then
    error(("%s: expected a list of retriers, one retrier table or false, got a %s"):format(where, type(policy)), 0)
  end
  if policy[1] == nil and next(policy) ~= nil then
    return { normalize_retrier(policy, where) }
  end
  local list = {}
  for i, raw in ipairs(policy) do
    list[i] = normalize_retrier(raw, ("%s[%d]"):format(where, i))
  end
  return list
end

--- Returns the first retrier of the normalized POLICY that matches ERR, or nil.
function M.find(policy, err)
  for _, retrier in ipairs(policy or {}) do
    if errors.matches(err, retrier.match) then return retrier end
  end
  return nil
end

--- Returns the delay in seconds before retry number N (1 = the first retry)
-- under RETRIER, and the delay before jitter was applied.
function M.delay(retrier, n)
  local base = retrier.interval * retrier.backoff ^ (n - 1)
  if retrier.max_delay then base = math.min(base, retrier.max_delay) end
  if retrier.jitter == "full" then
    local bytes = sys.random_bytes(4)
    local fraction = string.unpack("<I4", bytes) / 4294967296
    return base * fraction, base
  end
  return base, base
end

local function describe_matcher(matcher)
  local kind = type(matcher)
  if kind == "function" then return "a function" end
  if kind == "table" then
    local parts = {}
    for _, m in ipairs(matcher) do parts[#parts + 1] = describe_matcher(m) end
    return table.concat(parts, ", ")
  end
  return tostring(matcher)
end

--- Returns a one-line text describing the normalized POLICY, for `mnem plan`.
function M.describe(policy)
  if not policy or #policy == 0 then return "no retry" end
  local parts = {}
  for _, r in ipairs(policy) do
    local text = ("on %s: up to %d attempts, every %s"):format(r.match_text or describe_matcher(r.match),
      r.max_attempts, duration.format(r.interval))
    if r.backoff ~= 1 then text = text .. (" x%g"):format(r.backoff) end
    if r.max_delay then text = text .. " (max " .. duration.format(r.max_delay) .. ")" end
    if r.jitter == "full" then text = text .. ", full jitter" end
    parts[#parts + 1] = text
  end
  return table.concat(parts, "; ")
end

return M
