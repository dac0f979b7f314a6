-- Retry policies: backoff delays, jitter bounds, max_attempts, fatal
-- errors and group retries, through real playbooks run by the binary.
local t = require("t")
local h = require("engine_helpers")

-- A playbook whose step fails with ERROR_EXPR until it ran FAIL_TIMES times,
-- counting attempts in a file.
local function flaky(fail_times, error_expr, retry_text)
  return ([[
local errors = require("mnem.errors")
playbook {
  name = "flaky",
  vars = { dir = { type = "path" } },
  steps = {
    step "Flaky call" {
      retry = %s,
      run = function(ctx)
        local f = io.open(ctx.vars.dir .. "/attempts", "a") f:write("x\n") f:close()
        if ctx.attempt <= %d then error(%s) end
        return { attempt = ctx.attempt }
      end,
    },
  },
}
]]):format(retry_text, fail_times, error_expr)
end

local THROTTLE = [[errors.new{ kind = "aws", code = "Throttling", message = "Rate exceeded", retryable = true }]]

t.test("retry backoff delays recorded", function()
  local dir = h.setup(t)
  local status, _, err = h.run(flaky(3, THROTTLE,
    [[{ { match = "Throttling", interval = "100ms", backoff = 2, max_attempts = 5 } }]]), { "--var", "dir=" .. dir })
  t.eq(status, 0, "exit status")
  local events = h.last_record()
  local retries = h.events(events, "retry")
  t.eq(#retries, 3, "retries recorded")
  local expected = { 0.1, 0.2, 0.4 }
  for i, r in ipairs(retries) do
    t.ok(math.abs(r.delay - expected[i]) < 1e-9, ("retry %d delay %s, expected %s"):format(i, r.delay, expected[i]))
    t.eq(r.attempts_left, 5 - i, "attempts left after attempt " .. i)
    t.eq(r.error.code, "Throttling", "retry error code")
  end
  local finish = h.events(events, "step_finish", "Flaky call")[1]
  t.eq(finish.status, "ok")
  t.eq(finish.attempts, 4)
  t.eq(finish.outputs.attempt, 4)
  t.contains(err, "retrying in", "retry logged")
  t.contains(err, "attempts left", "attempts left logged")
  t.eq(#h.lines(dir .. "/attempts"), 4, "attempts made")
end)

t.test("retry max_delay caps delay", function()
  local dir = h.setup(t)
  local status = h.run(flaky(3, THROTTLE,
    [[{ match = "Throttling", interval = "100ms", backoff = 10, max_delay = "150ms", max_attempts = 4 }]]),
    { "--var", "dir=" .. dir })
  t.eq(status, 0, "exit status")
  local retries = h.events(h.last_record(), "retry")
  t.eq(#retries, 3)
  t.ok(math.abs(retries[1].delay - 0.1) < 1e-9, "first delay is the interval")
  t.ok(math.abs(retries[2].delay - 0.15) < 1e-9, "second delay capped at max_delay")
  t.ok(math.abs(retries[3].delay - 0.15) < 1e-9, "third delay capped at max_delay")
end)

t.test("retry full jitter within bounds", function()
  local dir = h.setup(t)
  local status = h.run(flaky(4, THROTTLE,
    [[{ match = { "Throttling" }, interval = "80ms", backoff = 2, jitter = "full", max_attempts = 5 }]]),
    { "--var", "dir=" .. dir })
  t.eq(status, 0, "exit status")
  local retries = h.events(h.last_record(), "retry")
  t.eq(#retries, 4)
  for i, r in ipairs(retries) do
    local base = 0.08 * 2 ^ (i - 1)
    t.ok(math.abs(r.base_delay - base) < 1e-9, ("retry %d base delay %s"):format(i, r.base_delay))
    t.ok(r.delay >= 0 and r.delay <= base, ("retry %d jittered delay %s within [0, %s]"):format(i, r.delay, base))
  end
end)

t.test("retry stops at max_attempts", function()
  local dir = h.setup(t)
  local status, _, err = h.run(flaky(10, THROTTLE,
    [[{ match = "Throttling", interval = "10ms", max_attempts = 3 }]]), { "--var", "dir=" .. dir })
  t.eq(status, 1, "exit status")
  t.eq(#h.lines(dir .. "/attempts"), 3, "attempts made")
  local events = h.last_record()
  t.eq(#h.events(events, "retry"), 2, "retries")
  t.eq(h.events(events, "run_end")[1].status, "failed")
  t.contains(err, 'failed at step "Flaky call"', "final message names the step")
  t.contains(err, "aws Throttling: Rate exceeded", "final message gives the error")
end)

t.test("unmatched error is fatal", function()
  local dir = h.setup(t)
  local status = h.run(flaky(10,
    [[errors.new{ kind = "aws", code = "AccessDenied", message = "no", retryable = false }]],
    [[{ { match = "Throttling", interval = "10ms", max_attempts = 5 } }]]), { "--var", "dir=" .. dir })
  t.eq(status, 1, "exit status")
  t.eq(#h.lines(dir .. "/attempts"), 1, "attempts made")
  t.eq(#h.events(h.last_record(), "retry"), 0, "no retry")
end)

t.test("string error is fatal", function()
  local dir = h.setup(t)
  local status, _, err = h.run(flaky(10, [["a bug in the playbook"]],
    [[{ { match = function(e) return e.retryable end, interval = "10ms", max_attempts = 5 } }]]),
    { "--var", "dir=" .. dir })
  t.eq(status, 1, "exit status")
  t.eq(#h.lines(dir .. "/attempts"), 1, "attempts made")
  t.contains(err, "a bug in the playbook")
  t.not_contains(err, "stack traceback", "final message has no traceback")
end)

t.test("retryable matcher and default match", function()
  local dir = h.setup(t)
  local err503 = [[errors.new{ kind = "http", code = "HTTP 503", http_status = 503, message = "busy",
    retryable = true }]]
  t.eq(h.run(flaky(2, err503, [[{ match = 503, interval = "10ms" }]]), { "--var", "dir=" .. dir }), 0,
    "HTTP status matcher")
  t.eq(h.run(flaky(2, err503, [[{ interval = "10ms" }]]), { "--var", "dir=" .. dir }), 0,
    "match defaults to retryable errors")
  t.eq(h.run(flaky(2, [[errors.new{ kind = "pg", code = "08006", sqlstate = "08006", message = "gone" }]],
    [[{ match = "08006", interval = "10ms" }]]), { "--var", "dir=" .. dir }), 0, "SQLSTATE matcher")
end)

t.test("playbook default retry applies", function()
  local dir = h.setup(t)
  local text = flaky(1, THROTTLE, "nil"):gsub('name = "flaky",',
    'name = "flaky", retry = { match = "Throttling", interval = "10ms" },')
  t.eq(h.run(text, { "--var", "dir=" .. dir }), 0, "exit status")
  t.eq(#h.events(h.last_record(), "retry"), 1)
end)

t.test("group retried together", function()
  local dir = h.setup(t)
  local status = h.run([[
local errors = require("mnem.errors")
local function count(dir, name)
  local f = io.open(dir .. "/" .. name, "a") f:write("x\n") f:close()
  local n = 0
  for _ in io.lines(dir .. "/" .. name) do n = n + 1 end
  return n
end
playbook {
  name = "group",
  vars = { dir = { type = "path" } },
  steps = {
    group "Redeploy until healthy" {
      retry = { match = "Unhealthy", interval = "10ms", max_attempts = 3 },
      steps = {
        step "Deploy" { run = function(ctx) return { n = count(ctx.vars.dir, "deploy") } end,
                        rollback = function(ctx) count(ctx.vars.dir, "undeploy") end },
        step "Check health" { run = function(ctx)
          if count(ctx.vars.dir, "health") < 3 then
            error(errors.new{ kind = "http", code = "Unhealthy", message = "not healthy yet" })
          end
        end },
      },
    },
    step "Fail" { run = function() error("stop here") end },
  },
}
]], { "--var", "dir=" .. dir })
  t.eq(status, 1, "exit status")
  t.eq(#h.lines(dir .. "/deploy"), 3, "deploy attempts")
  t.eq(#h.lines(dir .. "/health"), 3, "health checks")
  t.eq(#h.lines(dir .. "/undeploy"), 1, "deploy rolled back once")
  local retries = h.events(h.last_record(), "retry", "Redeploy until healthy")
  t.eq(#retries, 2, "group retries")
  t.eq(retries[1].kind, "group")
end)

return t.done()
