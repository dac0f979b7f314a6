-- pg primitive against the throwaway PostgreSQL server tests/run starts:
-- connecting, parameters, type conversion, errors, transactions, notices,
-- quoting, password masking, dry run and the role/schema helpers.
local t = require("t")
local log = require("mnem.log")

if os.getenv("MNEM_TEST_PG") ~= "1" then
  t.test("pg suite", function() t.skip("no test PostgreSQL server (tests/run starts one)") end)
  return t.done()
end

local pg = require("pg")
local errors = require("mnem.errors")

local PASSWORD = "S3cr3t-pw-xyz"
local host, port = os.getenv("PGHOST"), os.getenv("PGPORT")
local conn = pg.connect("")

-- Sends log output to a file for the duration of FN; returns what was written.
local function capture_log(fn)
  local path = t.tmpdir() .. "/log.txt"
  local file = assert(io.open(path, "w"))
  log.configure{ stream = file }
  local ok, err = pcall(fn)
  log.configure{ stream = io.stderr }
  file:close()
  if not ok then error(err, 0) end
  return t.read_file(path)
end

t.test("connect with conninfo string", function()
  local c <close> = pg.connect(("host=%s port=%s dbname=postgres user=postgres"):format(host, port))
  t.eq(c:query_value("SELECT current_user"), "postgres")
end)

t.test("connect with URI", function()
  local c <close> = pg.connect(("postgresql://postgres@%s:%s/postgres?application_name=uri-test"):format(host, port))
  t.eq(c:query_value("SELECT current_setting('application_name')"), "uri-test")
end)

t.test("connect with table", function()
  local c <close> = pg.connect{ host = host, port = tonumber(port), dbname = "postgres", connect_timeout = 5 }
  t.eq(c:query_value("SELECT 1"), 1)
end)

t.test("connect default application_name", function()
  t.eq(conn:query_value("SELECT current_setting('application_name')"), "mnem")
end)

t.test("connect unknown keyword suggests", function()
  t.raises(function() pg.connect{ host = host, prot = 1 } end, 'unknown option "prot" (did you mean "port"?)')
end)

t.test("connect wrong argument type", function()
  t.raises(function() pg.connect(42) end, "pg.connect: argument 1 must be a connection string")
end)

t.test("connect refused names target, hides password", function()
  local forms = {
    ("postgresql://app:%s@127.0.0.1:1/appdb"):format(PASSWORD),
    ("host=127.0.0.1 port=1 dbname=appdb user=app password=%s"):format(PASSWORD),
    { host = "127.0.0.1", port = 1, dbname = "appdb", user = "app", password = PASSWORD },
  }
  for i, form in ipairs(forms) do
    local err
    local output = capture_log(function() err = t.raises(function() pg.connect(form) end) end)
    t.ok(errors.is(err), "form " .. i .. ": structured error")
    t.eq(err.kind, "pg", "form " .. i .. ": kind")
    t.eq(err.code, "08001", "form " .. i .. ": code")
    t.eq(err.retryable, true, "form " .. i .. ": retryable")
    t.contains(err.message, "127.0.0.1:1", "form " .. i .. ": host and port")
    t.contains(err.message, "database appdb", "form " .. i .. ": database")
    t.not_contains(tostring(err), PASSWORD, "form " .. i .. ": tostring")
    t.not_contains(err.message, PASSWORD, "form " .. i .. ": message")
    t.not_contains(output, PASSWORD, "form " .. i .. ": log")
  end
end)

t.test("connect invalid string hides password", function()
  local err = t.raises(function()
    pg.connect(("host=127.0.0.1 password=%s no_such_option=1"):format(PASSWORD))
  end, "invalid connection string")
  t.not_contains(tostring(err), PASSWORD)
end)

t.test("exec parameters of each Lua type", function()
  local row = conn:query_one("SELECT $1::int8 AS i, $2::float8 AS f, $3::bool AS b, $4::text AS s, $5::text AS n",
    42, 0.1, true, "text", nil)
  t.eq(row.i, 42)
  t.eq(row.f, 0.1)
  t.eq(row.b, true)
  t.eq(row.s, "text")
  t.ok(pg.is_null(row.n), "nil parameter is NULL")
end)

t.test("exec float parameters keep full precision", function()
  for _, value in ipairs({ 1 / 3, 2 ^ 0.5, 1e300, -5e-324, 123456.789 }) do
    t.eq(conn:query_value("SELECT $1::float8", value), value)
  end
end)

