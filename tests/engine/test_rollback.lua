-- Guards, rollbacks in reverse order, a failing rollback, always-steps and
-- the final message.
local t = require("t")
local h = require("engine_helpers")

local LOG_HELPER = [[
local function note(ctx, text)
  local f = io.open(ctx.vars.dir .. "/log", "a") f:write(text, "\n") f:close()
end
]]

t.test("guard skips second run", function()
  local dir = h.setup(t)
  local text = [[
playbook {
  name = "guarded",
  vars = { dir = { type = "path" } },
  steps = {
    step "Create marker" {
      already_done = function(ctx)
        local f = io.open(ctx.vars.dir .. "/marker")
        if not f then return false end
        local id = f:read("l") f:close()
        return { id = id }
      end,
      run = function(ctx)
        local f = io.open(ctx.vars.dir .. "/marker", "w") f:write("m-1\n") f:close()
        ctx.change{ action = "created", resource = "file", id = "marker" }
        return { id = "m-1" }
      end,
    },
    step "Use marker" { run = function(ctx) return { seen = ctx.outputs["Create marker"].id } end },
  },
}
]]
  t.eq(h.run(text, { "--var", "dir=" .. dir }), 0, "first run")
  local first = h.last_record()
  t.eq(h.events(first, "step_finish", "Create marker")[1].status, "ok")
  t.eq(#h.events(first, "change"), 1, "change recorded")
  os.execute("sleep 1")
  local status, _, err = h.run(text, { "--var", "dir=" .. dir })
  t.eq(status, 0, "second run")
  local second = h.last_record()
  local skip = h.events(second, "step_skip", "Create marker")[1]
  t.ok(skip, "step skipped")
  t.eq(skip.reason, "already_done")
  t.eq(#h.events(second, "attempt", "Create marker"), 0, "run not called")
  t.eq(h.events(second, "step_finish", "Use marker")[1].outputs.seen, "m-1", "guard outputs used")
  t.contains(err, "already in place")
end)

t.test("rollbacks run in reverse order", function()
  local dir = h.setup(t)
  local status, _, err = h.run(LOG_HELPER .. [[
playbook {
  name = "rollbacks",
  vars = { dir = { type = "path" } },
  steps = {
    step "A" { run = function(ctx) note(ctx, "run A") return { name = "a" } end,
               rollback = function(ctx, out) note(ctx, "undo A " .. out.name) end },
    step "Skipped" { already_done = function() return true end, run = function() end,
                     rollback = function(ctx) note(ctx, "undo Skipped") end },
    group "G" { steps = {
      step "B" { run = function(ctx) note(ctx, "run B") end, rollback = function(ctx) note(ctx, "undo B") end },
      step "C" { run = function(ctx) note(ctx, "run C") end,
                 rollback = function() error("cannot undo C") end },
    } },
    step "No rollback" { run = function(ctx) note(ctx, "run N") end },
    step "Report" { always = true, run = function(ctx) note(ctx, "report") end },
    step "Break" { run = function() error("boom") end, rollback = function(ctx) note(ctx, "undo Break") end },
    step "After" { run = function(ctx) note(ctx, "run After") end },
    step "Final report" { always = true, run = function(ctx) note(ctx, "final report") end },
  },
}
]], { "--var", "dir=" .. dir })
  t.eq(status, 1, "exit status")
  t.eq(h.lines(dir .. "/log"), { "run A", "run B", "run C", "run N", "report", "undo B", "undo A a", "final report" },
    "order of runs, rollbacks and always-steps")
  t.contains(err, 'failed at step "Break"')
  t.contains(err, "boom")
  t.contains(err, 'rolled back: "B", "A"')
  t.contains(err, 'rollback of "C" failed: ')
  t.contains(err, "cannot undo C")
  local events = h.last_record()
  local finishes = h.events(events, "rollback_finish")
  t.eq(#finishes, 3, "rollbacks recorded")
  t.eq(finishes[1].step, "C")
  t.eq(finishes[1].status, "failed")
  t.eq(finishes[2].step, "B")
  t.eq(finishes[3].status, "ok")
  local run_end = h.events(events, "run_end")[1]
  t.eq(run_end.status, "failed")
  t.eq(run_end.failed_step, "Break")
  t.eq(run_end.rolled_back, { "B", "A" })
  t.eq(h.events(events, "step_skip", "After")[1].reason, "not_reached")
end)

t.test("rollback sees step outputs", function()
  local dir = h.setup(t)
  local status = h.run(LOG_HELPER .. [[
playbook {
  name = "outputs",
  vars = { dir = { type = "path" } },
  steps = {
    step "Make" { run = function() return { id = "i-123" } end,
                  rollback = function(ctx, out) note(ctx, "delete " .. out.id .. " " .. ctx.outputs.Make.id) end },
    step "Fail" { run = function() error("no") end },
  },
}
]], { "--var", "dir=" .. dir })
  t.eq(status, 1)
  t.eq(h.lines(dir .. "/log"), { "delete i-123 i-123" })
end)

t.test("failing always-step fails run", function()
  local dir = h.setup(t)
  local status, _, err = h.run([[
playbook {
  name = "always-fails",
  steps = {
    step "Fine" { run = function() end },
    step "Report" { always = true, run = function() error("report broke") end },
  },
}
]])
  t.eq(status, 1, "exit status")
  t.contains(err, "report broke")
  t.eq(h.events(h.last_record(), "run_end")[1].status, "failed")
  t.ok(dir)
end)

t.test("ctx records changes and problems", function()
  h.setup(t)
  local status, _, err = h.run([[
playbook {
  name = "ctx",
  follow_up = { "Delete the old instance next week" },
  steps = {
    step "Work" { run = function(ctx)
      ctx.change{ action = "modified", resource = "ecs:service", id = "api", details = { desired = 2 } }
      ctx.problem{ summary = "IOPS rejected below 400 GiB", resolution = "created without explicit IOPS" }
      ctx.warn("slow response")
      ctx.follow_up("Check the dashboards")
      return { ok = true }
    end },
    step "Misuse" { run = function(ctx) ctx.change{ action = "exploded", resource = "x" } end },
  },
}
]])
  t.eq(status, 1, "misuse of ctx.change fails the step")
  t.contains(err, "ctx.change: action must be created, modified, deleted or written, got exploded")
  t.not_contains(err, "follow-up: Delete the old instance next week", "the playbook's follow-up is for success")
  t.contains(err, "follow-up: Check the dashboards")
  local events = h.last_record()
  local change = h.events(events, "change")[1]
  t.eq(change.action, "modified")
  t.eq(change.resource, "ecs:service")
  t.eq(change.details.desired, 2)
  local problem = h.events(events, "problem")[1]
  t.eq(problem.resolution, "created without explicit IOPS")
  t.eq(h.events(events, "warning")[1].message, "slow response")
  t.eq(h.events(events, "follow_up")[1].text, "Check the dashboards")
end)

t.test("when and tags skip steps", function()
  local dir = h.setup(t)
  local status = h.run(LOG_HELPER .. [[
playbook {
  name = "selective",
  vars = { dir = { type = "path" } },
  steps = {
    step "Off" { tags = { "db" }, when = function() return false end, run = function(ctx) note(ctx, "off") end },
    step "Db" { tags = { "db" }, run = function(ctx) note(ctx, "db") end },
    step "Api" { tags = { "api" }, run = function(ctx) note(ctx, "api") end },
    step "Untagged" { run = function(ctx) note(ctx, "untagged") end },
    group "Db group" { tags = { "db" }, steps = {
      step "In db group" { run = function(ctx) note(ctx, "in db group") end },
    } },
    group "Mixed group" { steps = {
      step "Db in mixed" { tags = { "db" }, run = function(ctx) note(ctx, "db in mixed") end },
      step "Other in mixed" { run = function(ctx) note(ctx, "other in mixed") end },
    } },
    group "Api group" { tags = { "api" }, steps = {
      step "In api group" { run = function(ctx) note(ctx, "in api group") end },
    } },
    step "Always" { always = true, run = function(ctx) note(ctx, "always") end },
  },
}
]], { "--var", "dir=" .. dir, "--tags", "db" })
  t.eq(status, 0)
  t.eq(h.lines(dir .. "/log"), { "db", "in db group", "db in mixed", "always" })
  local skips = h.events(h.last_record(), "step_skip")
  t.eq(skips[1].reason, "condition")
  t.eq(skips[2].reason, "tags")
end)

return t.done()
