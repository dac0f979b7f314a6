-- mnem run --tags: a tag that no step or group carries is a usage error.
local t = require("t")
local h = require("engine_helpers")

local TAGGED = [[
playbook { name = "g1", steps = {
  step "a" { tags = { "db" }, run = function() end },
  group "g" { tags = "web", steps = { step "b" { tags = { "api" }, run = function() end } } },
  step "z" { always = true, run = function() end },
} }
]]

t.test("unknown tags exit 2 naming tags", function()
  h.setup(t)
  local status, out, err = h.run(TAGGED, { "--tags", "nope,typo" })
  t.eq(status, 2)
  t.eq(out, "")
  t.contains(err, "--tags nope,typo")
  t.contains(err, "the playbook's tags are api, db, web")
  t.not_contains(err, "traceback")
end)

t.test("playbook without tags says so", function()
  h.setup(t)
  local status, _, err = h.run('playbook { name = "n", steps = { step "a" { run = function() end } } }\n',
    { "--tags", "db" })
  t.eq(status, 2)
  t.contains(err, "the playbook has no tags")
end)

t.test("one known tag among unknown runs", function()
  h.setup(t)
  local status, _, err = h.run(TAGGED, { "--tags", "nope,api" })
  t.eq(status, 0, err)
  status = h.run(TAGGED, { "--tags", "api" })
  t.eq(status, 0)
end)

t.done()
