-- mnem.throwaway_pg: a temporary PostgreSQL server for rehearsals.
--
-- `mnem run --sim` starts one so a playbook's database steps run against a
-- real server with no cloud account: initdb into a fresh temporary folder,
-- password authentication (SCRAM) for the `postgres` superuser with a
-- random password, listening on 127.0.0.1 and on a socket in that folder.
-- Run as root, the server runs as the `postgres` system user, because
-- initdb refuses to run as root. stop() shuts it down and removes the folder.
local errors = require("mnem.errors")
local exec = require("mnem.exec")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

local M = {}

local INSTALL_HINT = "install the Debian package postgresql (sudo apt-get install postgresql), or run make deps"

--- Returns the folder of the newest installed PostgreSQL server binaries,
-- or nil and the places looked at.
function M.find_bindir()
  local root = "/usr/lib/postgresql"
  local best, best_version
  for _, name in ipairs(sys.list_dir(root) or {}) do
    local version = tonumber(name)
    local dir = root .. "/" .. name .. "/bin"
    if version and sys.stat(dir .. "/initdb") and (not best_version or version > best_version) then
      best, best_version = dir, version
    end
  end
  if best then return best end
  return nil, root .. "/*/bin/initdb"
end

local function random_hex(bytes)
  return (sys.random_bytes(bytes):gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- Prefixes ARGV so it runs as the postgres user when mnem runs as root.
local function as_owner(argv)
  if sys.getuid() ~= 0 then return argv end
  return table.move(argv, 1, #argv, 5, { "runuser", "-u", "postgres", "--" })
end

local function write_file(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  if mode then exec{ "chmod", mode, path, stream = false, read_only = true } end
end

-- Returns the command that stops the server in DIR at once.
local function immediate_stop_argv(bindir, dir)
  return as_owner{ bindir .. "/pg_ctl", "-D", dir .. "/data", "-m", "immediate", "-w", "-t", "10", "stop" }
end

-- Starts a server in the empty folder DIR with the binaries in BINDIR;
-- see start. Leaves DIR and a started server behind when it raises.
local function start_in(dir, bindir)
  local password = secret.mark(random_hex(16))
  local quiet = { stream = false, read_only = true }

  local function run(argv)
    return exec.run(as_owner(argv), { stream = false, read_only = true, check = false })
  end

  exec.run({ "chmod", "755", dir }, quiet)
  write_file(dir .. "/pwfile", password .. "\n", "644")
  if sys.getuid() == 0 then exec.run({ "chown", "-R", "postgres", dir }, quiet) end

  local init = run{ bindir .. "/initdb", "-D", dir .. "/data", "-U", "postgres", "--auth=scram-sha-256",
                    "--pwfile=" .. dir .. "/pwfile", "--no-sync", "--encoding=UTF8", "--locale=C" }
  os.remove(dir .. "/pwfile")
  if init.code ~= 0 then
    errors.raise({ kind = "exec", code = "ExitStatus",
                   message = "initdb of the throwaway PostgreSQL failed: "
                     .. (init.stderr ~= "" and init.stderr or init.stdout) }, 2)
  end

  -- A random port can be taken; try a few before giving up.
  local port, started
  for _ = 1, 8 do
    port = 20000 + (string.unpack("<I2", sys.random_bytes(2)) % 40000)
    local result = run{ bindir .. "/pg_ctl", "-D", dir .. "/data", "-l", dir .. "/server.log", "-w", "-t", "30",
      "-o", ("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off"):format(port, dir),
      "start" }
    if result.code == 0 then started = true break end
  end
  if not started then
    local log = io.open(dir .. "/server.log")
    local text = log and log:read("a") or ""
    if log then log:close() end
    errors.raise({ kind = "exec", code = "ExitStatus",
                   message = "the throwaway PostgreSQL server did not start: " .. text:sub(-600) }, 2)
  end

  local server = { host = "127.0.0.1", port = port, user = "postgres", password = password,
                   dbname = "postgres", socket_dir = dir, dir = dir, stop_argv = immediate_stop_argv(bindir, dir) }
  local stopped = false
  function server.stop()
    if stopped then return end
    stopped = true
    run{ bindir .. "/pg_ctl", "-D", dir .. "/data", "-m", "fast", "-w", "-t", "20", "stop" }
    exec.run({ "rm", "-rf", dir }, quiet)
  end
  return server
end

--- Starts a server and returns { host, port, user, password, dbname,
-- socket_dir, dir, stop = function, stop_argv }. The password is marked
-- secret. stop_argv is a command that stops the server at once, for a
-- process that cleans up after this one (its folder is then left to it).
-- Raises an mnem.errors value (kind "exec") naming what failed, with the
-- server log's last lines when the server did not start. OPTIONS.on_folder,
-- when given, is called with the folder and stop_argv as soon as the
-- folder exists, before initdb, so a process that cleans up after this one
-- has them even when this one is killed while the server starts.
-- NOTE: killed in the moment after pg_ctl starts the server and before it
-- writes postmaster.pid, the immediate stop finds no server. The folder is
-- still removed. The server is then expected to stop by itself once it
-- finds its lock file gone, a check PostgreSQL makes about once a minute.
-- That was not observed in about ten kills timed at that moment.
function M.start(options)
  local bindir, looked = M.find_bindir()
  if not bindir then
    errors.raise({ kind = "exec", code = "NotFound",
                   message = ("PostgreSQL server binaries not found (looked for %s): %s")
                     :format(looked, INSTALL_HINT) }, 2)
  end
  local made = exec{ "mktemp", "-d", "--tmpdir", "mnem-pg.XXXXXX", stream = false, read_only = true }
  local dir = made.stdout:gsub("%s+$", "")
  local ok, result = pcall(function()
    if options and options.on_folder then options.on_folder(dir, immediate_stop_argv(bindir, dir)) end
    return start_in(dir, bindir)
  end)
  if ok then return result end
  -- A failure or a signal partway may leave a running server and the
  -- folder. The signal is cleared so that the cleanup itself runs, and the
  -- original error is raised again.
  sys.clear_signal()
  exec.run(immediate_stop_argv(bindir, dir), { stream = false, read_only = true, check = false })
  exec.run({ "rm", "-rf", dir }, { stream = false, read_only = true, check = false })
  error(result, 0)
end

return M
