-- Helper for test_pg_interrupt.sh: runs a 20-second statement with signals
-- trapped as the engine traps them, then prints the SQLSTATE and the time.
-- The comment in the statement lets the test find it in pg_stat_activity.
local sys = require("mnem._sys")
sys.trap_signals()
local pg = require("pg")
local conn = pg.connect("")
local started = sys.monotonic()
local ok, err = pcall(conn.exec, conn, "SELECT pg_sleep(20) /* mnem-interrupt-test */")
print(("ok=%s code=%s seconds=%.1f"):format(tostring(ok), tostring(err and err.code), sys.monotonic() - started))
