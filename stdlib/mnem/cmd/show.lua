-- mnem show RUN: one run's record, readable or as raw JSON lines.
local cjson = require("cjson")
local cli = require("mnem.cli")
local duration = require("mnem.duration")
local record = require("mnem.record")

local M = {}

M.summary = "show one run: steps, retries, changes, rollbacks"
M.usage = [[
usage: mnem show RUN [--json] [--state-dir DIR]

Shows the run record of RUN (a run id, a unique prefix of one, or "last")
as a timeline: steps with their attempts, retries, outputs and errors,
changes, problems, rollbacks and the result. --json prints the record's
JSON lines unchanged.]]

local function compact(value)
  if value == nil or value == cjson.null then return nil end
  if type(value) ~= "table" then return tostring(value) end
  if value.text then return value.text end
  local ok, text = pcall(cjson.encode, value)
  return ok and text or tostring(value)
end

local function error_line(e)
  local text = compact(e.error) or ""
  return (text:gsub("\n.*$", ""))
end

-- One formatter per event; each returns the text after the step name.
local FORMAT = {
  run_start = function(e)
    -- A hand-edited record may hold any JSON value as the scenario.
    local scenario = type(e.rehearsal) == "table" and e.rehearsal.scenario
    local rehearsal = type(e.rehearsal) == "table"
      and (" rehearsal on the local simulator (scenario %s)"):format(type(scenario) == "string" and scenario or "?")
      or ""
    return ("run %s of %q (%s)%s%s, mnem %s on %s pid %d, vars %s"):format(e.run, e.name, e.playbook,
      e.dry_run and " dry run" or "", rehearsal, e.mnem_version, e.host or "?", math.tointeger(e.pid) or 0,
      compact(e.vars) or "{}")
  end,
  step_start = function(e) return ("start %s"):format(e.kind or "step") end,
  attempt = function(e) return ("attempt %d"):format(e.attempt) end,
  step_error = function(e) return ("attempt %d failed: %s"):format(e.attempt, error_line(e)) end,
  retry = function(e)
    local left = e.attempts_left
    return ("retry in %s (%d attempt%s left): %s"):format(duration.format(e.delay), left, left == 1 and "" or "s",
      error_line(e))
  end,
  step_skip = function(e)
    local why = { already_done = "already in place", tags = "no matching tag", condition = "condition false",
                  not_reached = "not reached" }
    return "skipped: " .. (why[e.reason] or tostring(e.reason))
  end,
  step_finish = function(e)
    local text = ("%s in %s"):format(e.status, duration.format(e.duration))
    if e.status == "would_run" then text = "would run, depends on " .. tostring(e.depends_on) end
    if e.attempts and e.attempts > 1 then text = text .. (" after %d attempts"):format(e.attempts) end
    if e.error then text = text .. ": " .. error_line(e) end
    local outputs = compact(e.outputs)
    if outputs and outputs ~= "{}" then text = text .. "; outputs " .. outputs end
    return text
  end,
  primitive = function(e)
    local retries = math.tointeger(e.retries) or 0
    local codes = {}
    for _, r in ipairs(type(e.retried) == "table" and e.retried or {}) do
      if type(r) == "table" and r.code ~= nil then codes[#codes + 1] = tostring(r.code) end
    end
    local retried = retries > 0 and (" after %d retr%s%s"):format(retries, retries == 1 and "y" or "ies",
      #codes > 0 and (" (" .. table.concat(codes, ", ") .. ")") or "") or ""
    return ("%s %s in %s%s%s"):format(e.name, e.status or "?", duration.format(e.duration), retried,
      e.error and (": " .. error_line(e)) or "")
  end,
  would = function(e) return "would: " .. tostring(e.description) .. " " .. (compact(e.fields) or "") end,
  change = function(e)
    return ("%s%s %s %s"):format(e.dry_run and "(dry run) " or "", e.action, e.resource, e.id or "")
  end,
  problem = function(e) return ("problem: %s; resolution: %s"):format(e.summary, e.resolution or "-") end,
  warning = function(e) return "warning: " .. tostring(e.message) end,
  follow_up = function(e) return "follow-up: " .. tostring(e.text) end,
  rollback_start = function() return "rolling back" end,
  rollback_finish = function(e)
    return "rollback " .. (e.status == "ok" and "done" or ("failed: " .. error_line(e)))
  end,
  run_end = function(e)
    return ("run %s in %s%s"):format(e.status, duration.format(e.duration),
      e.error and (": " .. error_line(e)) or "")
  end,
  unreadable = function(e) return ("line %d is not valid JSON"):format(e.line) end,
}

--- Prints the run named in ARGS and returns the exit status.
function M.main(args)
  local options, positional = cli.parse_args(args, { ["--json"] = "flag", ["--state-dir"] = "string" }, "show")
  if #positional ~= 1 then error(cli.usage_error("mnem show: expected one RUN; usage: mnem show RUN [--json]"), 0) end
  local found, path = pcall(record.find, options.state_dir, positional[1])
  if not found then error(cli.usage_error("mnem show: " .. tostring(path)), 0) end
  if options.json then
    local f = assert(io.open(path, "rb"))
    io.stdout:write(f:read("a"))
    f:close()
    return cli.EXIT.ok
  end
  local events, truncated = record.read(path)
  if not events then error(cli.usage_error("mnem show: " .. tostring(truncated)), 0) end
  local problem = record.problem(events)
  if problem then
    local failure = cli.usage_error(("mnem show: %s is not a readable run record: %s"):format(path, problem))
    failure.exit = cli.EXIT.failed
    error(failure, 0)
  end
  for _, e in ipairs(events) do
    local format = FORMAT[e.event]
    local formatted, text = false, nil
    if format then formatted, text = pcall(format, e) end
    -- A line with fields of unexpected types is shown as its JSON.
    if not formatted or type(text) ~= "string" then text = tostring(e.event or "?") .. " " .. (compact(e) or "") end
    local elapsed = type(e.elapsed) == "number" and ("%8.3fs"):format(e.elapsed) or "        ?"
    local step = type(e.step) == "string" and ("[" .. e.step .. "] ") or ""
    io.stdout:write(elapsed, "  ", step, text, "\n")
  end
  if truncated then io.stdout:write("(the last line of the record was cut short: the run was killed)\n") end
  local s = record.summarize(events)
  if s.status == "running" then
    local abandoned = record.abandoned(s)
    if abandoned then
      io.stdout:write(("(no run_end line: abandoned, %s)\n"):format(abandoned))
    else
      io.stdout:write("(no run_end line: the run is still going)\n")
    end
  end
  return cli.EXIT.ok
end

return M
