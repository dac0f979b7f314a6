-- Recipe settings: every shipped recipe function rejects unknown keys,
-- values of the wrong type and missing required keys before it calls AWS
-- or PostgreSQL. Messages name the closest known key and the file and
-- line of the settings function. The shipped parity playbook and its
-- environment files still pass.
local t = require("t")
local h = require("engine_helpers")
local settings = require("recipes.settings")
local dryrun = require("mnem.dryrun")

-- Returns the error message of settings.check, or nil when it passes.
local function check_error(fields, value)
  local ok, err = pcall(settings.check, "demo.fn", value, fields, "in the test's settings")
  if ok then return nil end
  return err
end

-- ---- the checker itself ----

t.test("checker accepts valid settings", function()
  local fields = {
    name = { type = "string", required = true }, count = { type = "integer" }, ratio = { type = "number" },
    on = { type = "boolean" }, every = { type = "duration" }, hook = { type = "function" },
    port = { type = { "integer", "string" } }, groups = { type = "list", items = { type = "string" } },
    tags = { type = "map", values = { type = "string" } }, kind = { type = "string", choices = { "A", "B" } },
    nested = { type = "table", fields = { flag = { type = "boolean" } } }, any = { type = "table" },
  }
  local value = { name = "x", count = 2, ratio = 0.5, on = false, every = "1h30m", hook = print, port = "5432",
                  groups = { "a", "b" }, tags = { team = "ops" }, kind = "B", nested = { flag = true },
                  any = { anything = 1 } }
  t.eq(check_error(fields, value), nil)
  t.eq(check_error(fields, { name = "x", every = 90, port = 5432, count = 3.0 }), nil, "numbers for duration and port")
end)

t.test("checker suggests closest key", function()
  local err = check_error({ timeout = { type = "duration" } }, { timout = "5m" })
  t.eq(err, 'demo.fn: unknown setting "timout" (did you mean "timeout"?) in the test\'s settings')
end)

t.test("checker lists keys without close match", function()
  local err = check_error({ alpha = { type = "string" }, beta = { type = "string" } }, { zzzzzzzz = 1 })
  t.contains(err, 'unknown setting "zzzzzzzz" (known settings: alpha, beta)')
end)

t.test("checker names nested unknown key", function()
  local fields = { circuit_breaker = { type = "table", fields = { enable = { type = "boolean" } } } }
  local err = check_error(fields, { circuit_breaker = { enabel = true } })
  t.contains(err, 'unknown setting "circuit_breaker.enabel" (did you mean "circuit_breaker.enable"?)')
end)

t.test("checker rejects wrong types", function()
  local cases = {
    { { type = "string" }, 5, 'setting "v" must be a string, got a number' },
    { { type = "integer" }, "3", 'setting "v" must be an integer, got a string' },
    { { type = "integer" }, 2.5, 'setting "v" must be an integer, got 2.5' },
    { { type = "boolean" }, "true", 'setting "v" must be a boolean, got a string' },
    { { type = "function" }, true, 'setting "v" must be a function, got a boolean' },
    { { type = "duration" }, "a while", 'setting "v": "a while" is not a valid duration' },
    { { type = "duration" }, {}, 'setting "v" must be a duration such as "90s" or "20m", got an empty table' },
    { { type = { "integer", "string" } }, false, 'setting "v" must be an integer or a string, got a boolean' },
    { { type = "list", items = { type = "string" } }, { "a", 7 }, 'setting "v[2]" must be a string, got a number' },
    { { type = "list" }, { a = 1 }, 'setting "v" must be a list (keys 1 to n), got a table with other keys' },
    { { type = "map", values = { type = "string" } }, { team = 1 }, 'setting "v.team" must be a string' },
    { { type = "map" }, { "x" }, 'setting "v" must have string keys, got the key 1' },
    { { type = "string", choices = { "String", "SecureString" } }, "Securestring",
      'setting "v" must be one of String, SecureString, got "Securestring" (did you mean "SecureString"?)' },
  }
  for i, case in ipairs(cases) do
    local err = check_error({ v = case[1] }, { v = case[2] })
    t.ok(err, ("case %d raises"):format(i))
    t.contains(err, case[3], ("case %d"):format(i))
  end
end)

t.test("checker rejects missing required key", function()
  local err = check_error({ cluster = { type = "string", required = true } }, {})
  t.contains(err, 'missing required setting "cluster"')
end)

t.test("checker lists every problem", function()
  local fields = { cluster = { type = "string", required = true }, count = { type = "integer" } }
  local err = check_error(fields, { count = "2", clustr = "c" })
  t.contains(err, "demo.fn: 3 problems in the test's settings:\n")
  t.contains(err, '\n  unknown setting "clustr" (did you mean "cluster"?)')
  t.contains(err, '\n  missing required setting "cluster"')
  t.contains(err, '\n  setting "count" must be an integer, got a string')
end)

