-- Standard-mode retries, counted at a loopback capture server: which
-- errors are retried, the bounded backoff, max attempts, the retry quota,
-- timeouts, the engine deadline and interrupts.
local t = require("t")
local helper = require("client_helper")
local aws = require("aws")
local aws_errors = require("aws.errors")
local log = require("mnem.log")
local retry = require("aws.retry")
local sys = require("mnem._sys")

local server = helper.start()
local JSON_HEADERS = { ["Content-Type"] = "application/x-amz-json-1.1", ["x-amzn-RequestId"] = "req-r" }

local function client(options)
  local o = { endpoint_url = server.endpoint, region = "us-east-1", access_key_id = "test",
              secret_access_key = "test", random = function() return 0.1 end }
  for k, v in pairs(options or {}) do o[k] = v end
  return aws.client(o)
end

local function json_error(status, code)
  return { status = status, headers = JSON_HEADERS, body = ('{"__type": "%s", "message": "m"}'):format(code) }
end

-- Sends log lines to a file during FN and returns what was logged.
local function capture_log(fn)
  local path = t.tmpdir() .. "/log"
  local f = assert(io.open(path, "w"))
  log.configure{ stream = f }
  local ok, err = pcall(fn)
  log.configure{ stream = io.stderr }
  f:close()
  if not ok then error(err, 0) end
  return t.read_file(path)
end

t.test("backoff stays within bounds", function()
  local p = retry.new{ mode = "standard", random = function() return 0.999 end }
  t.ok(p:backoff(1) <= 1, "first retry at most 1 s")
  t.ok(p:backoff(2) <= 2, "second retry at most 2 s")
  t.ok(p:backoff(4) <= 8, "fourth retry at most 8 s")
  t.eq(p:backoff(10), 20, "capped at 20 s")
  local zero = retry.new{ random = function() return 0 end }
  t.eq(zero:backoff(3), 0, "full jitter reaches 0")
end)

t.test("classification of errors", function()
  local function e(fields)
    fields.kind = "aws"
    fields.message = "m"
    return require("mnem.errors").new(fields)
  end
  t.eq(aws_errors.classify(e{ code = "ThrottlingException", http_status = 400 }), "throttling")
  t.eq(aws_errors.classify(e{ code = "RequestLimitExceeded", http_status = 503 }), "throttling")
  t.eq(aws_errors.classify(e{ code = "InternalError", http_status = 500 }), "transient")
  t.eq(aws_errors.classify(e{ code = "PriorRequestNotComplete", http_status = 400 }), "transient")
  t.eq(aws_errors.classify(e{ code = "ConnectionRefused", stage = "connect" }), "transient")
  t.eq(aws_errors.classify(e{ code = "RequestTimeout", stage = "timeout" }), "timeout")
  t.eq(aws_errors.classify(e{ code = "ValidationException", http_status = 400 }), nil)
  t.eq(aws_errors.classify(e{ code = "AccessDenied", http_status = 403 }), nil)
end)

t.test("quota costs and refunds", function()
  local p = retry.new{ random = function() return 0 end }
  local throttle = { kind = "aws", code = "Throttling", http_status = 400 }
  local timeout = { kind = "aws", code = "RequestTimeout", stage = "timeout" }
  local _, cost = p:decide(throttle, 1)
  t.eq(cost, 5)
  t.eq(p.quota, 495)
  _, cost = p:decide(timeout, 1)
  t.eq(cost, 10)
  t.eq(p.quota, 485)
  p:succeeded(10)
  t.eq(p.quota, 495, "a success after a retry returns that retry's cost")
  p:succeeded(nil)
  p:succeeded(nil)
  t.eq(p.quota, 497, "a first-attempt success adds 1")
  for _ = 1, 10 do p:succeeded(nil) end
  t.eq(p.quota, 500, "never above 500")
end)

