-- client_helper: starts tests/aws/client_server.py for the AWS client tests
-- and reads what it captured.
--
--   local server = require("client_helper").start()
--   server:script{ { status = 400, body = "..." } }   -- responses, in order
--   ... calls to server.endpoint ...
--   local requests = server:requests()                 -- what was sent
--   server:stop()
local cjson = require("cjson")
local sys = require("mnem._sys")

local M = {}

local Server = {}
Server.__index = Server

local function root()
  return os.getenv("MNEM_ROOT") or "."
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

--- Starts a capture server in a fresh temporary folder; waits until it
-- listens (at most 10 s).
function M.start()
  local p = io.popen("mktemp -d '" .. (os.getenv("MNEM_TEST_TMP") or "/tmp") .. "/aws-client.XXXXXX'")
  local dir = p:read("l")
  p:close()
  os.execute(("python3 '%s/tests/aws/client_server.py' '%s' >'%s/server.log' 2>&1 & echo $! >'%s/pid'"):format(
    root(), dir, dir, dir))
  local deadline = sys.monotonic() + 10
  local port
  repeat
    port = read(dir .. "/port")
    if not port then sys.sleep(0.02) end
  until port or sys.monotonic() > deadline
  assert(port, "client_server.py did not start: " .. tostring(read(dir .. "/server.log")))
  local server = setmetatable({ dir = dir, port = tonumber(port), pid = read(dir .. "/pid"):match("%d+") }, Server)
  server.endpoint = "http://127.0.0.1:" .. server.port
  return server
end

--- Replaces the list of scripted responses and clears the captured requests.
function Server:script(responses)
  write(self.dir .. "/requests.jsonl", "")
  local text = #responses == 0 and "[]" or cjson.encode(responses)
  write(self.dir .. "/script.tmp", text)
  os.rename(self.dir .. "/script.tmp", self.dir .. "/script.json")
end

--- Returns the captured requests, oldest first: { method, path, headers =
-- list of {name, value}, body, client_port, time }, with `header(name)`.
function Server:requests()
  local list = {}
  for line in (read(self.dir .. "/requests.jsonl") or ""):gmatch("[^\n]+") do
    local r = cjson.decode(line)
    r.header = function(_, name)
      for _, h in ipairs(r.headers) do
        if h[1]:lower() == name:lower() then return h[2] end
      end
      return nil
    end
    list[#list + 1] = r
  end
  return list
end

--- Stops the server.
function Server:stop()
  os.execute("kill " .. self.pid .. " 2>/dev/null")
end

--- Runs COMMAND in the shell and returns its stdout, stderr and exit status.
function M.run(command)
  local p = io.popen("mktemp '" .. (os.getenv("MNEM_TEST_TMP") or "/tmp") .. "/aws-run.XXXXXX'")
  local err_file = p:read("l")
  p:close()
  local pipe = io.popen(command .. " 2>'" .. err_file .. "'", "r")
  local out = pipe:read("a")
  local _, _, status = pipe:close()
  local err = read(err_file) or ""
  os.remove(err_file)
  return out, err, status
end

--- Returns the environment prefix for running /usr/bin/aws against
-- ENDPOINT: dummy credentials, no user config, no metadata service.
function M.aws_cli_env()
  return "env AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true"
    .. " AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1"
    .. " AWS_PAGER= AWS_MAX_ATTEMPTS=1 "
end

--- Quotes WORD for the shell.
function M.quote(word)
  return "'" .. tostring(word):gsub("'", "'\\''") .. "'"
end

--- Runs FN with environment variables set from VARS (name -> value, or
-- false to unset), then restores the previous values, even when FN raises.
function M.with_env(vars, fn)
  local saved = {}
  for name, value in pairs(vars) do
    saved[name] = os.getenv(name) or false
    sys.setenv(name, value or nil)
  end
  local results = table.pack(pcall(fn))
  for name, value in pairs(saved) do sys.setenv(name, value or nil) end
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

--- Writes DATA to PATH (replacing it).
M.write = write

return M