t.test("checker rejects a non-table", function()
  t.contains(check_error({}, "x"), "demo.fn: expected a table of settings, got a string")
end)

t.test("checker accepts dry-run placeholders", function()
  local unknown = dryrun.unknown("Create", "the new instance")
  local fields = { port = { type = "integer", required = true }, cb = { type = "table", fields = {} } }
  t.eq(check_error(fields, { port = unknown.port, cb = unknown.cb }), nil)
  t.eq(check_error(fields, unknown), nil, "a whole placeholder table")
end)

t.test("read names the settings function", function()
  local function spec_of() return { timout = 1 } end
  local line = debug.getinfo(spec_of, "S").linedefined
  local ok, err = pcall(settings.read, "demo.fn", spec_of, {}, { timeout = { type = "duration" } })
  t.eq(ok, false)
  t.contains(err, ('in the settings returned by the function defined at %s:%d'):format(
    debug.getinfo(1, "S").source:sub(2), line))
  local returns_nil = function() return nil end
  ok, err = pcall(settings.read, "demo.fn", returns_nil, {}, {})
  t.eq(ok, false)
  t.contains(err, "returned nil, expected a table of settings")
end)

-- ---- each shipped recipe, run from a playbook ----

-- Runs a playbook whose only step is RECIPE.FN(settings function) and
-- whose settings function (on line 3) returns SETTINGS (Lua text).
-- Returns the exit status, stderr and the playbook's path.
local function run_recipe(recipe, fn, settings_text)
  h.setup(t)
  local status, _, err = h.run(([[
local recipe = require("recipes.%s")
playbook { name = "settings", steps = {
  step "Under test" (recipe.%s(function(ctx)
    return %s
  end)),
} }
]]):format(recipe, fn, settings_text))
  return status, err, h.scratch .. "/playbook.lua"
end

-- One typo and one wrong type for every recipe function that takes
-- settings. Each raises before any call to AWS or PostgreSQL.
local RECIPE_CASES = {
  { "ecs_deploy", "redeploy", '{ cluster = "c", service = "s", desired_count = 3, timout = "5m" }',
    '"timout" (did you mean "timeout"?)',
    '{ cluster = "c", service = "s", desired_count = "3" }', 'setting "desired_count" must be an integer' },
  { "ecs_deploy", "redeploy", '{ cluster = "c", service = "s", desired = 3 }',
    '"desired" (did you mean "desired_count"?)',
    '{ cluster = "c", service = "s", circuit_breaker = { enable = "yes" } }',
    'setting "circuit_breaker.enable" must be a boolean' },
  { "ssm_parameters", "write", '{ prefix = "/a/", typ = "String", values = { x = "1" } }',
    '"typ" (did you mean "type"?)',
    '{ prefix = "/a/", type = "string", values = { x = "1" } }',
    'setting "type" must be one of String, StringList, SecureString, got "string" (did you mean "String"?)' },
  { "rds_instance", "ensure", '{ identifier = "db", allocated_storge = 20 }',
    '"allocated_storge" (did you mean "allocated_storage"?)',
    '{ identifier = "db", multi_az = "true" }', 'setting "multi_az" must be a boolean' },
  { "rds_instance", "verify", '{ identifier = "db", encrypt = true }', '"encrypt" (did you mean "encrypted"?)',
    '{ identifier = "db", wait_timeout = "forever" }', 'setting "wait_timeout": "forever" is not a valid duration' },
  { "pg_schema", "bootstrap", '{ connection = { host = "h", dbnmae = "d" }, schema = "app" }',
    '"connection.dbnmae" (did you mean "connection.dbname"?)',
    '{ connection = {}, schema = "app", privileges = "USAGE" }', 'setting "privileges" must be a list' },
  { "service_checks", "no_scalable_targets", '{ cluster = "c", servce = "s" }', '"servce" (did you mean "service"?)',
    '{ cluster = "c", service = 5 }', 'setting "service" must be a string' },
  { "service_checks", "load_balancer_health", '{ name = "lb", port = 80, expect_stauts = 204 }',
    '"expect_stauts" (did you mean "expect_status"?)',
    '{ name = "lb", port = "80" }', 'setting "port" must be an integer' },
  { "service_checks", "migration_gate", '{ log_group = "/g", required = "x", lookbak = 60 }',
    '"lookbak" (did you mean "lookback"?)',
    '{ log_group = "/g", required = "x", lookback = "a day" }', 'setting "lookback": "a day" is not a valid duration' },
  { "aws_account", "check_identity", '{ acount = "123456789012" }', '"acount" (did you mean "account"?)',
    '{ account = 123456789012 }', 'setting "account" must be a string, got a number' },
}

