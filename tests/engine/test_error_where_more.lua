-- More cases of an error's `where` and of the rehearsal mark in records.
-- A chunk loaded from a string names no code in `where`, because Lua's
-- short form of such a chunk quotes its first bytes, which can cut a
-- secret where masking no longer finds it. A chunk given a name keeps the
-- whole name, so a secret in it is masked. A `where` the caller supplies
-- is kept. A hand-edited record whose rehearsal or scenario has the wrong
-- type is still listed, shown and reported.
local t = require("t")
local h = require("engine_helpers")
local cjson = require("cjson")

local SECRET = "s3cr3t-value-for-where-tests-0123456789"

t.test("string chunk hides its code in where", function()
  h.setup(t)
  local status, _, stderr = h.run(([[
local key = secret(%q)
local env = _ENV
playbook {
  name = "where-chunk",
  steps = {
    step "Run" { run = function()
      local f = assert(load("local padding_to_cut_the_short_form_of_this_chunk = '%s'\n"
        .. "local r = exec{ 'mnem-no-such-program' } return r", nil, "t", env))
      f()
    end },
  },
}
]]):format(SECRET, SECRET))
  t.eq(status, 1, "exit status")
  t.contains(stderr, "\n  at [string]:2, called from ")
  t.not_contains(stderr, SECRET:sub(1, 2) .. "...")
  local finish = h.events(h.last_record(), "run_end")[1]
  t.ok(finish.error.where:find("^%[string%]:2, called from "), "recorded where: " .. tostring(finish.error.where))
end)

t.test("named chunk masks a secret in where", function()
  h.setup(t)
  local status, _, stderr = h.run(([[
local key = secret(%q)
local env = _ENV
playbook {
  name = "where-named",
  steps = {
    step "Run" { run = function()
      local f = assert(load("local r = exec{ 'mnem-no-such-program' } return r", "=chunk " .. key, "t", env))
      f()
    end },
  },
}
]]):format(SECRET))
  t.eq(status, 1, "exit status")
  t.contains(stderr, "\n  at chunk ********:1, called from ")
  t.not_contains(stderr, SECRET)
  local _, path = h.last_record()
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  t.not_contains(text, SECRET, "record")
end)

t.test("supplied where is kept", function()
  h.setup(t)
  local status, _, stderr = h.run([[
local errors = require("mnem.errors")
playbook {
  name = "where-supplied",
  steps = { step "Run" { run = function()
    error(errors.new{ kind = "deploy", code = "Broken", message = "broken", where = "deploy.yaml:7" })
  end } },
}
]])
  t.eq(status, 1, "exit status")
  t.contains(stderr, "\n  at deploy.yaml:7\n")
end)

t.test("error in a coroutine names its line", function()
  h.setup(t)
  local status, _, stderr = h.run([[
playbook {
  name = "where-coroutine",
  steps = { step "Run" { run = function()
    coroutine.wrap(function()
      exec{ "mnem-no-such-program" }
    end)()
  end } },
}
]])
  t.eq(status, 1, "exit status")
  t.ok(stderr:find("\n  at [^\n]*playbook%.lua:5\n"), "where under the error: " .. stderr)
end)

-- Writes a finished run with run_start field rehearsal = VALUE and returns its id.
local function write_record(state, index, value)
  local id = ("20260101T000000.000Z-%06d"):format(index)
  os.execute("mkdir -p " .. state .. "/runs")
  local f = assert(io.open(state .. "/runs/" .. id .. ".jsonl", "w"))
  f:write(cjson.encode{ event = "run_start", run = id, time = "2026-01-01T00:00:00.000Z", name = "damaged",
    playbook = "/nowhere/damaged.lua", pid = 1, host = "h", mnem_version = "0", vars = {}, dry_run = false,
    rehearsal = value }, "\n")
  f:write(cjson.encode{ event = "run_end", run = id, time = "2026-01-01T00:00:01.000Z", status = "succeeded",
    duration = 1 }, "\n")
  f:close()
  return id
end

t.test("damaged rehearsal marks do not crash", function()
  local _, state = h.setup(t)
  local cases = {
    { value = "yes", rehearsal = false },
    { value = 5, rehearsal = false },
    { value = true, rehearsal = false },
    { value = {}, rehearsal = true },
    { value = { scenario = { a = 1 } }, rehearsal = true },
    { value = { scenario = cjson.null }, rehearsal = true },
    { value = { scenario = 7 }, rehearsal = true },
    { value = { scenario = "parity" }, rehearsal = true, scenario = "parity" },
  }
  for i, case in ipairs(cases) do case.id = write_record(state, i, case.value) end
  local status, runs = h.mnem({ "runs", "--state-dir", state })
  t.eq(status, 0, "mnem runs exit status")
  for _, case in ipairs(cases) do
    local line = runs:match("\n(" .. case.id:gsub("%p", "%%%0") .. "[^\n]*)")
    t.ok(line, "listed: " .. case.id)
    t.eq(line:find("(rehearsal)", 1, true) ~= nil, case.rehearsal, "runs mark for " .. case.id)
    local shown_status, shown = h.mnem({ "show", "--state-dir", state, case.id })
    t.eq(shown_status, 0, "mnem show exit status for " .. case.id)
    local reported_status, report = h.mnem({ "report", "--state-dir", state, case.id })
    t.eq(reported_status, 0, "mnem report exit status for " .. case.id)
    if case.rehearsal then
      local scenario = "(scenario " .. (case.scenario or "?") .. ")"
      t.contains(shown, "rehearsal on the local simulator " .. scenario)
      t.contains(report, "- Rehearsal: against the local simulator " .. scenario)
    else
      t.not_contains(shown, "rehearsal on")
      t.not_contains(report, "- Rehearsal:")
    end
  end
end)

t.done()
