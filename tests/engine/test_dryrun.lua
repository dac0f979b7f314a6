-- Dry runs: would-lines, placeholders and "would run, depends on".
local t = require("t")
local h = require("engine_helpers")
local dryrun = require("mnem.dryrun")
local errors = require("mnem.errors")

t.test("placeholder tostring and indexing", function()
  local u = dryrun.unknown("Create db", "aws rds CreateDBInstance")
  t.ok(dryrun.is_unknown(u))
  t.eq(tostring(u), "<unknown from Create db>")
  local inner = u.DBInstance.Endpoint.Address
  t.ok(dryrun.is_unknown(inner), "indexing gives another placeholder")
  t.eq(dryrun.origin(inner), "Create db")
  t.eq(tostring(inner), "<unknown from Create db>")
  t.ok(not dryrun.is_unknown("text"))
  t.eq(dryrun.origin({}), nil)
end)

t.test("placeholder misuse raises", function()
  local u = dryrun.unknown("Create db", "endpoint")
  local uses = {
    concat = function() return "host=" .. u end,
    concat_right = function() return u .. ":5432" end,
    add = function() return u + 1 end,
    compare = function() return u < 3 end,
    length = function() return #u end,
    call = function() return u() end,
    assign = function() u.x = 1 end,
    iterate = function() for _ in pairs(u) do end end,
    equal = function() return u == dryrun.unknown("Other") end,
  }
  for name, fn in pairs(uses) do
    local ok, err = pcall(fn)
    t.ok(not ok, name .. " raises")
    t.ok(errors.is(err), name .. " raises an error value")
    t.eq(err.kind, "dry_run", name .. " kind")
    t.eq(dryrun.depends_on(err), "Create db", name .. " depends on")
    t.contains(tostring(err), "endpoint", name .. " message names the value")
  end
  t.eq(dryrun.depends_on(errors.new{ kind = "aws", message = "x" }), nil, "other errors depend on nothing")
end)

t.test("would outside a run", function()
  t.ok(not dryrun.active(), "dry run off by default")
  local ok, err = pcall(dryrun.would, 42)
  t.ok(not ok)
  t.contains(err, "dryrun.would: description must be a string")
end)

local PLAYBOOK = [[
local dryrun = require("mnem.dryrun")
local function note(ctx, text)
  local f = io.open(ctx.vars.dir .. "/log", "a") f:write(text, "\n") f:close()
end
playbook {
  name = "dry",
  vars = { dir = { type = "path" } },
  steps = {
    step "Create db" { run = function(ctx)
      local result
      if dryrun.active() then
        result = dryrun.would("aws rds CreateDBInstance",
          { DBInstanceIdentifier = "db1", MasterUserPassword = secret("pw-S3cret-value") })
      else
        result = { DBInstance = { Endpoint = { Address = "db1.local" } } }
      end
      note(ctx, "create dry_run=" .. tostring(ctx.dry_run))
      return { endpoint = result.DBInstance.Endpoint.Address }
    end },
    step "Connect" { run = function(ctx)
      local url = "postgres://" .. ctx.outputs["Create db"].endpoint .. ":5432"
      note(ctx, "connect " .. url)
      return { url = url }
    end },
    step "Use connection" { run = function(ctx) note(ctx, "use " .. ctx.outputs.Connect.url) end },
    step "Independent" { run = function(ctx) note(ctx, "independent") end },
  },
}
]]

t.test("dry run reports would and depends", function()
  local dir = h.setup(t)
  local status, out, err = h.run(PLAYBOOK, { "--var", "dir=" .. dir, "--dry-run" })
  t.eq(status, 0, "a dry run with unknown values still succeeds")
  t.eq(h.lines(dir .. "/log"), { "create dry_run=true", "independent" }, "steps that ran")
  t.contains(err, "would: aws rds CreateDBInstance", "would line")
  t.contains(err, "DBInstanceIdentifier=db1", "would line shows fields")
  t.contains(err, 'step "Connect" would run, depends on Create db')
  t.contains(err, 'step "Use connection" would run, depends on Connect')
  t.contains(err, "dry run finished")
  t.not_contains(err .. out, "pw-S3cret-value", "secret field masked")
  local events, path = h.last_record()
  t.eq(h.events(events, "run_start")[1].dry_run, true)
  local would = h.events(events, "would")[1]
  t.eq(would.step, "Create db")
  t.eq(would.fields.MasterUserPassword, "********")
  local created = h.events(events, "step_finish", "Create db")[1]
  t.eq(created.outputs.endpoint, "<unknown from Create db>", "placeholder outputs recorded as text")
  local connect = h.events(events, "step_finish", "Connect")[1]
  t.eq(connect.status, "would_run")
  t.eq(connect.depends_on, "Create db")
  t.eq(h.events(events, "step_finish", "Use connection")[1].depends_on, "Connect")
  t.eq(h.events(events, "run_end")[1].status, "succeeded")
  t.not_contains(h.slurp(path), "pw-S3cret-value", "secret absent from record")
end)

t.test("real run has no placeholders", function()
  local dir = h.setup(t)
  local status = h.run(PLAYBOOK, { "--var", "dir=" .. dir })
  t.eq(status, 0)
  t.eq(h.lines(dir .. "/log"), { "create dry_run=false", "connect postgres://db1.local:5432",
    "use postgres://db1.local:5432", "independent" })
end)

return t.done()
