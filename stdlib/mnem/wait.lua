-- mnem.wait: poll until a condition holds.
--
--   wait.until_(function()
--     local s = aws.ecs.describe_services{ cluster = c, services = { s } }
--     return s.services[1].runningCount == 2, s.services[1].status
--   end, { timeout = "10m", interval = "5s", description = "service running 2 tasks" })
--
-- `until` is a Lua keyword, so the function is spelled `until_` (and also
-- reachable as wait["until"]). On a terminal a progress line shows what is
-- awaited, the last observed state, elapsed and remaining time; otherwise
-- plain log lines are written when the state changes. A timeout raises an
-- mnem.errors value of kind "timeout" that names the last observed state.
local errors = require("mnem.errors")
local log = require("mnem.log")
local misuse = require("mnem.misuse")
local retry = require("mnem.retry")
local duration = require("mnem.duration")
local sys = require("mnem._sys")

local M = {}

local OPTIONS = {
  timeout = true, interval = true, backoff = true, max_interval = true,
  description = true, ignore_errors = true,
}

-- Plain (non-terminal) progress lines repeat an unchanged state at most
-- this often, so long waits stay visible in CI logs without flooding them.
local UNCHANGED_LOG_INTERVAL = 30

local function engine_remaining()
  local engine = package.loaded["mnem.engine"]
  if engine and engine.remaining then return engine.remaining() end
  return nil
end

local function check_options(options)
  for key in pairs(options) do
    if not OPTIONS[key] then
      local names = {}
      for name in pairs(OPTIONS) do names[#names + 1] = name end
      table.sort(names)
      local close = retry.closest(tostring(key), names)
      local hint = close and (" (did you mean %q?)"):format(close) or ""
      misuse.raise(("wait.until_: unknown option %q%s; valid options: %s"):format(tostring(key), hint,
        table.concat(names, ", ")), 3)
    end
  end
end

local function state_text(state)
  if state == nil then return "(no state observed yet)" end
  if type(state) == "table" then
    local ok, cjson = pcall(require, "cjson")
    local fine, text = false, nil
    if ok then fine, text = pcall(cjson.encode, state) end
    state = fine and text or tostring(state)
  end
  state = tostring(state)
  if #state > 200 then state = state:sub(1, 197) .. "..." end
  return state
end

--- Calls CHECK until it returns true; CHECK returns done (boolean) and
-- optionally a short text or table describing the state it observed.
-- Options: timeout (default "10m"), interval (default "5s"), backoff
-- (multiplier applied to the interval after each poll, default 1),
-- max_interval, description (what is awaited), ignore_errors (a matcher as
-- in retry policies: errors CHECK raises that match it count as "not yet",
-- with the error as the observed state; other errors propagate).
-- Returns the values CHECK returned with done. Waits; touches the network
-- only through CHECK.
function M.until_(check, options)
  if type(check) ~= "function" then
    misuse.raise(("wait.until_: argument 1 must be a function, got %s"):format(type(check)), 2)
  end
  options = options or {}
  check_options(options)
  local timeout = duration.parse(options.timeout or "10m", "wait.until_: timeout")
  local interval = duration.parse(options.interval or "5s", "wait.until_: interval")
  local max_interval = options.max_interval and duration.parse(options.max_interval, "wait.until_: max_interval")
  local backoff = options.backoff or 1
  if type(backoff) ~= "number" or backoff < 1 then
    misuse.raise(("wait.until_: backoff must be a number of 1 or more, got %s"):format(tostring(backoff)), 2)
  end
  local description = options.description or "condition"

  local capped_by_run = false
  local remaining = engine_remaining()
  if remaining and remaining < timeout then timeout, capped_by_run = math.max(remaining, 0), true end

  local started = sys.monotonic()
  local last_state, last_logged_state, last_logged_at
  local polls = 0
  log.info(("waiting for %s (timeout %s)"):format(description, duration.format(timeout)))
  while true do
    polls = polls + 1
    local results = table.pack(pcall(check))
    local ok = results[1]
    if not ok then
      local e = results[2]
      if options.ignore_errors and errors.matches(e, options.ignore_errors) then
        last_state = tostring(e)
      else
        log.progress_done()
        error(e, 0)
      end
    else
      if results[3] ~= nil then last_state = state_text(results[3]) end
      if results[2] then
        log.progress_done()
        log.info(("%s: done after %s (%d poll%s)%s"):format(description, duration.format(sys.monotonic() - started),
          polls, polls == 1 and "" or "s", last_state and ("; state: " .. last_state) or ""))
        return table.unpack(results, 2, results.n)
      end
    end

    require("mnem.dryrun").check_wait(description, last_state)
    local elapsed = sys.monotonic() - started
    local left = timeout - elapsed
    local line = ("waiting for %s: %s (%s elapsed, %s left)"):format(description, state_text(last_state),
      duration.format(elapsed), duration.format(math.max(left, 0)))
    if log.interactive() then
      log.progress(line)
    elseif last_state ~= last_logged_state or not last_logged_at
        or elapsed - last_logged_at >= UNCHANGED_LOG_INTERVAL then
      log.info(line)
      last_logged_state, last_logged_at = last_state, elapsed
    end

    if left <= 0 then
      log.progress_done()
      errors.raise({
        kind = "timeout", code = "WaitTimeout", retryable = false, last_state = last_state,
        message = ("timed out after %s waiting for %s; last state: %s%s"):format(duration.format(elapsed),
          description, state_text(last_state), capped_by_run and " (limited by the step or run deadline)" or ""),
      }, 2)
    end
    if not sys.sleep(math.min(interval, left)) then
      log.progress_done()
      errors.raise({ kind = "interrupted", code = "Interrupted", last_state = last_state,
                     message = ("interrupted by %s while waiting for %s; last state: %s"):format(
                       sys.signal() or "a signal", description, state_text(last_state)) }, 2)
    end
    interval = interval * backoff
    if max_interval and interval > max_interval then interval = max_interval end
  end
end

M["until"] = M.until_

--- Sleeps SECONDS (a number or a duration string such as "30s"). Raises
-- an "interrupted" error when SIGINT or SIGTERM arrives first.
function M.sleep(seconds)
  local s = duration.parse(seconds, "sleep")
  if not sys.sleep(s) then
    errors.raise({ kind = "interrupted", code = "Interrupted",
                   message = ("interrupted by %s during sleep"):format(sys.signal() or "a signal") }, 2)
  end
end

return M
