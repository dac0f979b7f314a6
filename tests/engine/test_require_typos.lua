-- A playbook that requires a module that does not exist gets one line
-- naming its own line, the closest module name and the folders searched,
-- not mnem's internal position and Lua's list of every file tried.
local t = require("t")
local h = require("engine_helpers")

local BODY = [[
playbook { name = "requires", steps = { step "A" { run = function() %s end } } }
]]

-- Writes a playbook whose first line is FIRST and whose step runs RUN,
-- checks it with ENV, and returns the exit status, stderr and the path.
local function check(first, run, env, command)
  local path = h.write(h.scratch, "requires.lua", first .. "\n" .. BODY:format(run or ""))
  local args = { command or "check", path }
  if command == "run" then
    args[#args + 1] = "--state-dir"
    args[#args + 1] = h.state
  end
  local status, _, err = h.mnem(args, env)
  return status, err, path
end

t.test("built-in recipe typo", function()
  h.setup(t)
  local status, err, path = check('local deploy = require("recipes.ecs_deply")', nil, { MNEM_PATH = "" })
  t.eq(status, 2)
  t.contains(err, path .. ':1: module "recipes.ecs_deply" not found (did you mean "recipes.ecs_deploy"?)')
  t.contains(err, "; searched " .. h.scratch .. " and mnem's built-in library")
  t.not_contains(err, "playbook.lua", "no internal position")
  t.not_contains(err, "no file", "no list of the files tried")
  t.eq(#h.lines(h.scratch .. "/stderr"), 1, "one line")
end)

t.test("own recipe typo", function()
  h.setup(t)
  os.execute("mkdir -p " .. h.quote(h.scratch .. "/recipes/shared"))
  h.write(h.scratch .. "/recipes", "team_tools.lua", "return {}\n")
  h.write(h.scratch .. "/recipes/shared", "init.lua", "return {}\n")
  local _, err = check('local tools = require("recipes.team_tool")')
  t.contains(err, 'module "recipes.team_tool" not found (did you mean "recipes.team_tools"?)')
  _, err = check('local shared = require("recipes.sharde")')
  t.contains(err, 'module "recipes.sharde" not found (did you mean "recipes.shared"?)', "init.lua module")
end)

t.test("MNEM_PATH recipe typo", function()
  h.setup(t)
  local team = h.scratch .. "/team"
  os.execute("mkdir -p " .. h.quote(team .. "/ops"))
  h.write(team .. "/ops", "rotate_keys.lua", "return {}\n")
  local _, err = check('local rotate = require("ops.rotate_key")', nil, { MNEM_PATH = team })
  t.contains(err, 'module "ops.rotate_key" not found (did you mean "ops.rotate_keys"?)')
  t.contains(err, "; searched " .. h.scratch .. ", " .. team .. " and mnem's built-in library")
end)

t.test("prefix typo suggests module", function()
  h.setup(t)
  local _, err = check('local deploy = require("recipe.ecs_deploy")')
  t.contains(err, 'module "recipe.ecs_deploy" not found (did you mean "recipes.ecs_deploy"?)')
end)

t.test("nothing close lists no name", function()
  h.setup(t)
  local _, err, path = check('local x = require("zzzzqqqqxxxx")')
  t.contains(err, path .. ':1: module "zzzzqqqqxxxx" not found; searched ')
end)

t.test("require inside a step", function()
  h.setup(t)
  local status, err, path = check("", 'require("recipes.rds_instanse")', nil, "run")
  t.eq(status, 1)
  t.contains(err, path .. ':2: module "recipes.rds_instanse" not found (did you mean "recipes.rds_instance"?)')
end)

t.test("existing modules still load", function()
  h.setup(t)
  h.write(h.scratch, "helper.lua", "return { value = 42 }\n")
  local status, err = check('local helper = require("helper"); local deploy = require("recipes.ecs_deploy")',
    'assert(helper.value == 42 and type(deploy) == "table")', nil, "run")
  t.eq(status, 0, err)
end)

t.test("error inside a module kept", function()
  h.setup(t)
  h.write(h.scratch, "broken.lua", 'error("broken module: missing setting")\n')
  local status, err = check('local broken = require("broken")')
  t.eq(status, 2)
  t.contains(err, "broken module: missing setting")
  t.not_contains(err, "not found")
end)

return t.done()
