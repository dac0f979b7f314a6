-- mnem check and mnem run report every mistake of a playbook in one pass.
-- Each mistake is one line with file, line and step, group or variable,
-- and a last line counts them. mnem run prints the same lines and stops
-- before any step runs.
local t = require("t")
local h = require("engine_helpers")

local MANY = [[
playbook {
  name = "many",
  deadline = "soon",
  colour = "blue",
  vars = {
    count = { type = "int" },
    env = { default = "prod", choices = { "dev", "test" }, descripton = "x" },
  },
  retry = { { match = "X", backof = 2 }, { match = "Y", jitter = "half" } },
  steps = {
    step "A" { run = function() end, retires = 3, timeout = "40 minutes" },
    step "B" { run = "echo hi", tags = { 1, "x" } },
    group "G" { steps = {
      step "A" { run = function() note() end },
      step "C",
    } },
    step { run = function() end },
    step "D" { description = "no run", always = "yes" },
  },
}
]]

-- The lines expected for MANY, in order, without the "mnem COMMAND: "
-- prefix and the file name.
local MANY_LINES = {
  ':3: playbook "many": field "deadline": "soon" is not a valid duration',
  ':4: playbook "many": unknown playbook field "colour"',
  ':6: variable "count": unknown type "int"',
  ':7: variable "env": unknown variable field "descripton" (did you mean "description"?)',
  ':7: variable "env": invalid default: "prod" is not one of the choices: dev, test',
  ':9: playbook "many": retry[1]: unknown retrier field "backof" (did you mean "backoff"?)',
  ':9: playbook "many": retry[2]: jitter must be "none" or "full", got half',
  ':11: step "A": unknown step field "retires" (did you mean "retry"?)',
  ':11: step "A": field "timeout": "40 minutes" is not a valid duration',
  ':12: step "B": field "run" must be a function, got a string',
  ':12: step "B": tags[1] must be a string, got a number',
  ':13: group "G": steps[2] is a function: add the field table after the name',
  ':14: step "A": duplicate name: step "A" is already defined at line 11',
  ':17: step needs a name: write step "Name" { ... }, got a table',
  ':18: step "D": missing field "run"',
  ':18: step "D": field "always" must be a boolean, got a string',
}

