-- mnem sim serve: run the local AWS simulator on loopback.
--
-- Parses the command line, collects fault rules from --fault and the
-- MNEM_SIM_FAULTS environment variable, and hands everything to
-- sim.server.start. Exit status 0 on SIGINT/SIGTERM, 2 for usage errors
-- and invalid scenario files.
local cli = require("mnem.cli")
local embed = require("mnem._embed")
local exec = require("mnem.exec")
local faults = require("sim.faults")
local log = require("mnem.log")
local sys = require("mnem._sys")

local M = {}

M.summary = "run the local AWS simulator (mnem sim serve)"
M.usage = [[
usage: mnem sim serve [OPTIONS]

Serves a simulated AWS (RDS, SSM, ECS, CloudWatch Logs, ELBv2, Application
Auto Scaling, STS, Secrets Manager) on 127.0.0.1 until SIGINT or SIGTERM.
Point clients at it with --endpoint-url http://127.0.0.1:PORT.

options:
  --port N            API port (default 0: a free port, printed on stderr)
  --host ADDR         loopback address to bind (default 127.0.0.1; other
                      addresses are rejected)
  --scenario NAME|FILE
                      a Lua scenario file, or the name of a built-in
                      scenario (empty, parity); default: an empty world with
                      the access key test / secret test in account
                      123456789012
  --ready-file FILE   write a JSON file with the endpoint, pid, account and
                      load balancer ports once the ports are bound
  --seed N            seed of the request ids and the faults (default: the
                      scenario's, else 1)
  --time-scale X      simulated seconds per real second (default: the
                      scenario's, else 1)
  --fault K=V         inject faults, repeatable: throttle=RATE, 5xx=RATE,
                      drop=RATE (each 0..1), latency=SECONDS or MIN-MAX
  --fault-service S   limit the --fault rules to service S (e.g. ssm)
  --log-format F      text (default) or json request log on stderr
  --quiet             no request log

MNEM_SIM_FAULTS="throttle=0.1,5xx=0.02" adds one more fault rule.]]

local SPEC = {
  ["--port"] = "string", ["--host"] = "string", ["--scenario"] = "string", ["--ready-file"] = "string",
  ["--seed"] = "string", ["--time-scale"] = "string", ["--fault"] = "list", ["--fault-service"] = "string",
  ["--log-format"] = "string", ["--quiet"] = "flag",
}

local function usage_error(message)
  error(cli.usage_error("mnem sim: " .. message), 0)
end

local function number_option(options, name, integer)
  local text = options[name]
  if text == nil then return nil end
  local value = tonumber(text)
  if value and integer then value = math.tointeger(value) end
  if not value then
    usage_error(("--%s needs %s, got %q"):format(name:gsub("_", "-"), integer and "an integer" or "a number", text))
  end
  return value
end

-- Returns the names of the built-in scenarios, sorted.
local function builtin_scenarios()
  local names = {}
  for _, path in ipairs(embed.list("sim/scenarios/")) do
    names[#names + 1] = path:match("([^/]+)%.lua$")
  end
  table.sort(names)
  return names
end

-- Resolves --scenario NAME to a file the server can load: NAME itself when
-- it is a file, else a copy of the built-in scenario NAME in a new
-- temporary folder. Returns the path and the folder to remove afterwards
-- (nil for a file of the user's).
local function scenario_file(name)
  if name == nil or sys.stat(name) then return name, nil end
  local text = name:match("^[%w_-]+$") and embed.read("sim/scenarios/" .. name .. ".lua")
  if not text then
    usage_error(("scenario %q is neither a file nor a built-in scenario (built-in: %s)"):format(name,
      table.concat(builtin_scenarios(), ", ")))
  end
  local dir = exec.run({ "mktemp", "-d", "--tmpdir", "mnem-scenario.XXXXXX" }, { stream = false, read_only = true })
    .stdout:gsub("%s+$", "")
  local path = dir .. "/" .. name .. ".lua"
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path, dir
end

-- Builds the fault rules of the command line and the environment.
local function collect_faults(options)
  local rules = {}
  local ok, err = pcall(function()
    if options.fault then
      local rule = {}
      for _, item in ipairs(options.fault) do
        for key, value in pairs(faults.parse_spec(item, "--fault")) do rule[key] = value end
      end
      if options.fault_service then
        rule.service = faults.check_rule({ service = options.fault_service }, "--fault-service").service
      end
      rules[#rules + 1] = faults.check_rule(rule, "--fault")
    elseif options.fault_service then
      error("--fault-service needs at least one --fault", 0)
    end
    local env = os.getenv("MNEM_SIM_FAULTS")
    if env and env ~= "" then rules[#rules + 1] = faults.parse_spec(env, "MNEM_SIM_FAULTS") end
  end)
  if not ok then usage_error(tostring(err)) end
  return rules
end

--- Runs `mnem sim ARGS`.
function M.main(args)
  if args[1] ~= "serve" then
    usage_error(args[1] and ("unknown subcommand %q; usage: mnem sim serve [OPTIONS]"):format(args[1])
      or "missing subcommand; usage: mnem sim serve [OPTIONS]")
  end
  local options, positional = cli.parse_args(table.move(args, 2, #args, 1, {}), SPEC, "sim")
  if #positional > 0 then usage_error("unexpected argument " .. positional[1]) end
  local port = number_option(options, "port", true)
  if port and (port < 0 or port > 65535) then usage_error("--port must be between 0 and 65535") end
  local time_scale = number_option(options, "time_scale", false)
  if time_scale and time_scale <= 0 then usage_error("--time-scale must be a positive number") end
  local format = options.log_format or "text"
  if format ~= "text" and format ~= "json" then usage_error("--log-format must be text or json") end
  log.configure{ format = format }
  local rules = collect_faults(options)
  local seed = number_option(options, "seed", true)
  local scenario_path, scenario_dir = scenario_file(options.scenario)
  -- Loaded here, not at the top, so `mnem --help` works without the models.
  local sim_server = require("sim.server")
  local ok, result = pcall(sim_server.start, {
    port = port or 0, host = options.host, scenario_path = scenario_path, seed = seed,
    time_scale = time_scale, ready_file = options.ready_file, log = not options.quiet, faults = rules,
  })
  -- NOTE: a simulator killed with SIGKILL leaves this folder behind.
  if scenario_dir then
    -- SIGTERM and SIGINT are how the simulator is stopped, and a pending
    -- signal would make exec.run raise instead of removing the folder.
    sys.clear_signal()
    exec.run({ "rm", "-rf", scenario_dir }, { stream = false, read_only = true, check = false })
  end
  if not ok then
    if type(result) == "table" and result.scenario_error then usage_error(result.message) end
    local text = tostring(result)
    if text:find("refusing to listen on non%-loopback address") or text:find("cannot listen on") then
      usage_error(text)
    end
    error(result, 0)
  end
  return cli.EXIT.ok
end

return M
