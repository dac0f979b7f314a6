-- mnem report RUN: the summary of a run, from its run record.
local cli = require("mnem.cli")
local record = require("mnem.record")
local report = require("mnem.report")

local M = {}

M.summary = "write the summary of a run from its record (markdown or json)"
M.usage = [[
usage: mnem report RUN [--format markdown|json] [--output FILE] [--state-dir DIR]

Writes the summary of run RUN (an id, a unique prefix of one, or "last"):
actions taken with times and durations, the outcome, problems met and how
they were solved (retries, recovered errors, fallbacks), problems left
unresolved, resources created or changed, rollbacks, follow-up work, and
the calls made. No secret appears in it: the record is redacted when it is
written.

  --format F     markdown (default) or json
  --output FILE  write to FILE (mode 0600) instead of standard output
  --state-dir D  where runs are recorded (default $XDG_STATE_HOME/mnem)]]

function M.main(args)
  local options, positional = cli.parse_args(args, {
    ["--format"] = "string", ["--output"] = "string", ["--state-dir"] = "string",
  }, "report")
  if #positional ~= 1 then
    error(cli.usage_error("mnem report: expected one RUN id (mnem runs lists them)"), 0)
  end
  local format = options.format or "markdown"
  if format ~= "markdown" and format ~= "json" then
    error(cli.usage_error(("mnem report: --format must be markdown or json, not %q"):format(format)), 0)
  end
  local ok, path = pcall(record.find, options.state_dir, positional[1])
  if not ok then error(cli.usage_error("mnem report: " .. tostring(path)), 0) end
  local events, truncated = record.read(path)
  if not events then error(cli.usage_error("mnem report: " .. tostring(truncated)), 0) end
  local function damaged(problem)
    local failure = cli.usage_error(("mnem report: %s is not a readable run record: %s"):format(path, problem))
    failure.exit = cli.EXIT.failed
    error(failure, 0)
  end
  local problem = record.problem(events)
  if problem then damaged(problem) end
  local built, body = pcall(function()
    local data = report.build(events, truncated)
    -- A run without run_end whose process is gone is not still going.
    local abandoned = data.run.status == "unfinished" and record.abandoned(record.summarize(events))
    if abandoned then data.run.status, data.run.abandoned = "abandoned", abandoned end
    return format == "json" and (report.json(data) .. "\n") or report.markdown(data)
  end)
  if not built then damaged("a line has fields of the wrong type") end
  if options.output then
    os.remove(options.output .. ".tmp")
    local file = require("mnem._sys").open_record(options.output .. ".tmp")
    if not file then error(cli.usage_error("mnem report: cannot write " .. options.output), 0) end
    file:write(body)
    file:close()
    assert(os.rename(options.output .. ".tmp", options.output))
  else
    io.stdout:write(body)
  end
  return cli.EXIT.ok
end

return M