-- Returns the lines of TEXT as a list.
local function lines_of(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do list[#list + 1] = line end
  return list
end

-- Checks that ERR has one line per entry of EXPECTED, in order, each
-- starting with PREFIX and the file PATH, and then the count line.
local function check_lines(err, prefix, path, expected)
  local lines = lines_of(err)
  t.eq(#lines, #expected + 1, "one line per mistake and a count line")
  for i, fragment in ipairs(expected) do
    local line = lines[i] or ""
    t.eq(line:sub(1, #prefix + #path), prefix .. path, ("line %d starts with the command and file"):format(i))
    t.contains(line, fragment, ("line %d"):format(i))
  end
  t.eq(lines[#lines], ("%s%s: %d mistakes"):format(prefix, path, #expected), "count line")
end

t.test("check lists every mistake", function()
  local dir = h.setup(t)
  local path = h.write(dir, "many.lua", MANY)
  local status, out, err = h.mnem({ "check", path })
  t.eq(status, 2, "exit status")
  t.eq(out, "", "nothing on stdout")
  check_lines(err, "mnem check: ", path, MANY_LINES)
end)

t.test("run lists the same mistakes", function()
  local dir, state = h.setup(t)
  local path = h.write(dir, "many.lua", MANY)
  local _, _, check_err = h.mnem({ "check", path })
  local status, out, err = h.mnem({ "run", path, "--state-dir", state })
  t.eq(status, 2, "exit status")
  t.eq(out, "", "nothing on stdout")
  check_lines(err, "mnem run: ", path, MANY_LINES)
  t.eq(err:gsub("mnem run: ", "mnem check: "), check_err, "same lines as check")
  t.eq(require("mnem._sys").stat(state .. "/runs"), nil, "no run record: no step ran")
end)

t.test("single mistake has no count line", function()
  local dir = h.setup(t)
  local path = h.write(dir, "one.lua", [[
playbook { name = "one", steps = { step "A" { run = function() end, timout = 3 } } }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  t.eq(err, ('mnem check: %s:1: step "A": unknown step field "timout" (did you mean "timeout"?)\n'):format(path))
end)

t.test("several unknown fields in one step", function()
  local dir = h.setup(t)
  local path = h.write(dir, "fields.lua", [[
playbook { name = "fields", steps = {
  step "A" { run = function() end, timout = 3, retyr = false, tag = "x" },
} }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  local lines = lines_of(err)
  t.eq(#lines, 4, "three mistakes and a count line")
  t.contains(lines[1], 'unknown step field "retyr" (did you mean "retry"?)')
  t.contains(lines[2], 'unknown step field "tag" (did you mean "tags"?)')
  t.contains(lines[3], 'unknown step field "timout" (did you mean "timeout"?)')
end)

t.test("error that stops the file comes last", function()
  local dir = h.setup(t)
  local path = h.write(dir, "stops.lua", [[
local steps = {
  step "A" { run = function() end, timeout = "later" },
}
local recipe = nil
steps[2] = step "B" { run = recipe.run }
playbook { name = "stops", steps = steps }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  local lines = lines_of(err)
  t.eq(#lines, 3, "two mistakes and a count line")
  t.contains(lines[1], ('%s:2: step "A": field "timeout"'):format(path))
  t.contains(lines[2], ("%s:5: attempt to index a nil value"):format(path))
  t.contains(lines[3], "2 mistakes")
end)

t.test("mistakes in a recipe file", function()
  local dir = h.setup(t)
  h.write(dir, "steps_recipe.lua", [[
return {
  step "From recipe" { run = function() end, rollbak = function() end },
}
]])
  local path = h.write(dir, "uses.lua", [[
local extra = require("steps_recipe")
playbook { name = "uses", deadline = -1, steps = { extra[1] } }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  local lines = lines_of(err)
  t.eq(#lines, 3, "two mistakes and a count line")
  t.contains(lines[1], dir .. '/steps_recipe.lua:2: step "From recipe": unknown step field "rollbak"')
  t.contains(lines[2], path .. ':2: playbook "uses": field "deadline": -1 is not a valid duration')
end)

t.test("shared broken recipe in two files", function()
  local dir = h.setup(t)
  h.write(dir, "shared_steps.lua", [[
return step "Shared" { run = function() end, rollbak = function() end }
]])
  local text = [[
playbook { name = "%s", steps = { require("shared_steps") } }
]]
  local first = h.write(dir, "first.lua", text:format("first"))
  local second = h.write(dir, "second.lua", text:format("second"))
  local status, out, err = h.mnem({ "check", first, second })
  t.eq(status, 2)
  t.eq(out, "", "neither file passes")
  local lines = lines_of(err)
  t.eq(#lines, 2, "the recipe's mistake once for each file")
  t.contains(lines[1], dir .. '/shared_steps.lua:1: step "Shared": unknown step field "rollbak"')
  t.eq(lines[2], lines[1])
end)

t.test("second playbook and bad steps list", function()
  local dir = h.setup(t)
  local path = h.write(dir, "two.lua", [[
playbook { name = "first", steps = { step "A" { run = function() end }, 42 } }
playbook { name = "second", steps = { step "B" { run = function() end } } }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  local lines = lines_of(err)
  t.eq(#lines, 3)
  t.contains(lines[1], path .. ':1: playbook "first": steps[2] must be made with step "Name" { ... }')
  t.contains(lines[2], path .. ":2: a file may declare only one playbook; the first is at line 1")
end)

t.test("returned playbook table checked fully", function()
  local dir = h.setup(t)
  local path = h.write(dir, "returned.lua", [[
return { name = "", steps = {}, follow_up = { "ok", 3 } }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2)
  local lines = lines_of(err)
  t.eq(#lines, 4)
  t.contains(lines[1], 'missing field "name"')
  t.contains(lines[2], 'field "steps" must be a non-empty list of steps')
  t.contains(lines[3], "follow_up[2] must be a string, got a number")
end)

local VARS = [[
playbook {
  name = "vars",
  vars = {
    replicas = { type = "integer", min = 1, max = 10 },
    env = { type = "string", choices = { "dev", "test" } },
    region = { type = "string" },
    password = { type = "secret", choices = { "right" } },
  },
  steps = { step "A" { run = function() error("must not run") end } },
}
]]

t.test("check lists every variable mistake", function()
  local dir = h.setup(t)
  local path = h.write(dir, "vars.lua", VARS)
  local status, out, err = h.mnem({ "check", path, "--var", "replicas=50", "--var", "envv=dev",
    "--var", "password=hunter22", "--var", "novalue" })
  t.eq(status, 2, "exit status")
  t.eq(out, "")
  local lines = lines_of(err)
  t.eq(#lines, 7, "six mistakes and a count line")
  local prefix = "mnem check: " .. path .. ": "
  t.eq(lines[1], prefix .. '--var envv: playbook "vars" has no variable "envv" (did you mean "env"?)')
  t.eq(lines[2], prefix .. '--var "novalue": expected NAME=VALUE')
  t.eq(lines[3], prefix .. 'variable "env" is required: pass --var env=VALUE or set MNEM_VAR_ENV')
  t.eq(lines[4], prefix .. 'variable "password" (from --var): the value is not one of the choices: right')
  t.eq(lines[5], prefix .. 'variable "region" is required: pass --var region=VALUE or set MNEM_VAR_REGION')
  t.eq(lines[6], prefix .. 'variable "replicas" (from --var): 50 is above the maximum 10')
  t.eq(lines[7], ("mnem check: %s: 6 mistakes"):format(path))
  t.not_contains(err, "hunter22", "secret value masked")
end)

t.test("run lists every variable mistake", function()
  local dir, state = h.setup(t)
  local path = h.write(dir, "vars.lua", VARS)
  local status, _, err = h.mnem({ "run", path, "--state-dir", state, "--var", "replicas=zero" })
  t.eq(status, 2, "exit status")
  local lines = lines_of(err)
  t.eq(#lines, 5, "four mistakes and a count line")
  t.eq(lines[1], 'mnem run: variable "env" is required: pass --var env=VALUE or set MNEM_VAR_ENV')
  t.eq(lines[2], 'mnem run: variable "password" is required: pass --var password=VALUE or set MNEM_VAR_PASSWORD')
  t.eq(lines[3], 'mnem run: variable "region" is required: pass --var region=VALUE or set MNEM_VAR_REGION')
  t.eq(lines[4], 'mnem run: variable "replicas" (from --var): expected an integer, got "zero"')
  t.eq(lines[5], ("mnem run: %s: 4 mistakes"):format(path))
  t.eq(require("mnem._sys").stat(state .. "/runs"), nil, "no run record: no step ran")
end)

t.test("valid playbook still passes", function()
  local dir = h.setup(t)
  local path = h.write(dir, "fine.lua", [[
playbook { name = "fine", vars = { n = { type = "integer", default = 1 } },
  steps = { step "A" { run = function() end, retry = { { match = "X" }, { match = "Y", jitter = "full" } } } } }
]])
  local status, out, err = h.mnem({ "check", path })
  t.eq(status, 0, err)
  t.eq(out, path .. ': ok: playbook "fine", 1 step, 1 variable\n')
end)

return t.done()
