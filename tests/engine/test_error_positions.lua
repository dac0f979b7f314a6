-- Misuse errors name the caller's file and line, never a file of mnem's
-- standard library, even when the check sits behind a metamethod (aws.rdss,
-- aws.rds.x, exec{...}), a non-raising form (aws.rds.try.x, aws.try) or a
-- wrapper (paginate, get_all, wait). Each case below calls `at()` and then
-- makes one mistake on the same line, so the expected line is known.
local t = require("t")
local h = require("engine_helpers")
local aws = require("aws")
local exec = require("mnem.exec")
local log = require("mnem.log")
local pg = require("pg")
local wait = require("mnem.wait")

log.configure{ stream = assert(io.open("/dev/null", "w")) }

local THIS_FILE = debug.getinfo(1, "S").short_src

local line
local function at() line = debug.getinfo(2, "l").currentline end

-- Runs FN, which must call at() and then raise a misuse error on that line,
-- and checks that the message names this file and that line, contains
-- NEEDLE and names no standard-library file.
local function check_position(fn, needle)
  line = nil
  local ok, err = pcall(fn)
  t.eq(ok, false, "raised")
  t.ok(line, "the case called at()")
  t.eq(type(err), "string", "error type")
  local prefix = ("%s:%d: "):format(THIS_FILE, line)
  t.eq(err:sub(1, #prefix), prefix, "position of " .. err)
  t.contains(err, needle)
  t.not_contains(err, "stdlib/")
end

local function noop() return true end

local CASES = {
  { "aws unknown operation", "aws.rds: unknown operation describe_db_instance (did you mean describe_db_instances?)",
    function() at() aws.rds.describe_db_instance{ DBInstanceIdentifier = "x" } end },
  { "aws unknown service", "aws: unknown service rdss (did you mean rds?)",
    function() at() aws.rdss.describe_db_instances{} end },
  { "aws client unknown service", "aws: unknown service rdss",
    function() at() return aws.client{ region = "us-east-1" }.rdss end },
  { "aws parameters not a table", "aws.rds.describe_db_instances: expected a parameter table, got string",
    function() at() aws.rds.describe_db_instances("x") end },
  { "aws unknown parameter", "unknown parameter Foo",
    function() at() aws.rds.describe_db_instances{ Foo = 1 } end },
  { "aws missing parameter", "missing required parameter Name",
    function() at() aws.ssm.get_parameter{} end },
  { "aws method unknown operation", "aws.rds: unknown operation describe_db_instance",
    function() at() aws.rds:describe_db_instance{} end },
  { "aws method parameters", "expected a parameter table, got string",
    function() at() aws.rds:describe_db_instances("x") end },
  { "aws try unknown operation", "aws.rds: unknown operation describe_db_instance",
    function() at() aws.rds.try.describe_db_instance{} end },
  { "aws try parameters", "expected a parameter table, got string",
    function() at() aws.rds.try.describe_db_instances("x") end },
  { "aws try method parameters", "expected a parameter table, got string",
    function() at() aws.rds.try:describe_db_instances("x") end },
  { "aws try unknown parameter", "unknown parameter Foo",
    function() at() aws.rds.try.describe_db_instances{ Foo = 1 } end },
  { "aws.try parameters", "expected a parameter table, got string",
    function() at() aws.try(aws.rds.describe_db_instances, "x") end },
  { "aws.try unknown parameter", "unknown parameter Foo",
    function() at() aws.try(aws.rds.describe_db_instances, { Foo = 1 }) end },
  { "aws client unknown option", "aws.client: unknown option regoin (did you mean region?)",
    function() at() aws.client{ regoin = "us-east-1" } end },
  { "aws configure unknown option", "aws.client: unknown option regoin",
    function() at() aws.configure{ regoin = "us-east-1" } end },
  { "aws paginate unknown operation", "aws.rds.paginate: unknown operation describe_db_instance",
    function() at() aws.rds.paginate("describe_db_instance", {}) end },
  { "aws paginate not paginated", "cannot be paginated",
    function() at() aws.rds.paginate("create_db_instance", {}) end },
  { "aws paginate unknown option", "aws.rds.paginate: unknown option max_page",
    function() at() aws.rds.paginate("describe_db_instances", {}, { max_page = 1 }) end },
  { "aws get_all unknown operation", "aws.rds.paginate: unknown operation describe_db_instance",
    function() at() aws.rds.get_all("describe_db_instance", {}) end },
  { "aws get_all unknown parameter", "unknown parameter Foo",
    function() at() aws.rds.get_all("describe_db_instances", { Foo = 1 }) end },
  { "aws wait unknown waiter", "aws.rds.wait: unknown waiter \"db_instance_availabl\"",
    function() at() aws.rds.wait("db_instance_availabl", {}) end },
  { "aws wait unknown option", "aws.rds.wait: unknown option \"timout\" (did you mean timeout?)",
    function() at() aws.rds.wait("db_instance_available", {}, { timout = 1 }) end },
  { "aws wait parameters", "aws.rds.wait: parameters must be a table",
    function() at() aws.rds.wait("db_instance_available", "x") end },
  { "aws wait unknown parameter", "unknown parameter Foo",
    function() at() aws.rds.wait("db_instance_available", { Foo = 1 }) end },
  { "aws method wait", "aws.rds.wait: unknown waiter",
    function() at() aws.rds:wait("db_instance_availabl", {}) end },
  { "exec unknown option", "exec: unknown option \"timout\" (did you mean \"timeout\"?)",
    function() at() exec{ "true", timout = 5 } end },
  { "exec not a table", "exec: expected a table of arguments, got string",
    function() at() exec("true") end },
  { "exec missing program", "exec: missing the program to run",
    function() at() exec{} end },
  { "exec argument type", "exec: argument 2 must be a string, got table",
    function() at() exec{ "true", {} } end },
  { "exec.run unknown option", "exec.run: unknown option \"timout\"",
    function() at() exec.run({ "true" }, { timout = 5 }) end },
  { "exec.shell not a string", "exec.shell: expected a command string, got number",
    function() at() exec.shell(5) end },
  { "exec.shell unknown option", "exec.shell: unknown option \"timout\"",
    function() at() exec.shell("true", { timout = 5 }) end },
  { "wait.until_ unknown option", "wait.until_: unknown option \"timout\" (did you mean \"timeout\"?)",
    function() at() wait.until_(noop, { timout = 1 }) end },
  { "wait.until_ not a function", "wait.until_: argument 1 must be a function, got number",
    function() at() wait.until_(5) end },
  { "wait.until_ backoff", "wait.until_: backoff must be a number of 1 or more",
    function() at() wait.until_(noop, { backoff = 0 }) end },
  { "pg.connect unknown option", "pg.connect: unknown option \"usr\" (did you mean \"user\"?)",
    function() at() pg.connect{ usr = "x" } end },
  { "pg.connect option type", "pg.connect: option port must be a string or a number, got a table",
    function() at() pg.connect{ port = {} } end },
  { "pg.connect bad string", "pg.connect: invalid connection string",
    function() at() pg.connect("host=127.0.0.1 bogus") end },
  { "pg.connect argument type", "pg.connect: argument 1 must be a connection string",
    function() at() pg.connect(5) end },
  { "pg.quote_ident empty", "pg.quote_ident: argument 1 must not be empty",
    function() at() pg.quote_ident("") end },
  { "pg.quote_ident NUL byte", "pg.quote_ident: the name contains a NUL byte",
    function() at() pg.quote_ident("a\0b") end },
  { "pg.quote_literal table", "pg.quote_literal: argument 1 must be a string",
    function() at() pg.quote_literal({}) end },
  { "wait.until_ bad duration", "wait.until_: timeout: \"zz\" is not a valid duration",
    function() at() wait.until_(noop, { timeout = "zz" }) end },
  { "exec bad duration", "exec: timeout: \"1q\" is not a valid duration",
    function() at() exec{ "true", timeout = "1q" } end },
  { "engine sleep bad duration", "sleep: \"5x\" is not a valid duration",
    function() at() require("mnem.engine").sleep("5x") end },
}

for _, case in ipairs(CASES) do
  local name, needle, fn = case[1], case[2], case[3]
  t.test(name .. " names caller line", function() check_position(fn, needle) end)
end

-- Mistakes on a live connection: conn methods reach their checks through
-- shared helpers of different depths.
local function connect_or_skip()
  if not os.getenv("PGHOST") then t.skip("no test PostgreSQL server (tests/run starts one)") end
  return pg.connect{}
end

local CONNECTION_CASES = {
  { "conn:query SQL type", "conn:query: argument 1 must be an SQL string, got a number",
    function(conn) at() conn:query(5) end },
  { "conn:exec SQL type", "conn:exec: argument 1 must be an SQL string",
    function(conn) at() conn:exec(5) end },
  { "conn:query_one SQL type", "conn:query_one: argument 1 must be an SQL string",
    function(conn) at() conn:query_one(5) end },
  { "conn:query_value SQL type", "conn:query_value: argument 1 must be an SQL string",
    function(conn) at() conn:query_value(5) end },
  { "conn:query parameter type", "conn:query: parameter $1 must be a string, number, boolean",
    function(conn) at() conn:query("SELECT $1::text", {}) end },
  { "conn:query NUL in SQL", "conn:query: the SQL text contains a NUL byte",
    function(conn) at() conn:query("SELECT 1\0") end },
  { "conn:transaction argument", "conn:transaction: argument 1 must be a function",
    function(conn) at() conn:transaction(5) end },
  { "conn:ensure_schema name", "conn:ensure_schema: argument 1 must be a non-empty string",
    function(conn) at() conn:ensure_schema("") end },
  { "conn:ensure_schema option", "conn:ensure_schema: unknown option \"ownr\"",
    function(conn) at() conn:ensure_schema("s", { ownr = "x" }) end },
  { "conn:grant privilege", "conn:grant: \"SELECT\" is not a schema privilege",
    function(conn) at() conn:grant{ privileges = { "SELECT" }, on_schema = "public", to = "PUBLIC" } end },
  { "conn:has_schema_privilege", "conn:has_schema_privilege: \"DROP\" is not a schema privilege",
    function(conn) at() conn:has_schema_privilege("postgres", "public", "DROP") end },
}

for _, case in ipairs(CONNECTION_CASES) do
  local name, needle, fn = case[1], case[2], case[3]
  t.test(name .. " names caller line", function()
    local conn <close> = connect_or_skip()
    check_position(function() fn(conn) end, needle)
  end)
end

t.test("closed connection names caller line", function()
  local conn = connect_or_skip()
  conn:close()
  check_position(function() at() conn:query("SELECT 1") end, "attempt to use a closed PostgreSQL connection")
end)

-- The same mistakes in a playbook step run by `mnem run`, which prints
-- the error after "error: ". Each case's line in PLAYBOOK is given.
local PLAYBOOK = [[
local cases = {
  op = function() aws.rds.describe_db_instance{ DBInstanceIdentifier = "x" } end,
  service = function() aws.rdss.describe_db_instances{} end,
  exec = function() exec{ "true", timout = 5 } end,
  try = function() aws.rds.try.describe_db_instance{} end,
  method = function() aws.rds:describe_db_instances("x") end,
  wait = function() wait.until_(function() return true end, { timout = 1 }) end,
  pg = function() pg.connect{ usr = "x" } end,
  http = function() http.get("http://127.0.0.1:9/", { timout = 5 }) end,
}
playbook {
  name = "positions",
  vars = { case = { type = "string" } },
  steps = { step "mistake" { run = function(ctx) cases[ctx.vars.case]() end } },
}
]]

local PLAYBOOK_CASES = {
  { "op", 2, "aws.rds: unknown operation describe_db_instance (did you mean describe_db_instances?)" },
  { "service", 3, "aws: unknown service rdss (did you mean rds?)" },
  { "exec", 4, "exec: unknown option \"timout\" (did you mean \"timeout\"?)" },
  { "try", 5, "aws.rds: unknown operation describe_db_instance" },
  { "method", 6, "aws.rds.describe_db_instances: expected a parameter table, got string" },
  { "wait", 7, "wait.until_: unknown option \"timout\"" },
  { "pg", 8, "pg.connect: unknown option \"usr\"" },
  { "http", 9, "unknown option \"timout\"" },
}

for _, case in ipairs(PLAYBOOK_CASES) do
  local name, expected_line, needle = case[1], case[2], case[3]
  t.test("mnem run " .. name .. " names playbook line", function()
    h.setup(t)
    local status, _, err = h.run(PLAYBOOK, { "--var", "case=" .. name })
    t.eq(status, 1, "exit status")
    -- Lua shortens long chunk names from the left, so only the file name
    -- and the line are compared.
    local error_line = err:match("\nerror: ([^\n]*)") or err:match("^error: ([^\n]*)")
    t.ok(error_line, "an error line in " .. err)
    t.ok(error_line:find("playbook.lua:" .. expected_line .. ": ", 1, true), "position in " .. error_line)
    t.contains(error_line, needle)
    t.not_contains(err, "stdlib/")
  end)
end

-- `mnem sim serve` usage mistakes print the message with no Lua position
-- and exit 2. `timeout` stops a simulator that wrongly starts serving.
local function sim_serve(args)
  local dir = t.tmpdir()
  local command = ("timeout 20 %s sim serve --quiet %s >%s/out 2>%s/err"):format(
    h.quote(os.getenv("MNEM_BIN") or "build/mnem"), args, dir, dir)
  local _, _, status = os.execute(command)
  return status, t.read_file(dir .. "/err")
end

t.test("sim serve non-loopback host", function()
  local status, err = sim_serve("--host 0.0.0.0 --port 0")
  t.eq(status, 2, "exit status")
  t.eq(err, "mnem sim: refusing to listen on non-loopback address 0.0.0.0\n")
end)

t.test("sim serve busy port", function()
  local holder = require("mnem._server").new{}
  local port = holder:listen("127.0.0.1", 0)
  local status, err = sim_serve("--port " .. port)
  holder:close()
  t.eq(status, 2, "exit status")
  t.eq(err:sub(1, #"mnem sim: "), "mnem sim: ", "prefix")
  t.contains(err, ("cannot listen on 127.0.0.1 port %d"):format(port))
  t.not_contains(err, ".lua:")
end)

return t.done()
