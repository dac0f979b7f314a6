-- Run records stay valid JSON with their usual fields, whatever the run
-- does: short secrets, NaN and infinite outputs, string errors with
-- tracebacks. The tools that read records (runs, show, report) also
-- survive damaged records.
local t = require("t")
local h = require("engine_helpers")
local record = require("mnem.record")

-- Returns true when every line of the file at PATH is strict JSON.
local function strict_json(path)
  local ok = os.execute("python3 -c 'import json,sys\nfor l in open(sys.argv[1]): json.loads(l)' "
    .. h.quote(path) .. " 2>/dev/null")
  return ok == true
end

local SECRET_PLAYBOOK = [[
playbook { name = "sec2", vars = { pw = { type = "secret" } }, steps = {
  step "s" { run = function(ctx)
    return { j = json.encode({ pw = ctx.vars.pw }), plain = "the pw is " .. ctx.vars.pw } end } } }
]]

for _, pw in ipairs({ "status", "e", "1204", "event" }) do
  t.test("a short secret " .. pw .. " keeps the record's structure", function()
    h.setup(t)
    local code, _, stderr = h.run(SECRET_PLAYBOOK, { "--var", "pw=" .. pw })
    t.eq(code, 0)
    local events, path = h.last_record()
    t.ok(strict_json(path), "strict JSON")
    t.contains(stderr, ": " .. path .. "\n", "final message names the record")
    t.contains(stderr, "(run " .. events[1].run .. ")", "final message names the run")
    local names = {}
    for _, e in ipairs(events) do names[#names + 1] = e.event end
    t.eq(names, { "run_start", "step_start", "attempt", "step_finish", "run_end" })
    t.ok(path:find(events[1].run, 1, true), "run id is the file name: " .. tostring(events[1].run))
    local finish = h.events(events, "step_finish")[1]
    t.eq(finish.status, "ok")
    t.eq(finish.outputs.plain, (("the pw is " .. pw):gsub(pw, "********")))
    t.eq(h.events(events, "run_end")[1].status, "succeeded")
    local status, out, err = h.mnem({ "runs", "--state-dir", h.state })
    t.eq(status, 0, "runs: " .. err)
    t.contains(out, "succeeded")
    status, out, err = h.mnem({ "show", "last", "--state-dir", h.state })
    t.eq(status, 0, "show: " .. err)
    t.contains(out, "run succeeded")
    t.not_contains(err, "traceback")
    status, _, err = h.mnem({ "report", "last", "--state-dir", h.state })
    t.eq(status, 0, "report: " .. err)
  end)
end

t.test("a key equal to a secret is masked, other keys are kept", function()
  h.setup(t)
  h.run([[
playbook { name = "keys", vars = { pw = { type = "secret" } }, steps = {
  step "s" { run = function(ctx) return { [ctx.vars.pw] = 1, status = ctx.vars.pw } end } } }
]], { "--var", "pw=status" })
  local _, path = h.last_record()
  local text = h.slurp(path)
  t.not_contains(text, '"status":"status"')
  t.contains(text, '"status":"ok"')
end)

t.test("NaN and infinite outputs are recorded as strings", function()
  h.setup(t)
  t.eq((h.run([[
playbook { name = "w2", steps = { step "n" { run = function()
  return { n = 0/0, inf = math.huge, ninf = -math.huge, list = { 1, 0/0 } } end } } }
]])), 0)
  local events, path = h.last_record()
  t.ok(strict_json(path), "strict JSON")
  local outputs = h.events(events, "step_finish")[1].outputs
  t.eq(outputs.n, "nan")
  t.eq(outputs.inf, "inf")
  t.eq(outputs.ninf, "-inf")
  t.eq(outputs.list[2], "nan")
end)

t.test("string errors are recorded as one line, the traceback apart", function()
  h.setup(t)
  local status = h.run([[
playbook { name = "p1", deadline = "1m", steps = {
  step "a" { run = function() return {} end, rollback = function() error("rollback broke") end },
  step "b" { retry = { match = "*", max_attempts = 2, interval = "10ms" },
             run = function() error("transient trouble") end },
} }
]])
  t.eq(status, 1)
  local events, path = h.last_record()
  t.ok(strict_json(path), "strict JSON")
  local seen = {}
  for _, e in ipairs(events) do
    if e.error ~= nil then
      seen[e.event] = true
      t.eq(type(e.error), "string", e.event .. " error is a string")
      t.not_contains(e.error, "\n", e.event .. " error is one line")
      t.not_contains(e.error, "stack traceback", e.event)
    end
  end
  for _, name in ipairs({ "step_error", "retry", "step_finish", "rollback_finish", "run_end" }) do
    t.ok(seen[name], name .. " has an error")
  end
  local failed = h.events(events, "run_end")[1].rollback_failed[1]
  t.eq(failed.error:match("^[^\n]*rollback broke$") ~= nil, true, "rollback_failed error is one line")
  t.contains(failed.traceback, "stack traceback:")
  local err = h.events(events, "step_error")[1]
  t.contains(err.error, "transient trouble")
  t.contains(err.traceback, "stack traceback:")
end)

-- Writes record TEXT under run id ID in the test's state folder.
local function write_record(id, text)
  os.execute("mkdir -p " .. h.quote(h.state .. "/runs"))
  h.write(h.state .. "/runs", id .. ".jsonl", text)
end

local DAMAGED = {
  { id = "20991231T000003Z-dddddd", text = '{"event":"run_start","run":5,"vars":"zz","elapsed":"x","time":7}\n',
    why = "wrong type" },
  { id = "20991231T000002Z-eeeeee", text = "", why = "no events" },
  { id = "20991231T000001Z-ffffff", text = "garbage\n", why = "not a run_start" },
  { id = "20991231T000000Z-aaaaaa", why = "wrong type",
    text = '{"event":"run_start","run":"r","name":"n","time":"t","vars":"zz"}\n'
      .. '{"event":"step_finish","status":5,"attempts":"x","step":3}\n' .. '{"event":"retry","attempts_left":"x"}\n' },
}

t.test("runs lists damaged records as unreadable", function()
  h.setup(t)
  t.eq((h.run(SECRET_PLAYBOOK, { "--var", "pw=x" })), 0)
  for _, case in ipairs(DAMAGED) do write_record(case.id, case.text) end
  local status, out, err = h.mnem({ "runs", "--state-dir", h.state })
  t.eq(status, 0, "runs: " .. err)
  t.not_contains(err, "traceback")
  t.ok(out:find("20991231T000003Z%-dddddd +%? +unreadable"), "empty record listed")
  t.ok(out:find("20991231T000002Z%-eeeeee +%? +unreadable"), "wrongly typed record listed")
  t.contains(out, "sec2")
end)

for _, case in ipairs(DAMAGED) do
  t.test("show and report on damaged record " .. case.id:sub(-6), function()
    h.setup(t)
    write_record(case.id, case.text)
    local path = h.state .. "/runs/" .. case.id .. ".jsonl"
    local status, out, err = h.mnem({ "report", case.id, "--state-dir", h.state })
    t.eq(status, 1, "report exit status")
    t.contains(err, path, "report names the file")
    t.contains(err, case.why)
    t.not_contains(err, "traceback")
    t.not_contains(err, "internal error")
    t.eq(out, "")
    status, _, err = h.mnem({ "show", case.id, "--state-dir", h.state })
    t.not_contains(err, "traceback")
    t.not_contains(err, "internal error")
    if case.id:sub(-6) == "aaaaaa" then
      t.eq(status, 0, "show prints what it can")
    else
      t.eq(status, 1, "show exit status")
      t.contains(err, path, "show names the file")
    end
  end)
end

t.test("runs of one second list newest first", function()
  h.setup(t)
  local body = 'playbook { name = "%s", steps = { step "a" { run = function() end } } }\n'
  local first = h.write(h.scratch, "first.lua", body:format("first"))
  local second = h.write(h.scratch, "second.lua", body:format("second"))
  for _ = 1, 4 do
    t.eq((h.mnem({ "run", first, "--state-dir", h.state })), 0)
    t.eq((h.mnem({ "run", second, "--state-dir", h.state })), 0)
  end
  local ids = record.list(h.state)
  t.eq(#ids, 8)
  local previous = nil
  for _, id in ipairs(ids) do
    local events = record.read(record.runs_dir(h.state) .. "/" .. id .. ".jsonl")
    local started = events[1].time
    if previous then t.ok(started <= previous, ("%s started %s, before %s"):format(id, started, previous)) end
    previous = started
  end
  local status, out = h.mnem({ "show", "last", "--state-dir", h.state })
  t.eq(status, 0)
  t.contains(out, 'of "second"')
  status, out = h.mnem({ "report", "last", "--state-dir", h.state })
  t.eq(status, 0)
  t.contains(out, "# Run report: second")
end)

t.done()
