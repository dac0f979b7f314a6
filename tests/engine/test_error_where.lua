-- Errors from the outside world (a program that cannot run, an SQL error,
-- a timeout) carry `where`. It is the playbook line running when the error
-- was made, or the line of the user's own module followed by the playbook
-- line that called it. The final message prints it under the error, the
-- record keeps it, and the report adds it to the problem.
local t = require("t")
local h = require("engine_helpers")

local MODULE = [[
local M = {}
function M.deploy()
  exec{ "mnem-no-such-program", "--flag" }
end
return M
]]

local PLAYBOOK = [[
local helper = require("helper")
playbook {
  name = "where",
  steps = {
    step "First" { run = function() end },
    step "Second" { run = function()
      helper.deploy()
    end },
  },
}
]]

t.test("a module's error names its line and the playbook's", function()
  local dir = h.setup(t)
  h.write(dir, "helper.lua", MODULE)
  local status, _, stderr = h.run(PLAYBOOK)
  t.eq(status, 1, "exit status")
  t.contains(stderr, "error: exec NotFound: cannot run mnem-no-such-program")
  t.contains(stderr, "\n  at " .. dir .. "/helper.lua:3, called from " .. dir .. "/playbook.lua:7\n")
  local finish = h.events(h.last_record(), "run_end")[1]
  t.eq(finish.error.where, dir .. "/helper.lua:3, called from " .. dir .. "/playbook.lua:7", "recorded where")
  local _, report = h.mnem({ "report", "--state-dir", h.state, finish.run })
  t.contains(report, "(at " .. dir .. "/helper.lua:3, called from " .. dir .. "/playbook.lua:7)")
end)

t.test("an error in the playbook itself names its line", function()
  h.setup(t)
  local status, _, stderr = h.run([[
playbook {
  name = "where-direct",
  steps = {
    step "Run" { run = function()
      exec{ "sh", "-c", "exit 3" }
    end },
  },
}
]])
  t.eq(status, 1, "exit status")
  t.contains(stderr, "error: exec ExitStatus")
  t.ok(stderr:find("\n  at [^\n]*playbook%.lua:5\n"), "where under the error: " .. stderr)
end)

t.test("a misuse error keeps its own position and no extra line", function()
  h.setup(t)
  local _, _, stderr = h.run([[
playbook {
  name = "where-misuse",
  steps = { step "Run" { run = function() sleep("soon") end } },
}
]])
  t.ok(stderr:find("playbook%.lua:3: "), "position in the message: " .. stderr)
  t.not_contains(stderr, "\n  at ")
end)

t.done()
