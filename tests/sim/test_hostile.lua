-- Hostile and malformed input against the simulator's HTTP server: garbage
-- and non-HTTP bytes, oversized bodies and heads, header floods, request
-- smuggling shapes, half-open and slow connections, connection floods.
-- Each must get an HTTP 4xx (or a closed connection) while the server
-- keeps serving other clients.
local t = require("t")
local sim_process = require("sim_process")
local sys = require("mnem._sys")

local MNEM = os.getenv("MNEM_BIN") or "build/mnem"
local AWS_ENV = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true "
  .. "AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1 AWS_PAGER= "
  .. "AWS_MAX_ATTEMPTS=1 "
local DIR = t.tmpdir()

local sh, write, exists = sim_process.sh, sim_process.write, sim_process.exists

-- A raw-socket client with three modes. `send PORT FILE [shutdown]` sends
-- the bytes written in hex in FILE, reads until the server closes (or 5 s
-- pass) and prints the status lines. `hold PORT N SECONDS HEX READY` keeps
-- N connections open for SECONDS, each having sent HEX, and creates the
-- file READY once all are sent. `flood PORT N WANT` opens N idle
-- connections and prints how many the server closed, waiting (up to 30 s)
-- until that is at least WANT.
write(DIR .. "/client.py", [[
import re, socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
def connect(timeout=5):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)
if mode == "send":
    s = connect()
    try:
        s.sendall(bytes.fromhex(open(sys.argv[3]).read()))
    except OSError as e:
        print("send-error", e)
    if len(sys.argv) > 4:
        s.shutdown(socket.SHUT_WR)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        print("recv-error", e)
    for status in re.findall(rb"HTTP/1\.[01] \d\d\d [^\r]*", data):
        print(status.decode("latin1"))
    print("bytes", len(data))
elif mode == "hold":
    n, seconds, payload = int(sys.argv[3]), float(sys.argv[4]), bytes.fromhex(sys.argv[5])
    conns = []
    for _ in range(n):
        s = connect(30)
        s.sendall(payload)
        conns.append(s)
    open(sys.argv[6], "w").close()
    time.sleep(seconds)
elif mode == "flood":
    n, want = int(sys.argv[3]), int(sys.argv[4])
    conns = [connect(30) for _ in range(n)]
    for s in conns:
        s.setblocking(False)
    closed = set()
    end = time.monotonic() + 30
    while len(closed) < want and time.monotonic() < end:
        time.sleep(0.2)
        for i, s in enumerate(conns):
            if i in closed:
                continue
            try:
                if s.recv(1) == b"":
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
    print("closed", len(closed))
]])

local function hex(bytes)
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local start_sim = sim_process.start

local sim = start_sim("--quiet")

-- Sends BYTES on a fresh connection; returns the client's report.
local function send(bytes, shutdown, port)
  write(DIR .. "/payload", hex(bytes))
  return sh(("python3 %s/client.py send %d %s/payload %s"):format(DIR, port or sim.port, DIR,
    shutdown and "shutdown" or ""))
end

local function still_serves()
  local out, status = sh(("%s /usr/bin/aws --endpoint-url %s --output text --query Account sts get-caller-identity")
    :format(AWS_ENV, sim.endpoint))
  t.eq(status, 0, out)
  t.contains(out, "123456789012")
end

