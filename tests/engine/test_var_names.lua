-- Reading a variable the playbook does not declare raises at the reading
-- line with the closest declared name. Reading `vars` while the file loads
-- raises too. Plain Lua would return nil, and a step timeout read that way
-- would silently be no timeout.
local t = require("t")
local h = require("engine_helpers")

local function playbook_reading(expression, declared)
  return ([[
playbook {
  name = "names",
  vars = { %s },
  steps = {
    step "Read" { run = function(ctx)
      local value = %s
      print("value=" .. tostring(value))
    end },
  },
}
]]):format(declared or [[param = { type = "string", default = "p" }, other = "string",
           opt = { type = "string", required = false }]], expression)
end

t.test("ctx.vars typo suggests name", function()
  h.setup(t)
  local status, _, err = h.run(playbook_reading("ctx.vars.parm"), { "--var", "other=o" })
  t.eq(status, 1)
  t.contains(err, "playbook.lua:7: unknown variable \"parm\" (did you mean \"param\"?)")
end)

t.test("vars global typo suggests name", function()
  h.setup(t)
  local status, _, err = h.run(playbook_reading("vars.othr"), { "--var", "other=o" })
  t.eq(status, 1)
  t.contains(err, "playbook.lua:7: unknown variable \"othr\" (did you mean \"other\"?)")
end)

t.test("unknown variable lists declared ones", function()
  h.setup(t)
  local status, _, err = h.run(playbook_reading("ctx.vars.zzzzzzzzzz"), { "--var", "other=o" })
  t.eq(status, 1)
  t.contains(err, "playbook.lua:7: unknown variable \"zzzzzzzzzz\"; the playbook's variables are opt, other, param")
end)

t.test("unknown variable with none declared", function()
  h.setup(t)
  local status, _, err = h.run(playbook_reading("ctx.vars.region", ""))
  t.eq(status, 1)
  t.contains(err, "unknown variable \"region\"; the playbook declares no variables")
end)

t.test("optional unset variable reads nil", function()
  h.setup(t)
  local status, out, err = h.run(playbook_reading("ctx.vars.opt"), { "--var", "other=o" })
  t.eq(status, 0, err)
  t.contains(out, "value=nil")
end)

t.test("optional variable given a value", function()
  h.setup(t)
  local status, out, err = h.run(playbook_reading("vars.opt"), { "--var", "other=o", "--var", "opt=given" })
  t.eq(status, 0, err)
  t.contains(out, "value=given")
end)

t.test("required must be a boolean", function()
  h.setup(t)
  local path = h.write(h.scratch, "required.lua", playbook_reading("1", [[x = { type = "string", required = "no" }]]))
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  t.contains(err, "variable \"x\": field \"required\" must be a boolean, got a string")
end)

t.test("vars read at load time", function()
  h.setup(t)
  local text = [[
playbook {
  name = "load",
  vars = { migration_timeout = { type = "duration", default = "5m" } },
  steps = {
    step "Migrate" {
      timeout = vars.migration_timeout,
      run = function() end,
    },
  },
}
]]
  local path = h.write(h.scratch, "load.lua", text)
  for _, command in ipairs({ "check", "plan", "run" }) do
    local status, _, err = h.mnem({ command, path, command == "run" and "--state-dir" or nil, h.state })
    t.eq(status, 2, command .. " exit status")
    t.contains(err, "load.lua:6: vars.migration_timeout is read while the playbook file loads", command)
    t.contains(err, "read it inside a step function", command)
  end
end)

t.test("record keeps variable values", function()
  h.setup(t)
  local status = h.run(playbook_reading("ctx.vars.param"), { "--var", "other=o" })
  t.eq(status, 0)
  local start = h.events(h.last_record(), "run_start")[1]
  t.eq(start.vars, { param = "p", other = "o" })
end)

t.test("plan shows optional and durations", function()
  h.setup(t)
  local path = h.write(h.scratch, "plan.lua", playbook_reading("1", [[
    opt = { type = "string", required = false },
    wait_for = { type = "duration", default = 5, min = "1s", max = "2m" }]]))
  local status, out, err = h.mnem({ "plan", path })
  t.eq(status, 0, err)
  t.contains(out, "opt: string, optional")
  t.contains(out, "wait_for: duration, default 5s, min 1s, max 2m00s")
end)

t.test("plan aligns lines under step 10", function()
  h.setup(t)
  local text = [[
local steps = {}
for i = 1, 10 do
  steps[i] = step("S" .. i) { description = "about " .. i, run = function() end }
end
playbook { name = "ten", steps = steps }
]]
  local path = h.write(h.scratch, "ten.lua", text)
  local status, out, err = h.mnem({ "plan", path })
  t.eq(status, 0, err)
  t.contains(out, "\n  9. \"S9\"\n     about 9\n")
  t.contains(out, "\n  10. \"S10\"\n      about 10\n")
end)

return t.done()
