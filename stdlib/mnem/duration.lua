-- mnem.duration: durations written the way runbooks write them.
--
-- "90s", "40m", "1h30m", "1.5h", "250ms" and plain numbers (seconds) all
-- become a number of seconds. Playbook fields (timeout, deadline, retry
-- intervals) and primitives (waits) accept any of these forms.
local M = {}

local UNIT = { ms = 0.001, s = 1, m = 60, h = 3600, d = 86400 }

--- Parses TEXT ("1h30m", "90s", "250ms", or a number of seconds) and
-- returns seconds, or nil and a message saying what is wrong.
function M.try_parse(text)
  if type(text) == "number" then
    if text ~= text or text < 0 or text == math.huge then
      return nil, ("%s is not a valid duration: use a number of seconds of 0 or more"):format(tostring(text))
    end
    return text
  end
  if type(text) ~= "string" then
    return nil, ("expected a duration such as \"90s\", \"40m\" or \"1h30m\", got a %s"):format(type(text))
  end
  local trimmed = text:match("^%s*(.-)%s*$")
  local plain = tonumber(trimmed)
  if plain then return M.try_parse(plain) end
  if trimmed == "" then
    return nil, "expected a duration such as \"90s\", \"40m\" or \"1h30m\", got an empty string"
  end
  local total, position = 0, 1
  while position <= #trimmed do
    local number, unit, stop = trimmed:match("^(%d+%.?%d*)(%a+)()", position)
    if not number or not UNIT[unit] then
      return nil, ("%q is not a valid duration: use numbers with units ms, s, m, h or d, such as \"1h30m\"")
        :format(text)
    end
    total = total + tonumber(number) * UNIT[unit]
    position = stop
  end
  return total
end

--- Returns seconds for VALUE, or raises a string error that names WHAT
-- (for example 'step "Create": timeout') and the accepted forms, at the
-- nearest caller outside mnem's standard library (see mnem.misuse).
function M.parse(value, what)
  local seconds, message = M.try_parse(value)
  if not seconds then
    -- A bad duration reaches parse through sleep, wait, exec, http and the
    -- waiters, so the message names the nearest caller outside mnem.
    require("mnem.misuse").raise((what and (what .. ": ") or "") .. message, 2)
  end
  return seconds
end

--- Formats SECONDS for people: "45s", "2m05s", "1h30m0s", "0.25s".
function M.format(seconds)
  if seconds == nil then return "-" end
  if seconds < 10 and seconds ~= math.floor(seconds) then
    return ("%.2fs"):format(seconds)
  end
  local whole = math.floor(seconds + 0.5)
  local h, m, s = whole // 3600, whole % 3600 // 60, whole % 60
  if h > 0 then return ("%dh%02dm%02ds"):format(h, m, s) end
  if m > 0 then return ("%dm%02ds"):format(m, s) end
  return ("%ds"):format(s)
end

return M
