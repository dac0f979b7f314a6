-- Secrets: a secret variable's value never reaches stdout, stderr, JSON
-- logs or the run record, wherever the playbook puts it.
local t = require("t")
local h = require("engine_helpers")

local SECRET = "Sup3r-Secret-Value-42"

local PLAYBOOK = [[
local errors = require("mnem.errors")
playbook {
  name = "secrets",
  vars = { password = { type = "secret" }, fail = { type = "boolean", default = false } },
  steps = {
    step "Use it" {
      run = function(ctx)
        local pw = ctx.vars.password
        print("password is " .. pw)
        log.info("connecting with " .. pw, { password = pw })
        ctx.warn("warning about " .. pw)
        ctx.change{ action = "written", resource = "ssm:parameter", id = "/db/password", details = { value = pw } }
        ctx.problem{ summary = "retry with " .. pw, resolution = "used " .. pw }
        return { password = pw, dsn = "postgres://admin:" .. pw .. "@db/app" }
      end,
      rollback = function(ctx, out) log.info("rolling back with " .. out.password) end,
    },
    step "Fail with it" {
      retry = { match = "Flaky", interval = "10ms", max_attempts = 2 },
      run = function(ctx)
        if not ctx.vars.fail then return end
        error(errors.new{ kind = "pg", code = "Flaky", message = "login failed for " .. ctx.vars.password })
      end,
    },
  },
}
]]

local function assert_clean(out, err, path, how)
  t.not_contains(out, SECRET, how .. ": stdout")
  t.not_contains(err, SECRET, how .. ": stderr")
  t.not_contains(h.slurp(path), SECRET, how .. ": run record")
end

t.test("secret var from --var masked", function()
  h.setup(t)
  local status, out, err = h.run(PLAYBOOK, { "--var", "password=" .. SECRET })
  t.eq(status, 0)
  t.contains(out, "password is ********", "print masks")
  t.contains(err, "connecting with ********", "log masks")
  local events, path = h.last_record()
  assert_clean(out, err, path, "--var")
  t.eq(h.events(events, "run_start")[1].vars.password, "********")
  t.eq(h.events(events, "step_finish", "Use it")[1].outputs.password, "********")
end)

t.test("secret var from env masked", function()
  h.setup(t)
  local status, out, err = h.run(PLAYBOOK, { "--var", "fail=true", "--log-format", "json" },
    { MNEM_VAR_PASSWORD = SECRET })
  t.eq(status, 1, "failing run")
  t.contains(err, '"level":"info"', "JSON logs")
  t.contains(err, "login failed for ********", "error message masked")
  local _, path = h.last_record()
  assert_clean(out, err, path, "env and JSON logs")
  local show_status, shown = h.mnem({ "show", "last", "--state-dir", h.state })
  t.eq(show_status, 0)
  t.not_contains(shown, SECRET, "mnem show")
end)

t.test("secret var validation masked", function()
  h.setup(t)
  local text = PLAYBOOK:gsub('password = { type = "secret" }',
    'password = { type = "secret", choices = { "a-long-allowed-value" } }')
  local status, out, err = h.run(text, { "--var", "password=" .. SECRET })
  t.eq(status, 2)
  t.contains(err, 'variable "password"')
  t.not_contains(out .. err, SECRET)
end)

return t.done()