t.test("exec injection attempts stay data", function()
  conn:exec("CREATE TABLE injection_target (v text)")
  local hostile = { "'); DROP TABLE injection_target;--", "\\'; DROP TABLE injection_target; --", "$1", "$$x$$" }
  for _, text in ipairs(hostile) do
    local result = conn:exec("INSERT INTO injection_target (v) VALUES ($1)", text)
    t.eq(result.affected, 1)
    t.eq(conn:query_value("SELECT v FROM injection_target WHERE v = $1", text), text)
  end
  t.eq(conn:query_value("SELECT count(*) FROM injection_target"), #hostile)
  conn:exec("DROP TABLE injection_target")
end)

t.test("exec table parameter raises with number", function()
  t.raises(function() conn:exec("SELECT $1, $2", 1, {}) end, "parameter $2 must be a string")
end)

t.test("exec NUL in parameter raises", function()
  t.raises(function() conn:exec("SELECT $1", "a\0b") end, "parameter $1 contains a NUL byte")
end)

t.test("exec NULL values keep their columns", function()
  local row = conn:query_one("SELECT NULL::int AS a, 1 AS b")
  t.ok(row.a == pg.null, "NULL is pg.null")
  t.ok(pg.is_null(row.a), "is_null")
  t.eq(tostring(row.a), "pg.null")
  local null_param = conn:query_value("SELECT $1::text IS NULL", pg.null)
  t.eq(null_param, true)
end)

t.test("exec integer types convert exactly", function()
  local row = conn:query_one([[SELECT 32767::int2 AS i2, (-2147483648)::int4 AS i4,
    9223372036854775807::int8 AS max8, (-9223372036854775807 - 1)::int8 AS min8, 16384::oid AS o]])
  t.eq(row.i2, 32767)
  t.eq(row.i4, -2147483648)
  t.eq(row.max8, math.maxinteger)
  t.eq(row.min8, math.mininteger)
  t.eq(math.type(row.max8), "integer")
  t.eq(row.o, 16384)
end)

t.test("exec float types and special values", function()
  local row = conn:query_one([[SELECT 1.5::float4 AS f4, 0.1::float8 AS f8, 'NaN'::float8 AS nan,
    'Infinity'::float8 AS inf, '-Infinity'::float8 AS ninf]])
  t.eq(row.f4, 1.5)
  t.eq(row.f8, 0.1)
  t.ok(row.nan ~= row.nan, "NaN")
  t.eq(row.inf, math.huge)
  t.eq(row.ninf, -math.huge)
  t.eq(conn:query_value("SELECT $1::float8 = 'NaN'", 0 / 0), true)
  t.eq(conn:query_value("SELECT $1::float8", math.huge), math.huge)
end)

t.test("exec numeric keeps exact values", function()
  local row = conn:query_one([[SELECT 9007199254740993::numeric AS beyond53, 42::numeric AS small,
    123456789012345678901234567890::numeric AS huge, 0.1::numeric AS frac, 'NaN'::numeric AS nan]])
  t.eq(row.beyond53, 9007199254740993)
  t.eq(math.type(row.beyond53), "integer")
  t.eq(row.small, 42)
  t.eq(row.huge, "123456789012345678901234567890")
  t.eq(row.frac, "0.1")
  t.eq(row.nan, "NaN")
end)

t.test("exec text-like types stay strings", function()
  local row = conn:query_one([[SELECT true AS yes, false AS no, 'héllo'::text AS txt, 'v'::varchar AS vc,
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '{"a": [1, 2]}'::json AS j, '{"b": 1}'::jsonb AS jb,
    '2024-02-29 13:14:15+00'::timestamptz AS ts, '2024-02-29'::date AS d, ARRAY[1, 2] AS arr]])
  t.eq(row.yes, true)
  t.eq(row.no, false)
  t.eq(row.txt, "héllo")
  t.eq(row.vc, "v")
  t.eq(row.id, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
  t.eq(row.j, '{"a": [1, 2]}')
  t.eq(row.jb, '{"b": 1}')
  t.contains(row.ts, "2024-02-29")
  t.eq(row.d, "2024-02-29")
  t.eq(row.arr, "{1,2}")
end)

t.test("exec result shape", function()
  local result = conn:exec("SELECT n, n * 2 AS double FROM generate_series(1, 3) AS n")
  t.eq(result.command, "SELECT 3")
  t.eq(result.affected, 3)
  t.eq(#result.rows, 3)
  t.eq(result[2], result.rows[2], "array part")
  t.eq(result.rows[3].double, 6)
  t.eq(result.columns[1].name, "n")
  t.eq(result.columns[2].type_oid, 23)
end)

t.test("exec duplicate column names keep first", function()
  t.eq(conn:query_value("SELECT 1 AS a, 2 AS a"), 1)
  t.eq(conn:query_one("SELECT 1 AS a, 2 AS a").a, 1)
end)

t.test("exec error carries SQLSTATE", function()
  conn:exec("CREATE SCHEMA twice")
  local err = t.raises(function() conn:exec("CREATE SCHEMA twice") end)
  t.ok(errors.is(err), "structured")
  t.eq(err.kind, "pg")
  t.eq(err.code, "42P06")
  t.eq(err.sqlstate, "42P06")
  t.eq(err.severity, "ERROR")
  t.eq(err.message, 'schema "twice" already exists')
  t.eq(err.statement, "CREATE SCHEMA twice")
  t.eq(err.retryable, false)
  t.contains(tostring(err), "pg 42P06")
  conn:exec("DROP SCHEMA twice")
end)

t.test("exec syntax error position", function()
  local err = t.raises(function() conn:exec("SELECT 1 FORM x") end)
  t.eq(err.code, "42601")
  t.eq(err.position, 15, "position of x")
end)

t.test("exec unique violation detail", function()
  conn:exec("CREATE TEMP TABLE uniq (id int PRIMARY KEY)")
  conn:exec("INSERT INTO uniq VALUES (1)")
  local err = t.raises(function() conn:exec("INSERT INTO uniq VALUES ($1)", 1) end)
  t.eq(err.code, "23505")
  t.eq(err.constraint, "uniq_pkey")
  t.contains(err.detail, "(id)=(1)")
  t.ok(errors.matches(err, "23505"), "matches by SQLSTATE")
end)

t.test("query_one zero and many rows", function()
  t.eq(conn:query_one("SELECT 1 WHERE false"), nil)
  t.eq(conn:query_value("SELECT 1 WHERE false"), nil)
  local err = t.raises(function() conn:query_one("SELECT generate_series(1, 2)") end)
  t.eq(err.code, "TooManyRows")
end)

t.test("query returns rows", function()
  local rows = conn:query("SELECT generate_series(1, 4) AS n")
  t.eq(#rows, 4)
  t.eq(rows[4].n, 4)
end)

t.test("transaction commits and returns results", function()
  conn:exec("CREATE TABLE tx_commit (v int)")
  local a, b = conn:transaction(function(tx)
    tx:exec("INSERT INTO tx_commit VALUES (1), (2)")
    return "done", 2
  end)
  t.eq(a, "done")
  t.eq(b, 2)
  t.eq(conn:query_value("SELECT count(*) FROM tx_commit"), 2)
  t.eq(conn:transaction_status(), "idle")
  conn:exec("DROP TABLE tx_commit")
end)

t.test("transaction rolls back on pg error", function()
  conn:exec("CREATE TABLE tx_pg (v int PRIMARY KEY)")
  local err = t.raises(function()
    conn:transaction(function(tx)
      tx:exec("INSERT INTO tx_pg VALUES (1)")
      tx:exec("INSERT INTO tx_pg VALUES (1)")
    end)
  end)
  t.eq(err.code, "23505", "the original error is raised")
  t.eq(conn:query_value("SELECT count(*) FROM tx_pg"), 0)
  t.eq(conn:transaction_status(), "idle")
  conn:exec("DROP TABLE tx_pg")
end)

t.test("transaction rolls back on Lua error", function()
  conn:exec("CREATE TABLE tx_lua (v int)")
  local err = t.raises(function()
    conn:transaction(function(tx)
      tx:exec("INSERT INTO tx_lua VALUES (1)")
      error("playbook bug", 0)
    end)
  end)
  t.eq(err, "playbook bug")
  t.eq(conn:query_value("SELECT count(*) FROM tx_lua"), 0)
  conn:exec("DROP TABLE tx_lua")
end)

t.test("transaction nested uses savepoint", function()
  conn:exec("CREATE TABLE tx_nested (v int)")
  conn:transaction(function(tx)
    tx:exec("INSERT INTO tx_nested VALUES (1)")
    local ok = pcall(tx.transaction, tx, function(inner)
      inner:exec("INSERT INTO tx_nested VALUES (2)")
      error("inner fails", 0)
    end)
    t.eq(ok, false)
    tx:transaction(function(inner) inner:exec("INSERT INTO tx_nested VALUES (3)") end)
  end)
  t.eq(conn:query_value("SELECT string_agg(v::text, ',' ORDER BY v) FROM tx_nested"), "1,3")
  conn:exec("DROP TABLE tx_nested")
end)

t.test("transaction swallowed error fails commit", function()
  local err = t.raises(function()
    conn:transaction(function(tx)
      pcall(tx.exec, tx, "SELECT 1 / 0")
    end)
  end)
  t.eq(err.code, "25P02")
  t.eq(conn:transaction_status(), "idle")
end)

t.test("notices reach the log", function()
  local output = capture_log(function()
    conn:exec("DO $$ BEGIN RAISE NOTICE 'progress at % percent', 50; RAISE WARNING 'watch out'; END $$")
  end)
  t.contains(output, "postgres NOTICE: progress at 50 percent")
  t.contains(output, "WARN")
  t.contains(output, "postgres WARNING: watch out")
end)

t.test("quote_ident hostile names create objects", function()
  local names = { 'a"b', "Robert'); DROP TABLE x;--", "with space", "ünïcødé 表", "back\\slash", "UPPER" }
  for _, name in ipairs(names) do
    local q = pg.quote_ident(name)
    t.eq(conn:quote_ident(name), q, "libpq agrees for " .. name)
    conn:exec("CREATE TABLE " .. q .. " (v int)")
    t.eq(conn:query_value("SELECT count(*) FROM pg_class WHERE relname = $1 AND relkind = 'r'", name), 1, name)
    conn:exec("DROP TABLE " .. q)
    t.eq(conn:query_value("SELECT count(*) FROM pg_class WHERE relname = $1", name), 0, name)
  end
end)

t.test("quote_ident rejects bad names", function()
  t.raises(function() pg.quote_ident("a\0b") end, "NUL byte")
  t.raises(function() pg.quote_ident("") end, "must not be empty")
  t.raises(function() pg.quote_ident("\xff") end, "not valid UTF-8")
  t.raises(function() pg.quote_ident(("x"):rep(64)) end, "truncates")
  t.raises(function() pg.quote_ident(1) end, "must be a string")
end)

t.test("quote_literal round trips", function()
  local values = { "plain", "it's", "back\\slash", "both \\' end", "ünïcødé", "", "$$", "\n\t" }
  for _, value in ipairs(values) do
    t.eq(conn:query_value("SELECT " .. pg.quote_literal(value) .. "::text"), value, value)
  end
  t.eq(pg.quote_literal(nil), "NULL")
  t.eq(pg.quote_literal(pg.null), "NULL")
  t.eq(pg.quote_literal(true), "TRUE")
  t.eq(pg.quote_literal(12), "'12'")
  t.raises(function() pg.quote_literal("a\0b") end, "NUL byte")
end)

t.test("is_read_only classification", function()
  local cases = {
    { "SELECT 1", true }, { "  -- comment\n select * from t", true }, { "SHOW search_path", true },
    { "WITH a AS (SELECT 1) SELECT * FROM a", true }, { "EXPLAIN SELECT 1", true },
    { "SELECT 'insert into x' AS text", true }, { "VALUES (1)", true }, { "(SELECT 1)", true },
    { "INSERT INTO t VALUES (1)", false }, { "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", false },
    { "SELECT * INTO new_table FROM t", false }, { "EXPLAIN ANALYZE DELETE FROM t", false },
    { "SELECT nextval('s')", false }, { "SELECT * FROM t FOR UPDATE", false }, { "CREATE SCHEMA s", false },
    { "BEGIN", false }, { "/* SELECT */ DROP TABLE t", false },
  }
  for _, case in ipairs(cases) do
    t.eq(pg.is_read_only(case[1]), case[2], case[1])
  end
end)

t.test("dry run sends reads only", function()
  local present, dryrun = pcall(require, "mnem.dryrun")
  if not present then t.skip("mnem.dryrun is not in this build") end
  conn:exec("CREATE TABLE dry (v int)")
  dryrun.set_active(true)
  local ok, err = pcall(function()
    local result = conn:exec("INSERT INTO dry VALUES ($1)", 1)
    t.eq(result.dry_run, true)
    t.eq(#result.rows, 0)
    t.eq(conn:query_value("SELECT count(*) FROM dry"), 0, "reads still run")
    t.eq(conn:ensure_schema("dry_schema"), "created")
  end)
  dryrun.set_active(false)
  if not ok then error(err, 0) end
  t.eq(conn:query_value("SELECT count(*) FROM dry"), 0, "nothing was inserted")
  t.eq(conn:schema_exists("dry_schema"), false, "no schema was created")
  conn:exec("DROP TABLE dry")
end)

t.test("role and schema helpers", function()
  conn:exec("CREATE ROLE helper_app")
  t.eq(conn:role_exists("helper_app"), true)
  t.eq(conn:role_exists("no_such_role"), false)
  t.eq(conn:schema_exists("public"), true)
  t.eq(conn:ensure_schema("Helper Schema", { owner = "helper_app" }), "created")
  t.eq(conn:ensure_schema("Helper Schema"), "exists")
  t.eq(conn:query_value([[SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
    WHERE n.nspname = 'Helper Schema']]), "helper_app")
  t.raises(function() conn:ensure_schema("x", { ownr = "a" }) end, 'unknown option "ownr" (did you mean "owner"?)')
end)

t.test("grant reports changes", function()
  conn:exec("CREATE ROLE grant_app")
  conn:exec("CREATE SCHEMA grant_schema")
  t.eq(conn:has_schema_privilege("grant_app", "grant_schema", "USAGE"), false)
  t.eq(conn:grant{ privileges = { "USAGE", "create" }, on_schema = "grant_schema", to = "grant_app" }, true)
  t.eq(conn:has_schema_privilege("grant_app", "grant_schema", "USAGE"), true)
  t.eq(conn:has_schema_privilege("grant_app", "grant_schema", "CREATE"), true)
  t.eq(conn:grant{ privileges = "ALL", on_schema = "grant_schema", to = "grant_app" }, false)
  t.raises(function() conn:grant{ privileges = { "SELECT" }, on_schema = "grant_schema", to = "grant_app" } end,
    "not a schema privilege")
  t.raises(function() conn:grant{ privileges = { "USAGE" }, schema = "grant_schema", to = "grant_app" } end,
    'unknown option "schema"')
  local err = t.raises(function() conn:has_schema_privilege("no_such_role", "grant_schema", "USAGE") end)
  t.eq(err.code, "42704")
end)

t.test("misuse raises plain errors", function()
  t.raises(function() conn:exec(nil) end, "conn:exec: argument 1 must be an SQL string, got a nil")
  t.raises(function() conn:exec("SELECT 1\0") end, "contains a NUL byte")
  t.raises(function() conn:query_one("SELECT $1", function() end) end, "conn:query_one: parameter $1")
  t.raises(function() conn:transaction("BEGIN") end, "conn:transaction: argument 1 must be a function")
  t.raises(function() pg.connect{ host = host, port = {} } end, "option port must be a string or a number")
  t.raises(function() conn:role_exists("") end, "conn:role_exists: argument 1 must be a non-empty string")
  t.raises(function() conn:has_schema_privilege("a", "b", "DROP") end, "not a schema privilege")
end)

t.test("many parameters", function()
  local placeholders, values = {}, {}
  for i = 1, 500 do placeholders[i], values[i] = ("$%d::int"):format(i), i end
  local sql = "SELECT " .. table.concat(placeholders, " + ") .. " AS total"
  t.eq(conn:query_value(sql, table.unpack(values)), 500 * 501 // 2)
end)

t.test("closed connection raises", function()
  local c = pg.connect("")
  c:close()
  c:close()
  t.eq(c:status(), "closed")
  t.raises(function() c:exec("SELECT 1") end, "attempt to use a closed PostgreSQL connection")
end)

t.test("close variable releases", function()
  local pid
  do
    local c <close> = pg.connect("")
    pid = c:info().backend_pid
  end
  local gone = false
  -- Up to 10 s: the backend exits on its own time, later on a loaded machine.
  for _ = 1, 200 do
    if conn:query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid) == 0 then gone = true break end
    os.execute("sleep 0.05")
  end
  t.ok(gone, "backend exited after the <close> variable went out of scope")
end)

conn:close()
return t.done()
