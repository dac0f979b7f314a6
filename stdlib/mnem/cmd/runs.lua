-- mnem runs: list recent runs from their run records.
local cli = require("mnem.cli")
local duration = require("mnem.duration")
local record = require("mnem.record")

local M = {}

M.summary = "list recent runs"
M.usage = [[
usage: mnem runs [--limit N] [--state-dir DIR]

Lists recent runs, newest first: run id, playbook name, status, start time
(UTC) and duration. Run records are read from DIR/runs, by default
$XDG_STATE_HOME/mnem/runs (~/.local/state/mnem/runs). A run whose record
has no end line shows as "running", or as "abandoned" when it ran on this
host and its process is gone (killed with SIGKILL, or the host restarted).
A record that is empty or damaged shows as "unreadable".

  --limit N   show at most N runs (default 20)]]

--- Prints the list of runs and returns the exit status.
function M.main(args)
  local options, positional = cli.parse_args(args, { ["--limit"] = "string", ["--state-dir"] = "string" }, "runs")
  if #positional > 0 then error(cli.usage_error("mnem runs: unexpected argument " .. positional[1]), 0) end
  local limit = math.tointeger(tonumber(options.limit or "20"))
  if not limit or limit < 1 then
    error(cli.usage_error("mnem runs: --limit must be a positive integer, got " .. tostring(options.limit)), 0)
  end
  local ids = record.list(options.state_dir)
  if #ids == 0 then
    io.stdout:write("no runs recorded in ", record.runs_dir(options.state_dir), "\n")
    return cli.EXIT.ok
  end
  local rows = { { "RUN", "PLAYBOOK", "STATUS", "STARTED", "DURATION" } }
  for i = 1, math.min(limit, #ids) do
    local events = record.read(record.runs_dir(options.state_dir) .. "/" .. ids[i] .. ".jsonl") or {}
    if record.problem(events) then
      -- A damaged record is listed as such; the other runs are still shown.
      rows[#rows + 1] = { ids[i], "?", "unreadable", "?", "-" }
    else
      local s = record.summarize(events)
      if record.abandoned(s) then s.status = "abandoned" end
      local status = s.status .. (s.interrupted_during and (" during " .. s.interrupted_during) or "")
        .. (s.dry_run and " (dry run)" or "") .. (s.rehearsal and " (rehearsal)" or "")
      rows[#rows + 1] = { ids[i], s.name or "?", status, s.started and s.started:sub(1, 19):gsub("T", " ") or "?",
                          s.duration and duration.format(s.duration) or "-" }
    end
  end
  local widths = {}
  for _, row in ipairs(rows) do
    for c, cell in ipairs(row) do widths[c] = math.max(widths[c] or 0, #cell) end
  end
  for _, row in ipairs(rows) do
    local cells = {}
    for c, cell in ipairs(row) do cells[c] = c < #row and cell .. (" "):rep(widths[c] - #cell) or cell end
    io.stdout:write(table.concat(cells, "  "), "\n")
  end
  return cli.EXIT.ok
end

return M
