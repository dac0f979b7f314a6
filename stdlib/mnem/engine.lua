-- mnem.engine: runs a loaded playbook's steps.
--
-- Steps run in order, each with its guard (already_done), retry policy and
-- timeout. Timeouts, the run deadline and SIGINT/SIGTERM are enforced at
-- safe points: a count hook checks the monotonic clock and the signal flag
-- every few thousand Lua instructions, and primitives that block in C ask
-- `remaining()` to cap their own waits. On failure the rollback hooks of the
-- completed steps run in reverse order, then the `always` steps. On an
-- interrupt the rollbacks are skipped unless options.rollback_on_interrupt,
-- the `always` steps still run, and the run ends with exit status 130.
-- Everything is written to the run record (mnem.record).
--
-- Loading this module replaces six functions for the whole process.
-- Lua keeps debug hooks per thread, so `coroutine.create` and
-- `coroutine.wrap` track the coroutines they make, which get the same
-- count hook while a step runs. `os.exit` raises an error during and after a run instead of ending
-- the process, so the record is always finished and the exit status is the
-- run's. Before any run `os.exit` is Lua's own. `pcall`, `xpcall` and
-- `coroutine.resume` raise a caught timeout, interrupt or exit again while
-- a step runs, so code that catches every error still stops.
local dryrun = require("mnem.dryrun")
local duration = require("mnem.duration")
local errors = require("mnem.errors")
local log = require("mnem.log")
local record = require("mnem.record")
local retry = require("mnem.retry")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

local M = {}

M.EXIT = { ok = 0, failed = 1, interrupted = 130 }

-- Instructions between two checks of the clock and the signal flag.
local HOOK_COUNT = 1000

local current = nil   -- the run in progress: { deadline, deadline_what, where, exit_error, ... }
local run_ended = false   -- a run finished in this process; os.exit stays disabled

local real_exit = os.exit
-- The engine itself keeps Lua's own pcall and xpcall (see the replacements
-- below).
local pcall, xpcall = pcall, xpcall
local real_create, real_resume = coroutine.create, coroutine.resume
local real_close, real_status = coroutine.close, coroutine.status

-- Every coroutine created since this module loaded, hooked while a step
-- runs. Weak keys let finished ones go.
local tracked_coroutines = setmetatable({}, { __mode = "k" })
local hook_on = false

local CHANGE_ACTIONS = { created = true, modified = true, deleted = true, written = true }

--- Returns the seconds left before the current step's or the run's
-- deadline, whichever comes first, or nil when no deadline applies.
function M.remaining()
  if not current or not current.deadline then return nil end
  return math.max(0, current.deadline - sys.monotonic())
end

local function interrupted_error()
  local name = sys.signal() or "a signal"
  return errors.new{ kind = "interrupted", code = "Interrupted", signal = name,
                     message = "interrupted by " .. name }
end

local function timeout_error()
  return errors.new{ kind = "timeout", code = "Timeout", message = current.deadline_what }
end

-- The safe-point check run by the hook, by sleep and between retries. An
-- os.exit call that the step caught with pcall is raised again here.
local function check_point()
  if sys.signal() then error(interrupted_error(), 0) end
  if current then
    if current.exit_error then error(current.exit_error, 0) end
    if current.deadline and sys.monotonic() > current.deadline then error(timeout_error(), 0) end
  end
end

-- Sets (ON true) or removes the safe-point hook on the running thread and
-- on every live coroutine created since this module loaded. A coroutine
-- kept from an earlier step or made while the playbook file loaded is
-- checked too, and none is hooked between steps.
local function set_hook(on)
  hook_on = on
  if on then debug.sethook(check_point, "", HOOK_COUNT) else debug.sethook() end
  for co in pairs(tracked_coroutines) do
    if real_status(co) == "dead" then
      tracked_coroutines[co] = nil
    elseif on then
      debug.sethook(co, check_point, "", HOOK_COUNT)
    else
      debug.sethook(co)
    end
  end
end

-- coroutine.create, tracking the new coroutine and hooking it when a step
-- is running.
local function create_coroutine(fn)
  if type(fn) ~= "function" then
    error(("bad argument #1 to 'create' (function expected, got %s)"):format(type(fn)), 2)
  end
  local co = real_create(fn)
  tracked_coroutines[co] = true
  if hook_on then debug.sethook(co, check_point, "", HOOK_COUNT) end
  return co
end

-- Ends a call of a wrap function: returns the values resumed with, or
-- raises the coroutine's error after closing its to-be-closed variables,
-- a string error with the caller's position added, as Lua's own wrap does.
local function finish_wrapped(co, ok, ...)
  if ok then return ... end
  local err = ...
  if real_status(co) == "dead" then
    local closed, close_error = real_close(co)
    if not closed then err = close_error end
  end
  if type(err) == "string" then error(err, 2) end
  error(err, 0)
