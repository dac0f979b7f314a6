-- mnem check: every DSL mistake is reported with the file, the line of the
-- step/group/playbook call and a clear message, with exit status 2.
local t = require("t")
local h = require("engine_helpers")

-- Each case: a name, the playbook text, the line expected in the message,
-- and the text the message must contain.
local CASES = {
  { "syntax error", [[
playbook {
  name = "x",
  steps = { step "A" { run = function() end  },
}
]], 5, "'}' expected" },
  { "unknown step field", [[
playbook {
  name = "x",
  steps = {
    step "A" { run = function() end, retires = 3 },
  },
}
]], 4, 'step "A": unknown step field "retires" (did you mean "retry"?)' },
  { "wrong field type", [[
playbook {
  name = "x",
  steps = {
    step "A" { run = function() end },
    step "B" { run = "echo hi" },
  },
}
]], 5, 'step "B": field "run" must be a function, got a string' },
  { "duplicate step name", [[
playbook {
  name = "x",
  steps = {
    step "A" { run = function() end },
    group "G" { steps = {
      step "A" { run = function() end },
    } },
  },
}
]], 6, 'step "A": duplicate name: step "A" is already defined at line 4' },
  { "missing run", [[
playbook {
  name = "x",
  steps = {
    step "A" { description = "does nothing" },
  },
}
]], 4, 'step "A": missing field "run"' },
  { "bad retry policy", [[
playbook {
  name = "x",
  steps = {
    step "A" { run = function() end,
      retry = { { match = "Throttling", backof = 2 } } },
  },
}
]], 4, 'unknown retrier field "backof" (did you mean "backoff"?)' },
  { "bad jitter", [[
playbook {
  name = "x",
  steps = {
    step "A" { run = function() end, retry = { match = "X", jitter = "half" } },
  },
}
]], 4, 'jitter must be "none" or "full", got half' },
  { "bad max_attempts", [[
playbook {
  name = "x",
  steps = { step "A" { run = function() end, retry = { match = "X", max_attempts = 0 } } },
}
]], 3, "max_attempts must be an integer of 1 or more, got 0" },
  { "bad duration", [[
playbook {
  name = "x",
  steps = {
    step "A" { run = function() end, timeout = "40 minutes" },
  },
}
]], 4, 'field "timeout": "40 minutes" is not a valid duration' },
  { "bad deadline", [[
playbook {
  name = "x",
  deadline = "soon",
  steps = { step "A" { run = function() end } },
}
]], 3, 'playbook "x": field "deadline": "soon" is not a valid duration' },
  { "unknown var type", [[
playbook {
  name = "x",
  vars = { count = { type = "int" } },
  steps = { step "A" { run = function() end } },
}
]], 3, 'variable "count": unknown type "int"' },
  { "bad var default", [[
playbook {
  name = "x",
  vars = { env = { default = "prod", choices = { "dev", "test" } } },
  steps = { step "A" { run = function() end } },
}
]], 3, 'variable "env": invalid default: "prod" is not one of the choices: dev, test' },
  { "unknown playbook field", [[
playbook {
  name = "x",
  step = {},
  steps = { step "A" { run = function() end } },
}
]], 3, 'unknown playbook field "step" (did you mean "steps"?)' },
  { "missing field table", [[
playbook {
  name = "x",
  steps = {
    step "A",
  },
}
]], 4, "steps[1] is a function" },
  { "step without name", [[
playbook {
  name = "x",
  steps = {
    step { run = function() end },
  },
}
]], 4, "step needs a name" },
  { "unknown group field", [[
playbook {
  name = "x",
  steps = {
    group "G" { step = {} },
  },
}
]], 4, 'group "G": unknown group field "step" (did you mean "steps"?)' },
  { "no playbook", [[
local x = 1
]], nil, "declares no playbook" },
  { "runtime error at load", [[
local recipe = nil
playbook {
  name = recipe.name,
  steps = {},
}
]], 3, "attempt to index a nil value" },
}

t.test("check reports each mistake", function()
  local dir = h.setup(t)
  for i, case in ipairs(CASES) do
    local path = h.write(dir, ("broken%d.lua"):format(i), case[2])
    local status, out, err = h.mnem({ "check", path })
    t.eq(status, 2, case[1] .. ": exit status")
    t.eq(out, "", case[1] .. ": nothing on stdout")
    t.contains(err, case[4], case[1])
    if case[3] then t.contains(err, ("%s:%d:"):format(path, case[3]), case[1] .. ": file and line") end
  end
end)

t.test("check accepts a valid playbook", function()
  local dir = h.setup(t)
  local path = h.write(dir, "good.lua", [[
playbook {
  name = "good",
  vars = { env = { type = "string", default = "test" } },
  retry = { { match = "Throttling", interval = "2s", backoff = 2, max_delay = "30s", jitter = "full" } },
  steps = {
    step "A" { run = function() end, timeout = "40m", tags = { "db" } },
    group "G" { retry = { match = function(e) return e.retryable end }, steps = {
      step "B" { run = function() end, already_done = function() return false end },
    } },
    step "C" { always = true, run = function() end },
  },
}
]])
  local status, out = h.mnem({ "check", path })
  t.eq(status, 0)
  t.contains(out, 'ok: playbook "good", 3 steps, 1 variable')
end)

t.test("check runs no step", function()
  local dir = h.setup(t)
  local path = h.write(dir, "side.lua", [[
playbook { name = "side", steps = { step "A" { run = function() os.exit(9) end } } }
]])
  t.eq((h.mnem({ "check", path })), 0)
end)

t.test("shipped playbooks pass check", function()
  local root = os.getenv("MNEM_ROOT") or "."
  local names = require("mnem._sys").list_dir(root .. "/playbooks")
  if not names then t.skip("no playbooks folder in " .. root) end
  local checked = 0
  for _, name in ipairs(names) do
    if name:match("%.lua$") then
      local status, out, err = h.mnem({ "check", root .. "/playbooks/" .. name })
      t.eq(status, 0, name .. ": " .. err)
      t.contains(out, ": ok: playbook", name)
      checked = checked + 1
    end
  end
  if checked == 0 then t.skip("no playbooks to check") end
end)

t.test("check of a missing file", function()
  h.setup(t)
  local status, _, err = h.mnem({ "check", "/nonexistent/playbook.lua" })
  t.eq(status, 2)
  t.contains(err, "playbook /nonexistent/playbook.lua not found")
end)

t.test("run rejects an invalid playbook", function()
  local dir = h.setup(t)
  local status, _, err = h.run([[
playbook { name = "x", steps = { step "A" { run = function() end, timeuot = 3 } } }
]])
  t.eq(status, 2)
  t.contains(err, 'unknown step field "timeuot" (did you mean "timeout"?)')
  t.ok(dir)
end)

t.test("plan lists every mistake", function()
  local dir = h.setup(t)
  local path = h.write(dir, "bad.lua", [[
playbook { name = "x", steps = {
  step "A" { retires = 1, run = function() end },
  step "B" { timout = "1s", run = function() end },
} }
]])
  local status, _, err = h.mnem({ "plan", path })
  t.eq(status, 2)
  t.contains(err, 'mnem plan: ' .. path .. ':2: step "A": unknown step field "retires"')
  t.contains(err, 'mnem plan: ' .. path .. ':3: step "B": unknown step field "timout"')
  t.contains(err, "mnem plan: " .. path .. ": 2 mistakes")
end)

t.test("bad retry interval names no stdlib file", function()
  local dir = h.setup(t)
  local path = h.write(dir, "interval.lua", [[
playbook { name = "x", steps = { step "a" { retry = { interval = "1q" }, run = function() end } } }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  t.contains(err, 'step "a": retry: interval: "1q" is not a valid duration')
  t.ok(not err:find("retry.lua", 1, true), "no stdlib position in the message")
end)

t.test("variable min above max", function()
  local dir = h.setup(t)
  local path = h.write(dir, "bounds.lua", [[
playbook { name = "x", vars = { n = { type = "number", min = 5, max = 1 } },
  steps = { step "a" { run = function() end } } }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  t.contains(err, 'variable "n": field "min" (5) is above field "max" (1), so no value is valid')
end)

t.test("plan lists steps and policies", function()
  local dir = h.setup(t)
  local path = h.write(dir, "plan.lua", [[
playbook {
  name = "planned",
  deadline = "90m",
  vars = { env = { type = "string", default = "test", choices = { "dev", "test" } } },
  follow_up = { "Remove the old instance" },
  steps = {
    step "Create" { run = function() end, already_done = function() end, rollback = function() end,
                    timeout = "40m", tags = { "rds" },
                    retry = { match = { "Throttling", 503 }, interval = "2s", backoff = 2, max_delay = "30s",
                              jitter = "full", max_attempts = 5 } },
    group "Deploy" { retry = { match = "Unhealthy", interval = "1m" }, steps = {
      step "Update" { run = function() end },
    } },
    step "Report" { always = true, run = function() end },
  },
}
]])
  local status, out = h.mnem({ "plan", path })
  t.eq(status, 0)
  t.contains(out, 'playbook "planned"')
  t.contains(out, "deadline: 1h30m00s")
  t.contains(out, "env: string, default test, one of dev|test")
  t.contains(out, '1. "Create"  [guard: already_done; rollback; timeout 40m00s; tags rds]')
  t.contains(out, "retry: on Throttling, 503: up to 5 attempts, every 2s x2 (max 30s), full jitter")
  t.contains(out, '2. group "Deploy"')
  t.contains(out, '2.1. "Update"')
  t.contains(out, '3. "Report"  [always]')
  t.contains(out, "- Remove the old instance")
end)

return t.done()
