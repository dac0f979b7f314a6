-- Playbook variables: defaults, MNEM_VAR_ environment variables, --var,
-- type conversion and validation messages.
local t = require("t")
local h = require("engine_helpers")

local PLAYBOOK = [[
playbook {
  name = "vars",
  vars = {
    env = { type = "string", default = "test", choices = { "dev", "test" } },
    replicas = { type = "integer", default = 2, min = 1, max = 10 },
    ratio = { type = "number", default = 0.5 },
    verbose = { type = "boolean", default = false },
    wait_for = { type = "duration", default = "1m30s" },
    vars_file = { type = "path", default = "vars/test.lua" },
    services = { type = "list", default = { "api" } },
    out = { type = "path" },
  },
  steps = {
    step "Dump" { run = function(ctx)
      local f = io.open(ctx.vars.out, "w")
      f:write(json.encode(ctx.vars), "\n", tostring(vars == ctx.vars), "\n", math.type(ctx.vars.replicas), "\n")
      f:close()
    end },
  },
}
]]

local function run_vars(args, env)
  local dir = h.setup(t)
  local full = { "--var", "out=" .. dir .. "/vars.json" }
  for _, a in ipairs(args or {}) do full[#full + 1] = a end
  local status, _, err = h.run(PLAYBOOK, full, env)
  local lines = h.lines(dir .. "/vars.json")
  local values = lines[1] and require("cjson").decode(lines[1])
  return status, values, err, lines, dir
end

t.test("vars defaults typed", function()
  local status, v, _, lines, dir = run_vars()
  t.eq(status, 0)
  t.eq(v.env, "test")
  t.eq(lines[3], "integer", "integer variable is a Lua integer")
  t.eq(v.replicas, 2)
  t.eq(v.ratio, 0.5)
  t.eq(v.verbose, false)
  t.eq(v.wait_for, 90, "duration in seconds")
  t.eq(v.vars_file, dir .. "/vars/test.lua", "relative path default is under the playbook folder")
  t.eq(v.services, { "api" })
  t.eq(lines[2], "true", "the vars global is ctx.vars")
end)

t.test("vars from cli and env", function()
  local status, v = run_vars({ "--var", "replicas=5", "--var", "services=api, worker ,cron", "--var", "verbose=yes",
                               "--var", "wait_for=2h", "--var", "env=dev" },
                             { MNEM_VAR_ENV = "test", MNEM_VAR_RATIO = "0.25", MNEM_VAR_REPLICAS = "7" })
  t.eq(status, 0)
  t.eq(v.replicas, 5, "--var wins over the environment")
  t.eq(v.ratio, 0.25, "environment wins over the default")
  t.eq(v.env, "dev")
  t.eq(v.verbose, true)
  t.eq(v.wait_for, 7200)
  t.eq(v.services, { "api", "worker", "cron" })
end)

t.test("vars validation messages", function()
  local cases = {
    { { "--var", "replicas=abc" }, nil, 'variable "replicas" (from --var): expected an integer, got "abc"' },
    { { "--var", "replicas=2.5" }, nil, 'variable "replicas" (from --var): expected an integer, got "2.5"' },
    { { "--var", "replicas=11" }, nil, 'variable "replicas" (from --var): 11 is above the maximum 10' },
    { { "--var", "replicas=0" }, nil, "0 is below the minimum 1" },
    { {}, { MNEM_VAR_ENV = "prod" },
      'variable "env" (from MNEM_VAR_ENV): "prod" is not one of the choices: dev, test' },
    { { "--var", "verbose=maybe" }, nil, 'expected true or false (or yes/no, 1/0, on/off), got "maybe"' },
    { { "--var", "wait_for=soon" }, nil, '"soon" is not a valid duration' },
    { { "--var", "ratio=x" }, nil, 'variable "ratio" (from --var): expected a number, got "x"' },
    { { "--var", "replica=3" }, nil, 'playbook "vars" has no variable "replica" (did you mean "replicas"?)' },
    { { "--var", "novalue" }, nil, '--var "novalue": expected NAME=VALUE' },
  }
  for _, case in ipairs(cases) do
    local status, _, err = run_vars(case[1], case[2])
    t.eq(status, 2, "exit status for " .. case[3])
    t.contains(err, case[3])
  end
end)

t.test("required var missing", function()
  h.setup(t)
  local status, _, err = h.run(PLAYBOOK)
  t.eq(status, 2)
  t.contains(err, 'variable "out" is required: pass --var out=VALUE or set MNEM_VAR_OUT')
end)

return t.done()
