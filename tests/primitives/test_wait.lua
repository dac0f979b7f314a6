-- wait.until_: polling, timeouts naming the last state, options.
local t = require("t")
local wait = require("mnem.wait")
local errors = require("mnem.errors")
local log = require("mnem.log")

log.configure{ stream = assert(io.open("/dev/null", "w")) }

t.test("wait returns once the check holds", function()
  local n = 0
  local done, state = wait.until_(function() n = n + 1; return n == 3, "poll " .. n end, { interval = 0.01 })
  t.eq(done, true)
  t.eq(state, "poll 3")
  t.eq(n, 3, "polled three times")
end)

t.test("wait timeout names the last state", function()
  local e = t.raises(function()
    wait.until_(function() return false, { status = "modifying" } end,
      { interval = 0.02, timeout = 0.1, description = "instance available" })
  end)
  t.eq(e.kind, "timeout")
  t.eq(e.code, "WaitTimeout")
  t.contains(e.message, "waiting for instance available")
  t.contains(e.message, 'last state: {"status":"modifying"}')
end)

t.test("wait backoff grows the interval", function()
  -- Sleeps never end early, but a loaded machine may stretch any of them,
  -- so each gap is checked against its lower bound: 0.02, 0.04, 0.08 and
  -- 0.16 s. Without the backoff they would all be near 0.02 s.
  local times = {}
  local clock = require("mnem._sys").monotonic
  wait.until_(function() times[#times + 1] = clock(); return #times == 5 end,
    { interval = 0.02, backoff = 2, timeout = 60 })
  t.eq(#times, 5, "five polls")
  for i = 1, 4 do
    local gap, least = times[i + 1] - times[i], 0.02 * 2 ^ (i - 1)
    t.ok(gap >= least * 0.95, ("gap %d is %.3f s, at least %.3f s"):format(i, gap, least))
  end
end)

t.test("wait propagates errors not ignored", function()
  local e = t.raises(function()
    wait.until_(function() errors.raise{ kind = "aws", code = "AccessDenied", message = "no" } end, { interval = 0.01 })
  end)
  t.eq(e.code, "AccessDenied")
end)

t.test("wait ignore_errors keeps polling", function()
  local n = 0
  wait.until_(function()
    n = n + 1
    if n < 3 then errors.raise{ kind = "aws", code = "DBInstanceNotFound", message = "not yet" } end
    return true
  end, { interval = 0.01, ignore_errors = { "DBInstanceNotFound" } })
  t.eq(n, 3)
end)

t.test("wait rejects unknown options", function()
  t.raises(function() wait.until_(function() return true end, { timeot = 1 }) end, 'unknown option "timeot"')
end)

t.test("wait rejects a bad duration", function()
  t.raises(function() wait.until_(function() return true end, { timeout = "ten minutes" }) end, "timeout")
end)

t.test("wait until spelled as a key", function()
  t.eq(wait["until"], wait.until_)
end)

return t.done()
