-- mnem.report: the summary of a run, written from its run record.
--
-- The summary an engineer otherwise writes by hand after an operations
-- session: what was done and when, how it ended, which problems came up
-- and how each was solved (retries, recovered errors, fallbacks), which
-- are left, what was created or changed, and the follow-up work the
-- playbook declared. The record is already redacted when written, and the
-- report passes every string through mnem.secret.redact again.
local aws_errors = require("aws.errors")
local cjson = require("cjson")
local duration = require("mnem.duration")
local secret = require("mnem.secret")

local M = {}

-- Returns VALUE as text; the record reader decodes every number as a
-- float, so an integral one is written without ".0" (2, not 2.0).
local function scalar_text(value)
  if math.type(value) == "float" and value == math.floor(value) and math.abs(value) < 2 ^ 53 then
    return ("%d"):format(value)
  end
  return tostring(value)
end

local function text(value)
  if value == nil then return "" end
  if type(value) == "table" then
    -- The record keeps an error's own text (mnem.errors' tostring) beside
    -- its fields; older records have only the fields. `where` names the
    -- playbook line that was running when the error was made.
    local place = type(value.where) == "string" and (" (at " .. value.where .. ")") or ""
    if type(value.text) == "string" then return value.text .. place end
    if value.message then
      return (value.kind and (value.kind .. " ") or "") .. (value.code and (scalar_text(value.code) .. ": ") or "")
        .. scalar_text(value.message)
    end
    local ok, encoded = pcall(cjson.encode, value)
    return ok and encoded or tostring(value)
  end
  return scalar_text(value)
end

-- One line of VALUE's text; a Lua traceback after the message is dropped.
local function one_line(value)
  local t = text(value)
  t = t:match("^(.-)\n%s*stack traceback:") or t
  return (t:gsub("%s*\n%s*", " | "))
end

-- Returns how a rollback that ended with STATUS and error ERR (or nil)
-- reads in the report. A signal's error text, "interrupted: interrupted by
-- SIGINT", would repeat the word after "rollback interrupted", so it gives
-- "rollback interrupted by SIGINT" and the line it stopped at.
local function rollback_outcome(status, err)
  if status == "ok" then return "undone" end
  if status == "interrupted" and type(err) == "table" and err.kind == "interrupted"
    and type(err.message) == "string" then
    local place = type(err.where) == "string" and (" (at " .. err.where .. ")") or ""
    return "rollback " .. scalar_text(err.message) .. place
  end
  local outcome = status == "interrupted" and "rollback interrupted" or "rollback failed"
  if err == nil then return outcome end
  return outcome .. ": " .. one_line(err)
end

local function clock(time)
  return time and time:match("T(%d%d:%d%d:%d%d)") or "?"
end