end

-- coroutine.wrap, built on create_coroutine so the coroutine is hooked.
local function wrap_coroutine(fn)
  if type(fn) ~= "function" then
    error(("bad argument #1 to 'wrap' (function expected, got %s)"):format(type(fn)), 2)
  end
  local co = create_coroutine(fn)
  return function(...)
    return finish_wrapped(co, real_resume(co, ...))
  end
end

local function exit_call_text(code)
  if code == nil then return "os.exit()" end
  return ("os.exit(%s)"):format(type(code) == "string" and ("%q"):format(code) or tostring(code))
end

-- os.exit while a run is in progress: raises an error of kind "exit" that
-- fails the step (or guard, rollback) running, and stays raised at every
-- safe point until that call ends, so pcall cannot swallow it. After a run
-- (a finalizer at exit, for one) it raises a plain error, which Lua ignores
-- inside a __gc metamethod, so the exit status stays the run's.
local function exit_during_run(code, close)
  if not current and not run_ended then return real_exit(code, close) end
  local call = exit_call_text(code)
  if not current then error(call .. " called after the run ended: ignored, the run's exit status stands", 2) end
  if current.exit_error then error(current.exit_error, 0) end
  local where = current.where or "the run, outside any step"
  local err = errors.new{ kind = "exit", code = "Exit", exit_status = code,
    message = ("%s called in %s: playbook code cannot end the process during a run; use error() to fail"
      .. " the step instead"):format(call, where) }
  if current.where then current.exit_error = err end
  error(err, 0)
end

-- While a step runs, an error that pcall, xpcall or coroutine.resume
-- caught after the step's deadline passed, after SIGINT/SIGTERM, or after
-- an os.exit call is raised again as that stop. Otherwise a playbook loop
-- around pcall would catch every timeout the hook raises and run forever.
local function pass_stop(ok, ...)
  if not ok and current and current.where then check_point() end
  return ok, ...
end

local function pcall_during_run(fn, ...)
  return pass_stop(pcall(fn, ...))
end

local function xpcall_during_run(fn, handler, ...)
  return pass_stop(xpcall(fn, handler, ...))
end

local function resume_during_run(co, ...)
  return pass_stop(real_resume(co, ...))
end

-- luacheck: push ignore 121 122
coroutine.create, coroutine.wrap = create_coroutine, wrap_coroutine
coroutine.resume = resume_during_run
os.exit = exit_during_run
_G.pcall, _G.xpcall = pcall_during_run, xpcall_during_run
-- luacheck: pop

--- Raises the timeout error of the current step or run when its deadline
-- has passed, and an interrupted error after SIGINT/SIGTERM; else returns.
-- Primitives that cap a blocking call by `remaining()` call it when the
-- call fails, so the failure reads as the step's timeout. RAN_OUT true means
-- the capped call itself timed out. Its clock (libcurl's milliseconds, for
-- one) may stop a little before ours, so the deadline counts as passed.
function M.check_deadline(ran_out)
  check_point()
  if ran_out and current and current.deadline then error(timeout_error(), 0) end
end

--- Sleeps SECONDS (a number or a duration text) but raises a timeout error
-- when the deadline comes first and an interrupted error on SIGINT/SIGTERM.
-- Playbooks see it as the global `sleep`.
function M.sleep(seconds)
  seconds = duration.parse(seconds, "sleep")
  local left = M.remaining()
  if left and left < seconds then
    if not sys.sleep(left) then error(interrupted_error(), 2) end
    check_point()
    error(timeout_error(), 2)
  end
  if not sys.sleep(seconds) then error(interrupted_error(), 2) end
end

-- Returns the one-line text of ERR: a string error loses its traceback,
-- which stays in the run record. An error value whose __tostring raises
-- is described instead, so playbook code cannot stop the engine here.
local function error_text(err)
  local ok, text = pcall(errors.text, err)
  if ok and type(text) == "string" then return text end
  return ("(a %s error value whose text cannot be shown: %s)"):format(type(err),
    type(text) == "string" and secret.redact(text:match("^[^\n]*")) or type(text))
end

local function message_handler(err)
  if type(err) == "string" then return debug.traceback(err, 2) end
  return err
end

-- Calls FN(...) with the safe-point hook until DEADLINE (a monotonic time
-- or nil) and returns pcall's results. WHAT names the deadline in the
-- timeout error, WHERE the code running (such as 'step "Create"') in the
-- error of an os.exit call, which wins over whatever FN returned.
local function guarded_call(where, deadline, what, fn, ...)
  local saved_deadline, saved_what = current.deadline, current.deadline_what
  current.deadline, current.deadline_what = deadline, what
  current.where, current.exit_error = where, nil
  set_hook(true)
  local results = table.pack(xpcall(fn, message_handler, ...))
  set_hook(false)
  local exit_error = current.exit_error
  current.where, current.exit_error = nil, nil
  current.deadline, current.deadline_what = saved_deadline, saved_what
  if exit_error then return false, exit_error end
  return table.unpack(results, 1, results.n)
