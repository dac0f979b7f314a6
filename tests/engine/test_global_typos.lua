-- A playbook that reads a name a library table does not have (`log.inf`,
-- `wait.untill`) gets an error naming its line and the closest name, not
-- "attempt to call a nil value". The tables still work as before: calls,
-- exec{...} through its metatable, pairs and assignments.
local t = require("t")
local h = require("engine_helpers")

local function playbook_with(body)
  return ([[
playbook {
  name = "typos",
  steps = {
    step "Run" { run = function()
      %s
    end },
  },
}
]]):format(body)
end

local CASES = {
  { "log.inf", 'log.inf("hello")', "unknown name log.inf (did you mean log.info?)" },
  { "wait.untill", 'wait.untill(function() return true end)', "unknown name wait.untill (did you mean wait.until?)" },
  { "exec.rn", 'exec.rn({ "true" })', "unknown name exec.rn (did you mean exec.run?)" },
  { "json.decod", 'json.decod("{}")', "unknown name json.decod (did you mean json.decode?)" },
  { "no close name", 'log.zzzzzzzz("x")', "unknown name log.zzzzzzzz" },
}

for _, case in ipairs(CASES) do
  t.test("typo " .. case[1], function()
    h.setup(t)
    local status, _, stderr = h.run(playbook_with(case[2]))
    t.eq(status, 1, "exit status")
    t.contains(stderr, "playbook.lua:5: " .. case[3])
    t.not_contains(stderr, "attempt to call a nil value")
  end)
end

t.test("library tables still work", function()
  h.setup(t)
  local status, stdout, stderr = h.run(playbook_with([[
      local r = exec{ "echo", "called", stream = false }
      local names = 0
      for _ in pairs(json) do names = names + 1 end
      log.info("logged")
      print(r.stdout:gsub("%s+$", "") .. " " .. names .. " " .. json.encode({ 1 }))
]]))
  t.eq(status, 0, "exit status: " .. stderr)
  t.contains(stdout, "called 3 [1]")
end)

t.done()
