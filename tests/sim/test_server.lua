-- The simulator core through the real AWS CLI and curl: ready file,
-- dispatch, unimplemented operations, keep-alive, concurrency, the
-- loopback-only rule, scenario errors, signals; and the world's clock,
-- ids and randomness.
local t = require("t")
local sim_process = require("sim_process")
local cjson = require("cjson")

local MNEM = os.getenv("MNEM_BIN") or "build/mnem"
local AWS_ENV = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true "
  .. "AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1 AWS_PAGER= "
  .. "AWS_MAX_ATTEMPTS=1 "
local DIR = t.tmpdir()

local sh, write, exists = sim_process.sh, sim_process.write, sim_process.exists

local start_sim = sim_process.start

local function alive(sim)
  return os.execute(("kill -0 %d 2>/dev/null"):format(sim.pid)) == true
end

-- Sends SIGTERM and waits for the process to exit.
local function stop_sim(sim)
  os.execute(("kill %d 2>/dev/null"):format(sim.pid))
  for _ = 1, 50 do
    if not alive(sim) then return true end
    os.execute("sleep 0.1")
  end
  return false
end

local function aws(sim, args)
  return sh(("%s /usr/bin/aws --endpoint-url %s --output json %s"):format(AWS_ENV, sim.endpoint, args))
end

local sim = start_sim("")