local cases = {
  { "garbage bytes", "\1\2\3\255\254garbage\r\n\r\n", "400" },
  { "tls client hello", "\22\3\1\0\165\1\0\0\161\3\3" .. ("\0"):rep(32), "400" },
  { "ssh banner", "SSH-2.0-OpenSSH_9.2\r\n", "400" },
  { "lone LF lines", "GET / HTTP/1.1\nHost: x\n\n", "400" },
  { "http/2 version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505" },
  { "http/9 version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", "505" },
  { "bad version text", "GET / HTCPCP/1.0\r\nHost: x\r\n\r\n", "400" },
  { "missing host", "GET / HTTP/1.1\r\n\r\n", "400" },
  { "space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400" },
  { "folded header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n", "400" },
  { "nul in header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", "400" },
  { "100 MB content length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", "413" },
  { "huge content length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", "400" },
  { "negative content length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400" },
  { "conflicting content lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "400" },
  { "length and chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    .. "0\r\n\r\n", "400" },
  { "unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501" },
  { "bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", "400" },
  { "chunk without crlf", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
    "400" },
  { "huge chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n", "413" },
  { "odd expect", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", "417" },
  { "header flood", "GET / HTTP/1.1\r\nHost: x\r\n" .. ("X-Flood: 1\r\n"):rep(200) .. "\r\n", "431" },
  { "oversized head", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " .. ("a"):rep(70000) .. "\r\n\r\n", "431" },
  { "target with space", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", "400" },
  { "relative target", "GET a HTTP/1.1\r\nHost: x\r\n\r\n", "400" },
}

for _, case in ipairs(cases) do
  t.test(case[1], function()
    local out = send(case[2])
    t.contains(out, "HTTP/1.1 " .. case[3], case[1])
  end)
end

t.test("server serves after malformed input", still_serves)

t.test("unsigned request gets aws error", function()
  local out = send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
  t.contains(out, "HTTP/1.1 403")
end)

t.test("half-closed client still answered", function()
  local out = send("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true)
  t.contains(out, "HTTP/1.1 403")
end)

t.test("half-closed partial request closed", function()
  local out = send("GET / HTTP/1.1\r\nHost:", true)
  t.contains(out, "bytes 0")
end)

t.test("pipelined requests answered in order", function()
  local one = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
  local out = send(one .. one .. "GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
  local _, count = out:gsub("HTTP/1.1 403", "")
  t.eq(count, 3, out)
end)

t.test("empty lines before request", function()
  local out = send("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
  t.contains(out, "HTTP/1.1 403")
end)

t.test("chunked body with trailer", function()
  local out = send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    .. "3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n")
  t.contains(out, "HTTP/1.1 403")
end)

t.test("expect continue answered", function()
  local out = sh(("curl -s -v -o /dev/null -H 'Expect: 100-continue' -d abc %s/"):format(sim.endpoint))
  t.contains(out, "< HTTP/1.1 100 Continue")
  t.contains(out, "< HTTP/1.1 403")
end)

t.test("head response has no body", function()
  local out = sh(("curl -s -I -o /dev/null -w '%%{http_code} %%{size_download}' %s/"):format(sim.endpoint))
  t.contains(out, "403 0")
end)

t.test("http/1.0 request closed after answer", function()
  local out = send("GET / HTTP/1.0\r\n\r\n")
  t.contains(out, "HTTP/1.1 403")
end)

t.test("connection flood beyond limit", function()
  local out = sh(("python3 %s/client.py flood %d 1100 %d"):format(DIR, sim.port, 1100 - 1024))
  local closed = tonumber(out:match("closed (%d+)"))
  t.ok(closed and closed >= 1100 - 1024, "connections beyond the limit are closed: " .. out)
  os.execute("sleep 0.3")
  still_serves()
end)

-- Starts `client.py hold` with ARGS in the background and waits (up to
-- 30 s) until its connections are open; returns its pid.
local holders = 0
local function hold(args)
  holders = holders + 1
  local ready = ("%s/held%d"):format(DIR, holders)
  local out = sh(("python3 %s/client.py hold %d %s %s >/dev/null 2>&1 & echo $!"):format(DIR, sim.port, args, ready))
  local pid = tonumber(out:match("%d+"))
  for _ = 1, 300 do
    if sim_process.exists(ready) then break end
    os.execute("sleep 0.1")
  end
  t.ok(sim_process.exists(ready), "the holding client connected")
  return pid
end

-- The held connections stay open for 60 s, and the server's own idle limit
-- is 30 s, so a response within 20 s came while they wait.
t.test("slow partial requests do not block", function()
  local a = hold("40 60 " .. hex("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial"))
  local b = hold("40 60 " .. hex("GET / HTTP/1.1\r\nHo"))
  local started = sys.monotonic()
  still_serves()
  t.ok(sys.monotonic() - started < 20, "answered while 80 partial requests wait")
  os.execute(("kill %d %d 2>/dev/null"):format(a, b))
end)

t.test("silent connections do not block", function()
  local pid = hold("100 60 ''")
  local started = sys.monotonic()
  still_serves()
  t.ok(sys.monotonic() - started < 20, "answered while 100 silent connections wait")
  os.execute(("kill %d 2>/dev/null"):format(pid))
end)

t.test("large chunked body accepted", function()
  local body = ("x"):rep(1024 * 1024)
  write(DIR .. "/big", body)
  local out = sh(("curl -s -o /dev/null -w '%%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @%s/big %s/")
    :format(DIR, sim.endpoint))
  t.contains(out, "403")
end)

t.test("request timeout answers 408", function()
  local script = DIR .. "/slow_server.lua"
  write(script, [[
local server = require("mnem._server")
require("mnem._sys").trap_signals()
local srv = server.new{ idle_timeout = 1 }
local port = srv:listen("127.0.0.1", 0)
local f = io.open(arg[1], "w") f:write(port) f:close()
srv:run(function() return { status = 200, body = "ok" } end)
]])
  local port_file = DIR .. "/slow_port"
  os.execute(("%s script %s %s >%s/slow.log 2>&1 & echo $! >%s/slow.pid"):format(MNEM, script, port_file, DIR, DIR))
  for _ = 1, 50 do
    if exists(port_file) and t.read_file(port_file) ~= "" then break end
    os.execute("sleep 0.1")
  end
  sim_process.track(tonumber(t.read_file(DIR .. "/slow.pid")))
  local port = tonumber(t.read_file(port_file))
  local started = sys.monotonic()
  local out = send("GET / HTTP/1.1\r\nHost: x\r\n", false, port)
  t.contains(out, "HTTP/1.1 408")
  -- The default limit is 30 s; the client itself gives up after 5 s.
  t.ok(sys.monotonic() - started < 10, "closed within a few seconds")
  os.execute(("kill $(cat %s/slow.pid)"):format(DIR))
end)

t.test("simulator process survived", function()
  t.ok(os.execute(("kill -0 %d"):format(sim.pid)) == true, "process alive")
  still_serves()
end)

os.execute(("kill %d 2>/dev/null"):format(sim.pid))
sim_process.stop_all()
return t.done()
