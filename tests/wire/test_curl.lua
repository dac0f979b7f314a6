-- Tests of mnem._curl against a loopback HTTP server started here
-- (tests/wire/http_server.py): statuses, headers, bodies, keep-alive,
-- timeouts, refused connections, limits, redirects and misuse.
local t = require("t")
local curl = require("mnem._curl")
local sys = require("mnem._sys")
local cjson = require("cjson")

local here = (arg and arg[0] or "tests/wire/test_curl.lua"):match("^(.*)/[^/]+$") or "."

-- Starts the server (HTTPS when CERT and KEY are given) and returns its
-- base URL and process id.
local function start_server(cert, key)
  local dir = t.tmpdir()
  local port_file = dir .. "/port"
  local tls = cert and ("'%s' '%s'"):format(cert, key) or ""
  local p = io.popen(("python3 '%s/http_server.py' '%s' 600 %s >'%s/server.log' 2>&1 & echo $!"):format(
    here, port_file, tls, dir))
  local pid = p:read("l")
  p:close()
  -- Up to 30 s: a loaded machine can be slow to start Python.
  for _ = 1, 600 do
    local f = io.open(port_file, "r")
    if f then
      local port = f:read("l")
      f:close()
      return (cert and "https" or "http") .. "://127.0.0.1:" .. port, pid
    end
    sys.sleep(0.05)
  end
  error("the test HTTP server did not start; see " .. dir .. "/server.log")
end

local base, server_pid = start_server()
local session = curl.session()

local function get(path, opts)
  opts = opts or {}
  opts.url = base .. path
  return session:request(opts)
end

t.test("curl status codes", function()
  for _, status in ipairs({ 200, 201, 204, 404, 500, 503 }) do
    local r, err = get("/status/" .. status)
    t.ok(r, "request failed: " .. tostring(err and err.message))
    t.eq(r.status, status, "status")
    if status ~= 204 then t.eq(r.body, "status " .. status, "body") end
  end
end)

t.test("curl response headers", function()
  local r = assert(get("/headers"))
  t.eq(r.headers["set-cookie"], "a=1, b=2", "repeated header")
  t.eq(r.headers["x-custom"], "padded", "trimmed value")
  t.eq(r.headers["content-length"], "2", "content-length")
  t.eq(r.headers["Content-Length"], nil, "names are lowercase")
end)

