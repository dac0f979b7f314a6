-- mnem.sim_run: run a playbook against the local simulator.
--
-- `mnem run --sim PLAYBOOK` calls with_simulator: it starts a throwaway
-- PostgreSQL server and `mnem sim serve` with a scenario, points the AWS
-- client, libpq and HTTP checks at them through the environment, runs the
-- playbook unchanged, and stops both whatever happens. Nothing it sets up
-- can reach a real AWS endpoint: the endpoint is the simulator's loopback
-- address, the credentials are the scenario's dummy keys, and the user's
-- own AWS config and credentials files are replaced by generated ones.
local cjson = require("cjson")
local errors = require("mnem.errors")
local exec = require("mnem.exec")
local log = require("mnem.log")
local secret = require("mnem.secret")
local throwaway_pg = require("mnem.throwaway_pg")
local embed = require("mnem._embed")
local sys = require("mnem._sys")

local M = {}

-- The scenario used when neither --scenario nor MNEM_SIM_SCENARIO names one.
M.DEFAULT_SCENARIO = "parity"

local READY_TIMEOUT = 20

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Returns the path of the scenario file: NAME itself when it is a file,
-- else a copy of the built-in scenario sim/scenarios/NAME.lua in DIR.
local function scenario_file(name, dir)
  if sys.stat(name) then return name end
  local text = embed.read("sim/scenarios/" .. name .. ".lua")
  if not text then
    local known = {}
    for _, path in ipairs(embed.list("sim/scenarios/")) do
      known[#known + 1] = path:match("([^/]+)%.lua$")
    end
    error(require("mnem.cli").usage_error(("scenario %q is neither a file nor a built-in scenario (built-in: %s)")
      :format(name, table.concat(known, ", "))), 0)
  end
  local path = dir .. "/" .. name .. ".lua"
  write_file(path, text)
  return path
end

-- Reads the AWS profile names a scenario declares, so a playbook that
-- selects a named profile finds it in the generated config file.
local function scenario_profiles(path)
  local chunk = loadfile(path, "t", setmetatable({}, { __index = _G }))
  if not chunk then return {} end
  local ok, scenario = pcall(chunk)
  if not ok or type(scenario) ~= "table" or type(scenario.profiles) ~= "table" then return {} end
  return scenario.profiles
end

local function write_aws_files(dir, ready, profiles)
  local config, credentials = {}, {}
  local names = { "default" }
  for _, name in ipairs(profiles) do names[#names + 1] = name end
  for _, name in ipairs(names) do
    config[#config + 1] = (name == "default" and "[default]" or ("[profile " .. name .. "]"))
    config[#config + 1] = "region = " .. ready.region
    config[#config + 1] = "endpoint_url = " .. ready.endpoint
    credentials[#credentials + 1] = "[" .. name .. "]"
    credentials[#credentials + 1] = "aws_access_key_id = " .. ready.access_key_id
    credentials[#credentials + 1] = "aws_secret_access_key = " .. ready.secret_access_key
    if ready.session_token then
      credentials[#credentials + 1] = "aws_session_token = " .. ready.session_token
    end
  end
  write_file(dir .. "/aws-config", table.concat(config, "\n") .. "\n")
  write_file(dir .. "/aws-credentials", table.concat(credentials, "\n") .. "\n")
end

local function wait_ready(server, ready_file, log_file)
  local started = sys.monotonic()
  while sys.monotonic() - started < READY_TIMEOUT do
    local text = read_file(ready_file)
    if text and text ~= "" then
      local ok, ready = pcall(cjson.decode, text)
      if ok then return ready end
    end
    local status = server:wait(0.05)
    if status and status.code == 2 then
      -- Exit status 2 is the simulator rejecting its scenario or options:
      -- the user's input, so a usage error with the simulator's message.
      local output = (read_file(log_file) or ""):gsub("%s+$", "")
      error(require("mnem.cli").usage_error(output ~= "" and output or "the simulator rejected its options"), 0)
    end
    if status then
      errors.raise({ kind = "exec", code = "ExitStatus",
                     message = ("the simulator exited with status %s before it was ready:\n%s")
                       :format(status.code, (read_file(log_file) or ""):sub(-1500)) }, 3)
    end
    if sys.signal() then
      errors.raise({ kind = "interrupted", code = "Interrupted",
                     message = "interrupted while starting the simulator" }, 3)
    end
  end
  errors.raise({ kind = "timeout", code = "Timeout",
                 message = ("the simulator was not ready after %ds; its log:\n%s")
                   :format(READY_TIMEOUT, (read_file(log_file) or ""):sub(-1500)) }, 3)
end

-- The proxy a rehearsal gives the programs a playbook runs, for every host
-- but loopback: the discard port on loopback, which nothing serves. An
-- `aws` command that ignores AWS_ENDPOINT_URL (the Debian AWS CLI does)
-- then fails at once instead of reaching AWS.
local DEAD_PROXY = "http://127.0.0.1:9"
local LOOPBACK_NAMES = "127.0.0.1,localhost,::1"

-- The environment a rehearsal needs, as name -> value (false removes):
-- AWS settings aimed at the simulator, libpq's variables aimed at the
-- throwaway server PG, and proxy variables that keep programs the playbook
-- runs on loopback. Variables of the caller's environment that would
-- override those settings are removed, and so are its other PG* variables.
local function rehearsal_environment(dir, ready, pg)
  local environment = {
    PGHOST = pg.host, PGPORT = tostring(pg.port), PGUSER = pg.user, PGPASSWORD = pg.password,
    PGDATABASE = pg.dbname or "postgres",
    -- libpq connects to PGHOSTADDR in place of PGHOST, and a PGSERVICE
    -- entry's host takes precedence over PGHOST, so either would take
    -- pg.connect{} and psql away from the throwaway server.
    PGHOSTADDR = false, PGSERVICE = false,
    -- The AWS client reads AWS_ENDPOINT_URL_<SERVICE> before
    -- AWS_ENDPOINT_URL, and with this variable true it reads neither and
    -- calls AWS itself.
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = false,
    HTTP_PROXY = DEAD_PROXY, HTTPS_PROXY = DEAD_PROXY, ALL_PROXY = DEAD_PROXY,
    http_proxy = DEAD_PROXY, https_proxy = DEAD_PROXY, all_proxy = DEAD_PROXY,
    NO_PROXY = LOOPBACK_NAMES, no_proxy = LOOPBACK_NAMES,
    MNEM_REHEARSAL = "1",
    AWS_ENDPOINT_URL = ready.endpoint,
    AWS_ACCESS_KEY_ID = ready.access_key_id,
    AWS_SECRET_ACCESS_KEY = ready.secret_access_key,
    AWS_SESSION_TOKEN = ready.session_token or false,
    AWS_PROFILE = false,
    AWS_DEFAULT_PROFILE = false,
    AWS_REGION = ready.region,
    AWS_DEFAULT_REGION = ready.region,
    AWS_EC2_METADATA_DISABLED = "true",
    AWS_CONFIG_FILE = dir .. "/aws-config",
    AWS_SHARED_CREDENTIALS_FILE = dir .. "/aws-credentials",
    AWS_CONTAINER_CREDENTIALS_FULL_URI = false,
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = false,
    -- A caller's web identity (a CI OIDC token, an EKS service account)
    -- belongs to a real account. A tool run by a step that preferred it
    -- to the simulator's keys would call the real STS.
    AWS_WEB_IDENTITY_TOKEN_FILE = false,
    AWS_ROLE_ARN = false,
    AWS_ROLE_SESSION_NAME = false,
    MNEM_HTTP_CONNECT_TO = table.concat(ready.connect_to or {}, ","),
  }
  for _, entry in ipairs(sys.environ()) do
    local name = entry:match("^(AWS_ENDPOINT_URL_[^=]*)=")
    if name then environment[name] = false end
    -- Any other libpq variable of the caller (PGSSLMODE=verify-full,
    -- PGTARGETSESSIONATTRS, PGOPTIONS, ...) was meant for a real server
    -- and could stop pg.connect{} and psql reaching the throwaway one.
    name = entry:match("^(PG[%w_]*)=")
    if name and environment[name] == nil then environment[name] = false end
  end
  return environment
end

-- A guard is a shell started beside the rehearsal that outlives mnem when
-- mnem is killed without a chance to clean up (SIGKILL, the OOM killer).
-- It checks once a second that mnem's process still exists. When it is
-- gone, the guard runs DIR/abandoned.sh and removes DIR. mnem keeps that
-- script listing what to stop: the simulator's process group and the
-- PostgreSQL server. On a normal exit mnem stops the guard and cleans up
-- itself.
local GUARD_SCRIPT = [[
parent=$1 dir=$2
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
[ -f "$dir/abandoned.sh" ] && . "$dir/abandoned.sh" >/dev/null 2>&1
rm -rf "$dir"
]]

local function shell_quote(text)
  return "'" .. text:gsub("'", "'\\''") .. "'"
end

local function shell_command(argv)
  local words = {}
  for i, word in ipairs(argv) do words[i] = shell_quote(word) end
  return table.concat(words, " ")
end

-- Rewrites DIR/abandoned.sh, the guard's cleanup, for the servers started
-- so far: SERVER (the simulator's handle) and PG (the throwaway server).
-- The file is renamed into place, so the guard never reads half of it.
local function write_abandoned_script(dir, server, pg)
  local lines = {}
  if server then lines[#lines + 1] = ("kill -9 -%d || kill -9 %d"):format(server.pid, server.pid) end
  if pg then
    lines[#lines + 1] = shell_command(pg.stop_argv)
    lines[#lines + 1] = "rm -rf " .. shell_quote(pg.dir)
  end
  write_file(dir .. "/abandoned.sh.new", table.concat(lines, "\n") .. "\n")
  assert(os.rename(dir .. "/abandoned.sh.new", dir .. "/abandoned.sh"))
end

--- Runs FN() with a simulator and a throwaway PostgreSQL server started
-- for PLAYBOOK_PATH. OPTIONS: scenario (file or built-in name; default
-- MNEM_SIM_SCENARIO or "parity"), sim_log (path to keep the simulator's
-- request log; default: a file in the temporary folder, shown on failure).
-- FN is called with the rehearsal's description, { scenario = NAME,
-- endpoint = the simulator's URL }, which the engine records.
-- Returns what FN returns. Both servers are stopped whatever FN does.
-- SIGINT and SIGTERM are trapped from the start, so a signal while the
-- servers start stops them too, and a guard process stops them if mnem is
-- killed outright. That failure, like any other before FN runs, is raised
-- as a message with the command's exit status.
function M.with_simulator(playbook_path, options, fn)
  options = options or {}
  sys.trap_signals()
  local name = options.scenario or os.getenv("MNEM_SIM_SCENARIO") or M.DEFAULT_SCENARIO
  local dir = exec.run({ "mktemp", "-d", "--tmpdir", "mnem-sim.XXXXXX" }, { stream = false, read_only = true })
    .stdout:gsub("%s+$", "")
  local pg, server
  local guard = exec.spawn({ "/bin/sh", "-c", GUARD_SCRIPT, "mnem-rehearsal-guard", tostring(sys.getpid()), dir })
  -- Runs after the playbook, also when it was interrupted: the signal is
  -- cleared first so the servers are stopped and their files removed
  -- instead of the cleanup being interrupted too.
  -- The guard is stopped last, so it still cleans up when mnem is killed
  -- while it stops the servers.
  local function cleanup()
    sys.clear_signal()
    local steps = {
      function() if server then server.stop() end end,
      function() if pg then pg.stop() end end,
      function() exec.run({ "rm", "-rf", dir }, { stream = false, read_only = true, check = false }) end,
      function() guard:kill("KILL") guard:wait() end,
    }
    for _, step in ipairs(steps) do
      local ok, err = pcall(step)
      if not ok then log.error("rehearsal cleanup: " .. tostring(err) .. " (remove " .. dir .. " by hand)") end
    end
  end

  local started = false
  local ok, result = xpcall(function()
    local scenario = scenario_file(name, dir)
    log.info(("rehearsal: starting a throwaway PostgreSQL and the simulator (scenario %s) for %s")
      :format(name, playbook_path))
    -- The guard learns the PostgreSQL folder before initdb, because a kill
    -- while the server starts would otherwise leave it running.
    pg = throwaway_pg.start{ on_folder = function(pg_dir, stop_argv)
      write_abandoned_script(dir, nil, { dir = pg_dir, stop_argv = stop_argv })
    end }
    -- When the binary was replaced after mnem started (a rebuild), the
    -- link names a deleted file, so it has no real path. Executing the link
    -- itself still starts this same program.
    local self_path = sys.realpath("/proc/self/exe") or "/proc/self/exe"
    local ready_file, log_file = dir .. "/ready.json", options.sim_log or (dir .. "/simulator.log")
    server = exec.spawn({ self_path, "sim", "serve", "--port", "0", "--ready-file", ready_file,
                          "--scenario", scenario }, {
      env = { MNEM_SIM_PG_HOST = pg.host, MNEM_SIM_PG_PORT = tostring(pg.port), MNEM_SIM_PG_USER = pg.user,
              MNEM_SIM_PG_PASSWORD = pg.password, MNEM_SIM_PG_DBNAME = pg.dbname or "postgres" },
      stdout = log_file, stderr = log_file,
    })
    write_abandoned_script(dir, server, pg)
    local ready = wait_ready(server.process, ready_file, log_file)
    ready.secret_access_key = secret.mark(ready.secret_access_key or "test")
    if ready.session_token then secret.mark(ready.session_token) end
    ready.access_key_id = ready.access_key_id or "test"
    ready.region = ready.region or "us-east-1"
    write_aws_files(dir, ready, scenario_profiles(scenario))
    for variable, value in pairs(rehearsal_environment(dir, ready, pg)) do
      sys.setenv(variable, value or nil)
    end
    log.info(("rehearsal: simulator at %s (account %s, region %s), PostgreSQL on %s:%d")
      :format(ready.endpoint, tostring(ready.account), ready.region, pg.host, pg.port))
    started = true
    return table.pack(fn({ scenario = name, endpoint = ready.endpoint }))
  end, function(e)
    if type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
  end)
  local interrupted = not started and (sys.signal() ~= nil or (errors.is(result) and result.kind == "interrupted"))
  cleanup()
  if not ok and not started and errors.is(result) then
    local cli = require("mnem.cli")
    if interrupted then
      error({ exit = cli.EXIT.interrupted, message = "mnem run: interrupted while the rehearsal's servers started;"
        .. " they were stopped and their files removed" }, 0)
    end
    error({ exit = cli.EXIT.failed, message = "mnem run: the rehearsal could not start: " .. tostring(result) }, 0)
  end
  if not ok then error(result, 0) end
  return table.unpack(result, 1, result.n)
end

return M