for _, case in ipairs(RECIPE_CASES) do
  local recipe, fn, typo, hint, wrong, type_message = table.unpack(case)
  local name = recipe .. "." .. fn

  t.test(name .. " rejects typo " .. hint:match('^"([^"]+)"'), function()
    local status, err, path = run_recipe(recipe, fn, typo)
    t.eq(status, 1, err)
    t.contains(err, ("error: %s: "):format(name))
    t.contains(err, "unknown setting " .. hint)
    t.contains(err, ("in the settings returned by the function defined at %s:3"):format(path))
  end)

  t.test(name .. " rejects wrong type " .. type_message:match('"([^"]+)"'), function()
    local status, err, path = run_recipe(recipe, fn, wrong)
    t.eq(status, 1, err)
    t.contains(err, ("error: %s: %s"):format(name, type_message))
    t.contains(err, ("defined at %s:3"):format(path))
  end)
end

t.test("required settings are checked", function()
  local status, err = run_recipe("ecs_deploy", "redeploy", '{ cluster = "c" }')
  t.eq(status, 1, err)
  t.contains(err, 'ecs_deploy.redeploy: missing required setting "service"')
  status, err = run_recipe("ssm_parameters", "write", '{ prefix = "/a/" }')
  t.eq(status, 1, err)
  t.contains(err, 'ssm_parameters.write: missing required setting "values"')
  status, err = run_recipe("pg_schema", "bootstrap", '{ schema = "app" }')
  t.eq(status, 1, err)
  t.contains(err, 'pg_schema.bootstrap: missing required setting "connection"')
end)

t.test("settings function returning nil", function()
  local status, err, path = run_recipe("aws_account", "check_identity", "nil")
  t.eq(status, 1, err)
  t.contains(err, ("aws_account.check_identity: the settings function defined at %s:3 returned nil"):format(path))
end)

t.test("settings table instead of function", function()
  local dir = h.setup(t)
  local path = h.write(dir, "table.lua", [[
local ecs_deploy = require("recipes.ecs_deploy")
playbook { name = "table", steps = {
  step "Redeploy" (ecs_deploy.redeploy({ cluster = "c", service = "s" })),
} }
]])
  local status, _, err = h.mnem({ "check", path })
  t.eq(status, 2, err)
  t.contains(err, path .. ":3: ecs_deploy.redeploy: argument 1 must be a function(ctx) returning a table of settings")
end)

t.test("ssm_parameters.read checks arguments", function()
  local ssm_parameters = require("recipes.ssm_parameters")
  t.raises(function() ssm_parameters.read(nil) end, "ssm_parameters.read: argument 1 (prefix) must be a string")
  t.raises(function() ssm_parameters.read("/a/", "x") end, "argument 2 (required) must be a list of names")
  t.raises(function() ssm_parameters.read("/a/", { 1 }) end, "argument 2 (required) item 1 must be a string")
end)

t.test("environment.loader checks arguments", function()
  local environment = require("recipes.environment")
  t.raises(function() environment.loader(nil) end, "environment.loader: argument 1 (folder) must be a string")
  t.raises(function() environment.loader("env", 1) end, "argument 2 (variable) must be a string")
end)

-- ---- the shipped parity playbook ----

t.test("parity playbook passes check", function()
  h.setup(t)
  local status, out, err = h.mnem({ "check", "playbooks/nonprod-parity.lua" })
  t.eq(status, 0, err)
  t.contains(out .. err, 'ok: playbook "nonprod-parity"')
end)

-- The parity playbook passes each environment file's tables to the
-- recipes, adding only the admin credentials read from SSM and the keys
-- it sets itself. Checking the files here covers dev.lua, which no run
-- in the tests loads.
t.test("parity environment files pass", function()
  local rds_instance = require("recipes.rds_instance")
  local ecs_deploy = require("recipes.ecs_deploy")
  local service_checks = require("recipes.service_checks")
  for _, name in ipairs({ "dev", "test" }) do
    local env = assert(loadfile("playbooks/env/" .. name .. ".lua", "t", {}))()
    local db = {}
    for k, v in pairs(env.database) do db[k] = v end
    db.master_username, db.master_password = "admin", "password"
    t.eq(check_error(rds_instance.FIELDS.ensure, db), nil, name .. " database")
    local svc = env.service
    t.eq(check_error(ecs_deploy.FIELDS.redeploy, {
      cluster = svc.cluster, service = svc.name, desired_count = svc.desired_count,
      health_check_grace_period = svc.health_check_grace_period,
      minimum_healthy_percent = svc.minimum_healthy_percent, maximum_percent = svc.maximum_percent,
      circuit_breaker = { enable = true, rollback = true }, timeout = svc.deploy_timeout,
    }), nil, name .. " service")
    local lb = env.load_balancer
    t.eq(check_error(service_checks.FIELDS.load_balancer_health,
      { name = lb.name, port = lb.port, path = lb.health_path }), nil, name .. " load balancer")
  end
end)

return t.done()