t.test("curl echo body and headers", function()
  local body = "Action=DescribeDBInstances&Version=2014-10-31\0binary"
  local r = assert(get("/echo", {
    method = "POST", body = body,
    headers = { { "Content-Type", "application/x-www-form-urlencoded" }, { "X-Amz-Date", "20150830T123600Z" } },
  }))
  local doc = cjson.decode(r.body)
  t.eq(doc.method, "POST")
  t.eq(doc.body, body)
  local seen = {}
  for _, pair in ipairs(doc.headers) do seen[pair[1]:lower()] = pair[2] end
  t.eq(seen["content-type"], "application/x-www-form-urlencoded")
  t.eq(seen["x-amz-date"], "20150830T123600Z")
  t.eq(seen["content-length"], tostring(#body))
  t.eq(seen["expect"], nil, "no Expect header")
  t.eq(seen["accept"], nil, "no default Accept header")
  t.ok(seen["host"], "Host is sent")
end)

t.test("curl exact header set", function()
  local r = assert(get("/echo", { method = "POST", body = "x", headers = { ["X-One"] = "1" } }))
  local names = {}
  for _, pair in ipairs(cjson.decode(r.body).headers) do names[#names + 1] = pair[1]:lower() end
  table.sort(names)
  t.eq(names, { "content-length", "host", "x-one" })
end)

t.test("curl long header value", function()
  -- Longer than the stack buffer the header line is assembled in.
  local long = ("v"):rep(5000)
  local r = assert(get("/echo", { headers = { { "X-Long", long } } }))
  local found
  for _, pair in ipairs(cjson.decode(r.body).headers) do
    if pair[1]:lower() == "x-long" then found = pair[2] end
  end
  t.eq(found, long)
end)

t.test("curl empty header value", function()
  local r = assert(get("/echo", { headers = { { "X-Empty", "" } } }))
  local found
  for _, pair in ipairs(cjson.decode(r.body).headers) do
    if pair[1]:lower() == "x-empty" then found = pair[2] end
  end
  t.eq(found, "")
end)

t.test("curl methods", function()
  for _, method in ipairs({ "GET", "PUT", "DELETE", "PATCH" }) do
    local r = assert(get("/echo", { method = method }))
    t.eq(cjson.decode(r.body).method, method)
  end
  local r = assert(get("/big/10", { method = "HEAD" }))
  t.eq(r.status, 200, "HEAD status")
  t.eq(r.body, "", "HEAD body")
end)

t.test("curl keep-alive reuse", function()
  local first = assert(get("/echo"))
  local second = assert(get("/echo"))
  local third = assert(get("/status/200"))
  t.eq(cjson.decode(second.body).client_port, cjson.decode(first.body).client_port, "same client port")
  t.eq(second.new_connections, 0, "no new connection")
  t.eq(third.local_port, first.local_port, "local_port")
end)

t.test("curl sessions use own connections", function()
  local other = curl.session()
  local a = assert(get("/echo"))
  local b = assert(other:request({ url = base .. "/echo" }))
  other:close()
  t.ok(cjson.decode(a.body).client_port ~= cjson.decode(b.body).client_port)
end)

t.test("curl response times", function()
  local r = assert(get("/delay/0.2"))
  t.ok(r.time.total >= 0.2, "total " .. r.time.total)
  t.ok(r.time.first_byte >= 0.2, "first_byte " .. r.time.first_byte)
  t.ok(r.time.connect >= 0, "connect")
  t.eq(r.time.tls, 0, "no TLS on http")
end)

t.test("curl request timeout", function()
  local started = sys.monotonic()
  -- The server responds after 30 s. The upper bounds leave a loaded
  -- machine room and still show that the 0.5 s timeout cut the request.
  local r, err = get("/delay/30", { timeout = 0.5 })
  t.eq(r, nil)
  t.eq(err.stage, "timeout")
  t.eq(err.curl_code, 28)
  t.ok(err.elapsed >= 0.4 and err.elapsed < 10, "elapsed " .. err.elapsed)
  t.ok(sys.monotonic() - started < 10, "returned promptly")
  t.eq(err.url, base .. "/delay/30")
end)

t.test("curl connect refused", function()
  local r, err = session:request({ url = "http://127.0.0.1:9/" })
  t.eq(r, nil)
  t.eq(err.stage, "connect")
  t.eq(err.curl_code, 7)
  t.ok(#err.message > 0, "message")
end)

t.test("curl dropped connection", function()
  local r, err = get("/drop")
  t.eq(r, nil)
  t.eq(err.stage, "receive")
  t.eq(err.curl_code, 52)
end)

t.test("curl slow chunked body", function()
  local r = assert(get("/slow/5"))
  t.eq(r.body, ("chunk\n"):rep(5))
  t.ok(r.time.total >= 0.4, "took " .. r.time.total)
end)

t.test("curl on_data streaming", function()
  local chunks = {}
  local r = assert(get("/slow/3", { on_data = function(chunk) chunks[#chunks + 1] = chunk end }))
  t.eq(table.concat(chunks), ("chunk\n"):rep(3))
  t.eq(r.body, "", "streamed body is not stored")
end)

t.test("curl on_data error propagates", function()
  t.raises(function()
    get("/slow/2", { on_data = function() error("stop here") end })
  end, "stop here")
  local r = assert(get("/status/200"))
  t.eq(r.status, 200, "session still usable")
end)

t.test("curl large body", function()
  local size = 8 * 1024 * 1024 + 7
  local r = assert(get("/big/" .. size))
  t.eq(#r.body, size)
  t.eq(r.body:sub(1, 3), "xxx")
end)

t.test("curl max_body exceeded", function()
  local r, err = get("/big/100000", { max_body = 1000 })
  t.eq(r, nil)
  t.eq(err.stage, "receive")
  t.contains(err.message, "max_body")
  r = assert(get("/big/1000", { max_body = 1000 }))
  t.eq(#r.body, 1000, "exactly max_body is fine")
end)

t.test("curl redirects", function()
  local r = assert(get("/redirect/2"))
  t.eq(r.status, 302, "not followed by default")
  t.eq(r.headers.location, "/redirect/1")
  r = assert(get("/redirect/2", { follow_redirects = true }))
  t.eq(r.status, 200)
  t.eq(r.effective_url, base .. "/echo")
  local _, err = get("/redirect/3", { follow_redirects = true, max_redirects = 1 })
  t.eq(err.stage, "redirect")
end)

t.test("curl connect_to maps host", function()
  local port = base:match(":(%d+)$")
  local r = assert(session:request({
    url = "http://my-lb-123.us-east-1.elb.amazonaws.com:8080/echo",
    connect_to = { "my-lb-123.us-east-1.elb.amazonaws.com:8080:127.0.0.1:" .. port },
  }))
  local doc = cjson.decode(r.body)
  local host
  for _, pair in ipairs(doc.headers) do if pair[1]:lower() == "host" then host = pair[2] end end
  t.eq(host, "my-lb-123.us-east-1.elb.amazonaws.com:8080")
end)

t.test("curl ignores proxy variables", function()
  -- The proxy address is a closed loopback port: using it would fail.
  sys.setenv("http_proxy", "http://127.0.0.1:9")
  sys.setenv("HTTP_PROXY", "http://127.0.0.1:9")
  local r, err = get("/status/200")
  sys.setenv("http_proxy", nil)
  sys.setenv("HTTP_PROXY", nil)
  t.ok(r, "request failed: " .. tostring(err and err.message))
  t.eq(r.status, 200)
end)

t.test("curl rejects other protocols", function()
  local r, err = session:request({ url = "file:///etc/passwd" })
  t.eq(r, nil)
  t.eq(err.stage, "url")
end)

t.test("curl interrupted by signal", function()
  sys.trap_signals()
  -- From a background shell: system(3) ignores SIGINT while it waits.
  -- The response takes 30 s, so the signal comes first even when it is late.
  os.execute(("(sleep 0.3; kill -INT %d) &"):format(sys.getpid()))
  local r, err = get("/delay/30")
  sys.clear_signal()
  t.eq(r, nil)
  t.eq(err.stage, "interrupted")
  t.ok(err.elapsed < 10, "elapsed " .. err.elapsed)
end)

t.test("curl option misuse raises", function()
  t.raises(function() get("/", { timout = 1 }) end, "did you mean 'timeout'")
  t.raises(function() get("/", { timeout = "1" }) end, "option 'timeout' must be a number")
  t.raises(function() get("/", { timeout = 0 }) end, "must be positive")
  t.raises(function() session:request({}) end, "missing option 'url'")
  t.raises(function() get("/", { headers = { { "X-Bad", "a\r\nInjected: 1" } } }) end, "invalid header")
  t.raises(function() get("/", { headers = { { "X-Bad\0Injected", "1" } } }) end, "invalid header")
  t.raises(function() get("/", { headers = { { "X-Bad:", "1" } } }) end, "invalid header")
  t.raises(function() get("/", { on_data = "print" }) end, "on_data")
  t.raises(function() session.request({}, { url = base }) end, "mnem.CurlSession expected")
end)

t.test("curl close is idempotent", function()
  local s = curl.session()
  assert(s:request({ url = base .. "/status/200" }))
  s:close()
  s:close()
  t.raises(function() s:request({ url = base .. "/status/200" }) end, "closed curl session")
end)

t.test("curl close via to-be-closed", function()
  local kept
  do
    local s <close> = curl.session()
    kept = s
  end
  t.raises(function() kept:request({ url = base .. "/status/200" }) end, "closed curl session")
end)

-- A self-signed certificate for 127.0.0.1 and localhost, made here.
local function make_certificate()
  local dir = t.tmpdir()
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local ok = os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
    .. "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '%s' -out '%s' >/dev/null 2>&1"):format(key, cert))
  return ok and cert or nil, key
end

local cert, key = make_certificate()
local tls_base, tls_pid
if cert then tls_base, tls_pid = start_server(cert, key) end

t.test("curl TLS untrusted certificate", function()
  if not cert then t.skip("openssl could not make a test certificate") end
  local r, err = session:request({ url = tls_base .. "/status/200" })
  t.eq(r, nil)
  t.eq(err.stage, "tls")
  t.eq(err.curl_code, 60)
end)

t.test("curl TLS with ca_file", function()
  if not cert then t.skip("openssl could not make a test certificate") end
  local r, err = session:request({ url = tls_base .. "/status/200", ca_file = cert })
  t.ok(r, "request failed: " .. tostring(err and err.message))
  t.eq(r.status, 200)
  t.ok(r.time.tls > 0, "tls time " .. r.time.tls)
end)

t.test("curl TLS host mismatch", function()
  if not cert then t.skip("openssl could not make a test certificate") end
  local port = tls_base:match(":(%d+)$")
  local r, err = session:request({
    url = "https://other.example:" .. port .. "/status/200",
    ca_file = cert,
    connect_to = { "other.example:" .. port .. ":127.0.0.1:" .. port },
  })
  t.eq(r, nil)
  t.eq(err.stage, "tls")
end)

session:close()
os.execute("kill " .. server_pid)
if tls_pid then os.execute("kill " .. tls_pid) end
return t.done()