end

-- Returns the earlier of the parent deadline and now + TIMEOUT, and the
-- text a timeout error at that deadline shows.
local function effective_deadline(parent, parent_what, timeout, what)
  if timeout then
    local own = sys.monotonic() + timeout
    if not parent or own < parent then
      return own, ("%s timed out after %s (its timeout)"):format(what, duration.format(timeout))
    end
  end
  return parent, parent_what
end

local function is_interrupt(err)
  return (errors.is(err) and err.kind == "interrupted") or sys.signal() ~= nil
end

-- Returns whether ERR comes from an os.exit call, which is never retried.
local function is_exit(err)
  return errors.is(err) and err.kind == "exit"
end

local function make_ctx(run, node, attempt)
  local ctx = { vars = run.pb.values, outputs = run.outputs, step = node.name, dry_run = dryrun.active(),
                attempt = attempt, log = log, run_id = run.rec.id, remaining = M.remaining }
  function ctx.change(change)
    if type(change) ~= "table" then error("ctx.change: expected a table { action =, resource =, id = }", 2) end
    if not CHANGE_ACTIONS[change.action] then
      error(("ctx.change: action must be created, modified, deleted or written, got %s"):format(
        tostring(change.action)), 2)
    end
    if type(change.resource) ~= "string" then
      error("ctx.change: resource must be a string such as \"rds:db-instance\"", 2)
    end
    for key in pairs(change) do
      if key ~= "action" and key ~= "resource" and key ~= "id" and key ~= "details" then
        error(("ctx.change: unknown field %q; fields are action, resource, id, details"):format(tostring(key)), 2)
      end
    end
    local entry = { step = node.name, action = change.action, resource = change.resource, id = change.id,
                    details = change.details, dry_run = dryrun.active() or nil }
    run.changes[#run.changes + 1] = entry
    run.rec:event("change", entry)
    log.info(("%s%s %s %s"):format(dryrun.active() and "(dry run) " or "", change.action, change.resource,
      change.id and tostring(change.id) or ""))
  end
  function ctx.problem(problem)
    if type(problem) ~= "table" or type(problem.summary) ~= "string" then
      error("ctx.problem: expected { summary = \"...\", resolution = \"...\" }", 2)
    end
    for key in pairs(problem) do
      if key ~= "summary" and key ~= "resolution" then
        error(("ctx.problem: unknown field %q; fields are summary, resolution"):format(tostring(key)), 2)
      end
    end
    local entry = { step = node.name, summary = problem.summary, resolution = problem.resolution }
    run.problems[#run.problems + 1] = entry
    run.rec:event("problem", entry)
    log.warn("problem: " .. problem.summary .. (problem.resolution and ("; resolved: " .. problem.resolution) or ""))
  end
  function ctx.warn(message)
    run.rec:event("warning", { step = node.name, message = tostring(message) })
    log.warn(tostring(message))
  end
  function ctx.follow_up(text)
    if type(text) ~= "string" then error("ctx.follow_up: expected a string, got a " .. type(text), 2) end
    run.follow_up[#run.follow_up + 1] = text
    run.rec:event("follow_up", { step = node.name, text = text })
  end
  return ctx
end

local function has_tag(run, node)
  for _, tag in ipairs(node.tags) do
    if run.tags[tag] then return true end
  end
  if node.kind == "group" then
    for _, child in ipairs(node.steps) do
      if has_tag(run, child) then return true end
    end
  end
  return false
end

-- Returns whether NODE runs under --tags: it or one of its steps carries a
-- selected tag, or it is inside a group that carries one.
local function tags_match(run, node)
  if not run.tags or run.tagged_groups > 0 then return true end
  return has_tag(run, node)
end

-- Records and logs a retry; sleeps its delay. Returns nil on success, or
-- an error (timeout or interrupt) that ends the retrying.
local function wait_before_retry(run, node, err, retrier, count, attempt, deadline, deadline_what)
  local delay, base = retry.delay(retrier, count)
  local left = retrier.max_attempts - attempt
  log.warn(("%s %q failed (attempt %d): %s; retrying in %s, %d attempt%s left"):format(node.kind, node.name, attempt,
    error_text(err), duration.format(delay), left, left == 1 and "" or "s"))
  run.rec:event("retry", { step = node.name, kind = node.kind, attempt = attempt, error = err, delay = delay,
                           base_delay = base, attempts_left = left })
  run.rec:sync()
  if deadline and sys.monotonic() + delay > deadline then
    return errors.new{ kind = "timeout", code = "Timeout", last_error = error_text(err),
      message = ("%s; the retry in %s would pass it (last error: %s)"):format(deadline_what, duration.format(delay),
        error_text(err)) }
  end
  if not sys.sleep(delay) then return interrupted_error() end
  return nil
end

-- Decides what happens after attempt ATTEMPT of NODE failed with ERR.
-- Returns "retry" or "fail", plus the error to report.
local function after_failure(run, node, policy, err, attempt, counts, deadline, deadline_what)
  -- Nothing is retried after this node's deadline (its own or an enclosing
  -- one) has passed. A group may still retry the timeout of a step inside it.
  if is_interrupt(err) or is_exit(err) or (deadline and sys.monotonic() >= deadline) then
    return "fail", err
  end
  -- Match functions and the error's own fields are playbook code: they run
  -- guarded, and an error they raise fails the node with their message.
  local found, retrier = guarded_call(("the retry policy of %s %q"):format(node.kind, node.name), deadline,
    deadline_what, retry.find, policy, err)
  if not found then
    if errors.is(retrier) and (retrier.kind == "interrupted" or retrier.kind == "timeout" or is_exit(retrier)) then
      return "fail", retrier
    end
    return "fail", ("the retry policy of %s %q raised an error: %s (the error it was matching: %s)"):format(
      node.kind, node.name, error_text(retrier), error_text(err))
  end
  if not retrier or attempt >= retrier.max_attempts then return "fail", err end
  counts[retrier] = (counts[retrier] or 0) + 1
  local stop = wait_before_retry(run, node, err, retrier, counts[retrier], attempt, deadline, deadline_what)
  if stop then return "fail", stop end
  return "retry"
end

local run_node

-- Returns true when NODE should not run, after recording why.
local function skip_node(run, node, ctx, deadline, what)
  if not tags_match(run, node) and not node.always then
    run.rec:event("step_skip", { step = node.name, kind = node.kind, reason = "tags" })
    log.info(("skipped %s %q: no matching tag"):format(node.kind, node.name))
    return true, true
  end
  if node.when then
    local ok, result = guarded_call(("the when condition of %s %q"):format(node.kind, node.name), deadline, what,
      node.when, ctx)
    if not ok then return false, false, result end
    if not result then
      run.rec:event("step_skip", { step = node.name, kind = node.kind, reason = "condition" })
      log.info(("skipped %s %q: its when condition is false"):format(node.kind, node.name))
      return true, true
    end
  end
  return false, true
end

local function finish_would_run(run, node, depends_on, started)
  run.outputs[node.name] = dryrun.unknown(node.name)
  run.would_run[#run.would_run + 1] = { step = node.name, depends_on = depends_on }
  run.rec:event("step_finish", { step = node.name, kind = node.kind, status = "would_run", depends_on = depends_on,
                                 duration = sys.monotonic() - started })
  log.info(("would run, depends on %s"):format(depends_on))
  return true
end

local function run_step(run, node, parent_deadline, parent_what)
  local started = sys.monotonic()
  local deadline, what = effective_deadline(parent_deadline, parent_what, node.timeout, ("step %q"):format(node.name))
  log.set_context("step", node.name)
  dryrun.set_step(node.name)
  run.rec.step = node.name
  local ctx = make_ctx(run, node, 1)
  local skipped, fine, skip_error = skip_node(run, node, ctx, deadline, what)
  if skipped then return true end
  run.rec:event("step_start", { step = node.name, kind = "step", description = node.description,
                                always = node.always or nil })
  log.info("starting" .. (node.description and (": " .. node.description) or ""))
  local err = skip_error
  if fine and node.already_done then
    local ok, result = guarded_call(("the already_done guard of step %q"):format(node.name), deadline, what,
      node.already_done, ctx)
    if ok and result then
      local outputs = type(result) == "table" and result or {}
      run.outputs[node.name] = outputs
      run.rec:event("step_skip", { step = node.name, kind = "step", reason = "already_done", outputs = outputs })
      run.rec:sync()
      log.info("already in place, skipped")
      run.skipped[#run.skipped + 1] = node.name
      return true
    elseif not ok then
      fine, err = false, result
    end
  end
  local policy = node.retry or run.pb.retry
  local counts, attempt = {}, 0
  while fine do
    attempt = attempt + 1
    ctx.attempt = attempt
    run.rec:event("attempt", { step = node.name, attempt = attempt })
    local ok, result = guarded_call(("step %q"):format(node.name), deadline, what, node.run, ctx)
    if ok and result ~= nil and type(result) ~= "table" then
      ok, result = false, ("%s:%d: step %q: run returned a %s; return a table of outputs or nothing"):format(
        node.source, node.line, node.name, type(result))
    end
    if ok then
      run.outputs[node.name] = result
      if node.rollback then run.completed[#run.completed + 1] = { node = node, outputs = result } end
      run.rec:event("step_finish", { step = node.name, kind = "step", status = "ok", attempts = attempt,
                                     outputs = result, duration = sys.monotonic() - started })
      run.rec:sync()
      log.info(("done in %s"):format(duration.format(sys.monotonic() - started)))
      return true
    end
    local depends_on = dryrun.depends_on(result)
    if depends_on then return finish_would_run(run, node, depends_on, started) end
    run.rec:event("step_error", { step = node.name, attempt = attempt, error = result })
    local decision, final = after_failure(run, node, policy, result, attempt, counts, deadline, what)
    if decision ~= "retry" then fine, err = false, final end
  end
  local depends_on = dryrun.depends_on(err)
  if depends_on then return finish_would_run(run, node, depends_on, started) end
  local status = is_interrupt(err) and "interrupted" or "failed"
  run.rec:event("step_finish", { step = node.name, kind = "step", status = status, attempts = attempt,
                                 error = err, duration = sys.monotonic() - started })
  run.rec:sync()
  return false, err, node.name
end

local function run_group(run, node, parent_deadline, parent_what)
  local started = sys.monotonic()
  local deadline, what = effective_deadline(parent_deadline, parent_what, node.timeout, ("group %q"):format(node.name))
  log.set_context("step", node.name)
  local ctx = make_ctx(run, node, 1)
  local skipped, fine, err = skip_node(run, node, ctx, deadline, what)
  if skipped then return true end
  run.rec:event("step_start", { step = node.name, kind = "group", description = node.description })
  -- Inside a group selected by its own tag, every step runs.
  local selected = run.tags and run.tagged_groups == 0 and has_tag(run, { kind = "step", tags = node.tags })
  if selected then run.tagged_groups = run.tagged_groups + 1 end
  local counts, attempt, failed_step = {}, 0, node.name
  while fine do
    attempt = attempt + 1
    local mark = #run.completed
    run.rec:event("attempt", { step = node.name, kind = "group", attempt = attempt })
    local ok, step_error, step_name = true, nil, nil
    for _, child in ipairs(node.steps) do
      ok, step_error, step_name = run_node(run, child, deadline, what)
      if not ok then break end
    end
    log.set_context("step", node.name)
    if ok then
      if selected then run.tagged_groups = run.tagged_groups - 1 end
      run.rec:event("step_finish", { step = node.name, kind = "group", status = "ok", attempts = attempt,
                                     duration = sys.monotonic() - started })
      run.rec:sync()
      return true
    end
    local decision, final = after_failure(run, node, node.retry, step_error, attempt, counts, deadline, what)
    if decision == "retry" then
      -- The group runs again from its first step, so the steps completed in
      -- this attempt will complete again: keep only their later completion.
      for i = #run.completed, mark + 1, -1 do run.completed[i] = nil end
    else
      fine, err, failed_step = false, final, step_name
    end
  end
  if selected then run.tagged_groups = run.tagged_groups - 1 end
  run.rec:event("step_finish", { step = node.name, kind = "group", status = is_interrupt(err) and "interrupted"
    or "failed", attempts = attempt, error = err, duration = sys.monotonic() - started })
  run.rec:sync()
  return false, err, failed_step
end

run_node = function(run, node, deadline, what)
  if node.kind == "group" then return run_group(run, node, deadline, what) end
  return run_step(run, node, deadline, what)
end

local function run_rollbacks(run)
  for i = #run.completed, 1, -1 do
    local entry = run.completed[i]
    local node = entry.node
    if sys.signal() then
      run.rollback_skipped[#run.rollback_skipped + 1] = node.name
    else
      log.set_context("step", node.name)
      dryrun.set_step(node.name)
      run.rec.step = node.name
      log.info("rolling back")
      run.rec:event("rollback_start", { step = node.name })
      local started = sys.monotonic()
      local ctx = make_ctx(run, node, 1)
      local deadline, what = effective_deadline(nil, nil, node.timeout, ("rollback of step %q"):format(node.name))
      local ok, err = guarded_call(("the rollback of step %q"):format(node.name), deadline, what, node.rollback,
        ctx, entry.outputs)
      if ok then
        run.rolled_back[#run.rolled_back + 1] = node.name
        run.rec:event("rollback_finish", { step = node.name, status = "ok", duration = sys.monotonic() - started })
      elseif is_interrupt(err) then
        -- The signal stays set, so the rollbacks after this one are skipped.
        run.rollback_interrupted = { step = node.name, error = err }
        run.rec:event("rollback_finish", { step = node.name, status = "interrupted", error = err,
                                           duration = sys.monotonic() - started })
        -- The error's own text ("interrupted: interrupted by SIGINT")
        -- would repeat the word, so the signal is named directly.
        local signal = type(err) == "table" and rawget(err, "signal") or sys.signal() or "a signal"
        log.error(("rollback of step %q interrupted by %s"):format(node.name, signal))
      else
        run.rollback_failed[#run.rollback_failed + 1] = { step = node.name, error = err }
        run.rec:event("rollback_finish", { step = node.name, status = "failed", error = err,
                                           duration = sys.monotonic() - started })
        log.error("rollback failed: " .. error_text(err))
      end
      run.rec:sync()
    end
  end
end

local function run_always_steps(run, list, from)
  for i = from, #list do
    local node = list[i]
    if node.always then
      if sys.signal() then sys.clear_signal() end
      local ok, err = run_node(run, node, nil, nil)
      if not ok then
        run.always_failed[#run.always_failed + 1] = { step = node.name, error = err }
        log.error(("always-step %q failed: %s"):format(node.name, error_text(err)))
      end
    else
      run.rec:event("step_skip", { step = node.name, kind = node.kind, reason = "not_reached" })
    end
  end
end

local function names(list)
  local out = {}
  for _, entry in ipairs(list) do out[#out + 1] = ("%q"):format(type(entry) == "table" and entry.step or entry) end
  return table.concat(out, ", ")
end

-- Returns TEXT with every occurrence of the plain string FROM replaced by TO.
local function plain_replace(text, from, to)
  local out, start = {}, 1
  while true do
    local first, last = text:find(from, start, true)
    if not first then break end
    out[#out + 1] = text:sub(start, first - 1)
    out[#out + 1] = to
    start = last + 1
  end
  out[#out + 1] = text:sub(start)
  return table.concat(out)
end

-- Adds "  at FILE:LINE" to LINES when ERR is an error value that names the
-- playbook line it was made at. A string error has its position in its text.
local function add_where(lines, err)
  if errors.is(err) and type(err.where) == "string" then lines[#lines + 1] = "  at " .. err.where end
end

local function final_message(run, status, err, failed_step)
  local lines = {}
  local took = duration.format(sys.monotonic() - run.started)
  local run_name = (run.rehearsal and "rehearsal run " or "run ") .. run.rec.id
  if status == "succeeded" then
    lines[#lines + 1] = ("playbook %q %s in %s (%s)"):format(run.pb.name,
      run.dry_run and "dry run finished" or "succeeded", took, run_name)
    if #run.skipped > 0 then lines[#lines + 1] = "already in place: " .. names(run.skipped) end
    for _, w in ipairs(run.would_run) do
      lines[#lines + 1] = ("step %q would run, depends on %s"):format(w.step, w.depends_on)
    end
  elseif status == "interrupted" and run.status_before_rollback == "failed" then
    local stopped = run.rollback_interrupted
    lines[#lines + 1] = ("playbook %q failed at step %q, then %s interrupted the %s after %s (%s)"):format(
      run.pb.name, failed_step, run.signal, stopped and ("rollback of step %q"):format(stopped.step) or "rollbacks",
      took, run_name)
    lines[#lines + 1] = "error: " .. error_text(err)
    add_where(lines, err)
  elseif status == "interrupted" then
    lines[#lines + 1] = ("playbook %q interrupted by %s during step %q after %s (%s)"):format(run.pb.name,
      run.signal, failed_step, took, run_name)
  else
    lines[#lines + 1] = ("playbook %q failed at step %q after %s (%s)"):format(run.pb.name, failed_step, took,
      run_name)
    lines[#lines + 1] = "error: " .. error_text(err)
    add_where(lines, err)
  end
  if #run.rolled_back > 0 then lines[#lines + 1] = "rolled back: " .. names(run.rolled_back) end
  for _, f in ipairs(run.rollback_failed) do
    lines[#lines + 1] = ("rollback of %q failed: %s"):format(f.step, error_text(f.error))
    add_where(lines, f.error)
  end
  if run.rollback_interrupted then
    lines[#lines + 1] = ("rollback of %q interrupted by %s"):format(run.rollback_interrupted.step, run.rollback_signal)
  end
  if status ~= "succeeded" and #run.rolled_back == 0 and #run.rollback_failed == 0 and not run.interrupted_during then
    if run.rollbacks_ran then
      lines[#lines + 1] = "nothing to roll back"
    elseif #run.completed > 0 then
      local completed = {}
      for _, entry in ipairs(run.completed) do completed[#completed + 1] = entry.node.name end
      lines[#lines + 1] = "not rolled back (interrupted): " .. names(completed)
        .. "; rollbacks run on an interrupt only with --rollback-on-interrupt"
    end
  end
  if #run.rollback_skipped > 0 then
    lines[#lines + 1] = "rollback not run (interrupted): " .. names(run.rollback_skipped)
  end
  for _, f in ipairs(run.always_failed) do
    lines[#lines + 1] = ("always-step %q failed: %s"):format(f.step, error_text(f.error))
    add_where(lines, f.error)
  end
  for _, text in ipairs(run.follow_up) do lines[#lines + 1] = "follow-up: " .. text end
  lines[#lines + 1] = "record: " .. run.rec.path
  if log.format() == "json" then
    local level = status == "succeeded" and log.info or log.error
    level(lines[1], { status = status, details = table.move(lines, 2, #lines, 1, {}) })
  else
    -- The run id and record path are masked out of the text first and put
    -- back after redaction, so a short secret ("1204") cannot hide them.
    local id_token, path_token = "\0\1\0", "\0\2\0"
    local text = table.concat(lines, "\n")
    text = plain_replace(text, run.rec.path, path_token)
    text = plain_replace(text, run.rec.id, id_token)
    text = secret.redact(text)
    text = plain_replace(plain_replace(text, path_token, run.rec.path), id_token, run.rec.id)
    -- What the playbook printed to a piped stdout comes before the summary.
    io.stdout:flush()
    io.stderr:write(text, "\n")
  end
end

-- Adds the names of NODES, and of the steps inside groups, to the list
-- STEP_NAMES, and returns it.
local function collect_names(nodes, step_names)
  for _, node in ipairs(nodes) do
    step_names[#step_names + 1] = node.name
    if node.kind == "group" then collect_names(node.steps, step_names) end
  end
  return step_names
end

-- Returns the name among STEP_NAMES that KEY most likely misspells: one
-- that differs only in case, else the closest by edit distance, or nil.
local function closest_step(key, step_names)
  if type(key) ~= "string" then return nil end
  for _, name in ipairs(step_names) do
    if name:lower() == key:lower() then return name end
  end
  return retry.closest(key, step_names)
end

-- Returns the table behind ctx.outputs. Reading a name that is no step or
-- group of PB raises at the reading line, because the nil it would give
-- fails later as "attempt to index a nil value". A step that exists but
-- has no outputs (it returned nothing, was skipped or has not run) still
-- reads as nil, so `if ctx.outputs["X"] then` keeps working.
local function new_outputs(pb)
  local step_names = collect_names(pb.steps, {})
  local known = {}
  for _, name in ipairs(step_names) do known[name] = true end
  table.sort(step_names)
  return setmetatable({}, { __index = function(_, key)
    if known[key] then return nil end
    local hint = closest_step(key, step_names)
    local quoted = type(key) == "string" and ("%q"):format(key)
      or (type(key) == "number" and tostring(key) or ("(a %s)"):format(type(key)))
    error(("no step named %s has outputs%s"):format(quoted, hint and (" (did you mean %q?)"):format(hint) or ""), 2)
  end })
end

local function open_run(pb, options)
  local run = {
    pb = pb, outputs = new_outputs(pb), completed = {}, changes = {}, problems = {}, follow_up = {}, skipped = {},
    would_run = {}, rolled_back = {}, rollback_failed = {}, rollback_skipped = {}, rollback_not_run = {},
    always_failed = {},
    dry_run = options.dry_run and true or false, started = sys.monotonic(), tagged_groups = 0,
    rehearsal = options.rehearsal,
  }
  if options.tags and #options.tags > 0 then
    run.tags = {}
    for _, tag in ipairs(options.tags) do run.tags[tag] = true end
  end
  local opened, rec = pcall(record.open, { dir = options.state_dir, id = options.run_id })
  if not opened then
    -- Reported like a usage error (no traceback) but with exit status 1.
    local failure = require("mnem.cli").usage_error(tostring(rec) .. " (choose another folder with --state-dir)")
    failure.exit = M.EXIT.failed
    error(failure, 0)
  end
  run.rec = rec
  return run
end

-- Returns the run's status after its rollbacks ran: "interrupted" when a
-- signal stopped a rollback or kept one from starting, else STATUS. A
-- failed run whose rollbacks an operator stopped is recorded as
-- interrupted, because not all of its changes were undone.
local function status_after_rollbacks(run, status)
  for _, name in ipairs(run.rollback_skipped) do run.rollback_not_run[#run.rollback_not_run + 1] = name end
  local stopped = run.rollback_interrupted
  if not stopped and #run.rollback_skipped == 0 then return status end
  local err = stopped and stopped.error
  local signal = sys.signal() or (type(err) == "table" and rawget(err, "signal")) or "a signal"
  run.interrupted_during, run.status_before_rollback = "rollback", status
  if status ~= "interrupted" then run.signal = signal end
  run.rollback_signal = signal
  return "interrupted"
end

-- Runs the steps of PB, then the rollbacks and always steps a failure or
-- interrupt calls for. Returns the run's status, error and failed step.
local function execute(run, pb, options)
  local deadline, what
  if pb.deadline then
    deadline = run.started + pb.deadline
    what = ("the run deadline of %s passed"):format(duration.format(pb.deadline))
  end
  local ok, err, failed_step, stop_index = true, nil, nil, #pb.steps + 1
  for i, node in ipairs(pb.steps) do
    ok, err, failed_step = run_node(run, node, deadline, what)
    if not ok then stop_index = i + 1 break end
  end
  local status = ok and "succeeded" or (is_interrupt(err) and "interrupted" or "failed")
  run.signal = sys.signal() or (type(err) == "table" and rawget(err, "signal")) or "a signal"
  log.set_context("step", nil)
  if status == "failed" or (status == "interrupted" and options.rollback_on_interrupt) then
    if status == "interrupted" then sys.clear_signal() end
    run.rollbacks_ran = true
    run_rollbacks(run)
    status = status_after_rollbacks(run, status)
  elseif status == "interrupted" then
    log.warn(("interrupted during step %q: rollbacks are not run on an interrupt"):format(failed_step))
    for _, entry in ipairs(run.completed) do run.rollback_not_run[#run.rollback_not_run + 1] = entry.node.name end
  end
  if not ok then run_always_steps(run, pb.steps, stop_index) end
  if status == "succeeded" and #run.always_failed > 0 then status = "failed" end
  return status, err, failed_step
end

local function internal_error_handler(err)
  return debug.traceback("the engine stopped on an internal error: " .. error_text(err), 2)
end

--- Runs playbook PB (from mnem.playbook.load, with its variables resolved)
-- and returns the exit status: 0 success, 1 failure, 130 interrupted.
-- OPTIONS: dry_run, state_dir, tags (list), rollback_on_interrupt, run_id,
-- rehearsal ({ scenario, endpoint } when `mnem run --sim` runs it against
-- the local simulator; recorded, and named in the messages).
-- Traps SIGINT and SIGTERM for the rest of the process. The record always
-- ends with a run_end line, also when the engine itself raises: the run
-- is then "failed" with that error and the remaining rollbacks do not run.
function M.run(pb, options)
  options = options or {}
  sys.trap_signals()
  dryrun.set_active(options.dry_run)
  local run = open_run(pb, options)
  current = { run = run }
  log.set_context("run", run.rec.id)
  run.rec:event("run_start", { playbook = pb.path, name = pb.name, vars = pb.values, dry_run = run.dry_run,
    mnem_version = require("mnem.cli").VERSION, host = record.hostname(), pid = sys.getpid(),
    boot_id = record.boot_id(), process_start = record.process_start(sys.getpid()), tags = options.tags,
    deadline = pb.deadline, rehearsal = options.rehearsal })
  run.rec:sync()
  log.info(("run %s: playbook %q%s%s"):format(run.rec.id, pb.name, run.dry_run and " (dry run)" or "",
    options.rehearsal and " (rehearsal on the local simulator)" or ""))
  local finished, status, err, failed_step = xpcall(execute, internal_error_handler, run, pb, options)
  if not finished then
    set_hook(false)
    status, err, failed_step = "failed", status, run.rec.step or "(none)"
  end
  log.set_context("step", nil)
  -- The playbook's own follow_up list is work after a successful run, so
  -- it is listed only then. What steps added with ctx.follow_up is listed
  -- whatever the outcome, because those steps ran.
  if status == "succeeded" then
    table.move(run.follow_up, 1, #run.follow_up, #pb.follow_up + 1)
    table.move(pb.follow_up, 1, #pb.follow_up, 1, run.follow_up)
  end
  local ended, end_error = pcall(run.rec.event, run.rec, "run_end", { status = status, error = err,
    failed_step = failed_step, duration = sys.monotonic() - run.started, rolled_back = run.rolled_back,
    rollback_failed = run.rollback_failed, would_run = run.would_run, follow_up = run.follow_up,
    signal = status == "interrupted" and (run.rollback_signal or run.signal) or nil,
    interrupted_during = run.interrupted_during,
    rollback_interrupted = run.rollback_interrupted and run.rollback_interrupted.step,
    rollback_not_run = run.rollback_not_run })
  run.rec:close()
  current, run_ended = nil, true
  final_message(run, status, err, failed_step)
  if not ended then io.stderr:write("mnem: writing the end of the run record failed: ", error_text(end_error), "\n") end
  log.set_context("run", nil)
  dryrun.set_active(false)
  if status == "succeeded" then return M.EXIT.ok end
  if status == "interrupted" then return M.EXIT.interrupted end
  return M.EXIT.failed
end

return M
