-- A step timeout or run deadline stops an HTTP request to a server that
-- never responds (tests/http/server.py, route /hang), through `mnem run`.
local t = require("t")
local sys = require("mnem._sys")

local root = os.getenv("MNEM_ROOT") or "."
local bin = os.getenv("MNEM_BIN") or "build/mnem"
local server = io.popen(("exec python3 '%s/tests/http/server.py'"):format(root), "r")
local port, pid = server:read("l"):match("^(%d+) (%d+)$")
local base = "http://127.0.0.1:" .. port

-- Runs playbook TEXT with `mnem run`; returns the exit status, stderr and
-- the seconds it took. The route never responds, so the time bounds below
-- only prove that something stopped the request. They leave a slow, loaded
-- machine room for starting mnem.
local function run(text)
  local dir = t.tmpdir()
  local f = assert(io.open(dir .. "/p.lua", "w"))
  f:write(text)
  f:close()
  local started = sys.monotonic()
  local _, _, status = os.execute(("%s run %s/p.lua --state-dir %s/state >%s/out 2>%s/err"):format(bin, dir, dir,
    dir, dir))
  local took = sys.monotonic() - started
  return status, t.read_file(dir .. "/err"), took
end

t.test("step timeout stops hanging request", function()
  local status, err, took = run(([[
playbook { name = "h1", steps = {
  step "capped" { timeout = "1s", retry = false, run = function() http.get("%s/hang") end } } }
]]):format(base))
  t.eq(status, 1)
  t.ok(took < 10, ("returned near the timeout, took %.1fs"):format(took))
  t.contains(err, 'step "capped" timed out after 1s')
end)

t.test("run deadline stops hanging request", function()
  local status, err, took = run(([[
playbook { name = "h3", deadline = "2s", steps = {
  step "capped" { retry = false, run = function() http.get("%s/hang", { timeout = "1m" }) end } } }
]]):format(base))
  t.eq(status, 1)
  t.ok(took < 10, ("returned near the deadline, took %.1fs"):format(took))
  t.contains(err, "the run deadline of 2s passed")
end)

t.test("request timeout shorter than step", function()
  local status, err, took = run(([[
playbook { name = "h4", steps = {
  step "own" { timeout = "30s", retry = false, run = function() http.get("%s/hang", { timeout = "500ms" }) end } } }
]]):format(base))
  t.eq(status, 1)
  t.ok(took < 10, ("returned near the request timeout, took %.1fs"):format(took))
  t.contains(err, "http Timeout")
end)

os.execute("kill " .. pid)
server:close()
return t.done()
