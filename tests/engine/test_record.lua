-- The run record: file modes, line format, the tolerant reader, primitive
-- calls, and the runs and show commands.
local t = require("t")
local h = require("engine_helpers")
local record = require("mnem.record")
local sys = require("mnem._sys")

local PLAYBOOK = [[
local record = require("mnem.record")
playbook {
  name = "recorded",
  steps = {
    step "Call" { run = function()
      record.primitive{ name = "aws.rds.describe_db_instances", args = { DBInstanceIdentifier = "db1" },
                        status = "ok", duration = 0.25 }
      return { id = "db1" }
    end },
  },
}
]]

t.test("record file and folder modes", function()
  h.setup(t)
  t.eq((h.run(PLAYBOOK)), 0)
  local _, path = h.last_record()
  t.eq(sys.stat(path).mode, tonumber("600", 8), "file mode 0600")
  t.eq(sys.stat(record.runs_dir(h.state)).mode, tonumber("700", 8), "folder mode 0700")
  t.ok(path:match("/runs/%d%d%d%d%d%d%d%dT%d%d%d%d%d%d%.%d%d%dZ%-%x%x%x%x%x%x%.jsonl$"), "id format: " .. path)
end)

t.test("record lines and events", function()
  h.setup(t)
  h.run(PLAYBOOK)
  local events, path, truncated = h.last_record()
  t.eq(truncated, false)
  local names = {}
  for _, e in ipairs(events) do names[#names + 1] = e.event end
  t.eq(names, { "run_start", "step_start", "attempt", "primitive", "step_finish", "run_end" })
  local start = events[1]
  t.eq(start.name, "recorded")
  t.eq(start.playbook, h.scratch .. "/playbook.lua")
  t.ok(start.mnem_version, "version recorded")
  t.ok(start.pid > 0, "pid recorded")
  t.ok(start.host, "host recorded")
  local primitive = events[4]
  t.eq(primitive.name, "aws.rds.describe_db_instances")
  t.eq(primitive.step, "Call", "primitive lines name the step")
  t.eq(primitive.args.DBInstanceIdentifier, "db1")
  for _, e in ipairs(events) do
    t.ok(e.time:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), "time format " .. e.time)
    t.eq(e.run, start.run, "every line names the run")
  end
  local lines = h.lines(path)
  t.eq(#lines, #events, "one event per line")
end)

t.test("reader tolerates cut last line", function()
  local dir = h.setup(t)
  local path = h.write(dir, "cut.jsonl", '{"event":"run_start","name":"x"}\nnot json\n'
    .. '{"event":"step_start","step":"A"}\n{"event":"step_fin')
  local events, truncated = record.read(path)
  t.eq(truncated, true)
  t.eq(#events, 3)
  t.eq(events[2].event, "unreadable")
  t.eq(events[2].line, 2)
  t.eq(events[3].step, "A")
  local summary = record.summarize(events)
  t.eq(summary.status, "running", "no run_end line")
end)

t.test("primitive without a run is a no-op", function()
  t.eq(record.active(), nil)
  record.primitive{ name = "x", status = "ok" }
  record.event("anything", {})
end)

t.test("plain copies odd values", function()
  local cyclic = { a = 1 }
  cyclic.self = cyclic
  local plain = record.plain({ f = print, c = cyclic, e = require("mnem.errors").new{ kind = "aws", code = "X",
                                                                                   message = "m" } })
  t.eq(plain.f, "<function>")
  t.eq(plain.c.self, "<cycle>")
  t.eq(plain.e.text, "aws X: m")
  t.eq(plain.e.code, "X")
end)

t.test("runs and show commands", function()
  h.setup(t)
  h.run(PLAYBOOK)
  local ok_id = record.list(h.state)[1]
  os.execute("sleep 1")
  h.run([[playbook { name = "broken", steps = { step "Boom" { run = function() error("kaput") end } } }]])
  local status, out = h.mnem({ "runs", "--state-dir", h.state })
  t.eq(status, 0)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  t.eq(#lines, 3, "header and two runs")
  t.ok(lines[1]:match("^RUN%s+PLAYBOOK%s+STATUS%s+STARTED%s+DURATION$"), "header: " .. lines[1])
  t.ok(lines[2]:match("broken%s+failed"), "newest first: " .. lines[2])
  t.ok(lines[3]:match("^" .. ok_id:gsub("%-", "%%-") .. "%s+recorded%s+succeeded"), "older run: " .. lines[3])
  local show_status, shown = h.mnem({ "show", "last", "--state-dir", h.state })
  t.eq(show_status, 0)
  t.contains(shown, "[Boom] attempt 1 failed: ")
  t.contains(shown, "kaput")
  t.contains(shown, "run failed in")
  local _, by_prefix = h.mnem({ "show", ok_id:sub(1, #ok_id - 3), "--state-dir", h.state })
  t.contains(by_prefix, "[Call] aws.rds.describe_db_instances ok in 0.25s")
  t.contains(by_prefix, 'outputs {"id":"db1"}')
  local _, raw = h.mnem({ "show", ok_id, "--json", "--state-dir", h.state })
  t.eq(raw, h.slurp(record.runs_dir(h.state) .. "/" .. ok_id .. ".jsonl"), "--json prints the raw lines")
  local missing_status, _, err = h.mnem({ "show", "nope", "--state-dir", h.state })
  t.eq(missing_status, 2)
  t.contains(err, 'no run "nope"')
end)

t.test("runs with no records", function()
  h.setup(t)
  local status, out = h.mnem({ "runs", "--state-dir", h.state })
  t.eq(status, 0)
  t.contains(out, "no runs recorded in " .. h.state .. "/runs")
end)

t.test("default state dir from XDG", function()
  local dir = h.setup(t)
  local status = h.run(PLAYBOOK, {}, { XDG_STATE_HOME = dir .. "/xdg" })
  t.eq(status, 0)
  t.eq(#record.list(dir .. "/xdg/mnem"), 0, "--state-dir wins over XDG_STATE_HOME")
  local path = h.write(dir, "p2.lua", PLAYBOOK)
  t.eq((h.mnem({ "run", path }, { XDG_STATE_HOME = dir .. "/xdg" })), 0)
  t.eq(#record.list(dir .. "/xdg/mnem"), 1, "record under $XDG_STATE_HOME/mnem/runs")
end)

return t.done()
