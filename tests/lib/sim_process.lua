-- sim_process: start and stop `mnem sim serve` from Lua tests.
--
--   local sim_process = require("sim_process")
--   local sim = sim_process.start("--scenario " .. path)   -- waits for its ready file
--   ... sim.endpoint, sim.port, sim.pid, sim.info, sim.log ...
--   sim_process.stop_all()                                  -- at the end of the file
local t = require("t")
local cjson = require("cjson")

local M = {}

M.MNEM = os.getenv("MNEM_BIN") or "build/mnem"

local dir
local counter = 0
-- Every simulator started (and process tracked), stopped by stop_all even
-- when a test failed.
local child_pids = {}

--- Runs COMMAND with a shell and returns its output (stdout and stderr)
-- and exit status.
function M.sh(command)
  local p = io.popen(command .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  return out:gsub("exit=%d+%s*$", ""), status
end

--- Writes TEXT to the file PATH.
function M.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

--- Returns true when PATH can be opened for reading.
function M.exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

--- Starts `mnem sim serve --port 0 ARGS` with the environment assignments
-- ENV in front, and returns { endpoint, port, pid, info, log, ready } once
-- its ready file exists. Raises with the simulator's log when it does not
-- start within 30 s (a loaded machine can take seconds).
function M.start(args, env)
  dir = dir or t.tmpdir()
  counter = counter + 1
  local ready = ("%s/ready%d.json"):format(dir, counter)
  local log = ("%s/sim%d.log"):format(dir, counter)
  os.execute(("%s %s sim serve --port 0 --ready-file %s %s >%s 2>&1 &"):format(env or "", M.MNEM, ready,
    args or "", log))
  for _ = 1, 300 do
    if M.exists(ready) then break end
    os.execute("sleep 0.1")
  end
  if not M.exists(ready) then error("the simulator did not start: " .. t.read_file(log)) end
  local info = cjson.decode(t.read_file(ready))
  local pid = math.tointeger(info.pid)
  child_pids[#child_pids + 1] = pid
  return { endpoint = info.endpoint, port = math.tointeger(info.port), pid = pid, info = info, log = log,
           ready = ready }
end

--- Adds process PID (another server a test started) to those stop_all stops.
function M.track(pid)
  child_pids[#child_pids + 1] = pid
end

--- Sends SIGTERM to the simulator SIM.
function M.stop(sim)
  os.execute(("kill %d 2>/dev/null"):format(sim.pid))
end

--- Sends SIGTERM to every simulator started and process tracked so far.
function M.stop_all()
  for _, pid in ipairs(child_pids) do os.execute(("kill %d 2>/dev/null"):format(pid)) end
end

return M
