-- A step timeout or run deadline cancels a running SQL statement on the
-- server, and the step fails with a timeout error.
local t = require("t")
local sys = require("mnem._sys")

local bin = os.getenv("MNEM_BIN") or "build/mnem"

-- Runs playbook TEXT with `mnem run`; returns the exit status, stderr, the
-- seconds it took and the record's text. The statements sleep 30 s, so the
-- time bounds prove the cancel while leaving a slow machine room to start.
local function run(text)
  local dir = t.tmpdir()
  local f = assert(io.open(dir .. "/p.lua", "w"))
  f:write(text)
  f:close()
  local started = sys.monotonic()
  local _, _, status = os.execute(("%s run %s/p.lua --state-dir %s/state >%s/out 2>%s/err"):format(bin, dir, dir,
    dir, dir))
  local took = sys.monotonic() - started
  local records = io.popen("cat " .. dir .. "/state/runs/*.jsonl")
  local record = records:read("a")
  records:close()
  return status, t.read_file(dir .. "/err"), took, record
end

if os.getenv("MNEM_TEST_PG") ~= "1" then
  t.test("statement deadline", function() t.skip("no test PostgreSQL server (tests/run starts one)") end)
  return t.done()
end

t.test("step timeout cancels statement", function()
  local status, err, took, record = run([[
playbook { name = "slow", steps = {
  step "slow" { timeout = "1s", retry = false, run = function() pg.connect({}):exec("select pg_sleep(30)") end } } }
]])
  t.eq(status, 1)
  t.ok(took < 10, ("returned near the timeout, took %.1fs"):format(took))
  t.contains(err, 'step "slow" timed out after 1s')
  t.contains(record, '"kind":"timeout"')
end)

t.test("run deadline cancels statement", function()
  local status, err, took = run([[
playbook { name = "slow", deadline = "1s", steps = {
  step "slow" { retry = false, run = function() pg.connect({}):exec("select pg_sleep(30)") end } } }
]])
  t.eq(status, 1)
  t.ok(took < 10, ("returned near the deadline, took %.1fs"):format(took))
  t.contains(err, "the run deadline of 1s passed")
end)

t.test("raw deadline cancels, connection reusable", function()
  local pg = require("pg")
  local conn = pg.connect({})
  local started = sys.monotonic()
  local result, failure = conn:raw_exec("select pg_sleep(30)", {}, 0, 0.5)
  t.eq(result, nil)
  t.eq(failure.timed_out, true)
  t.eq(failure.sqlstate, "57014")
  t.ok(sys.monotonic() - started < 10, "cancelled near the deadline")
  t.eq(conn:query_one("select 1 as one").one, 1, "connection still usable")
  conn:close()
end)

return t.done()
