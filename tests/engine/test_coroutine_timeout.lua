-- Coroutines get the engine's count hook while a step runs: a busy
-- loop inside one is stopped by the step timeout and by SIGTERM, the hook
-- is removed after the run, and coroutine.wrap keeps Lua's behaviour.
local t = require("t")
local h = require("engine_helpers")
local sys = require("mnem._sys")

-- Runs a one-step playbook whose step has a 300 ms timeout and runs BODY;
-- returns the exit status, stderr and the seconds the run took.
local function run_busy(body)
  h.setup(t)
  local started = sys.monotonic()
  local status, _, err = h.run(([[
playbook {
  name = "busy-coroutine",
  steps = {
    step "Spin" { timeout = "300ms", run = function()
      %s
    end },
    step "Never" { run = function() error("must not run") end },
  },
}
]]):format(body))
  return status, err, sys.monotonic() - started
end

local function check_timed_out(status, err, took, what)
  t.eq(status, 1, what .. ": exit status")
  t.ok(took < 10, what .. ": stopped promptly, took " .. took)
  t.contains(err, 'step "Spin" timed out after 0.30s', what)
  local events = h.last_record()
  local finish = h.events(events, "step_finish", "Spin")[1]
  t.eq(finish.status, "failed", what .. ": step status")
  t.eq(finish.error.kind, "timeout", what .. ": error kind")
  t.eq(#h.events(events, "step_start", "Never"), 0, what .. ": later step not started")
  t.eq(events[#events].event, "run_end", what .. ": record finished")
end

t.test("timeout stops coroutine.wrap loop", function()
  local status, err, took = run_busy([[
      local spin = coroutine.wrap(function() while true do end end)
      spin()]])
  check_timed_out(status, err, took, "wrap")
end)

t.test("timeout stops coroutine.create loop", function()
  local status, err, took = run_busy([[
      local co = coroutine.create(function() while true do end end)
      local ok, e = coroutine.resume(co)
      error(e)]])
  check_timed_out(status, err, took, "create")
end)

t.test("timeout stops nested coroutine loop", function()
  local status, err, took = run_busy([[
      local outer = coroutine.wrap(function()
        local inner = coroutine.wrap(function() while true do end end)
        inner()
      end)
      outer()]])
  check_timed_out(status, err, took, "nested")
end)

t.test("timeout stops a yielding generator", function()
  local status, err, took = run_busy([[
      local numbers = coroutine.wrap(function()
        local n = 0
        while true do n = n + 1 coroutine.yield(n) end
      end)
      while true do numbers() end]])
  check_timed_out(status, err, took, "generator")
end)

t.test("timeout stops a recipe's coroutine", function()
  local dir = h.setup(t)
  h.write(dir, "spinner.lua", [[
return { spin = function() coroutine.wrap(function() while true do end end)() end }
]])
  local started = sys.monotonic()
  local status, _, err = h.run([[
local spinner = require("spinner")
playbook { name = "recipe-coroutine", steps = {
  step "Spin" { timeout = "300ms", run = function() spinner.spin() end },
} }
]])
  check_timed_out(status, err, sys.monotonic() - started, "recipe")
end)

t.test("coroutine kept from an earlier step", function()
  h.setup(t)
  local started = sys.monotonic()
  local status, _, err = h.run([[
local kept
playbook { name = "kept-coroutine", steps = {
  step "Make" { run = function() kept = coroutine.wrap(function() coroutine.yield() while true do end end) kept() end },
  step "Spin" { timeout = "300ms", run = function() kept() end },
} }
]])
  check_timed_out(status, err, sys.monotonic() - started, "kept")
end)

t.test("coroutine made while the file loads", function()
  h.setup(t)
  local started = sys.monotonic()
  local status, _, err = h.run([[
local spin = coroutine.wrap(function() coroutine.yield() while true do end end)
spin()
playbook { name = "load-coroutine", steps = {
  step "Spin" { timeout = "300ms", run = function() spin() end },
} }
]])
  check_timed_out(status, err, sys.monotonic() - started, "made at load")
end)

t.test("SIGTERM stops a busy coroutine", function()
  local dir = h.setup(t)
  local path = h.write(dir, "playbook.lua", [[
playbook { name = "signalled", vars = { dir = { type = "path" } }, steps = {
  step "Spin" { run = function(ctx)
    local f = io.open(ctx.vars.dir .. "/pid", "w") f:write(require("mnem._sys").getpid()) f:close()
    coroutine.wrap(function() while true do end end)()
  end },
} }
]])
  local command = ("(%s run %s --state-dir %s --var dir=%s >%s/out 2>%s/err; echo $? >%s/status) &"):format(
    h.quote(os.getenv("MNEM_BIN") or "build/mnem"), h.quote(path), h.quote(h.state), h.quote(dir), dir, dir, dir)
  os.execute(command)
  local pid
  for _ = 1, 600 do
    pid = h.slurp(dir .. "/pid"):match("^%d+$")
    if pid then break end
    sys.sleep(0.05)
  end
  t.ok(pid, "the step started")
  sys.sleep(0.2)
  os.execute("kill -TERM " .. pid)
  local status
  for _ = 1, 600 do
    status = h.slurp(dir .. "/status"):match("%d+")
    if status then break end
    sys.sleep(0.05)
  end
  if not status then os.execute("kill -KILL " .. pid) end
  t.eq(status, "130", "exit status")
  t.contains(h.slurp(dir .. "/err"), 'interrupted by SIGTERM during step "Spin"')
  local events = h.last_record()
  t.eq(events[#events].event, "run_end")
  t.eq(events[#events].status, "interrupted")
end)

t.test("hook removed after the run", function()
  local dir = h.setup(t)
  local path = h.write(dir, "keep.lua", [[
playbook { name = "keep", steps = {
  step "Make" { run = function()
    _G.KEPT = coroutine.create(function() coroutine.yield() end)
    coroutine.resume(_G.KEPT)
  end },
} }
]])
  -- Runs the playbook inside this process, as mnem run does.
  local playbook = require("mnem.playbook")
  local engine = require("mnem.engine")
  local pb = playbook.load(path)
  playbook.resolve_vars(pb, {})
  require("mnem.log").configure({ level = "error" })
  local status = engine.run(pb, { state_dir = h.state })
  t.eq(status, 0, "run status")
  t.eq(debug.gethook(), nil, "no hook on the main thread")
  local kept = rawget(_G, "KEPT")
  t.eq(coroutine.status(kept), "suspended")
  t.eq(debug.gethook(kept), nil, "no hook on a coroutine made by the step")
  t.eq(debug.gethook(coroutine.create(function() end)), nil, "no hook on a coroutine made afterwards")
end)

t.test("wrap keeps Lua's behaviour", function()
  require("mnem.engine")
  local gen = coroutine.wrap(function(a)
    local b = coroutine.yield(a + 1)
    return b * 2, "done"
  end)
  t.eq(gen(1), 2, "first resume yields")
  t.eq(table.pack(gen(5)), { n = 2, 10, "done" }, "return values")
  t.raises(gen, "cannot resume dead coroutine", "dead coroutine")
  local failing = coroutine.wrap(function() error("inner failure") end)
  local ok, err = pcall(failing)
  t.eq(ok, false)
  t.contains(err, "inner failure")
  t.contains(err, "test_coroutine_timeout.lua:", "position of the failing code")
  local closed = false
  local with_close = coroutine.wrap(function()
    local guard <close> = setmetatable({}, { __close = function() closed = true end }) -- luacheck: ignore 211
    error({ code = "Table" })
  end)
  local ok2, err2 = pcall(with_close)
  t.eq(ok2, false)
  t.eq(err2.code, "Table", "table errors pass unchanged")
  t.ok(closed, "to-be-closed variables closed on error")
  t.raises(function() coroutine.wrap(42) end, "bad argument #1 to 'wrap' (function expected, got number)")
  t.raises(function() coroutine.create("x") end, "bad argument #1 to 'create' (function expected, got string)")
end)

return t.done()
