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
  local times = {}
  local clock = require("mnem._sys").monotonic
  pcall(wait.until_, function() times[#times + 1] = clock(); return false end,
    { interval = 0.02, backoff = 2, timeout = 0.5 })
  t.ok(#times >= 4, "several polls")
  local first, third = times[2] - times[1], times[4] - times[3]
  t.ok(third > first * 2.5, ("the third gap (%.3f) is about 4x the first (%.3f)"):format(third, first))
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
