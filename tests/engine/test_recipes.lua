-- Recipes: modules from the playbook's folder and MNEM_PATH run in the
-- playbook environment; missing modules give clear errors.
local t = require("t")
local h = require("engine_helpers")

t.test("recipe from playbook folder", function()
  local dir = h.setup(t)
  os.execute("mkdir -p " .. h.quote(dir .. "/recipes"))
  h.write(dir .. "/recipes", "greet.lua", [[
local M = {}
-- step and json are playbook globals, visible here because recipes found
-- beside the playbook share its environment.
function M.step(name, word)
  return step(name) { run = function() return { text = json.encode({ word = word }) } end }
end
return M
]])
  local status, _, err = h.run([[
local greet = require("recipes.greet")
playbook { name = "recipes", steps = { greet.step("Say hello", "hello") } }
]])
  t.eq(status, 0, err)
  local finish = h.events(h.last_record(), "step_finish", "Say hello")[1]
  t.eq(finish.outputs.text, '{"word":"hello"}')
end)

t.test("recipe from MNEM_PATH", function()
  local dir = h.setup(t)
  os.execute("mkdir -p " .. h.quote(dir .. "/shared/team"))
  h.write(dir .. "/shared/team", "init.lua", [[
return { answer = function() return 42 end }
]])
  local status, _, err = h.run([[
local team = require("team")
playbook { name = "path", steps = { step "Ask" { run = function() return { n = team.answer() } end } } }
]], {}, { MNEM_PATH = dir .. "/shared" })
  t.eq(status, 0, err)
  t.eq(h.events(h.last_record(), "step_finish", "Ask")[1].outputs.n, 42)
end)

t.test("missing recipe fails check", function()
  h.setup(t)
  local status, _, err = h.run([[
local missing = require("recipes.nowhere")
playbook { name = "x", steps = { step "A" { run = function() end } } }
]])
  t.eq(status, 2)
  t.contains(err, 'playbook.lua:1: module "recipes.nowhere" not found; searched ')
end)

t.test("sleep rejects bad duration", function()
  h.setup(t)
  local status, _, err = h.run([[
playbook { name = "x", steps = { step "A" { run = function() sleep("a while") end } } }
]])
  t.eq(status, 1)
  t.contains(err, 'sleep: "a while" is not a valid duration')
end)

return t.done()
