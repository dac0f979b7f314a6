-- Dry run: iterating a placeholder list ends the step as "would run"
-- instead of looping forever.
local t = require("t")
local dryrun = require("mnem.dryrun")

t.test("ipairs over a placeholder raises", function()
  dryrun.set_active(true)
  local u = dryrun.unknown("write", "output")
  local e = t.raises(function()
    for _ in ipairs(u.Things) do end
  end)
  dryrun.set_active(false)
  t.eq(dryrun.depends_on(e), "write")
end)

t.test("placeholder fields still read on", function()
  local u = dryrun.unknown("create", "out")
  t.ok(dryrun.is_unknown(u.DBInstance.Endpoint), "a field of a field is a placeholder")
end)

t.test("placeholder element raises", function()
  local u = dryrun.unknown("create", "out")
  local e = t.raises(function() return u.DBInstances[1] end)
  t.eq(dryrun.depends_on(e), "create")
end)

return t.done()
