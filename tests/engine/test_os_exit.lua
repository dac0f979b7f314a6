-- os.exit inside a run fails the code that called it instead of ending the
-- process: rollbacks and always-steps run, the record ends with run_end
-- and mnem exits 1. Error values whose metamethods raise or call os.exit
-- cannot leave the record unfinished either.
local t = require("t")
local h = require("engine_helpers")

-- Returns the last event of the newest run record.
local function last_event()
  local events = h.last_record()
  return events[#events], events
end

-- Returns whether LIST (an array of strings) contains VALUE.
local function has(list, value)
  for _, v in ipairs(list or {}) do if v == value then return true end end
  return false
end

-- A playbook whose step "Exit" runs BODY after step "Create" completed,
-- with an always-step "Report" at the end. Each step notes what it did in
-- the file ctx.vars.dir .. "/log".
local function playbook_with(body, exit_fields)
  return ([[
local function note(ctx, text)
  local f = io.open(ctx.vars.dir .. "/log", "a") f:write(text, "\n") f:close()
end
playbook {
  name = "exits",
  vars = { dir = { type = "path" } },
  steps = {
    step "Create" { run = function(ctx) note(ctx, "created") end, rollback = function(ctx) note(ctx, "undo") end },
    step "Exit" { %s run = function(ctx)
      %s
    end },
    step "Later" { run = function(ctx) note(ctx, "later") end },
    step "Report" { always = true, run = function(ctx) note(ctx, "always") end },
  },
}
]]):format(exit_fields or "", body)
end

local function run_with(body, exit_fields)
  local dir = h.setup(t)
  local status, out, err = h.run(playbook_with(body, exit_fields), { "--var", "dir=" .. dir })
  return status, out, err, h.lines(dir .. "/log")
end

t.test("os.exit fails the step", function()
  local status, _, err, log = run_with("os.exit(3)")
  t.eq(status, 1, "exit status")
  t.contains(err, 'playbook "exits" failed at step "Exit"')
  t.contains(err, 'os.exit(3) called in step "Exit": playbook code cannot end the process during a run')
  t.contains(err, "use error() to fail the step")
  t.contains(err, 'rolled back: "Create"')
  t.eq(log, { "created", "undo", "always" }, "rollback and always-step ran, later step did not")
  local finish, events = last_event()
  t.eq(finish.event, "run_end", "record finished")
  t.eq(finish.status, "failed")
  t.eq(finish.failed_step, "Exit")
  t.eq(finish.error.kind, "exit")
  t.eq(finish.error.exit_status, 3)
  t.ok(has(finish.rolled_back, "Create"), "run_end lists the rollback")
  t.eq(h.events(events, "step_finish", "Exit")[1].status, "failed")
end)

t.test("os.exit(0) and os.exit(true) fail too", function()
  for _, call in ipairs({ "os.exit(0)", "os.exit(true)", "os.exit()" }) do
    local status, _, err, log = run_with(call)
    t.eq(status, 1, call .. ": exit status")
    t.contains(err, call .. ' called in step "Exit"', call)
    t.eq(log, { "created", "undo", "always" }, call .. ": steps run")
    t.eq(last_event().status, "failed", call .. ": record status")
  end
end)

t.test("os.exit caught by pcall still fails", function()
  local status, _, err, log = run_with([[
      local ok = pcall(os.exit, 4)
      note(ctx, "caught " .. tostring(ok))
      return {}]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'os.exit(4) called in step "Exit"')
  -- pcall raises the exit error again at once, so the note never runs.
  t.eq(log, { "created", "undo", "always" })
  t.eq(last_event().status, "failed")
end)

t.test("os.exit caught then busy loop stops", function()
  local status, _, err = run_with([[
      pcall(os.exit, 5)
      local n = 0
      while true do n = n + 1 end]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'os.exit(5) called in step "Exit"', "raised again at the next safe point")
end)

t.test("os.exit is not retried", function()
  local status, _, err, log = run_with([[note(ctx, "attempt") os.exit(6)]],
    [[retry = { match = "*", interval = "10ms", max_attempts = 4 },]])
  t.eq(status, 1, "exit status")
  t.contains(err, "os.exit(6)")
  t.eq(log, { "created", "attempt", "undo", "always" }, "one attempt only")
  t.eq(#h.events((h.last_record()), "retry"), 0, "no retry recorded")
end)

t.test("os.exit kept by a recipe", function()
  local dir = h.setup(t)
  h.write(dir, "quitter.lua", [[
local exit = os.exit
return { quit = function(code) exit(code) end }
]])
  local status, _, err = h.run([[
local quitter = require("quitter")
playbook { name = "recipe-exit", steps = { step "Quit" { run = function() quitter.quit(2) end } } }
]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'os.exit(2) called in step "Quit"')
  t.eq(last_event().status, "failed")
end)

t.test("os.exit in a rollback", function()
  local dir = h.setup(t)
  local status, _, err = h.run([[
local function note(text)
  local f = io.open(vars.dir .. "/log", "a") f:write(text, "\n") f:close()
end
playbook {
  name = "rollback-exit",
  vars = { dir = { type = "path" } },
  steps = {
    step "First" { run = function() end, rollback = function() note("first undone") end },
    step "Second" { run = function() end, rollback = function() os.exit(0) end },
    step "Fail" { run = function() error("planned failure") end },
  },
}
]], { "--var", "dir=" .. dir })
  t.eq(status, 1, "exit status")
  t.contains(err, 'rollback of "Second" failed: exit: os.exit(0) called in the rollback of step "Second"')
  t.eq(h.lines(dir .. "/log"), { "first undone" }, "the other rollback still ran")
  local finish, events = last_event()
  t.eq(finish.event, "run_end")
  t.eq(finish.rollback_failed[1].step, "Second")
  t.eq(h.events(events, "rollback_finish", "Second")[1].status, "failed")
end)

t.test("os.exit in a guard", function()
  h.setup(t)
  local status, _, err = h.run([[
playbook { name = "guard-exit", steps = {
  step "Guarded" { already_done = function() os.exit(0) end, run = function() end },
} }
]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'os.exit(0) called in the already_done guard of step "Guarded"')
  t.eq(last_event().status, "failed")
end)

t.test("os.exit in a __close handler", function()
  local status, _, err, log = run_with([[
      local guard <close> = setmetatable({}, { __close = function() os.exit(0) end })
      note(ctx, "body done")]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'os.exit(0) called in step "Exit"')
  t.eq(log, { "created", "body done", "undo", "always" })
  t.eq(last_event().status, "failed")
end)

t.test("error value whose __gc exits", function()
  -- The error value lives until the state closes at the end of the
  -- process, so its finalizer runs after the run ended.
  local status, _, err, log = run_with([[
      error(setmetatable({ code = "Boom" }, { __gc = function() os.exit(0) end }))]])
  t.eq(status, 1, "exit status stays the run's")
  t.contains(err, "error: Boom")
  t.eq(log, { "created", "undo", "always" })
  local finish = last_event()
  t.eq(finish.event, "run_end")
  t.eq(finish.status, "failed")
end)

t.test("finalizer exits during a later step", function()
  local dir = h.setup(t)
  local status, _, err = h.run([[
playbook { name = "gc-exit", steps = {
  step "Litter" { run = function() setmetatable({}, { __gc = function() os.exit(0) end }) end },
  step "Collect" { run = function() collectgarbage() collectgarbage() end },
} }
]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'os.exit(0) called in step "Collect"')
  t.eq(last_event().status, "failed")
  t.ok(dir)
end)

t.test("error value whose __tostring raises", function()
  local status, _, err, log = run_with([[
      error(setmetatable({}, { __tostring = function() error("no text for you") end }))]])
  t.eq(status, 1, "exit status")
  t.contains(err, "error value whose text cannot be shown: ")
  t.contains(err, "no text for you")
  t.not_contains(err, "internal error")
  t.eq(log, { "created", "undo", "always" })
  t.eq(last_event().status, "failed")
end)

t.test("error value whose __tostring exits", function()
  local status, _, err, log = run_with([[
      error(setmetatable({}, { __tostring = function() os.exit(0) end }))]])
  t.eq(status, 1, "exit status")
  t.contains(err, "error value whose text cannot be shown: ")
  t.contains(err, "os.exit(0) called after the run ended: ignored")
  t.eq(log, { "created", "undo", "always" })
  t.eq(last_event().status, "failed")
end)

t.test("error value with raising __index and __pairs", function()
  local status, _, err, log = run_with([[
      error(setmetatable({}, { __index = function() error("no fields") end,
                               __pairs = function() os.exit(0) end }))]],
    [[retry = { match = "Throttling" },]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'the retry policy of step "Exit" raised an error: ')
  t.contains(err, "no fields")
  t.eq(log, { "created", "undo", "always" })
  t.eq(last_event().status, "failed")
end)

t.test("retry match function raises", function()
  local status, _, err, log = run_with([[error("first")]],
    [[retry = { match = function(e) return e.missing.field end },]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'the retry policy of step "Exit" raised an error: ')
  t.contains(err, "attempt to index a nil value")
  t.contains(err, "(the error it was matching: ")
  t.not_contains(err, "internal error")
  t.eq(log, { "created", "undo", "always" }, "rollback ran")
  t.eq(last_event().status, "failed")
end)

t.test("os.exit outside a run still exits", function()
  local dir = h.setup(t)
  local script = h.write(dir, "plain.lua", [[
require("mnem.engine")
os.exit(7)
]])
  local status = h.mnem({ "script", script })
  t.eq(status, 7)
end)

return t.done()
