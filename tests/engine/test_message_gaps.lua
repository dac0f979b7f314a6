-- Smaller message gaps: the final message names where a failed rollback or
-- always-step raised its error, a `run` that returns a non-table names the
-- step's line, near-miss options and commands get a suggestion, and
-- `mnem --help` lists every command.
local t = require("t")
local h = require("engine_helpers")

t.test("failed rollback shows where", function()
  h.setup(t)
  local status, _, err = h.run([[
playbook {
  name = "undo",
  steps = {
    step "Create" {
      run = function() end,
      rollback = function()
        error(require("mnem.errors").new{ kind = "pg", code = "42P01", message = "table does not exist" })
      end,
    },
    step "Break" { run = function() error("broken on purpose") end },
    step "Tidy" { always = true, run = function()
      error(require("mnem.errors").new{ kind = "exec", code = "Exit1", message = "cleanup failed" })
    end },
  },
}
]])
  t.eq(status, 1)
  t.contains(err, 'rollback of "Create" failed: pg 42P01: table does not exist\n  at ' .. h.scratch
    .. "/playbook.lua:7\n")
  t.contains(err, 'always-step "Tidy" failed: exec Exit1: cleanup failed\n  at ' .. h.scratch
    .. "/playbook.lua:12\n")
end)

t.test("run returning a string", function()
  h.setup(t)
  local status, _, err = h.run([[
playbook {
  name = "bad-return",
  steps = {
    step "Fine" { run = function() end },
    step "Bad return" {
      run = function() return "done" end,
    },
  },
}
]])
  t.eq(status, 1)
  t.contains(err, "error: " .. h.scratch .. '/playbook.lua:5: step "Bad return": run returned a string;'
    .. " return a table of outputs or nothing")
end)

local OPTION_CASES = {
  { { "run", "x.lua", "--dryrun" }, "mnem run: unknown option --dryrun (did you mean --dry-run?); see mnem help run" },
  { { "run", "x.lua", "--tag=a" }, "mnem run: unknown option --tag (did you mean --tags?)" },
  { { "check", "x.lua", "--vars", "a=1" }, "mnem check: unknown option --vars (did you mean --var?)" },
  { { "plan", "x.lua", "--dry-run" }, "mnem plan: unknown option --dry-run; see mnem help plan" },
}

for _, case in ipairs(OPTION_CASES) do
  t.test("near-miss option " .. case[1][#case[1]], function()
    h.setup(t)
    local status, _, err = h.mnem(case[1])
    t.eq(status, 2)
    t.contains(err, case[2])
  end)
end

t.test("near-miss command", function()
  h.setup(t)
  local status, _, err = h.mnem({ "chek", "x.lua" })
  t.eq(status, 2)
  t.contains(err, 'mnem: unknown command "chek" (did you mean check?); run mnem --help for the list')
end)

t.test("help lists every command", function()
  h.setup(t)
  local status, out = h.mnem({ "--help" })
  t.eq(status, 0)
  for _, name in ipairs({ "run", "check", "plan", "runs", "show", "report", "aws", "sim", "script" }) do
    t.ok(out:find("\n  " .. name .. " ", 1, true), "mnem --help lists " .. name)
  end
end)

return t.done()
