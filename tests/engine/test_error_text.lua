-- The one-line text of raised values: plain tables list their fields, a
-- code equal to the kind is not repeated, string errors lose the traceback.
local t = require("t")
local h = require("engine_helpers")
local errors = require("mnem.errors")

t.test("plain table error lists fields", function()
  t.eq(errors.text({ code = "Boom", message = "boom", n = 3, where = "db" }), 'Boom: boom (n=3, where="db")')
  t.eq(errors.text({ message = "only" }), "only")
  t.eq(errors.text({}), "error table")
  t.eq(errors.text({ 7 }), "error table (1=7)")
end)

t.test("string error drops the traceback", function()
  t.eq(errors.text("p.lua:3: broke\nstack traceback:\n\t[C]: in ?"), "p.lua:3: broke")
end)

t.test("code equal to kind not repeated", function()
  t.eq(tostring(errors.new{ kind = "interrupted", code = "Interrupted", message = "interrupted by SIGINT" }),
    "interrupted: interrupted by SIGINT")
  t.eq(tostring(errors.new{ kind = "timeout", code = "Timeout", message = "step timed out" }),
    "timeout: step timed out")
  t.eq(tostring(errors.new{ kind = "aws", code = "Throttling", message = "slow down" }), "aws Throttling: slow down")
end)

t.test("step raising a table shows fields", function()
  h.setup(t)
  local status, _, err = h.run([[
playbook { name = "te", steps = { step "a" { run = function() error({ code = "Boom", message = "boom" }) end } } }
]])
  t.eq(status, 1)
  t.contains(err, "error: Boom: boom")
  t.not_contains(err, "table: 0x")
end)

t.test("show writes one attempt left", function()
  h.setup(t)
  h.run([[
playbook { name = "r", steps = { step "a" { retry = { match = "*", max_attempts = 2, interval = "1ms" },
  run = function() error("flaky") end } } }
]])
  local status, out = h.mnem({ "show", "last", "--state-dir", h.state })
  t.eq(status, 0)
  t.contains(out, "(1 attempt left)")
end)

t.done()