t.test("ready file names the endpoint", function()
  t.eq(sim.info.endpoint, "http://127.0.0.1:" .. sim.port)
  t.ok(sim.pid and sim.pid > 0, "pid is a positive integer")
  t.eq(sim.info.account, "123456789012")
  t.eq(sim.info.region, "us-east-1")
  t.eq(sim.info.access_key_id, "test")
  t.eq(sim.info.secret_access_key, "test")
  t.eq(#sim.info.listeners, 0)
  t.contains(t.read_file(sim.ready), '"listeners":[]')
  t.contains(t.read_file(sim.ready), '"connect_to":[]')
end)

t.test("serving line on stderr", function()
  t.contains(t.read_file(sim.log), "mnem sim: serving on http://127.0.0.1:" .. sim.port)
end)

t.test("aws cli get-caller-identity", function()
  local out, status = aws(sim, "sts get-caller-identity")
  t.eq(status, 0, out)
  local identity = cjson.decode(out)
  t.eq(identity.Account, "123456789012")
  t.contains(identity.Arn, "arn:aws:iam::123456789012:")
end)

t.test("request log line per request", function()
  aws(sim, "sts get-caller-identity")
  local log = t.read_file(sim.log)
  t.ok(log:find("sts%.GetCallerIdentity 200 [%d.]+ms %x+%-%x+%-%x+%-%x+%-%x+"), "log line: " .. log)
end)

t.test("unimplemented query operation", function()
  local out, status = aws(sim, "rds describe-db-clusters")
  t.eq(status, 254, out)
  t.contains(out, "(InvalidAction)")
  t.contains(out, "mnem simulator does not implement rds.DescribeDBClusters")
end)

t.test("error code in request log", function()
  aws(sim, "rds describe-db-clusters")
  t.ok(t.read_file(sim.log):find("rds%.DescribeDBClusters 400 InvalidAction [%d.]+ms"), "log line with the code")
end)

t.test("unimplemented json operation", function()
  local out = aws(sim, "ssm list-documents")
  t.contains(out, "(UnknownOperationException)")
  t.contains(out, "mnem simulator does not implement ssm.ListDocuments")
end)

t.test("keep-alive reuses the connection", function()
  local out = sh(("curl -sv -o /dev/null -o /dev/null %s/a %s/b"):format(sim.endpoint, sim.endpoint))
  t.contains(out, "Re-using existing connection")
end)

t.test("unsigned request is rejected", function()
  local out = sh(("curl -s -i -d 'Action=GetCallerIdentity&Version=2011-06-15' %s/"):format(sim.endpoint))
  t.contains(out, "HTTP/1.1 403")
  t.contains(out, "<Code>MissingAuthenticationToken</Code>")
end)

t.test("twenty parallel aws cli clients", function()
  local script = ("%s/parallel.sh"):format(DIR)
  write(script, ([[
for i in $(seq 1 20); do
  %s /usr/bin/aws --endpoint-url %s --output text --query Account sts get-caller-identity >%s/par.$i 2>&1 &
done
wait
cat %s/par.* | grep -c '^123456789012$'
]]):format(AWS_ENV, sim.endpoint, DIR, DIR))
  local out = sh("sh " .. script)
  t.eq(tonumber(out:match("(%d+)")), 20, out)
end)

t.test("server stays alive", function()
  t.ok(alive(sim), "simulator process is running")
end)

t.test("sigterm exits 0", function()
  local other = start_sim("--quiet")
  local out = sh(("kill %d; while kill -0 %d 2>/dev/null; do sleep 0.1; done; echo done"):format(other.pid, other.pid))
  t.contains(out, "done")
  -- The signal is sent once the ready file exists (up to 30 s), not after
  -- a fixed pause that a loaded machine may outlast.
  local ready = DIR .. "/sigterm-ready.json"
  local status_out = sh(("%s sim serve --port 0 --quiet --ready-file %s 2>/dev/null & pid=$!; i=0; "
    .. "while [ ! -s %s ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done; kill -TERM $pid; wait $pid; "
    .. "echo status=$?"):format(MNEM, ready, ready))
  t.contains(status_out, "status=0")
end)

t.test("non-loopback host is rejected", function()
  local out, status = sh(("%s sim serve --host 0.0.0.0 --port 0"):format(MNEM))
  t.eq(status, 2, out)
  t.contains(out, "refusing to listen on non-loopback address 0.0.0.0")
end)

t.test("server listen rejects other addresses", function()
  local server = require("mnem._server")
  local srv <close> = server.new{}
  for _, host in ipairs({ "0.0.0.0", "10.0.0.1", "169.254.169.254", "::", "example.com", "192.168.1.1" }) do
    t.raises(function() srv:listen(host, 0) end, "refusing to listen on non-loopback address " .. host, host)
  end
  t.ok(srv:listen("127.0.0.1", 0) > 0, "127.0.0.1 accepted")
  t.ok(srv:listen("localhost", 0) > 0, "localhost accepted")
  t.ok(srv:listen("127.0.0.2", 0) > 0, "127.0.0.2 accepted")
  t.eq(#srv:ports(), 3)
end)

t.test("server new rejects unknown option", function()
  local server = require("mnem._server")
  t.raises(function() server.new{ max_headers = 10 } end, "unknown option max_headers")
  t.raises(function() server.new{ idle_timeout = -1 } end, "idle_timeout")
end)

t.test("server close is idempotent", function()
  local server = require("mnem._server")
  local srv = server.new{}
  srv:listen("127.0.0.1", 0)
  srv:close()
  srv:close()
  t.raises(function() srv:listen("127.0.0.1", 0) end, "closed server")
end)

t.test("handler error answers 500", function()
  local script = DIR .. "/err_server.lua"
  write(script, [[
local server = require("mnem._server")
require("mnem._sys").trap_signals()
local srv = server.new{}
local port = srv:listen("127.0.0.1", 0)
local f = io.open(arg[1], "w") f:write(port) f:close()
srv:run(function(req)
  if req.path == "/boom" then error("handler exploded") end
  if req.path == "/bad" then return "not a table" end
  if req.path == "/stop" then srv:stop() end
  return { status = 201, headers = { { "X-Echo", req.method .. " " .. req.target } }, body = req.body }
end)
]])
  local port_file = DIR .. "/err_port"
  os.execute(("%s script %s %s >%s/err.log 2>&1 & echo $! >%s/err.pid"):format(MNEM, script, port_file, DIR, DIR))
  sim_process.track(tonumber(t.read_file(DIR .. "/err.pid")))
  for _ = 1, 50 do
    if exists(port_file) and t.read_file(port_file) ~= "" then break end
    os.execute("sleep 0.1")
  end
  local base = "http://127.0.0.1:" .. t.read_file(port_file)
  local out = sh(("curl -s -i %s/boom"):format(base))
  t.contains(out, "HTTP/1.1 500")
  out = sh(("curl -s -i %s/bad"):format(base))
  t.contains(out, "HTTP/1.1 500")
  out = sh(("curl -s -i -d hello '%s/echo?x=1'"):format(base))
  t.contains(out, "HTTP/1.1 201")
  t.contains(out, "X-Echo: POST /echo?x=1")
  t.contains(out, "hello")
  out = sh(("curl -s -i -H 'Transfer-Encoding: chunked' -d chunked-body %s/chunked"):format(base))
  t.contains(out, "chunked-body")
  sh(("curl -s %s/stop"):format(base))
  local log = t.read_file(DIR .. "/err.log")
  t.contains(log, "handler exploded")
  t.contains(log, "returned string instead of a table")
end)

t.test("invalid scenario names file and line", function()
  local path = DIR .. "/broken.lua"
  write(path, "return {\n  account = '1',\n  rds = {\n}\n  ssm = 3,\n}\n")
  local out, status = sh(("%s sim serve --port 0 --scenario %s"):format(MNEM, path))
  t.eq(status, 2, out)
  t.contains(out, path .. ":5:")
end)

t.test("scenario unknown key suggests one", function()
  local path = DIR .. "/typo.lua"
  write(path, "return { acount = '123456789012' }\n")
  local out, status = sh(("%s sim serve --port 0 --scenario %s"):format(MNEM, path))
  t.eq(status, 2, out)
  t.contains(out, "unknown key acount (did you mean account?)")
  t.contains(out, path)
end)

t.test("scenario credentials and account", function()
  local path = DIR .. "/creds.lua"
  write(path, [[return { account = "210987654321", region = "eu-west-1",
    credentials = { { access_key_id = "AKIDSCENARIO", secret_access_key = "scenario-secret-key" } } }]])
  local other = start_sim("--quiet --scenario " .. path)
  local out = sh(("AWS_ACCESS_KEY_ID=AKIDSCENARIO AWS_SECRET_ACCESS_KEY=scenario-secret-key %s /usr/bin/aws "
    .. "--endpoint-url %s --output json sts get-caller-identity"):format(
      AWS_ENV:gsub("AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test ", ""), other.endpoint))
  t.contains(out, '"Account": "210987654321"')
  t.eq(other.info.region, "eu-west-1")
  t.eq(other.info.access_key_id, "AKIDSCENARIO")
  stop_sim(other)
end)

t.test("load balancer listener ports", function()
  local path = DIR .. "/lb.lua"
  write(path, [[return {
    elbv2 = {
      target_groups = { { name = "web-tg", port = 8080, protocol = "HTTP", health_check_path = "/health/" } },
      load_balancers = { { name = "web-alb",
        listeners = { { port = 80, protocol = "HTTP", target_group = "web-tg" } } } },
    },
  }]])
  local other = start_sim("--scenario " .. path)
  local listener = other.info.listeners[1]
  t.ok(listener ~= nil, "one listener in the ready file")
  t.eq(listener.load_balancer, "web-alb")
  t.eq(math.tointeger(listener.port), 80)
  t.contains(listener.dns_name, ".elb.localhost")
  local local_port = math.tointeger(listener.local_port)
  t.eq(other.info.connect_to[1], ("%s:80:127.0.0.1:%d"):format(listener.dns_name, local_port))
  local out = sh(("curl -s -i --connect-to %s http://%s:80/health/"):format(other.info.connect_to[1],
    listener.dns_name))
  t.ok(out:match("^HTTP/1.1 %d%d%d") ~= nil, "the listener answers over HTTP: " .. out)
  t.ok(out:match("^HTTP/1.1 [25]0%d") ~= nil, "200 or 503 from the elbv2 module: " .. out)
  t.contains(t.read_file(other.log), "load balancer web-alb listener")
  stop_sim(other)
end)

t.test("invalid scenario fault exits 2", function()
  local path = DIR .. "/badfault.lua"
  write(path, "return { faults = { { throtle = 0.5 } } }\n")
  local out, status = sh(("%s sim serve --port 0 --scenario %s"):format(MNEM, path))
  t.eq(status, 2, out)
  t.contains(out, "faults[1]: unknown key throtle")
  t.contains(out, path)
end)

t.test("json request log", function()
  local other = start_sim("--log-format json")
  aws(other, "sts get-caller-identity")
  stop_sim(other)
  local line = t.read_file(other.log):match("\n(%b{})")
  t.ok(line ~= nil, "a JSON line in the log")
  local record = cjson.decode(line)
  t.eq(record.service, "sts")
  t.eq(record.operation, "GetCallerIdentity")
  t.eq(math.tointeger(record.status), 200)
  t.ok(type(record.request_id) == "string", "request id present")
end)

t.test("unknown sim subcommand exits 2", function()
  local out, status = sh(MNEM .. " sim frobnicate")
  t.eq(status, 2, out)
  t.contains(out, "unknown subcommand")
end)

-- ---- dispatch in this process, without the network ----

-- Returns a request table as mnem._server makes it, signed for STS.
local function signed_sts_request(port, body)
  local sigv4 = require("mnem._sigv4")
  local headers = { { "Host", "127.0.0.1:" .. port }, { "Content-Type", "application/x-www-form-urlencoded" } }
  local signed = sigv4.sign{ method = "POST", path = "/", headers = headers, body = body, access_key = "test",
    secret_key = "test", region = "us-east-1", service = "sts" }
  return { method = "POST", target = "/", path = "/", query = "", body = body, local_port = port,
    remote = "127.0.0.1:1", conn = 1, headers = { host = headers[1][2], ["content-type"] = headers[2][2],
      ["x-amz-date"] = signed.headers[1][2], authorization = signed.authorization } }
end

t.test("handler failures become aws errors", function()
  local sim_server = require("sim.server")
  local dispatcher = sim_server.new{ log = false }
  local sts = dispatcher.world:service("sts")
  local original = sts.operations.GetCallerIdentity
  local body = "Action=GetCallerIdentity&Version=2011-06-15"
  local ok, err = pcall(function()
    sts.operations.GetCallerIdentity = function(ctx) ctx.fail("AccessDenied", "not for you", 403) end
    local resp = dispatcher:handle(signed_sts_request(dispatcher.port, body))
    t.eq(resp.status, 403)
    t.contains(resp.body, "<Code>AccessDenied</Code>")
    t.contains(resp.body, "<Message>not for you</Message>")

    sts.operations.GetCallerIdentity = function() error("bug in the service") end
    resp = dispatcher:handle(signed_sts_request(dispatcher.port, body))
    t.eq(resp.status, 500)
    t.contains(resp.body, "<Code>InternalFailure</Code>")

    sts.operations.GetCallerIdentity = function(ctx)
      return { Account = ctx.account, Arn = "arn:aws:iam::" .. ctx.account .. ":user/x", UserId = ctx.region }
    end
    resp = dispatcher:handle(signed_sts_request(dispatcher.port, body))
    t.eq(resp.status, 200)
    t.contains(resp.body, "<UserId>us-east-1</UserId>")
  end)
  sts.operations.GetCallerIdentity = original
  dispatcher:close()
  if not ok then error(err, 0) end
end)

-- ---- the world, without a server ----

local world_module = require("sim.world")

t.test("world clock follows time scale", function()
  local real = 100
  local world = world_module.new{ clock = function() return real end, start_time = 1000, time_scale = 60,
    services = {} }
  t.eq(world:now(), 1000)
  real = 102.5
  t.eq(world:now(), 1150)
  t.eq(world:elapsed(1000), 150)
  t.ok(world:after(1000, 150), "150 s have passed")
  t.ok(not world:after(1000, 151), "151 s have not passed")
end)

t.test("world ids repeat for one seed", function()
  local a = world_module.new{ seed = 7, services = {} }
  local b = world_module.new{ seed = 7, services = {} }
  local c = world_module.new{ seed = 8, services = {} }
  local id = a:request_id()
  t.eq(id, b:request_id())
  t.ok(id ~= c:request_id(), "another seed gives another id")
  t.ok(id:match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x+$") ~= nil, "UUID form: " .. id)
  t.eq(a:random(1, 1000), b:random(1, 1000))
  local f = a:random()
  t.ok(f >= 0 and f < 1, "float in [0, 1)")
end)

t.test("world arn and credentials", function()
  local world = world_module.new{ scenario = { account = "111122223333", region = "eu-west-1" }, services = {} }
  t.eq(world:arn("rds", "db:x"), "arn:aws:rds:eu-west-1:111122223333:db:x")
  t.eq(world:arn("iam", "user/u", ""), "arn:aws:iam::111122223333:user/u")
  t.eq(world:credentials("test").secret_access_key, "test")
  world:add_credentials{ access_key_id = "ASIAEXAMPLE", secret_access_key = "temporary-secret", session_token = "tok" }
  t.eq(world:credentials("ASIAEXAMPLE").session_token, "tok")
  t.eq(world:credentials("nobody"), nil)
end)

t.test("world loads service modules", function()
  local world = world_module.new{}
  t.ok(world:service("sts") ~= nil, "sts module loaded")
  t.ok(type(world.state.sts) == "table", "sts state table")
end)

stop_sim(sim)
sim_process.stop_all()
return t.done()
