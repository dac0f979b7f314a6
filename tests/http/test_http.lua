-- http primitive against a loopback Python server started here
-- (tests/http/server.py): statuses, headers, timeouts, refused
-- connections, slow and large bodies, JSON, redirects, health waits,
-- masked credentials, connect-to mapping and dry run.
local t = require("t")
local errors = require("mnem.errors")
local http = require("http")
local log = require("mnem.log")
local sys = require("mnem._sys")

local root = os.getenv("MNEM_ROOT") or "."
local server = io.popen(("exec python3 '%s/tests/http/server.py'"):format(root), "r")
local port, pid = server:read("l"):match("^(%d+) (%d+)$")
local base = "http://127.0.0.1:" .. port

-- Nothing listens on port 1 of the loopback address.
local REFUSED_URL = "http://127.0.0.1:1/health"

t.test("get status and body", function()
  local r = http.get(base .. "/status/200")
  t.eq(r.status, 200)
  t.eq(r.body, "status 200")
  t.eq(r.url, base .. "/status/200")
  t.ok(r.time.total >= 0, "time.total")
end)

t.test("get error status is a response", function()
  local r = http.get(base .. "/status/503")
  t.eq(r.status, 503)
end)

t.test("expect_status raises with status", function()
  local err = t.raises(function() http.get(base .. "/status/503", { expect_status = 200 }) end)
  t.ok(errors.is(err), "structured")
  t.eq(err.kind, "http")
  t.eq(err.code, "HTTP 503")
  t.eq(err.http_status, 503)
  t.eq(err.retryable, true)
  t.contains(err.message, "GET " .. base .. "/status/503 returned HTTP 503, expected 200")
  t.eq(http.get(base .. "/status/204", { expect_status = { 200, 204 } }).status, 204)
  local not_found = t.raises(function() http.get(base .. "/status/404", { expect_status = 200 }) end)
  t.eq(not_found.retryable, false)
end)

t.test("headers sent and received", function()
  local r = http.get(base .. "/headers", { headers = { ["X-Custom"] = "one", Accept = "text/plain" } })
  t.eq(r.headers["x-test"], "yes")
  t.eq(r.headers["content-type"], "application/json")
  t.eq(r.json["x-custom"], "one", "JSON decoded from Content-Type")
  t.eq(r.json.accept, "text/plain")
  local listed = http.get(base .. "/headers", { headers = { { "X-Listed", "two" } }, json = true })
  t.eq(listed.json["x-listed"], "two")
  t.eq(listed.json.accept, "application/json")
end)

t.test("framing headers are rejected", function()
  for _, name in ipairs({ "Content-Length", "content-length", "Transfer-Encoding" }) do
    local err = t.raises(function() http.post(base .. "/echo", "hello", { headers = { [name] = "3" } }) end)
    t.eq(type(err), "string", name)
    t.contains(err, "header " .. name .. " is set from the body; remove it from headers")
  end
  local listed = t.raises(function()
    http.request{ method = "POST", url = base .. "/echo", body = "x", headers = { { "Transfer-Encoding", "chunked" } } }
  end)
  t.contains(listed, "header Transfer-Encoding is set from the body")
  local r = http.post(base .. "/echo", "hello", { json = true })
  t.eq(r.json.body, "hello", "the body is framed by libcurl")
end)

t.test("post table body as JSON", function()
  local r = http.post(base .. "/echo", { name = "mnem", n = 2 }, { json = true })
  t.eq(r.json.method, "POST")
  t.eq(r.json.content_type, "application/json")
  t.eq(require("cjson").decode(r.json.body), { name = "mnem", n = 2 })
end)

t.test("post string body", function()
  local r = http.post(base .. "/echo", "plain text", { headers = { ["Content-Type"] = "text/plain" }, json = true })
  t.eq(r.json.body, "plain text")
  t.eq(r.json.content_type, "text/plain")
end)

t.test("request unknown option suggests", function()
  t.raises(function() http.request{ url = base, timout = 1 } end, 'unknown option "timout" (did you mean "timeout"?)')
  t.raises(function() http.get(base, { follow_redirect = true }) end, '(did you mean "follow_redirects"?)')
  t.raises(function() http.request("x") end, "argument 1 must be a table")
  t.raises(function() http.request{ url = base, body = 12 } end, "body must be a string or a table")
end)

