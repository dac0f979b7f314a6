-- pg primitive when the server goes away mid-run: a second throwaway
-- PostgreSQL server is started here, stopped with `pg_ctl -m immediate`
-- while a connection is open, then started again on the same port.
local t = require("t")

local root = os.getenv("MNEM_ROOT") or "."

-- Runs a shell snippet with tests/lib/pg.sh loaded; returns its first
-- output line and whether it succeeded.
local function pg_shell(script)
  local p = io.popen((". '%s/tests/lib/pg.sh'; %s 2>&1"):format(root, script))
  local output = p:read("a")
  local ok = p:close()
  return output:match("^[^\n]*"), ok, output
end

local function bindir()
  return (pg_shell("pg_bindir"))
end

if bindir() == "" then
  t.test("server loss", function() t.skip("PostgreSQL server binaries are not installed (run make deps)") end)
  return t.done()
end

local pg = require("pg")
local errors = require("mnem.errors")

local dir = t.tmpdir()
os.execute(("chmod 755 '%s'"):format(dir))
local port, started, output = pg_shell(("pg_start '%s/pg' >/dev/null && echo $PGPORT"):format(dir))
if not started then
  t.test("server loss", function() error("could not start the second server: " .. output) end)
  return t.done()
end

local function stop_immediately()
  return pg_shell(("pg_stop '%s/pg'"):format(dir))
end

local function start_again()
  local _, ok, out = pg_shell((
    [[pg_as_owner "$(pg_bindir)/pg_ctl" -D '%s/pg/data' -l '%s/pg/server.log' -w ]] ..
    [[-o "-c listen_addresses=127.0.0.1 -p %s -k %s/pg -c fsync=off" start]]):format(dir, dir, port, dir))
  assert(ok, "restarting the second server failed: " .. out)
end

local conn = pg.connect{ host = "127.0.0.1", port = port, user = "postgres", dbname = "postgres" }

t.test("server loss before statement", function()
  t.eq(conn:query_value("SELECT 1"), 1)
  stop_immediately()
  local err = t.raises(function() conn:exec("SELECT 1") end)
  t.ok(errors.is(err), "structured error, not a crash")
  t.eq(err.kind, "pg")
  t.ok(err.code:sub(1, 2) == "08" or err.code:sub(1, 3) == "57P", "connection class code, got " .. err.code)
  t.eq(err.retryable, true)
  t.eq(err.connection_lost, true)
  t.contains(err.message, "127.0.0.1:" .. port)
  t.eq(conn:status(), "bad")
end)

t.test("reset while server down", function()
  local err = t.raises(function() conn:reset() end)
  t.eq(err.code, "08001")
  t.eq(err.retryable, true)
  t.contains(err.message, "cannot reconnect")
end)

t.test("reset after restart", function()
  start_again()
  conn:reset()
  t.eq(conn:status(), "ok")
  t.eq(conn:query_value("SELECT 2"), 2)
end)

t.test("server loss inside transaction", function()
  conn:exec("CREATE TABLE lost (v int)")
  local err = t.raises(function()
    conn:transaction(function(tx)
      tx:exec("INSERT INTO lost VALUES (1)")
      stop_immediately()
      tx:exec("INSERT INTO lost VALUES (2)")
    end)
  end)
  t.eq(err.retryable, true)
  t.eq(err.connection_lost, true)
  start_again()
  conn:reset()
  t.eq(conn:query_value("SELECT count(*) FROM lost"), 0, "the transaction did not commit")
end)

t.test("server loss during long statement", function()
  -- The server stops once the statement shows as active (up to 60 s on a
  -- loaded machine), so the loss always comes during the statement.
  local killer = io.popen(([[
. '%s/tests/lib/pg.sh'
i=0
while [ $i -lt 600 ] && ! psql -X -A -t -h 127.0.0.1 -p %s -U postgres -d postgres -c "SELECT count(*) FROM
    pg_stat_activity WHERE state = 'active' AND query LIKE '%%mnem-loss-test%%' AND pid <> pg_backend_pid()" \
    2>/dev/null | grep -qx 1; do sleep 0.1; i=$((i + 1)); done
pg_stop '%s/pg']]):format(root, port, dir), "r")
  local err = t.raises(function() conn:exec("SELECT pg_sleep(30) /* mnem-loss-test */") end)
  killer:close()
  t.eq(err.retryable, true)
  t.ok(err.code:sub(1, 2) == "08" or err.code:sub(1, 3) == "57P", "connection class code, got " .. err.code)
end)

conn:close()
stop_immediately()
return t.done()
