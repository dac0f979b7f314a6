-- aws.errors: the mnem.errors values the AWS client raises.
--
-- Every failure of a call (an error response or a transport failure)
-- becomes one `kind = "aws"` error with the service, operation, code,
-- message, http_status, request_id and retryable fields. Playbook retry
-- policies can then match on the code or the status alone. An interrupt
-- during a retry delay is a `kind = "interrupted"` error.
local errors = require("mnem.errors")

local M = {}

-- Error codes that standard retry mode treats as throttling.
M.THROTTLING_CODES = {
  Throttling = true, ThrottlingException = true, ThrottledException = true,
  RequestThrottledException = true, TooManyRequestsException = true,
  ProvisionedThroughputExceededException = true, TransactionInProgressException = true,
  RequestLimitExceeded = true, BandwidthLimitExceeded = true, LimitExceededException = true,
  RequestThrottled = true, SlowDown = true, EC2ThrottledException = true,
}

-- Error codes that standard retry mode treats as transient.
M.TRANSIENT_CODES = {
  RequestTimeout = true, RequestTimeoutException = true, PriorRequestNotComplete = true,
}

-- HTTP statuses that standard retry mode treats as transient.
M.TRANSIENT_STATUSES = { [500] = true, [502] = true, [503] = true, [504] = true }

-- Transport failure stage (from mnem._curl) to error code.
local STAGE_CODES = {
  connect = "ConnectionRefused",
  dns = "ConnectionError",
  tls = "ConnectionError",
  timeout = "RequestTimeout",
  send = "ConnectionError",
  receive = "ConnectionError",
  redirect = "ConnectionError",
  url = "InvalidEndpoint",
  interrupted = "Interrupted",
}

--- Returns "throttling", "transient", "timeout" or nil: how standard retry
-- mode classifies error E. "timeout" is a transient error that costs the
-- retry quota twice as much (a request that timed out).
function M.classify(e)
  if type(e) ~= "table" or e.kind ~= "aws" then return nil end
  if e.stage == "timeout" then return "timeout" end
  if e.stage == "url" or e.stage == "interrupted" then return nil end
  if e.stage then return "transient" end
  if M.THROTTLING_CODES[e.code] then return "throttling" end
  if M.TRANSIENT_CODES[e.code] then return "transient" end
  if M.TRANSIENT_STATUSES[e.http_status] then return "transient" end
  return nil
end

--- Makes the error for an AWS error response. PARSED is what the protocol's
-- parse_error returned ({code, message, request_id, sender_fault}).
function M.from_response(service, operation, status, parsed)
  local e = errors.new{
    kind = "aws",
    code = parsed.code or ("HTTP " .. tostring(status)),
    message = parsed.message or ("HTTP status " .. tostring(status)),
    http_status = status,
    request_id = parsed.request_id,
    sender_fault = parsed.sender_fault,
    service = service,
    operation = operation,
  }
  e.retryable = M.classify(e) ~= nil
  return e
end

--- Makes the error for a transport failure; TERR is the second value
-- returned by a mnem._curl session's request.
function M.from_transport(service, operation, terr)
  local stage = terr.stage or "receive"
  local e = errors.new{
    kind = "aws",
    code = STAGE_CODES[stage] or "ConnectionError",
    message = ("%s failed: %s"):format(stage, tostring(terr.message or "transport error")),
    stage = stage,
    url = terr.url,
    curl_code = terr.curl_code,
    elapsed = terr.elapsed,
    service = service,
    operation = operation,
  }
  e.retryable = M.classify(e) ~= nil
  return e
end

--- Makes the error raised when SIGINT or SIGTERM arrives during a call.
function M.interrupted(service, operation)
  return errors.new{
    kind = "interrupted", code = "Interrupted", retryable = false,
    message = "interrupted by a signal while waiting to retry",
    service = service, operation = operation,
  }
end

--- Makes a client-side error (missing credentials or region, a refused
-- credential source): kind "aws", not retryable.
function M.client_error(code, message, fields)
  local e = { kind = "aws", code = code, message = message, retryable = false }
  for k, v in pairs(fields or {}) do e[k] = v end
  return errors.new(e)
end

return M
