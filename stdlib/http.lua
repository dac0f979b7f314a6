-- http: HTTP requests and health checks for playbooks, on libcurl.
--
--   local http = require("http")
--   local r = http.get("https://app.example/health", { json = true, expect_status = 200 })
--   http.wait_healthy("http://alb.localhost:8080/health/", { expect_json = { status = "ok" }, timeout = "5m" })
--
-- All requests share one kept-alive libcurl session. TLS verification is
-- always on. Redirects are followed only when asked. Transport failures and
-- unexpected statuses are raised as mnem.errors values of kind "http" that
-- name the URL (credentials masked), the stage that failed and the time
-- spent. In a dry run only GET, HEAD and OPTIONS are sent. See
-- docs/primitives.md, section "http".
local cjson = require("cjson")
local curl = require("mnem._curl")
local duration = require("mnem.duration")
local errors = require("mnem.errors")
local rehearsal = require("mnem.rehearsal")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

local M = {}

local OPTIONS = {
  method = true, url = true, headers = true, body = true, timeout = true, connect_timeout = true,
  follow_redirects = true, max_redirects = true, ca_file = true, json = true, expect_status = true,
  max_body = true,
}

local WAIT_OPTIONS = {
  expect_status = true, expect_json = true, timeout = true, interval = true, description = true,
  headers = true, ca_file = true, request_timeout = true,
}

-- Methods that only read, so they are sent in dry runs too.
local SAFE_METHODS = { GET = true, HEAD = true, OPTIONS = true }

-- Transport stages after which the same request may succeed later.
local RETRYABLE_STAGES = { dns = true, connect = true, timeout = true, send = true, receive = true }

local STAGE_CODES = {
  dns = "DNS", connect = "ConnectFailed", timeout = "Timeout", tls = "TLS", send = "SendFailed",
  receive = "ReceiveFailed", redirect = "TooManyRedirects", url = "InvalidURL",
}

local EXCERPT_BYTES = 200

-- errno of a refused TCP connection on Linux, as libcurl reports it.
local ECONNREFUSED = 111

local session
local connect_to_list = {}

-- Optional engine modules, loaded on first use so http also works in
-- scripts that run without an engine.
local optional_cache = {}
local function optional(name)
  if optional_cache[name] == nil then
    local ok, module = pcall(require, name)
    optional_cache[name] = ok and type(module) == "table" and module or false
  end
  return optional_cache[name] or nil
end

local function record_call(call)
  local record = optional("mnem.record")
  if record and record.primitive then record.primitive(call) end
end

