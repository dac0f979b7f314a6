-- Mistakes in a playbook's own fields (deadline, retry, vars, follow_up,
-- unknown fields) are reported at the line of the field, not at the
-- `playbook {` line. mnem.source_lines finds those lines also in files
-- whose comments, strings and functions contain brackets.
local t = require("t")
local h = require("engine_helpers")
local source_lines = require("mnem.source_lines")

-- Returns the lines of TEXT as a list.
local function lines_of(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do list[#list + 1] = line end
  return list
end

-- Runs mnem check on TEXT and returns its exit status, its error lines
-- and the playbook's path.
local function check(text)
  h.setup(t)
  local path = h.write(h.scratch, "fields.lua", text)
  local status, _, err = h.mnem({ "check", path })
  return status, lines_of(err), path
end

t.test("playbook fields at their lines", function()
  local status, lines, path = check([[
playbook {
  name = "fields",
  description = "a long playbook",
  vars = {
    env = { type = "strng" },
    count = {
      type = "integer",
      min = "one",
      dafault = 3,
    },
  },
  deadline = "10 minutes",
  retry = {
    { match = function(e) local seen = { code = 1 } if seen then return true end end, interval = "1s" },
    { match = "Throttling", max_attempts = "three" },
  },
  follow_up = { "check the dashboards", 42 },
  steps = {
    step "A" { run = function() end },
  },
  colour = "blue",
}
]])
  t.eq(status, 2)
  local expected = {
    ':5: variable "env": unknown type "strng"',
    ':8: variable "count": field "min" must be a number, got one',
    ':9: variable "count": unknown variable field "dafault" (did you mean "default"?)',
    ':12: playbook "fields": field "deadline": "10 minutes" is not a valid duration',
    ':15: playbook "fields": retry[2]: max_attempts must be an integer of 1 or more',
    ':17: playbook "fields": follow_up[2] must be a string, got a number',
    ':21: playbook "fields": unknown playbook field "colour"',
  }
  t.eq(#lines, #expected + 1, "one line per mistake and a count line")
  for i, fragment in ipairs(expected) do t.contains(lines[i], path .. fragment, "line " .. i) end
end)

t.test("playbook call with parentheses", function()
  local _, lines, path = check([[
local name = "paren"
playbook({
  name = name,
  steps = { step "A" { run = function() end } },

  deadline = "soon",
})
]])
  t.contains(lines[1], path .. ':6: playbook "paren": field "deadline"')
end)

t.test("returned playbook table", function()
  local _, lines, path = check([[
local function helper() return { deadline = "wrong" } end
return {
  name = "returned",
  steps = { step "A" { run = function() end } },
  deadline = "soon",
}
]])
  t.contains(lines[1], path .. ':5: playbook "returned": field "deadline"')
end)

t.test("retry from a variable", function()
  local _, lines, path = check([[
local policy = { { match = "X", backof = 2 } }
playbook {
  name = "shared",
  steps = { step "A" { run = function() end } },
  retry = policy,
}
]])
  t.contains(lines[1], path .. ':5: playbook "shared": retry[1]: unknown retrier field "backof"')
end)

t.test("single retrier table", function()
  local _, lines, path = check([[
playbook {
  name = "single",
  steps = { step "A" { run = function() end } },
  retry = { match = "X",
            jitter = "half" },
}
]])
  t.contains(lines[1], path .. ':4: playbook "single": retry')
  t.contains(lines[1], 'jitter must be "none" or "full", got half')
end)

t.test("steps entry without fields", function()
  local _, lines, path = check([[
playbook {
  name = "entries",
  steps = {
    step "A" { run = function() end },

    step "B",
  },
}
]])
  t.contains(lines[1], path .. ':6: playbook "entries": steps[2] is a function')
end)

t.test("source lines skip brackets in text", function()
  local dir = t.tmpdir()
  local path = h.write(dir, "tricky.lua", [==[
#!/usr/bin/env mnem
-- a comment with { and = and }
make {
  a = "text with } and { and \" quote",
  --[[ a long comment
       b = { ]]
  b = [[long string { = }
  still the string]],
  ["c"] = 1e-5,
  [42] = { x = 0x1p+4 },
  d = function(v)
    local e = { f = 1 }
    repeat v = v - 1 until v < 0
    if v then return { g = 2 } end
  end,
  h = { "first",
        "second" ; },
  [compute()] = 3,
  i = 2,
}
]==])
  local positions = source_lines.constructor(path, "make", 3)
  t.ok(positions, "constructor found")
  t.eq(positions.line, 3)
  t.eq(positions.fields.a, 4)
  t.eq(positions.fields.b, 7)
  t.eq(positions.fields.c, 9)
  t.eq(positions.fields[42], 10)
  t.eq(positions.tables[42].fields.x, 10)
  t.eq(positions.fields.d, 11)
  t.eq(positions.fields.e, nil, "a local inside a function is no field")
  t.eq(positions.fields.f, nil, "a table inside a function is not read")
  t.eq(positions.fields.h, 16)
  t.eq(positions.tables.h.fields[2], 17)
  t.eq(positions.fields.i, 19)
  t.eq(source_lines.field_line(positions, { "h", 2 }), 17)
  t.eq(source_lines.field_line(positions, { "h", 3 }), 16, "a missing entry gives its parent's line")
  t.eq(source_lines.field_line(positions, { "zzz" }), 3, "a missing field gives the constructor's line")
  t.eq(source_lines.constructor(path, "make", 4), nil, "no call on that line")
  t.eq(source_lines.constructor(dir .. "/absent.lua", "make", 1), nil, "missing file")
end)

t.test("source lines stop at bad brackets", function()
  local dir = t.tmpdir()
  local path = h.write(dir, "broken.lua", "make {\n  a = 1,\n  b = (2,\n  c = 3 ]\n}\n")
  local positions = source_lines.constructor(path, "make", 1)
  t.ok(positions, "constructor found")
  t.eq(positions.fields.a, 2)
end)

return t.done()
