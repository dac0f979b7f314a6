-- mnem._shape.convert: decoded JSON converted in place by a plan (the plan
-- forms are listed in interp/shape.c), including hostile shapes of input.
local t = require("t")
local cjson = require("cjson")
local convert = require("mnem._shape").convert

local function upper(value) return type(value) == "string" and value:upper() or value end

-- A structure with a renamed member, a list of integers, a map of floats
-- and a nested structure that refers to its own plan.
local node = { 1, {} }
node[2].name = { "Name", false }
node[2].child = { "Child", node }
local PLAN = { 1, {
  Name = { "Name", upper },
  wire_count = { "Count", "integer" },
  Sizes = { "Sizes", { 2, "integer" } },
  Ratios = { "Ratios", { 3, "float" } },
  Node = { "Node", node },
} }

t.test("structure members converted", function()
  local value = cjson.decode('{"Name": "a", "wire_count": 3, "Sizes": [1, 2.0, null, 4], '
    .. '"Ratios": {"x": 1, "y": null}, "Unknown": 5, "Node": {"name": "n", "child": {"name": "m"}}}')
  local result = convert(value, PLAN)
  t.eq(result, { Name = "A", Count = 3, Sizes = { 1, 2, 4 }, Ratios = { x = 1.0 },
                 Node = { Name = "n", Child = { Name = "m" } } })
  t.eq(math.type(result.Count), "integer")
  t.eq(math.type(result.Sizes[2]), "integer")
  t.eq(math.type(result.Ratios.x), "float")
  t.eq(result, value, "converted in place")
end)

t.test("nulls and unknown keys dropped", function()
  local result = convert(cjson.decode('{"Name": null, "wire_count": null, "Other": [1, 2]}'), PLAN)
  t.eq(next(result), nil)
end)

t.test("wrong JSON types", function()
  t.eq(convert("text", PLAN), nil, "a string where a structure belongs")
  t.eq(convert(cjson.decode('{"Sizes": {"a": 1}}'), PLAN), { Sizes = {} }, "an object where a list belongs")
  t.eq(convert(cjson.decode('{"Sizes": "x", "Ratios": 3}'), PLAN), {}, "scalars where a list and a map belong")
  t.eq(convert(cjson.decode('{"wire_count": "7"}'), PLAN), { Count = "7" }, "a string where a number belongs")
  t.eq(convert(cjson.decode('{"Sizes": []}'), PLAN), { Sizes = {} }, "an empty list")
end)

t.test("fractional integers kept as floats", function()
  local result = convert(cjson.decode('{"wire_count": 2.5}'), PLAN)
  t.eq(result.Count, 2.5)
end)

t.test("nesting beyond the limit raises", function()
  local text = ('{"child": '):rep(300) .. "{}" .. ("}"):rep(300)
  local ok, err = pcall(convert, cjson.decode(text), node)
  t.eq(ok, false)
  t.contains(err, "nested deeper than 200 levels")
end)

t.test("invalid plan kind raises", function()
  local ok, err = pcall(convert, {}, { 9, {} })
  t.eq(ok, false)
  t.contains(err, "invalid plan kind 9")
end)

return t.done()
