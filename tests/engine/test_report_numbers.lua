-- mnem report writes integral numbers from the record without ".0".
local t = require("t")
local h = require("engine_helpers")

t.test("report writes integers without .0", function()
  h.setup(t)
  local status = h.run([[
playbook { name = "v",
  vars = { n = { type = "integer", default = 2 }, d = { type = "duration", default = "5m" },
           f = { type = "number", default = 1.5 } },
  steps = { step "a" { run = function(ctx) ctx.change{ action = "created", resource = "x", id = 42 } end } } }
]])
  t.eq(status, 0)
  local code, out = h.mnem({ "report", "last", "--state-dir", h.state })
  t.eq(code, 0)
  t.contains(out, "- Variables: d=300, f=1.5, n=2\n")
  t.contains(out, "created x `42`")
  t.not_contains(out, "2.0")
end)

t.done()
