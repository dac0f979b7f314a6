-- sim.auth: the simulator's SigV4 signature check.
--
-- Recomputes the signature of an incoming request with mnem._sigv4 (over
-- the method, path, query, the headers listed in SignedHeaders and the
-- body, with the secret key the world maps the access key to) and compares
-- it in constant time. Failures are returned as the error AWS sends for
-- the service's protocol, never raised.
local sigv4 = require("mnem._sigv4")

local M = {}

-- Maximum difference between X-Amz-Date and the real clock, as AWS allows.
local MAX_SKEW = 15 * 60

-- The error codes and statuses of each protocol. Query services (RDS,
-- ELBv2, STS) respond 403, JSON services 400.
local CODES = {
  query = {
    missing = { "MissingAuthenticationToken", 403 },
    incomplete = { "IncompleteSignature", 403 },
    unknown_key = { "InvalidClientTokenId", 403 },
    bad_token = { "InvalidClientTokenId", 403 },
    mismatch = { "SignatureDoesNotMatch", 403 },
    expired = { "SignatureDoesNotMatch", 403 },
  },
  json = {
    missing = { "MissingAuthenticationTokenException", 400 },
    incomplete = { "IncompleteSignatureException", 400 },
    unknown_key = { "UnrecognizedClientException", 400 },
    bad_token = { "UnrecognizedClientException", 400 },
    mismatch = { "InvalidSignatureException", 400 },
    expired = { "InvalidSignatureException", 400 },
  },
}

local MESSAGES = {
  missing = "Missing Authentication Token",
  unknown_key = "The security token included in the request is invalid.",
  bad_token = "The security token included in the request is invalid.",
  mismatch = "The request signature we calculated does not match the signature you provided. "
    .. "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
}

--- Parses an Authorization header value. Returns { access_key, date,
-- region, service, signed_headers (list), signature } or nil when it is not
-- a complete AWS4-HMAC-SHA256 header.
function M.parse_authorization(value)
  if type(value) ~= "string" then return nil end
  local rest = value:match("^AWS4%-HMAC%-SHA256%s+(.*)$")
  if not rest then return nil end
  local fields = {}
  for key, field in rest:gmatch("(%w+)=([^,%s]*)") do fields[key] = field end
  local credential, signed, signature = fields.Credential, fields.SignedHeaders, fields.Signature
  if not credential or not signed or not signature or signature == "" then return nil end
  local key, date, region, service = credential:match("^([^/]+)/(%d%d%d%d%d%d%d%d)/([^/]+)/([^/]+)/aws4_request$")
  if not key then return nil end
  local names = {}
  for name in signed:gmatch("[^;]+") do names[#names + 1] = name end
  return { access_key = key, date = date, region = region, service = service, signed_headers = names,
    signature = signature:lower() }
end

-- Converts 20150830T123600Z to epoch seconds; nil when malformed.
local function parse_amz_date(text)
  local y, mo, d, h, mi, s = tostring(text):match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
  if not y then return nil end
  -- Days from the civil date (proleptic Gregorian), independent of the
  -- local time zone that os.time would apply.
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

local function amz_date(epoch)
  return os.date("!%Y%m%dT%H%M%SZ", math.floor(epoch))
end

local function failure(protocol, kind, message)
  local entry = (CODES[protocol] or CODES.query)[kind]
  return { code = entry[1], status = entry[2], message = message or MESSAGES[kind] }
end

--- Checks the signature of REQ (a request from mnem._server) for a service
-- of PROTOCOL ("query" or "json"). WORLD maps access keys to secrets; NOW
-- is the real time in epoch seconds. Returns the parsed Authorization and
-- the credential entry, or nil and an error { code, status, message }.
function M.check(world, protocol, req, now)
  local headers = req.headers
  local auth_header = headers.authorization
  if not auth_header or auth_header == "" then return nil, failure(protocol, "missing") end
  local auth = M.parse_authorization(auth_header)
  if not auth then
    return nil, failure(protocol, "incomplete", "Authorization header requires 'Credential', 'Signature' and "
      .. "'SignedHeaders' parameters in the AWS4-HMAC-SHA256 format. Authorization=" .. auth_header:sub(1, 64))
  end
  local date = headers["x-amz-date"]
  local signed_at = parse_amz_date(date)
  if not signed_at then
    return nil, failure(protocol, "incomplete",
      "Authorization header requires existence of a valid 'X-Amz-Date' header.")
  end
  if date:sub(1, 8) ~= auth.date then
    return nil, failure(protocol, "mismatch", ("Date in Credential scope does not match YYYYMMDD from ISO-8601 "
      .. "version of date from HTTP: '%s' != '%s', from '%s'."):format(auth.date, date:sub(1, 8), date))
  end
  if signed_at < now - MAX_SKEW then
    return nil, failure(protocol, "expired", ("Signature expired: %s is now earlier than %s (%s - 15 min.)"):format(
      date, amz_date(now - MAX_SKEW), amz_date(now)))
  end
  if signed_at > now + MAX_SKEW then
    return nil, failure(protocol, "expired", ("Signature not yet current: %s is still later than %s (%s + 15 min.)")
      :format(date, amz_date(now + MAX_SKEW), amz_date(now)))
  end
  local entry = world:credentials(auth.access_key)
  if not entry then return nil, failure(protocol, "unknown_key") end
  if (entry.session_token or "") ~= (headers["x-amz-security-token"] or "") then
    return nil, failure(protocol, "bad_token")
  end
  if not world.any_region and auth.region ~= world.region then
    return nil, failure(protocol, "mismatch", ("Credential should be scoped to a valid region, not '%s'."):format(
      auth.region))
  end
  local pairs_list = {}
  for _, name in ipairs(auth.signed_headers) do
    local value = headers[name]
    if value == nil then
      return nil, failure(protocol, "mismatch", ("The request signature names header %s, which the request does "
        .. "not have."):format(name))
    end
    pairs_list[#pairs_list + 1] = { name, value }
  end
  -- A client may send the payload hash itself (X-Amz-Content-Sha256), or
  -- UNSIGNED-PAYLOAD; the canonical request then uses that value.
  local payload_hash = headers["x-amz-content-sha256"]
  if payload_hash and payload_hash ~= "UNSIGNED-PAYLOAD" and payload_hash:lower() ~= sigv4.sha256_hex(req.body) then
    return nil, failure(protocol, "mismatch", "The provided 'x-amz-content-sha256' header does not match what was "
      .. "computed.")
  end
  local ok, signed = pcall(sigv4.sign, {
    method = req.method, path = req.path, query = req.query, headers = pairs_list, body = req.body,
    access_key = auth.access_key, secret_key = entry.secret_access_key, region = auth.region,
    service = auth.service, time = date, signed_headers = auth.signed_headers, payload_hash = payload_hash,
  })
  if not ok or not sigv4.constant_time_equal(signed.signature, auth.signature) then
    return nil, failure(protocol, "mismatch")
  end
  return auth, entry
end

return M