-- Appends ITEM to the list LIST unless it is there already.
local function add_once(list, item)
  for _, existing in ipairs(list) do
    if existing == item then return end
  end
  list[#list + 1] = item
end

-- Returns the unresolved problems of the steps in ACTIONS: one entry per
-- step or group that ended failed or interrupted, with its attempts. A
-- step inside a group counts only when it failed in the group's last
-- attempt. A group that failed with the error of such a step adds no
-- entry of its own: the step's entry names the group and its attempts.
local function unresolved_steps(actions, by_step)
  local list, by_group_error = {}, {}
  for _, a in ipairs(actions) do
    local group = a.group and by_step[a.group]
    if a.error and (not group or a.group_attempt == group.attempts) then
      local entry = { step = a.step, problem = a.error, attempts = a.total_attempts, kind = a.kind }
      list[#list + 1] = entry
      if group then by_group_error[a.group .. "\0" .. a.error] = entry end
    end
  end
  local unresolved = {}
  for _, entry in ipairs(list) do
    local child = entry.kind == "group" and by_group_error[entry.step .. "\0" .. entry.problem]
    if child then
      child.group, child.attempts = entry.step, entry.attempts
    else
      unresolved[#unresolved + 1] = entry
    end
  end
  for _, entry in ipairs(unresolved) do entry.kind = nil end
  return unresolved
end

-- Returns "2 attempts throttled (ThrottlingException)": the failed
-- attempts of ENTRY (from add_client_retries) by error code, throttling
-- codes first.
local function retried_codes_text(entry)
  local parts = {}
  for _, code in ipairs(entry.codes) do
    local n = entry.by_code[code]
    local attempts = n == 1 and "1 attempt" or (n .. " attempts")
    if aws_errors.THROTTLING_CODES[code] then
      table.insert(parts, 1, ("%s throttled (%s)"):format(attempts, code))
    else
      parts[#parts + 1] = ("%s failed with %s"):format(attempts, code)
    end
  end
  return table.concat(parts, ", ")
end

-- Sets the problem and solution of ENTRY from its counts.
local function describe_client_retries(entry)
  local calls = entry.calls == 1 and "1 call" or (entry.calls .. " calls")
  entry.problem.problem = ("%s: %s in %s, retried by the AWS client."):format(entry.name,
    retried_codes_text(entry), calls)
  if entry.failed == 0 then
    entry.problem.solution = entry.calls == 1 and "the call succeeded on a later attempt"
      or "each call succeeded on a later attempt"
  else
    entry.problem.solution = nil
    entry.problem.problem = ("%s %d of these calls still failed after retrying."):format(entry.problem.problem,
      entry.failed)
  end
end

-- Adds the RETRIES failed attempts of primitive event E, retried by the
-- AWS client, to the problems solved: one entry per step and call name,
-- counted by error code, kept at the place of the first such call. BY_KEY
-- contains the entries made so far.
local function add_client_retries(by_key, problems, e, retries)
  local key = tostring(e.step) .. "\0" .. tostring(e.name)
  local entry = by_key[key]
  if not entry then
    entry = { name = e.name, calls = 0, failed = 0, codes = {}, by_code = {},
              problem = { step = e.step, time = e.time } }
    by_key[key] = entry
    problems[#problems + 1] = entry.problem
  end
  entry.calls = entry.calls + 1
  if e.status ~= "ok" then entry.failed = entry.failed + 1 end
  local listed = type(e.retried) == "table" and e.retried or {}
  for i = 1, retries do
    local code = type(listed[i]) == "table" and listed[i].code or nil
    code = code ~= nil and text(code) or "an error"
    if not entry.by_code[code] then entry.codes[#entry.codes + 1] = code end
    entry.by_code[code] = (entry.by_code[code] or 0) + 1
  end
  describe_client_retries(entry)
end

--- Builds the report data from EVENTS (mnem.record.read) and returns a
-- table: run, actions, problems_solved, problems_unresolved (each with
-- step, problem, attempts and, for a step of a retried group, group),
-- changes, rollbacks, follow_up, warnings, calls (by name: count,
-- errors, retried (failed attempts the AWS client retried) and seconds).
function M.build(events, truncated)
  local r = {
    run = {}, actions = {}, problems_solved = {}, problems_unresolved = {}, changes = {}, rollbacks = {},
    follow_up = {}, warnings = {}, calls = {}, truncated = truncated or false,
  }
  local by_step, step_errors, failed_rollbacks = {}, {}, {}
  -- The AWS client's retries of each step's calls, by step and call name.
  local client_retries = {}
  -- The warnings of each step since its last problem event.
  local pending_warnings = {}
  -- The groups running at this point of the record, innermost last.
  local open_groups = {}
  local function action(step)
    if not by_step[step] then
      by_step[step] = { step = step, status = "not run", attempts = 0, retries = 0 }
      r.actions[#r.actions + 1] = by_step[step]
    end
    return by_step[step]
  end

  for _, e in ipairs(events) do
    local kind = e.event
    if kind == "run_start" then
      r.run = { id = e.run, playbook = e.playbook, name = e.name, started = e.time, vars = e.vars,
                dry_run = e.dry_run, rehearsal = type(e.rehearsal) == "table" and e.rehearsal or nil, host = e.host,
                mnem_version = e.mnem_version, status = "unfinished" }
    elseif kind == "run_end" then
      r.run.status, r.run.duration, r.run.finished = e.status, e.duration, e.time
      r.run.error, r.run.failed_step = e.error and one_line(e.error), e.failed_step
      r.run.signal, r.run.interrupted_during, r.run.rollback_interrupted = e.signal, e.interrupted_during,
        e.rollback_interrupted
      for _, step in ipairs(e.rollback_not_run or {}) do
        failed_rollbacks[#failed_rollbacks + 1] = { step = step, problem = "rollback not run (interrupted)" }
      end
      -- run_end lists every follow-up in the order the terminal shows them,
      -- and the follow_up events before it repeat some of the same texts.
      local declared = {}
      for _, t in ipairs(e.follow_up or {}) do add_once(declared, t) end
      for _, t in ipairs(r.follow_up) do add_once(declared, t) end
      r.follow_up = declared
    elseif kind == "step_start" then
      local a = action(e.step)
      a.started, a.description, a.status, a.kind = e.time, e.description, "started", e.kind
      local parent = open_groups[#open_groups]
      if parent and parent ~= e.step then a.group = parent end
      if e.kind == "group" then open_groups[#open_groups + 1] = e.step end
    elseif kind == "attempt" then
      action(e.step).attempts = e.attempt
    elseif kind == "step_skip" then
      local a = action(e.step)
      a.started = a.started or e.time
      a.status = ({ already_done = "already in place", tags = "skipped (tags)", condition = "skipped (condition)",
                    not_reached = "not reached" })[e.reason] or ("skipped: " .. tostring(e.reason))
    elseif kind == "step_finish" then
      local a = action(e.step)
      a.duration, a.status = e.duration, e.status == "ok" and "done" or e.status
      if e.status == "would_run" then a.status = "would run, depends on " .. tostring(e.depends_on) end
      a.total_attempts = (a.total_attempts or 0) + (tonumber(e.attempts) or 1)
      a.group_attempt = a.group and by_step[a.group].attempts
      a.error = nil
      if e.status == "failed" or e.status == "interrupted" then a.error = one_line(e.error) end
      if e.kind == "group" and open_groups[#open_groups] == e.step then open_groups[#open_groups] = nil end
    elseif kind == "step_error" then
      step_errors[#step_errors + 1] = { step = e.step, attempt = e.attempt, error = one_line(e.error) }
    elseif kind == "retry" then
      local a = action(e.step)
      a.retries = a.retries + 1
      a.retry_notes = a.retry_notes or {}
      a.retry_notes[#a.retry_notes + 1] = ("attempt %d failed (%s); retried after %s"):format(e.attempt,
        one_line(e.error), duration.format(e.delay))
    elseif kind == "problem" then
      -- A step logs a trouble with ctx.warn as it happens and then records
      -- it with its resolution through ctx.problem, as the RDS IOPS
      -- fallback does. So the step's warnings since its previous problem
      -- are shown as this problem only.
      for _, w in ipairs(pending_warnings[e.step] or {}) do w.folded = true end
      pending_warnings[e.step] = nil
      r.problems_solved[#r.problems_solved + 1] = { step = e.step, problem = e.summary, solution = e.resolution,
                                                    time = e.time }
    elseif kind == "warning" then
      local w = { step = e.step, message = e.message, time = e.time }
      r.warnings[#r.warnings + 1] = w
      local pending = pending_warnings[e.step] or {}
      pending_warnings[e.step], pending[#pending + 1] = pending, w
    elseif kind == "change" then
      r.changes[#r.changes + 1] = { step = e.step, action = e.action, resource = e.resource, id = e.id,
                                    details = e.details, time = e.time, dry_run = e.dry_run }
    elseif kind == "rollback_finish" then
      r.rollbacks[#r.rollbacks + 1] = { step = e.step, status = e.status, error = e.error and one_line(e.error),
                                        outcome = rollback_outcome(e.status, e.error), time = e.time }
      if e.status ~= "ok" then
        failed_rollbacks[#failed_rollbacks + 1] = { step = e.step, problem = rollback_outcome(e.status, e.error) }
      end
    elseif kind == "follow_up" then
      add_once(r.follow_up, e.text)
    elseif kind == "primitive" then
      local c = r.calls[e.name] or { name = e.name, count = 0, errors = 0, retried = 0, seconds = 0 }
      r.calls[e.name] = c
      c.count = c.count + 1
      c.seconds = c.seconds + (tonumber(e.duration) or 0)
      if e.status == "error" then c.errors = c.errors + 1 end
      local retries = math.tointeger(tonumber(e.retries) or 0) or 0
      c.retried = c.retried + retries
      if retries > 0 then add_client_retries(client_retries, r.problems_solved, e, retries) end
    end
  end

  local warnings = {}
  for _, w in ipairs(r.warnings) do
    if not w.folded then warnings[#warnings + 1] = w end
  end
  r.warnings = warnings
  r.problems_unresolved = unresolved_steps(r.actions, by_step)
  table.move(failed_rollbacks, 1, #failed_rollbacks, #r.problems_unresolved + 1, r.problems_unresolved)
  -- A step that failed an attempt and still finished was a recovered
  -- problem: its retries are how it was solved.
  for _, a in ipairs(r.actions) do
    if a.retries > 0 and a.status == "done" then
      r.problems_solved[#r.problems_solved + 1] = { step = a.step,
        problem = table.concat(a.retry_notes, "; "),
        solution = ("succeeded on attempt %d"):format(a.attempts) }
    end
    a.total_attempts, a.group_attempt = nil, nil
  end
  local list = {}
  for _, c in pairs(r.calls) do list[#list + 1] = c end
  table.sort(list, function(a, b) return a.name < b.name end)
  r.calls = list
  r.step_errors = step_errors
  return r
end

local function md_escape(s)
  return (one_line(s):gsub("|", "\\|"))
end

--- Returns the report R (from build) as Markdown text.
function M.markdown(r)
  local out = {}
  local function add(line) out[#out + 1] = line or "" end
  local run = r.run
  add(("# Run report: %s"):format(run.name or "?"))
  add()
  add(("- Run: `%s`%s"):format(run.id or "?", run.dry_run and " (dry run)" or ""))
  if run.rehearsal then
    local scenario = run.rehearsal.scenario
    add(("- Rehearsal: against the local simulator (scenario %s) and a throwaway PostgreSQL; nothing real"
      .. " was changed"):format(type(scenario) == "string" and scenario or "?"))
  end
  add(("- Playbook: `%s`"):format(run.playbook or "?"))
  add(("- Started: %s; finished: %s; duration: %s"):format(run.started or "?", run.finished or "not recorded",
    duration.format(run.duration)))
  add(("- Outcome: **%s**%s"):format(run.status or "unfinished",
    run.failed_step and (" at step \"" .. run.failed_step .. "\"") or ""))
  if run.error then add("- Error: " .. one_line(run.error)) end
  if run.interrupted_during == "rollback" then
    add(("- Interrupted: by %s during the %s"):format(run.signal or "a signal", run.rollback_interrupted
      and ("rollback of step \"%s\""):format(run.rollback_interrupted) or "rollbacks"))
  end
  if type(run.vars) == "table" and next(run.vars) then
    local keys = {}
    for k in pairs(run.vars) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = ("%s=%s"):format(k, text(run.vars[k])) end
    add("- Variables: " .. table.concat(parts, ", "))
  end
  if r.truncated then add("- Note: the record's last line was cut short; the run did not close its record.") end
  if run.abandoned then add("- Note: the run ended without closing its record: " .. run.abandoned .. ".") end

  add()
  add("## Actions taken")
  add()
  add("| time | step | outcome | attempts | duration |")
  add("| --- | --- | --- | --- | --- |")
  for _, a in ipairs(r.actions) do
    add(("| %s | %s | %s | %d | %s |"):format(clock(a.started), md_escape(a.step), md_escape(a.status),
      a.attempts, a.duration and duration.format(a.duration) or "-"))
  end

  add()
  add("## Problems encountered and how they were solved")
  add()
  if #r.problems_solved == 0 and #r.warnings == 0 then add("None.") end
  for _, p in ipairs(r.problems_solved) do
    add(("- %s: %s%s"):format(p.step or "run", one_line(p.problem),
      p.solution and (" Solved: " .. one_line(p.solution) .. ".") or ""))
  end
  for _, w in ipairs(r.warnings) do
    add(("- %s (warning): %s"):format(w.step or "run", one_line(w.message)))
  end

  add()
  add("## Problems left unresolved")
  add()
  if #r.problems_unresolved == 0 then add("None.") end
  for _, p in ipairs(r.problems_unresolved) do
    local attempts = (p.attempts or 1) > 1 and (" (%d attempts)"):format(p.attempts) or ""
    if p.group then
      attempts = (" (%d attempts of the group)"):format(p.attempts or 1)
      add(("- %s (in group \"%s\"): %s%s"):format(p.step, p.group, one_line(p.problem), attempts))
    else
      add(("- %s: %s%s"):format(p.step, one_line(p.problem), attempts))
    end
  end

  add()
  add("## Changes and artifacts")
  add()
  if #r.changes == 0 then add("No resources were created or changed.") end
  for _, c in ipairs(r.changes) do
    add(("- %s %s %s `%s`%s (step \"%s\")"):format(clock(c.time), c.action, c.resource, scalar_text(c.id or ""),
      c.dry_run and " (dry run: not done)" or "", c.step))
  end
  if #r.rollbacks > 0 then
    add()
    add("### Rolled back")
    add()
    for _, b in ipairs(r.rollbacks) do
      add(("- %s: %s"):format(b.step, b.outcome))
    end
  end

  add()
  add("## Follow-up work")
  add()
  if #r.follow_up == 0 then add("None declared.") end
  for _, t in ipairs(r.follow_up) do add("- " .. one_line(t)) end

  if #r.calls > 0 then
    add()
    add("## Calls made")
    add()
    add("| call | count | errors | retried attempts | time |")
    add("| --- | --- | --- | --- | --- |")
    for _, c in ipairs(r.calls) do
      add(("| `%s` | %d | %d | %d | %s |"):format(c.name, c.count, c.errors, c.retried, duration.format(c.seconds)))
    end
  end
  return secret.redact(table.concat(out, "\n") .. "\n")
end

-- The list fields of a report. lua-cjson 2.1 encodes an empty Lua table as
-- {}, so an empty list is encoded as a marker string replaced by [] after.
local LISTS = { "actions", "problems_solved", "problems_unresolved", "changes", "rollbacks", "follow_up",
                "warnings", "calls", "step_errors" }
local EMPTY_LIST = "\0mnem-empty-list\0"

--- Returns the report R as JSON text.
function M.json(r)
  local copy = secret.redact_value(r)
  for _, key in ipairs(LISTS) do
    if copy[key] and next(copy[key]) == nil then copy[key] = EMPTY_LIST end
  end
  local encoded = cjson.encode(copy)
  return secret.redact((encoded:gsub('"\\u0000mnem%-empty%-list\\u0000"', "[]")))
end

return M