t.test("refused connection names stage", function()
  local err = t.raises(function() http.get(REFUSED_URL) end)
  t.eq(err.kind, "http")
  t.eq(err.code, "ConnectionRefused")
  t.eq(err.stage, "connect")
  t.eq(err.retryable, true)
  t.ok(type(err.elapsed) == "number", "elapsed")
  t.contains(err.message, "GET " .. REFUSED_URL .. " failed at connect after ")
end)

t.test("timeout waiting for headers", function()
  local started = sys.monotonic()
  -- The server waits 30 s; returning within 10 s proves the timeout cut it.
  local err = t.raises(function() http.get(base .. "/slow-headers?delay=30", { timeout = "500ms" }) end)
  t.eq(err.code, "Timeout")
  t.eq(err.stage, "timeout")
  t.eq(err.retryable, true)
  t.ok(sys.monotonic() - started < 10, "returned near the timeout")
end)

t.test("slow body within timeout", function()
  local r = http.get(base .. "/slow-body?delay=0.5", { timeout = 5 })
  t.eq(#r.body, 1000)
end)

t.test("slow body past timeout", function()
  local err = t.raises(function() http.get(base .. "/slow-body?delay=3", { timeout = 0.5 }) end)
  t.eq(err.code, "Timeout")
end)

t.test("large body of 20 MB", function()
  local r = http.get(base .. "/large?bytes=20000000")
  t.eq(#r.body, 20000000)
  t.eq(r.body:sub(-1), "a")
end)

t.test("max_body limits body", function()
  local err = t.raises(function() http.get(base .. "/large?bytes=100000", { max_body = 1000 }) end)
  t.eq(err.kind, "http")
  t.eq(err.retryable, false)
  t.contains(err.message, "max_body")
end)

t.test("json option decodes", function()
  local r = http.get(base .. "/json", { json = true })
  t.eq(r.json.status, "ok")
  t.eq(r.json.list, { 1, 2 })
  t.eq(http.get(base .. "/json", { json = false }).json, nil)
end)

t.test("json option invalid body raises", function()
  local err = t.raises(function() http.get(base .. "/badjson", { json = true }) end)
  t.eq(err.code, "InvalidJSON")
  t.contains(err.message, base .. "/badjson")
  t.contains(err.message, '{"status": "ok", ')
  t.eq(http.get(base .. "/badjson").json, nil, "decoding without json = true is quiet")
end)

t.test("redirects only when asked", function()
  local r = http.get(base .. "/redirect")
  t.eq(r.status, 302)
  t.eq(r.headers.location, "/json")
  local followed = http.get(base .. "/redirect", { follow_redirects = true })
  t.eq(followed.status, 200)
  t.eq(followed.url, base .. "/json")
  t.eq(followed.json.status, "ok")
end)

t.test("credentials in URL masked", function()
  local url = "http://deploy:pw-S3cret-77@127.0.0.1:1/private"
  local err = t.raises(function() http.get(url) end)
  t.eq(err.url, "http://deploy:****@127.0.0.1:1/private")
  t.not_contains(tostring(err), "pw-S3cret-77")
  t.not_contains(err.message, "pw-S3cret-77")
end)

t.test("connect_to maps host names", function()
  local name = "mnemosys-test-alb-123.us-east-1.elb.localhost"
  http.set_connect_to({ ("%s:8080:127.0.0.1:%s"):format(name, port) })
  local r = http.get(("http://%s:8080/headers"):format(name))
  http.set_connect_to({})
  t.eq(r.status, 200)
  t.eq(r.json.host, name .. ":8080")
end)

t.test("connect_to from environment", function()
  local name = "env-mapped.elb.localhost"
  sys.setenv("MNEM_HTTP_CONNECT_TO", ("other:1:127.0.0.1:1,%s:80:127.0.0.1:%s"):format(name, port))
  local ok, r = pcall(http.get, ("http://%s/json"):format(name), { json = true })
  sys.setenv("MNEM_HTTP_CONNECT_TO", nil)
  if not ok then error(r, 0) end
  t.eq(r.json.status, "ok")
end)

t.test("wait_healthy after some polls", function()
  local r = http.wait_healthy(base .. "/health?name=a&after=3", {
    interval = 0.05, timeout = 10, expect_json = { status = "ok" },
  })
  t.eq(r.status, 200)
  t.contains(r.body, '"version": "1.2"')
  local count = http.get(base .. "/health?name=a&after=3")
  t.eq(count.status, 200)
end)

t.test("wait_healthy timeout names last state", function()
  local err = t.raises(function()
    http.wait_healthy(base .. "/status/503", { interval = 0.05, timeout = 0.3 })
  end)
  t.eq(err.kind, "timeout")
  t.contains(err.message, "HTTP 503")
end)

t.test("wait_healthy refused names state", function()
  local err = t.raises(function()
    http.wait_healthy(REFUSED_URL, { interval = 0.05, timeout = 0.2, description = "the app" })
  end)
  t.eq(err.kind, "timeout")
  t.contains(err.message, "the app")
  t.contains(err.message, "connection refused")
end)

t.test("wait_healthy JSON state shown", function()
  -- The first poll of a name returns "starting". Taking it here means every
  -- poll of the wait sees "ok", however few fit in its time.
  t.eq(http.get(base .. "/health?name=b&after=0").status, 200)
  local err = t.raises(function()
    http.wait_healthy(base .. "/health?name=b&after=0", {
      interval = 0.05, timeout = 0.2, expect_json = { status = "ready" },
    })
  end)
  t.contains(err.message, '"status": "ok"')
end)

t.test("url without scheme raises InvalidURL", function()
  local url = "127.0.0.1:" .. port .. "/json"
  for _, call in ipairs({
    function() return http.get(url) end,
    function() return http.request{ url = url, method = "HEAD" } end,
    function() return http.post(url, "x") end,
  }) do
    local err = t.raises(call)
    t.ok(errors.is(err), "structured error")
    t.eq(err.kind, "http")
    t.eq(err.code, "InvalidURL")
    t.eq(err.stage, "url")
    t.eq(err.retryable, false)
    t.eq(err.url, url)
    t.contains(err.message, url)
    t.contains(err.message, "Add http:// or https://")
  end
end)

t.test("url with other scheme raises InvalidURL", function()
  local err = t.raises(function() http.get("ftp://127.0.0.1:" .. port .. "/json") end)
  t.eq(err.code, "InvalidURL")
end)

t.test("wait_healthy InvalidURL raises at once", function()
  local started = sys.monotonic()
  local err = t.raises(function()
    http.wait_healthy("127.0.0.1:" .. port .. "/json", { interval = 0.05, timeout = 5 })
  end)
  t.eq(err.code, "InvalidURL")
  t.ok(sys.monotonic() - started < 2, "no polling until the timeout")
end)

t.test("wait_healthy JSON mismatch names field", function()
  local err = t.raises(function()
    http.wait_healthy(base .. "/json", {
      interval = 0.05, timeout = 0.2, expect_json = { status = "green", n = 1, list = { 1, 3 }, zone = "a" },
    })
  end)
  t.eq(err.kind, "timeout")
  t.contains(err.message, 'JSON fields differ: list[2] (expected 3, got 2), status (expected "green", got "ok"), '
    .. 'zone (expected "a", got nothing).')
  t.not_contains(err.message, "n (expected", "a matching field is not listed")
  t.contains(err.message, '"status": "ok"', "the body is still shown")
end)

t.test("wait_healthy JSON mismatches capped", function()
  local err = t.raises(function()
    http.wait_healthy(base .. "/json", {
      interval = 0.05, timeout = 0.2, expect_json = { a = 1, b = 2, c = 3, d = 4, e = 5 },
    })
  end)
  t.contains(err.message, "c (expected 3, got nothing) and 2 more.")
  t.not_contains(err.message, "d (expected")
end)

t.test("wait_healthy JSON nested mismatch path", function()
  local err = t.raises(function()
    http.wait_healthy(base .. "/json", { interval = 0.05, timeout = 0.2, expect_json = { status = { db = "up" } } })
  end)
  t.contains(err.message, 'status (expected {"db":"up"}, got "ok")')
end)

t.test("dry run skips writes", function()
  local present, dryrun = pcall(require, "mnem.dryrun")
  if not present then t.skip("mnem.dryrun is not in this build") end
  local path = t.tmpdir() .. "/log.txt"
  local file = assert(io.open(path, "w"))
  log.configure{ stream = file }
  dryrun.set_active(true)
  local ok, err = pcall(function()
    local placeholder = http.post(base .. "/echo?name=dry", { a = 1 })
    t.ok(dryrun.is_unknown(placeholder), "placeholder returned")
    t.eq(http.get(base .. "/json").status, 200, "GET still runs")
  end)
  dryrun.set_active(false)
  log.configure{ stream = io.stderr }
  file:close()
  if not ok then error(err, 0) end
  t.eq(http.get(base .. "/count?name=dry").json.count, 0, "POST was not sent")
  t.contains(t.read_file(path), "would: http POST")
end)

os.execute("kill " .. pid)
server:close()
return t.done()