local function edit_distance(a, b)
  local previous = {}
  for j = 0, #b do previous[j] = j end
  for i = 1, #a do
    local current = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[#b]
end

local function check_options(fn, options, allowed)
  for key in pairs(options) do
    if not allowed[key] then
      local best, best_distance
      for name in pairs(allowed) do
        local d = edit_distance(tostring(key), name)
        if not best_distance or d < best_distance or (d == best_distance and name < best) then
          best, best_distance = name, d
        end
      end
      error(("%s: unknown option %q (did you mean %q?)"):format(fn, tostring(key), best), 3)
    end
  end
end

--- Returns URL with the password of its user information replaced by
-- "****" (https://user:****@host/), after marking that password secret so
-- no other output can show it either.
function M.mask_url(url)
  if type(url) ~= "string" then return url end
  local scheme, user, password, rest = url:match("^(%a[%w+.-]*://)([^:/?#@]*):([^/?#@]*)@(.*)$")
  if not scheme then return url end
  secret.mark(password)
  return ("%s%s:****@%s"):format(scheme, user, rest)
end

local function excerpt(text)
  text = tostring(text or "")
  if #text > EXCERPT_BYTES then text = text:sub(1, EXCERPT_BYTES) .. "..." end
  return (text:gsub("%s+", " "))
end

--- Sets the CURLOPT_CONNECT_TO entries ("host:port:connect-host:port")
-- applied to every later request, in addition to those in the environment
-- variable MNEM_HTTP_CONNECT_TO (comma-separated). The simulator uses this
-- so that load balancer host names reach its loopback listener.
function M.set_connect_to(list)
  if type(list) ~= "table" then
    error(("http.set_connect_to: argument 1 must be a list of strings, got a %s"):format(type(list)), 2)
  end
  for i, entry in ipairs(list) do
    if type(entry) ~= "string" then
      error(("http.set_connect_to: entry %d must be a string, got a %s"):format(i, type(entry)), 2)
    end
  end
  connect_to_list = table.move(list, 1, #list, 1, {})
end

local function connect_to()
  local entries = {}
  for entry in (os.getenv("MNEM_HTTP_CONNECT_TO") or ""):gmatch("[^,%s]+") do entries[#entries + 1] = entry end
  for _, entry in ipairs(connect_to_list) do entries[#entries + 1] = entry end
  return entries
end

-- Rehearsals (`mnem run --sim`) keep every request on loopback: a host is
-- reachable when it is a loopback name or address, or when a connect-to
-- entry sends it to one. Other requests raise before anything is sent, and
-- redirects to other hosts go to a proxy on a closed loopback port.
local REHEARSAL_PROXY = "http://127.0.0.1:9"
local LOOPBACK_NAMES = "127.0.0.1,localhost,::1"

local is_loopback = rehearsal.is_loopback

-- Returns the lower-case host of URL ("scheme://user@host:port/..."), or
-- nil when it has none.
local function url_host(url)
  local authority = url:match("^%a[%w+.-]*://([^/?#]*)")
  if not authority then return nil end
  return rehearsal.authority_host(authority)
end

-- Returns the port of URL: the one in its authority, or the scheme's
-- default (80 for http, 443 for https).
local function url_port(url)
  local scheme, authority = url:match("^(%a[%w+.-]*)://([^/?#]*)")
  if not authority then return nil end
  local port = authority:gsub("^.*@", ""):match(":(%d+)$")
  if port then return tostring(tonumber(port)) end
  return scheme:lower() == "https" and "443" or "80"
end

-- Returns the set of host names the connect-to ENTRIES
-- ("HOST:PORT:TARGET:TARGET_PORT") send to loopback, each mapped to the set
-- of its ports ("" for an entry without a port, which matches any).
local function mapped_to_loopback(entries)
  local hosts = {}
  for _, entry in ipairs(entries) do
    local host, port, target = entry:match("^([^:]*):([^:]*):([^:]*):")
    if host and host ~= "" and is_loopback(target:lower()) then
      local ports = hosts[host:lower()] or {}
      ports[port == "" and "" or tostring(tonumber(port) or port)] = true
      hosts[host:lower()] = ports
    end
  end
  return hosts
end

local function outside_rehearsal_error(method, masked, host)
  return rehearsal.outside_error("http", method .. " " .. masked, host,
    "Map the host to a loopback server with MNEM_HTTP_CONNECT_TO or http.set_connect_to",
    { stage = "url", url = masked })
end

-- Returns HEADERS (a map or a list of pairs) as a list of { name, value }
-- pairs, and a set of the lower-case names present.
local function header_list(headers)
  local list, present = {}, {}
  if headers == nil then return list, present end
  if type(headers) ~= "table" then
    error(("http.request: headers must be a table, got a %s"):format(type(headers)), 4)
  end
  local function add(name, value)
    if type(name) ~= "string" or (type(value) ~= "string" and type(value) ~= "number") then
      error(("http.request: header %s must have a string name and a string value"):format(tostring(name)), 5)
    end
    local lower = name:lower()
    -- libcurl frames the body itself. A header of the caller's that
    -- disagreed with it would desynchronize the kept-alive connection.
    if lower == "content-length" or lower == "transfer-encoding" then
      require("mnem.misuse").raise(("http.request: header %s is set from the body; remove it from headers")
        :format(name), 5)
    end
    list[#list + 1] = { name, tostring(value) }
    present[lower] = true
  end
  if #headers > 0 then
    for _, pair in ipairs(headers) do
      if type(pair) ~= "table" then error("http.request: a header list contains { name, value } pairs", 4) end
      add(pair[1], pair[2])
    end
  else
    for name, value in pairs(headers) do add(name, value) end
  end
  return list, present
end

local function seconds(options, key, default)
  if options[key] == nil then return default end
  return duration.parse(options[key], "http.request: " .. key)
end

local function status_list(expect)
  if expect == nil then return nil end
  if math.type(expect) == "integer" then return { expect } end
  if type(expect) ~= "table" or #expect == 0 then
    error("http.request: expect_status must be a status code or a list of them, such as { 200, 204 }", 3)
  end
  return expect
end

local function status_expected(status, expected)
  for _, s in ipairs(expected) do if s == status then return true end end
  return false
end

local function transport_error(method, masked, failure)
  local stage = failure.stage
  if stage == "interrupted" then
    return errors.new{ kind = "interrupted", code = "Interrupted", url = masked, retryable = false,
                       message = ("%s %s was interrupted by a signal"):format(method, masked) }
  end
  local code = STAGE_CODES[stage] or "HTTPFailed"
  local reason = secret.redact(failure.message or "")
  if stage == "connect" and (failure.os_errno == ECONNREFUSED or reason:lower():find("refused", 1, true)) then
    code = "ConnectionRefused"
  end
  local too_big = reason:find("max_body", 1, true) ~= nil
  return errors.new{
    kind = "http", code = code, stage = stage, url = masked, elapsed = failure.elapsed,
    curl_code = failure.curl_code, retryable = RETRYABLE_STAGES[stage] == true and not too_big,
    message = ("%s %s failed at %s after %.2fs: %s"):format(method, masked, stage, failure.elapsed or 0, reason),
  }
end

local function status_error(method, masked, response, expected)
  local status = response.status
  local names = {}
  for i, s in ipairs(expected) do names[i] = tostring(s) end
  return errors.new{
    kind = "http", code = "HTTP " .. status, http_status = status, url = masked, stage = "status",
    elapsed = response.time and response.time.total,
    retryable = status >= 500 or status == 429 or status == 408,
    message = ("%s %s returned HTTP %d, expected %s: %s"):format(method, masked, status,
      table.concat(names, " or "), excerpt(response.body)),
  }
end

-- Returns the InvalidURL error of a URL without "scheme://". libcurl
-- would guess http:// for it, so a typo could reach the wrong server.
local function missing_scheme_error(method, url)
  local user, password, rest = url:match("^([^:/?#@]*):([^/?#@]*)@(.*)$")
  local masked = url
  if user then
    secret.mark(password)
    masked = ("%s:****@%s"):format(user, rest)
  end
  return errors.new{
    kind = "http", code = "InvalidURL", stage = "url", url = masked, retryable = false,
    message = ("%s %s failed: the URL has no scheme. Add http:// or https:// in front of it"):format(method, masked),
  }
end

local function decode_json(method, masked, response, strict)
  if response.body == "" and not strict then return nil end
  local ok, value = pcall(cjson.decode, response.body)
  if ok then return value end
  if not strict then return nil end
  errors.raise({
    kind = "http", code = "InvalidJSON", url = masked, http_status = response.status, retryable = false,
    message = ("%s %s returned a body that is not valid JSON (%s): %s"):format(method, masked,
      tostring(value):gsub("^.-: ", ""), excerpt(response.body)),
  }, 4)
end

local function is_json_type(headers)
  local content_type = (headers or {})["content-type"] or ""
  return content_type:lower():find("json", 1, true) ~= nil
end

-- Builds the mnem._curl request from the checked OPTIONS. Returns the
-- request, the method, the masked URL and whether the step's remaining
-- time capped the timeout.
local function build_request(options)
  local url = options.url
  if type(url) ~= "string" or url == "" then
    error(("http.request: url must be a non-empty string, got %s"):format(
      type(url) == "string" and "an empty string" or ("a " .. type(url))), 3)
  end
  local method = options.method or "GET"
  if type(method) ~= "string" or not method:match("^%a+$") then
    error(("http.request: method must be a word such as \"GET\", got %s"):format(tostring(method)), 3)
  end
  method = method:upper()
  local headers, present = header_list(options.headers)
  local body = options.body
  if type(body) == "table" then
    body = cjson.encode(body)
    if not present["content-type"] then headers[#headers + 1] = { "Content-Type", "application/json" } end
  elseif body ~= nil and type(body) ~= "string" then
    error(("http.request: body must be a string or a table (sent as JSON), got a %s"):format(type(body)), 3)
  end
  if options.json and not present["accept"] then headers[#headers + 1] = { "Accept", "application/json" } end
  local request = {
    method = method, url = url, headers = headers, body = body,
    timeout = seconds(options, "timeout", 60), connect_timeout = seconds(options, "connect_timeout", 10),
    follow_redirects = options.follow_redirects == true, max_redirects = options.max_redirects,
    ca_file = options.ca_file, max_body = options.max_body, connect_to = connect_to(),
  }
  -- A step timeout or run deadline caps the request, so a server that
  -- never responds cannot hold the run past it. libcurl reads a timeout of
  -- 0 ms as "no timeout", so the cap is at least 1 ms.
  local engine = optional("mnem.engine")
  local left = engine and engine.remaining and engine.remaining()
  local capped = false
  if type(left) == "number" and left < request.timeout then
    request.timeout = math.max(left, 0.001)
    request.connect_timeout = math.min(request.connect_timeout, request.timeout)
    capped = true
  end
  return request, method, M.mask_url(url), capped
end

--- Sends one HTTP request. OPTIONS: url, method (default "GET"), headers
-- (a map or a list of { name, value }), body (a string, or a table sent as
-- JSON with Content-Type application/json), timeout (seconds or a duration
-- such as "30s", default 60), connect_timeout (default 10),
-- follow_redirects (default false), max_redirects, ca_file (an extra CA
-- bundle), max_body (bytes, default 64 MiB), json (true: decode the body
-- as JSON and raise "InvalidJSON" when it is not; nil: decode only when
-- Content-Type mentions JSON, quietly; false: never), expect_status (a
-- status or a list; another status raises "HTTP <status>"). A URL without
-- a scheme such as http:// raises "InvalidURL". Returns
-- { status, headers (lower-case names), body, json, time, url }. In a dry
-- run methods other than GET, HEAD and OPTIONS are not sent: `would` is
-- logged and a placeholder is returned. Touches the network and waits.
function M.request(options)
  if type(options) ~= "table" then
    error(("http.request: argument 1 must be a table of options, got a %s"):format(type(options)), 2)
  end
  check_options("http.request", options, OPTIONS)
  require("mnem.dryrun").check_known(options)
  local expected = status_list(options.expect_status)
  local request, method, masked, capped = build_request(options)
  if not request.url:find("^%a[%w+.-]*://") then
    local err = missing_scheme_error(method, request.url)
    record_call{ name = "http.request", args = { method = method, url = err.url }, status = "error", error = err,
                 duration = 0 }
    error(err, 0)
  end

  if rehearsal.active() then
    local host = url_host(request.url) or ""
    local mapped = mapped_to_loopback(request.connect_to)
    local ports = mapped[host]
    local port = url_port(request.url)
    if not is_loopback(host) and not (ports and (ports[""] or ports[port])) then
      local where = ports and (host .. ":" .. tostring(port)) or host
      local err = outside_rehearsal_error(method, masked, where)
      record_call{ name = "http.request", args = { method = method, url = masked }, status = "error", error = err,
                   duration = 0 }
      error(err, 0)
    end
    -- A mapped host bypasses the proxy, so a redirect to it on a port its
    -- entries do not map would be resolved and sent directly. libcurl uses
    -- the first connect-to entry that matches, so an entry for any port
    -- added after the caller's sends those to the closed proxy port.
    local exempt = { LOOPBACK_NAMES }
    for name in pairs(mapped) do
      exempt[#exempt + 1] = name
      request.connect_to[#request.connect_to + 1] = name .. "::127.0.0.1:9"
    end
    request.proxy, request.no_proxy = REHEARSAL_PROXY, table.concat(exempt, ",")
  end

  local dryrun = optional("mnem.dryrun")
  if dryrun and dryrun.active() and not SAFE_METHODS[method] then
    record_call{ name = "http.request", args = { method = method, url = masked }, status = "dry_run" }
    return dryrun.would("http " .. method, { url = masked, body_bytes = request.body and #request.body or nil })
  end

  session = session or curl.session()
  local started = sys.monotonic()
  local response, failure = session:request(request)
  local call = { name = "http.request", args = { method = method, url = masked }, duration = sys.monotonic() - started }
  if not response then
    local err = transport_error(method, masked, failure)
    call.status, call.error = "error", err
    record_call(call)
    -- A request cut short by the step's deadline fails as that timeout.
    local engine = optional("mnem.engine")
    if capped and engine and engine.check_deadline then engine.check_deadline(failure.stage == "timeout") end
    error(err, 0)
  end
  call.http_status = response.status
  if expected and not status_expected(response.status, expected) then
    local err = status_error(method, masked, response, expected)
    call.status, call.error = "error", err
    record_call(call)
    error(err, 0)
  end
  call.status = "ok"
  record_call(call)
  local json
  if options.json == true then
    json = decode_json(method, masked, response, true)
  elseif options.json == nil and is_json_type(response.headers) then
    json = decode_json(method, masked, response, false)
  end
  return { status = response.status, headers = response.headers, body = response.body, json = json,
           time = response.time, url = M.mask_url(response.effective_url) }
end

-- Returns a copy of OPTIONS (argument ARG of FN) with the keys of EXTRA set.
local function with_options(fn, arg, options, extra)
  if options ~= nil and type(options) ~= "table" then
    error(("%s: argument %d must be a table of options, got a %s"):format(fn, arg, type(options)), 3)
  end
  local merged = {}
  for k, v in pairs(options or {}) do merged[k] = v end
  for k, v in pairs(extra) do merged[k] = v end
  return merged
end

--- Sends a GET request to URL with OPTIONS as in http.request.
function M.get(url, options)
  return M.request(with_options("http.get", 2, options, { url = url, method = "GET" }))
end

--- Sends a POST request with BODY (a string or a table sent as JSON) to
-- URL, with OPTIONS as in http.request.
function M.post(url, body, options)
  return M.request(with_options("http.post", 3, options, { url = url, method = "POST", body = body }))
end

-- ---- health waits ----

-- The max number of mismatched fields named in a health wait's state.
local MAX_MISMATCHES = 3

local function json_text(value)
  if value == nil then return "nothing" end
  local ok, encoded = pcall(cjson.encode, value)
  return ok and encoded or tostring(value)
end

local function key_path(path, key)
  if math.type(key) == "integer" then return ("%s[%d]"):format(path, key) end
  return path == "" and tostring(key) or (path .. "." .. tostring(key))
end

-- Appends to MISMATCHES a text "PATH (expected E, got A)" for each field of
-- EXPECTED that ACTUAL (decoded JSON) lacks or has another value for. A
-- table in EXPECTED is a subset match: ACTUAL may have more keys. Keys are
-- visited in sorted order so the text is the same at every poll.
local function collect_mismatches(expected, actual, path, mismatches)
  if type(expected) ~= "table" or type(actual) ~= "table" then
    if expected ~= actual then
      mismatches[#mismatches + 1] = ("%s (expected %s, got %s)"):format(path == "" and "body" or path,
        json_text(expected), json_text(actual))
    end
    return
  end
  local keys = {}
  for k in pairs(expected) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  for _, k in ipairs(keys) do collect_mismatches(expected[k], actual[k], key_path(path, k), mismatches) end
end

-- Returns the fields of the JSON body DECODED that differ from EXPECTED,
-- as text naming at most MAX_MISMATCHES of them, or nil when it matches.
local function json_mismatch(expected, decoded)
  local mismatches = {}
  collect_mismatches(expected, decoded, "", mismatches)
  if #mismatches == 0 then return nil end
  local text = table.concat(mismatches, ", ", 1, math.min(#mismatches, MAX_MISMATCHES))
  if #mismatches > MAX_MISMATCHES then text = ("%s and %d more"):format(text, #mismatches - MAX_MISMATCHES) end
  return text
end

-- Describes a failed poll in a few words: "connection refused",
-- "timed out after 2.00s", "HTTP 503".
local function failure_state(err)
  if err.code == "ConnectionRefused" then return "connection refused" end
  if err.code == "Timeout" then return ("timed out after %.2fs"):format(err.elapsed or 0) end
  return ("%s: %s"):format(err.code, err.message)
end

--- Polls URL with GET until it returns the expected status and, when
-- OPTIONS.expect_json is given, a JSON body containing those fields (a
-- subset match). OPTIONS: expect_status (default 200, or a list),
-- expect_json, timeout (default "5m"), interval (default "5s"),
-- description, headers, ca_file, request_timeout (per poll, default 10s).
-- Each poll's state ("HTTP 503", "connection refused", a body excerpt) is
-- shown while waiting, and with expect_json it names the fields that
-- differ. Returns the healthy response. Raises a kind "timeout" error
-- naming the last state, an "interrupted" error, or at once an
-- "InvalidURL" error. Waits.
function M.wait_healthy(url, options)
  options = options or {}
  if type(options) ~= "table" then
    error(("http.wait_healthy: argument 2 must be a table of options, got a %s"):format(type(options)), 2)
  end
  check_options("http.wait_healthy", options, WAIT_OPTIONS)
  local expected = status_list(options.expect_status or 200)
  local masked = M.mask_url(url)
  local wait = require("mnem.wait")
  local function check()
    local ok, response = pcall(M.request, { url = url, headers = options.headers, ca_file = options.ca_file,
                                            timeout = options.request_timeout or 10, json = false })
    if not ok then
      -- A URL libcurl cannot use stays wrong, so the wait stops at once.
      if errors.is(response) and response.kind == "http" and response.code ~= "InvalidURL" then
        return false, failure_state(response)
      end
      error(response, 0)
    end
    local state = ("HTTP %d"):format(response.status)
    if not status_expected(response.status, expected) then
      return false, state .. (response.body ~= "" and (" " .. excerpt(response.body)) or "")
    end
    if options.expect_json ~= nil then
      local decoded_ok, decoded = pcall(cjson.decode, response.body)
      if not decoded_ok then return false, state .. ", body is not JSON: " .. excerpt(response.body) end
      local mismatch = json_mismatch(options.expect_json, decoded)
      if mismatch then
        return false, ("%s, JSON fields differ: %s. Body: %s"):format(state, mismatch, excerpt(response.body))
      end
    end
    return true, state, response
  end
  local _, _, response = wait.until_(check, {
    timeout = options.timeout or "5m", interval = options.interval or "5s",
    description = options.description or (masked .. " to be healthy"),
  })
  return response
end

return M
