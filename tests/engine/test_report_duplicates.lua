-- mnem report lists each follow-up, unresolved problem and fallback once,
-- however many events of the record mention it.
local t = require("t")
local h = require("engine_helpers")

-- Returns the lines of Markdown TEXT under the heading "## TITLE", up to
-- the next heading, without blank lines.
local function section(text, title)
  local lines, inside = {}, false
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if line:find("^## ") then
      inside = line == "## " .. title
    elseif inside and line ~= "" then
      lines[#lines + 1] = line
    end
  end
  return lines
end

local function count(list, needle)
  local n = 0
  for _, line in ipairs(list) do
    if line:find(needle, 1, true) then n = n + 1 end
  end
  return n
end

local function report(format)
  local code, out, err = h.mnem({ "report", "last", "--state-dir", h.state, "--format", format or "markdown" })
  t.eq(code, 0, "report exit status: " .. err)
  return out
end

t.test("report follow-up listed once", function()
  h.setup(t)
  local status = h.run([[
playbook { name = "f",
  follow_up = { "Declared by the playbook" },
  steps = { step "a" { run = function(ctx)
    ctx.follow_up("Grant the role")
    ctx.follow_up("Grant the role")
  end } } }
]])
  t.eq(status, 0, "run exit status")
  local lines = section(report(), "Follow-up work")
  t.eq(#lines, 2, "follow-up lines")
  t.eq(lines[1], "- Declared by the playbook", "playbook follow-up first, as the terminal lists it")
  t.eq(lines[2], "- Grant the role")
end)

t.test("failed run omits playbook follow-up", function()
  h.setup(t)
  local status, _, stderr = h.run([[
playbook { name = "f",
  follow_up = { "Remove the old instance after a week" },
  steps = {
    step "a" { run = function(ctx) ctx.follow_up("Check the half-made bucket") end },
    step "b" { run = function() error("boom") end },
  } }
]])
  t.eq(status, 1, "run exit status")
  t.not_contains(stderr, "Remove the old instance", "terminal")
  t.contains(stderr, "follow-up: Check the half-made bucket")
  local lines = section(report(), "Follow-up work")
  t.eq(#lines, 1, "follow-up lines")
  t.eq(lines[1], "- Check the half-made bucket")
end)

t.test("report failing group listed once", function()
  h.setup(t)
  local status = h.run([[
local errors = require("mnem.errors")
playbook { name = "g", steps = {
  group "Redeploy" {
    retry = { match = "Unhealthy", interval = "10ms", max_attempts = 3 },
    steps = {
      step "Deploy" { run = function() end },
      step "Check health" { run = function()
        error(errors.new{ kind = "http", code = "Unhealthy", message = "not healthy yet" })
      end },
    },
  },
} }
]])
  t.eq(status, 1, "run exit status")
  local lines = section(report(), "Problems left unresolved")
  t.eq(#lines, 1, "unresolved lines: " .. table.concat(lines, " / "))
  t.contains(lines[1], "- Check health (in group \"Redeploy\"):")
  t.contains(lines[1], "not healthy yet")
  t.contains(lines[1], "3 attempts")
  local json = require("cjson").decode(report("json"))
  t.eq(#json.problems_unresolved, 1, "JSON unresolved entries")
  t.eq(json.problems_unresolved[1].attempts, 3, "JSON attempts")
  t.eq(json.problems_unresolved[1].group, "Redeploy", "JSON group")
end)

t.test("report step retries counted once", function()
  h.setup(t)
  local status = h.run([[
local errors = require("mnem.errors")
playbook { name = "s", steps = {
  step "Flaky" { retry = { match = "Busy", interval = "10ms", max_attempts = 2 }, run = function()
    error(errors.new{ kind = "aws", code = "Busy", message = "still busy" })
  end },
} }
]])
  t.eq(status, 1, "run exit status")
  local lines = section(report(), "Problems left unresolved")
  t.eq(#lines, 1, "unresolved lines")
  t.contains(lines[1], "- Flaky: ")
  t.contains(lines[1], "still busy")
  t.contains(lines[1], "(2 attempts)")
end)

t.test("report group recovered after failure", function()
  local dir = h.setup(t)
  local status = h.run([[
local errors = require("mnem.errors")
playbook { name = "r", vars = { dir = { type = "path" } }, steps = {
  group "Redeploy" {
    retry = { match = "Unhealthy", interval = "10ms", max_attempts = 3 },
    steps = {
      step "Check health" { run = function(ctx)
        local path = ctx.vars.dir .. "/tries"
        local f = io.open(path, "a") f:write("x\n") f:close()
        local n = 0
        for _ in io.lines(path) do n = n + 1 end
        if n < 2 then error(errors.new{ kind = "http", code = "Unhealthy", message = "not healthy yet" }) end
      end },
    },
  },
} }
]], { "--var", "dir=" .. dir })
  t.eq(status, 0, "run exit status")
  t.eq(section(report(), "Problems left unresolved"), { "None." })
end)

t.test("report fallback shown once", function()
  h.setup(t)
  local status = h.run([[
playbook { name = "w", steps = {
  step "Create" { run = function(ctx)
    ctx.warn("explicit IOPS rejected; retrying without them")
    ctx.problem{ summary = "explicit IOPS rejected", resolution = "created without IOPS" }
  end },
  step "Grant" { run = function(ctx) ctx.warn("role app does not exist") end },
} }
]])
  t.eq(status, 0, "run exit status")
  local lines = section(report(), "Problems encountered and how they were solved")
  t.eq(count(lines, "IOPS"), 1, "fallback lines: " .. table.concat(lines, " / "))
  t.contains(lines[1], "- Create: explicit IOPS rejected Solved: created without IOPS.")
  t.eq(count(lines, "- Grant (warning): role app does not exist"), 1, "warning without a problem stays")
end)

return t.done()