t.test("throttling retried then success", function()
  server:script{ json_error(400, "ThrottlingException"), json_error(400, "ThrottlingException") }
  local started = sys.monotonic()
  local logged = capture_log(function()
    local out = client().ssm.describe_parameters{}
    t.ok(type(out) == "table", "output after retries")
  end)
  local elapsed = sys.monotonic() - started
  local requests = server:requests()
  t.eq(#requests, 3, "three attempts")
  local gap1 = requests[2].time - requests[1].time
  local gap2 = requests[3].time - requests[2].time
  -- Delays never end early. The upper bounds leave a loaded machine room,
  -- but stay below the 1 s and 2 s that ignoring the random factor gives.
  t.ok(gap1 >= 0.09 and gap1 < 1, "first delay is 0.1 * 2^0 s, got " .. gap1)
  t.ok(gap2 >= 0.19 and gap2 < 1.9, "second delay is 0.1 * 2^1 s, got " .. gap2)
  t.ok(elapsed < 10, "bounded total time")
  t.contains(logged, "retrying in 0.10s (2 attempts left)")
  t.contains(logged, "retrying in 0.20s (1 attempt left)")
  t.contains(logged, "ThrottlingException")
end)

t.test("5xx retried", function()
  server:script{ json_error(503, "ServiceUnavailable"), { status = 502, body = "<html>bad gateway</html>" } }
  local out = capture_log(function() client().ssm.describe_parameters{} end)
  t.ok(out ~= nil)
  t.eq(#server:requests(), 3)
end)

t.test("max attempts reached", function()
  server:script{ json_error(400, "Throttling"), json_error(400, "Throttling"), json_error(400, "Throttling"),
                 json_error(400, "Throttling") }
  local ok, err
  capture_log(function() ok, err = pcall(client().ssm.describe_parameters, {}) end)
  t.ok(not ok, "the call failed")
  t.eq(err.code, "Throttling")
  t.eq(err.attempts, 3)
  t.eq(err.retryable, true)
  t.contains(err.message, "after 3 attempts")
  t.eq(#server:requests(), 3, "default max attempts is 3")
end)

t.test("max_attempts option", function()
  server:script{ json_error(500, "InternalFailure"), json_error(500, "InternalFailure") }
  local ok, err
  capture_log(function() ok, err = pcall(client{ max_attempts = 2 }.ssm.describe_parameters, {}) end)
  t.ok(not ok)
  t.eq(err.attempts, 2)
  t.eq(#server:requests(), 2)
end)

t.test("no retry on non-retryable", function()
  server:script{ json_error(400, "ValidationException") }
  local ok, err = pcall(client().ssm.describe_parameters, {})
  t.ok(not ok)
  t.eq(err.code, "ValidationException")
  t.eq(err.retryable, false)
  t.eq(#server:requests(), 1)
end)

t.test("exhausted quota stops retries", function()
  local c = client()
  c:settings()
  local policy = rawget(c, "_state").resolved.policy
  policy.quota = 7
  server:script{ json_error(400, "Throttling"), json_error(400, "Throttling"), json_error(400, "Throttling") }
  local ok, err
  capture_log(function() ok, err = pcall(c.ssm.describe_parameters, {}) end)
  t.ok(not ok)
  t.eq(#server:requests(), 2, "one retry paid, the next could not be")
  t.eq(policy.quota, 2)
  t.eq(err.attempts, 2)
  server:script{}
  c.ssm.describe_parameters{}
  t.eq(policy.quota, 3, "success adds a token")
end)

t.test("request timeout retried", function()
  -- The server delays the first response by 30 s. The retry gets its
  -- response at once and has 2 s, enough on a loaded machine.
  server:script{ { delay = 30, status = 200, headers = JSON_HEADERS, body = "{}" } }
  local ok, err
  capture_log(function()
    ok, err = pcall(client{ timeout = 0.3, max_attempts = 1 }.ssm.describe_parameters, {})
  end)
  t.ok(not ok)
  t.eq(err.code, "RequestTimeout")
  t.eq(err.retryable, true)
  server:script{ { delay = 30, status = 200, headers = JSON_HEADERS, body = "{}" } }
  local logged = capture_log(function() client{ timeout = 2, max_attempts = 2 }.ssm.describe_parameters{} end)
  t.contains(logged, "RequestTimeout")
  t.eq(#server:requests(), 2, "the timed-out request was retried")
end)

t.test("environment retry settings", function()
  helper.with_env({ AWS_MAX_ATTEMPTS = "7", AWS_RETRY_MODE = false }, function()
    t.eq(aws.client{ region = "us-east-1" }:settings().max_attempts, 7)
  end)
  helper.with_env({ AWS_MAX_ATTEMPTS = false, AWS_RETRY_MODE = "legacy" }, function()
    local s = aws.client{ region = "us-east-1" }:settings()
    t.eq(s.retry_mode, "legacy")
    t.eq(s.max_attempts, 5, "legacy mode defaults to 5 attempts")
  end)
  helper.with_env({ AWS_MAX_ATTEMPTS = false, AWS_RETRY_MODE = "adaptive" }, function()
    t.eq(aws.client{ region = "us-east-1" }:settings().max_attempts, 3)
  end)
end)

t.test("engine deadline caps retries", function()
  local saved = package.loaded["mnem.engine"]
  package.loaded["mnem.engine"] = { remaining = function() return 0 end }
  server:script{ json_error(400, "Throttling"), json_error(400, "Throttling") }
  local ok, err = pcall(client().ssm.describe_parameters, {})
  package.loaded["mnem.engine"] = saved
  t.ok(not ok)
  t.eq(err.code, "Throttling")
  t.eq(#server:requests(), 1, "no time left: no retry")
end)

t.test("interrupt during backoff", function()
  sys.trap_signals()
  server:script{ json_error(400, "Throttling"), json_error(400, "Throttling") }
  os.execute(("(sleep 0.3; kill -INT %d) &"):format(sys.getpid()))
  local started = sys.monotonic()
  local ok, err
  -- A random factor of 20 makes the first delay 20 s (the cap), so the
  -- signal lands in it even when the machine is slow to send it.
  capture_log(function() ok, err = pcall(client{ random = function() return 20 end }.ssm.describe_parameters, {}) end)
  sys.clear_signal()
  t.ok(not ok)
  t.eq(err.kind, "interrupted")
  t.ok(sys.monotonic() - started < 10, "the 20 s delay was cut short")
end)

server:stop()
return t.done()
