-- mnem run PLAYBOOK: run a playbook's steps and write a run record.
local cli = require("mnem.cli")
local engine = require("mnem.engine")
local log = require("mnem.log")
local playbook = require("mnem.playbook")

local M = {}

M.summary = "run a playbook"
M.usage = [[
usage: mnem run PLAYBOOK [options]

Runs the steps of PLAYBOOK in order, with their guards, retries, timeouts
and rollbacks, and writes a run record (see mnem runs, mnem show).

options:
  --var NAME=VALUE         set a playbook variable (repeatable); overrides
                           the environment variable MNEM_VAR_<NAME>
  --dry-run                run the steps, but print what would change
                           instead of changing it
  --tags A,B               run only steps and groups tagged A or B (steps
                           marked always = true run regardless)
  --log-format text|json   log lines as text (default) or JSON
  --log-level LEVEL        debug, info (default), warn or error
  --state-dir DIR          keep run records in DIR/runs instead of
                           $XDG_STATE_HOME/mnem/runs
  --rollback-on-interrupt  run the rollback hooks when SIGINT or SIGTERM
                           stops the run (by default they do not run)
  --sim                    rehearse against the local AWS simulator and a
                           throwaway PostgreSQL server (AWS_ENDPOINT_URL and
                           PGHOST... point at them; http requests and
                           programs the playbook runs reach only loopback)
  --scenario NAME|FILE     the simulator scenario for --sim (default parity)
  --sim-log FILE           keep the simulator's request log in FILE (--sim)

exit status: 0 success, 1 the playbook failed, 2 usage error or invalid
playbook, 130 interrupted by SIGINT or SIGTERM (also when the signal
stopped the rollbacks after a failure).]]

local SPEC = {
  ["--var"] = "list", ["--dry-run"] = "flag", ["--tags"] = "string", ["--log-format"] = "string",
  ["--log-level"] = "string", ["--state-dir"] = "string", ["--rollback-on-interrupt"] = "flag", ["--sim"] = "flag",
  ["--scenario"] = "string", ["--sim-log"] = "string",
}

local function usage_error(message)
  error(cli.usage_error("mnem run: " .. message), 0)
end

-- Loads the simulator hook, or returns nil when this build has none.
local function load_sim_run()
  local ok, module = pcall(require, "mnem.sim_run")
  if ok then return module end
  if tostring(module):find("module 'mnem.sim_run' not found", 1, true) then return nil end
  error(module, 0)
end

--- Runs the command with ARGS and returns the exit status.
function M.main(args)
  local options, positional = cli.parse_args(args, SPEC, "run")
  if #positional ~= 1 then
    usage_error(#positional == 0 and "missing PLAYBOOK; usage: mnem run PLAYBOOK [options]"
      or "expected one PLAYBOOK, got " .. #positional .. " arguments")
  end
  local ok, message = pcall(log.configure, { format = options.log_format, level = options.log_level })
  if not ok then usage_error(tostring(message):gsub("^[^:]*:%d+: ", "")) end
  local tags
  if options.tags then
    tags = {}
    for tag in options.tags:gmatch("[^,%s]+") do tags[#tags + 1] = tag end
  end
  local path = positional[1]
  local loaded, pb, found = pcall(playbook.check, path)
  if not loaded then usage_error(tostring(pb)) end
  if not pb then error(cli.usage_error(playbook.report_mistakes("run", path, found)), 0) end
  if tags and #tags > 0 then
    -- A misspelled tag would otherwise select nothing and the run would
    -- "succeed" having run only the always-steps.
    local known = playbook.tags(pb)
    local has = {}
    for _, tag in ipairs(known) do has[tag] = true end
    local matched = false
    for _, tag in ipairs(tags) do matched = matched or has[tag] == true end
    if not matched then
      usage_error(("--tags %s: no step or group has %s; %s"):format(table.concat(tags, ","),
        #tags == 1 and "this tag" or "any of these tags",
        #known == 0 and "the playbook has no tags" or ("the playbook's tags are " .. table.concat(known, ", "))))
    end
  end
  local resolved, var_error = pcall(playbook.resolve_vars, pb, options.var)
  if not resolved then
    local texts = {}
    for line in tostring(var_error):gmatch("[^\n]+") do texts[#texts + 1] = line end
    error(cli.usage_error(playbook.report_mistakes("run", path, texts)), 0)
  end
  local run_options = { dry_run = options.dry_run, state_dir = options.state_dir, tags = tags,
                        rollback_on_interrupt = options.rollback_on_interrupt, scenario = options.scenario,
                        sim_log = options.sim_log }
  if not options.sim and (options.scenario or options.sim_log) then
    usage_error("--scenario and --sim-log need --sim")
  end
  local function go(rehearsal)
    run_options.rehearsal = rehearsal
    return engine.run(pb, run_options)
  end
  if options.sim then
    local sim_run = load_sim_run()
    if not sim_run then usage_error("--sim is not available in this build") end
    return sim_run.with_simulator(path, run_options, go)
  end
  return go()
end

return M
