-- mnem.log: levelled logging for playbooks, the engine and the simulator.
--
-- Text lines on a terminal, JSON lines with `--log-format json`. Every line
-- carries the context the engine set (run id, step, operation), and every
-- line is passed through mnem.secret.redact where it is written, so callers
-- never mask secrets themselves.
local cjson = require("cjson")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

local M = {}

local LEVELS = { debug = 10, info = 20, warn = 30, error = 40 }
local LABEL = { debug = "debug", info = "info", warn = "WARN", error = "ERROR" }

local settings = {
  format = "text",      -- "text" or "json"
  level = LEVELS.info,
  stream = io.stderr,
  color = false,
}

local context = {}       -- fields added to every line, e.g. run, step
local progress_shown = false

--- Changes output settings: { format = "text"|"json", level = NAME,
-- stream = file, color = boolean }. Unknown keys raise.
function M.configure(options)
  for key, value in pairs(options) do
    if key == "format" then
      if value ~= "text" and value ~= "json" then
        error(("log format must be text or json, not %q"):format(tostring(value)), 2)
      end
      settings.format = value
    elseif key == "level" then
      settings.level = LEVELS[value]
        or error(("unknown log level %q: use debug, info, warn or error"):format(tostring(value)), 2)
    elseif key == "stream" or key == "color" then
      settings[key] = value
    else
      error(("log.configure: unknown option %q"):format(tostring(key)), 2)
    end
  end
end

--- Returns the current format, "text" or "json".
function M.format() return settings.format end

--- Sets context field NAME to VALUE (nil removes it) for every later line.
function M.set_context(name, value) context[name] = value end

--- Returns true when output goes to a terminal in text format, where
-- progress lines can be redrawn in place.
function M.interactive()
  return settings.format == "text" and settings.stream == io.stderr and sys.isatty(2)
end

local function clear_progress()
  if progress_shown then
    settings.stream:write("\r\27[K")
    progress_shown = false
  end
end

local function timestamp(now)
  local seconds = math.floor(now)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. (".%03dZ"):format(math.floor((now - seconds) * 1000))
end

local function text_value(v)
  if type(v) == "table" then
    local ok, encoded = pcall(cjson.encode, v)
    return ok and encoded or tostring(v)
  end
  return tostring(v)
end

local function write_line(level, message, fields)
  local now = sys.now()
  if settings.format == "json" then
    local record = { time = timestamp(now), level = level, message = message }
    for k, v in pairs(context) do record[k] = v end
    if fields then for k, v in pairs(fields) do record[k] = v end end
    local ok, encoded = pcall(cjson.encode, secret.redact_value(record))
    settings.stream:write(ok and encoded or cjson.encode({ level = level, message = message }), "\n")
    return
  end
  clear_progress()
  local parts = { os.date("%H:%M:%S", math.floor(now)), LABEL[level] }
  if context.step then parts[#parts + 1] = "[" .. context.step .. "]" end
  parts[#parts + 1] = message
  if fields then
    local keys = {}
    for k in pairs(fields) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. text_value(fields[k]) end
  end
  settings.stream:write(secret.redact(table.concat(parts, " ")), "\n")
end

local function logger(level)
  local threshold = LEVELS[level]
  return function(message, fields)
    if threshold < settings.level then return end
    write_line(level, tostring(message), fields)
  end
end

M.debug = logger("debug")
M.info = logger("info")
M.warn = logger("warn")
M.error = logger("error")

--- Shows TEXT as a status line redrawn in place on a terminal. Elsewhere
-- it does nothing: callers log plain lines at their own pace instead.
function M.progress(text)
  if not M.interactive() then return end
  local width = sys.terminal_width(2) or 80
  text = secret.redact(text)
  if #text > width - 1 then text = text:sub(1, width - 4) .. "..." end
  settings.stream:write("\r\27[K", text)
  settings.stream:flush()
  progress_shown = true
end

--- Removes a progress line, if one is shown.
function M.progress_done() clear_progress() end

return M
