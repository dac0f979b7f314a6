-- Durations and retry-policy validation, called directly.
local t = require("t")
local duration = require("mnem.duration")
local retry = require("mnem.retry")

t.test("duration parses runbook forms", function()
  local cases = { { "90s", 90 }, { "40m", 2400 }, { "1h30m", 5400 }, { "1.5h", 5400 }, { "250ms", 0.25 },
                  { "2d", 172800 }, { 12, 12 }, { "12", 12 }, { " 5m ", 300 }, { 0, 0 } }
  for _, case in ipairs(cases) do t.eq(duration.parse(case[1]), case[2], tostring(case[1])) end
end)

t.test("duration rejects bad forms", function()
  for _, bad in ipairs({ "", "5 minutes", "m5", "5x", "-3", -1, {}, "1h-5m" }) do
    local seconds, message = duration.try_parse(bad)
    t.eq(seconds, nil, "rejects " .. tostring(bad))
    t.ok(message, "message for " .. tostring(bad))
  end
  t.raises(function() duration.parse("soon", "step \"A\": timeout") end, 'step "A": timeout: "soon" is not a valid')
end)

t.test("duration formats", function()
  t.eq(duration.format(45), "45s")
  t.eq(duration.format(125), "2m05s")
  t.eq(duration.format(5400), "1h30m00s")
  t.eq(duration.format(0.25), "0.25s")
  t.eq(duration.format(nil), "-")
end)

t.test("retry normalize defaults", function()
  local policy = retry.normalize({ match = "Throttling" })
  t.eq(#policy, 1, "one retrier table becomes a list")
  t.eq(policy[1].interval, 1)
  t.eq(policy[1].backoff, 2)
  t.eq(policy[1].max_attempts, 3)
  t.eq(policy[1].jitter, "none")
  t.eq(retry.normalize(false), {}, "false disables retries")
end)

t.test("retry delay formula", function()
  local r = retry.normalize({ interval = "2s", backoff = 2, max_delay = "30s" })[1]
  t.eq((retry.delay(r, 1)), 2)
  t.eq((retry.delay(r, 3)), 8)
  t.eq((retry.delay(r, 10)), 30, "capped by max_delay")
end)

t.test("retry find picks first match", function()
  local errors = require("mnem.errors")
  local policy = retry.normalize({ { match = "A", max_attempts = 2 }, { match = { "B", 503 }, max_attempts = 4 },
                                   { match = function(e) return e.code == "C" end } })
  t.eq(retry.find(policy, errors.new{ kind = "x", code = "B", message = "m" }).max_attempts, 4)
  t.eq(retry.find(policy, errors.new{ kind = "x", code = "Z", http_status = 503, message = "m" }).max_attempts, 4)
  t.eq(retry.find(policy, errors.new{ kind = "x", code = "C", message = "m" }).max_attempts, 3)
  t.eq(retry.find(policy, errors.new{ kind = "x", code = "D", message = "m" }), nil)
  t.eq(retry.find(policy, "a string error"), nil)
end)

t.test("retry rejects bad policies", function()
  t.raises(function() retry.normalize("often") end, "expected a list of retriers")
  t.raises(function() retry.normalize({ { match = {} } }) end, "match list is empty")
  t.raises(function() retry.normalize({ { match = true } }) end, "match must be an error code")
  t.raises(function() retry.normalize({ { backoff = 0.5 } }) end, "backoff must be a number of 1 or more")
  t.raises(function() retry.normalize({ { interval = "fast" } }) end, 'retry[1]: interval: "fast" is not a valid')
  t.raises(function() retry.normalize({ { max_atempts = 3 } }) end, '(did you mean "max_attempts"?)')
end)

return t.done()
