-- Step timeouts and the run deadline: busy Lua loops stopped by the hook,
-- sleeps capped by the deadline, ctx.remaining().
local t = require("t")
local h = require("engine_helpers")
local sys = require("mnem._sys")

t.test("step timeout stops busy loop", function()
  h.setup(t)
  local started = sys.monotonic()
  local status, _, err = h.run([[
playbook {
  name = "busy",
  steps = {
    step "Spin" { timeout = "300ms", run = function() while true do end end },
    step "Never" { run = function() error("must not run") end },
  },
}
]])
  local took = sys.monotonic() - started
  t.eq(status, 1, "exit status")
  -- The loop never ends by itself, so any bound proves the timeout stopped
  -- it; 10 s leaves room for a slow, loaded machine.
  t.ok(took < 10, "stopped promptly, took " .. took)
  t.contains(err, 'step "Spin" timed out after 0.30s', "message names the step and timeout")
  local events = h.last_record()
  local finish = h.events(events, "step_finish", "Spin")[1]
  t.eq(finish.status, "failed")
  t.eq(finish.error.kind, "timeout")
  t.eq(finish.error.code, "Timeout")
  t.eq(#h.events(events, "step_start", "Never"), 0, "later step not started")
end)

t.test("timeout not swallowed by pcall", function()
  -- The hook raises the timeout inside the inner pcall almost every time;
  -- pcall raises it again, so the loop cannot catch its way past it.
  h.setup(t)
  local started = sys.monotonic()
  local status, _, err = h.run([[
playbook { name = "catcher", steps = {
  step "Loop" { timeout = "500ms", run = function()
    while true do
      pcall(function() while true do end end)
      xpcall(function() while true do end end, function() return "handled" end)
    end
  end },
  step "After" { run = function()
    local ok, e = pcall(error, "ordinary")
    assert(not ok and e == "ordinary")
  end },
} }
]])
  t.eq(status, 1, "exit status")
  t.ok(sys.monotonic() - started < 20, "stopped promptly")
  t.contains(err, 'step "Loop" timed out after 0.50s')
end)

t.test("timeout in resumed coroutine fails step", function()
  h.setup(t)
  local status, _, err = h.run([[
local spinner = coroutine.create(function() while true do end end)
playbook { name = "resumer", steps = {
  step "Resume" { timeout = "500ms", run = function() coroutine.resume(spinner) end },
} }
]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'step "Resume" timed out after 0.50s')
  local finish = h.events(h.last_record(), "step_finish", "Resume")[1]
  t.eq(finish.status, "failed")
end)

t.test("pcall outside a deadline unchanged", function()
  h.setup(t)
  local status = h.run([[
playbook { name = "plain", steps = {
  step "Catch" { timeout = "30s", run = function()
    local ok, e = pcall(error, { code = "X" })
    assert(not ok and e.code == "X")
    local co = coroutine.create(function() error("inside") end)
    local resumed, message = coroutine.resume(co)
    assert(not resumed and message:find("inside"))
  end },
} }
]])
  t.eq(status, 0, "exit status")
end)

t.test("step timeout caps sleep", function()
  h.setup(t)
  local started = sys.monotonic()
  local status, _, err = h.run([[
playbook {
  name = "sleepy",
  steps = { step "Sleep" { timeout = "200ms", run = function() sleep(30) end } },
}
]])
  local took = sys.monotonic() - started
  t.eq(status, 1, "exit status")
  t.ok(took < 10, "sleep cut short, took " .. took)
  t.contains(err, "timed out")
end)

t.test("capped call that ran out counts as the deadline", function()
  -- libcurl counts whole milliseconds, so a request capped by the step's
  -- remaining time can stop a moment before the engine's clock passes the
  -- deadline. The primitive passes true, so the step still fails as timed out.
  h.setup(t)
  local status, _, err = h.run([[
playbook {
  name = "ran-out",
  steps = { step "Capped" { timeout = "30s", run = function()
    require("mnem.engine").check_deadline(false)
    require("mnem.engine").check_deadline(true)
    error("must not get here")
  end } },
}
]])
  t.eq(status, 1, "exit status")
  t.contains(err, 'step "Capped" timed out after 30s')
  t.ok(not err:find("must not get here", 1, true), "check_deadline(true) raised")
end)

t.test("step timeout stops command", function()
  -- exec cuts its own timeout to the step's remaining time. Its clock starts
  -- first, so it runs out a moment before the step's deadline. The step must
  -- still fail with its own timeout, not with the command's.
  h.setup(t)
  local started = sys.monotonic()
  local status, _, err = h.run([[
playbook {
  name = "command",
  steps = { step "Command" { timeout = "1s", retry = false, run = function() exec{ "sleep", "30" } end } },
}
]])
  local took = sys.monotonic() - started
  t.eq(status, 1, "exit status")
  t.ok(took < 10, "the 30 s command was stopped, took " .. took)
  t.contains(err, 'step "Command" timed out after 1s')
  t.not_contains(err, "exec Timeout")
  local finish = h.events(h.last_record(), "step_finish", "Command")[1]
  t.eq(finish.error.kind, "timeout")
end)

t.test("timeout is not retried", function()
  local dir = h.setup(t)
  local status = h.run([[
playbook {
  name = "no-retry",
  vars = { dir = { type = "path" } },
  steps = { step "Spin" {
    -- Long enough that the attempt always gets to note itself.
    timeout = "1s",
    retry = { match = "Timeout", interval = "10ms", max_attempts = 5 },
    run = function(ctx)
      local f = io.open(ctx.vars.dir .. "/attempts", "a") f:write("x\n") f:close()
      while true do end
    end,
  } },
}
]], { "--var", "dir=" .. dir })
  t.eq(status, 1, "exit status")
  t.eq(#h.lines(dir .. "/attempts"), 1, "one attempt: the step's time is used up")
end)

t.test("run deadline stops run", function()
  h.setup(t)
  local status, _, err = h.run([[
playbook {
  name = "deadline",
  -- Room for "Quick" to finish even on a slow machine; "Slow" never does.
  deadline = "3s",
  steps = {
    step "Quick" { run = function() sleep(0.1) end },
    step "Slow" { timeout = "1h", run = function() while true do end end },
  },
}
]])
  t.eq(status, 1, "exit status")
  t.contains(err, "the run deadline of 3s passed", "message names the deadline")
  t.contains(err, 'failed at step "Slow"')
  local finish = h.events(h.last_record(), "step_finish", "Quick")[1]
  t.eq(finish.status, "ok", "first step finished")
end)

t.test("ctx.remaining reports the deadline", function()
  h.setup(t)
  local status = h.run([[
playbook {
  name = "remaining",
  deadline = "1h",
  steps = {
    step "Short" { timeout = "10s", run = function(ctx)
      local left = ctx.remaining()
      return { left = left, engine_left = require("mnem.engine").remaining() }
    end },
    step "Long" { run = function(ctx) return { left = ctx.remaining() } end },
  },
}
]])
  t.eq(status, 0, "exit status")
  local events = h.last_record()
  local short = h.events(events, "step_finish", "Short")[1].outputs
  local long = h.events(events, "step_finish", "Long")[1].outputs
  -- 10 s of step timeout against an hour of run deadline: anything above
  -- 5 s shows the step's time, with room for a slow start of the step.
  t.ok(short.left > 5 and short.left <= 10, "step timeout wins: " .. short.left)
  t.ok(short.engine_left > 5 and short.engine_left <= 10, "engine.remaining agrees: " .. short.engine_left)
  t.ok(long.left > 3500 and long.left <= 3600, "run deadline applies: " .. long.left)
end)

t.test("retry delay past deadline fails", function()
  h.setup(t)
  local started = sys.monotonic()
  local status, _, err = h.run([[
local errors = require("mnem.errors")
playbook {
  name = "late-retry",
  steps = { step "Throttled" {
    timeout = "1s",
    retry = { match = "Throttling", interval = "60s", max_attempts = 3 },
    run = function()
      error(errors.new{ kind = "aws", code = "Throttling", message = "slow down", retryable = true })
    end,
  } },
}
]])
  t.eq(status, 1, "exit status")
  t.ok(sys.monotonic() - started < 20, "did not sleep through the 60 s delay")
  t.contains(err, "would pass it", "message explains the retry would pass the deadline")
  t.contains(err, "slow down", "message gives the last error")
end)

return t.done()
