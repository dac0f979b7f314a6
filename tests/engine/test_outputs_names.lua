-- ctx.outputs with step names. A name that matches no step raises an
-- error naming the playbook line and the closest step name. A step that
-- exists but has no outputs (it returned nothing, was skipped or has not
-- run yet) and a group still read as nil.
local t = require("t")
local h = require("engine_helpers")

local WRONG_CASE = [[
playbook {
  name = "wrong-case",
  steps = {
    step "First" { run = function() return { id = "f-1" } end },
    step "Second" { run = function(ctx)
      return { seen = ctx.outputs["first"].id }
    end },
  },
}
]]

t.test("wrong case names the step", function()
  h.setup(t)
  local status, _, stderr = h.run(WRONG_CASE)
  t.eq(status, 1, "exit status")
  t.contains(stderr, 'no step named "first" has outputs (did you mean "First"?)')
  t.contains(stderr, 'failed at step "Second"')
end)

t.test("error names the playbook line", function()
  h.setup(t)
  local _, _, stderr = h.run(WRONG_CASE)
  t.contains(stderr, "playbook.lua:6: no step named")
  t.not_contains(stderr, "attempt to index a nil value")
end)

t.test("unrelated name has no suggestion", function()
  h.setup(t)
  local status, _, stderr = h.run([[
playbook {
  name = "no-such-step",
  steps = {
    step "Create the database" { run = function() return { id = 1 } end },
    step "Read" { run = function(ctx)
      if ctx.outputs["zz"] then return { found = true } end
    end },
  },
}
]])
  t.eq(status, 1, "exit status")
  t.contains(stderr, 'playbook.lua:6: no step named "zz" has outputs')
  t.not_contains(stderr, "did you mean")
end)

t.test("non-string key is rejected", function()
  h.setup(t)
  local status, _, stderr = h.run([[
playbook {
  name = "number-key",
  steps = {
    step "Read" { run = function(ctx) return { value = ctx.outputs[1] } end },
  },
}
]])
  t.eq(status, 1, "exit status")
  t.contains(stderr, "no step named 1 has outputs")
end)

t.test("known steps without outputs read nil", function()
  h.setup(t)
  local status, _, stderr = h.run([[
playbook {
  name = "known-steps",
  steps = {
    step "Nothing" { run = function() end },
    step "Skipped" { when = function() return false end, run = function() return { x = 1 } end },
    group "Together" { steps = {
      step "Inside" { run = function() return { inside = true } end },
    } },
    step "Check" { run = function(ctx)
      local seen = {}
      for _, name in ipairs({ "Nothing", "Skipped", "Later", "Together", "Check" }) do
        if ctx.outputs[name] ~= nil then seen[#seen + 1] = name end
      end
      if #seen > 0 then error("outputs found for " .. table.concat(seen, ", ")) end
      return { inside = ctx.outputs["Inside"].inside }
    end },
    step "Later" { run = function() return { y = 2 } end },
  },
}
]])
  t.eq(status, 0, "exit status: " .. stderr)
  local events = h.last_record()
  t.eq(h.events(events, "step_finish", "Check")[1].outputs.inside, true, "outputs of a step in a group")
end)

t.test("outputs can still be iterated", function()
  h.setup(t)
  local status, _, stderr = h.run([[
playbook {
  name = "iterate",
  steps = {
    step "A" { run = function() return { a = 1 } end },
    step "B" { run = function(ctx)
      local names = {}
      for name in pairs(ctx.outputs) do names[#names + 1] = name end
      return { names = table.concat(names, ",") }
    end },
  },
}
]])
  t.eq(status, 0, "exit status: " .. stderr)
  t.eq(h.events(h.last_record(), "step_finish", "B")[1].outputs.names, "A", "names")
end)

return t.done()
