-- aws.retry: the retry rules of the AWS SDKs' "standard" retry mode.
--
-- Rules, as the AWS SDKs document standard mode:
--   * at most max_attempts attempts in all (default 3), counting the first;
--   * only throttling errors, transient errors (the codes in aws.errors,
--     HTTP 500/502/503/504, connection failures and timeouts) are retried;
--   * the delay before retry N (N = 1, 2, ...) is random(0, 1) * 2^(N-1)
--     seconds ("full jitter", base 1 s), capped at 20 seconds;
--   * a retry quota of 500 tokens per client: a retry costs 5 tokens (10
--     after a timeout), and when the quota cannot pay, the error is
--     returned without retrying. A call that succeeds on its first attempt
--     adds 1 token back; one that succeeds after retrying returns the cost
--     of its last retry. The quota never exceeds 500.
-- Modes: "standard"; "legacy" is handled as standard with 5 attempts by
-- default (legacy's own default); "adaptive" is handled as standard.
local aws_errors = require("aws.errors")

local M = {}

M.MAX_BACKOFF = 20
M.QUOTA_CAPACITY = 500
M.RETRY_COST = 5
M.TIMEOUT_RETRY_COST = 10
M.NO_RETRY_INCREMENT = 1

local DEFAULT_ATTEMPTS = { standard = 3, legacy = 5, adaptive = 3 }

--- Returns the default max attempts of retry MODE, or nil for an unknown
-- mode.
function M.default_attempts(mode)
  return DEFAULT_ATTEMPTS[mode]
end

--- Returns the list of valid retry mode names.
function M.modes()
  return { "standard", "legacy", "adaptive" }
end

local Policy = {}
Policy.__index = Policy

--- Makes a retry policy: { mode = "standard", max_attempts = n,
-- random = function() returning [0, 1) (for tests; default math.random) }.
-- One policy (and so one retry quota) belongs to each client.
-- NOTE: "adaptive" mode's client-side rate limiter is not implemented; it
-- retries exactly like "standard".
function M.new(options)
  local mode = options.mode or "standard"
  local policy = {
    mode = mode,
    max_attempts = options.max_attempts or DEFAULT_ATTEMPTS[mode] or 3,
    random = options.random or math.random,
    quota = M.QUOTA_CAPACITY,
  }
  return setmetatable(policy, Policy)
end

--- Returns the delay in seconds before retry number RETRY (1 for the
-- first retry).
function Policy:backoff(retry)
  local delay = self.random() * 2 ^ (retry - 1)
  return math.min(M.MAX_BACKOFF, delay)
end

--- Decides whether to retry after attempt ATTEMPT (1-based) failed with
-- error E. Returns the delay in seconds and the quota cost taken, or nil
-- and the reason for not retrying.
function Policy:decide(e, attempt)
  local class = aws_errors.classify(e)
  if not class then return nil, "not retryable" end
  if attempt >= self.max_attempts then
    return nil, ("max attempts (%d) reached"):format(self.max_attempts)
  end
  local cost = class == "timeout" and M.TIMEOUT_RETRY_COST or M.RETRY_COST
  if self.quota < cost then
    return nil, ("retry quota exhausted (%d tokens left, a retry costs %d)"):format(self.quota, cost)
  end
  self.quota = self.quota - cost
  return self:backoff(attempt), cost
end

--- Updates the retry quota after a successful call. LAST_COST is the cost
-- of the call's last retry, or nil when it succeeded at once.
function Policy:succeeded(last_cost)
  self.quota = math.min(M.QUOTA_CAPACITY, self.quota + (last_cost or M.NO_RETRY_INCREMENT))
end

return M
