-- JMESPath behaviour the compliance files do not cover: boolean operators,
-- pipes, Lua-table inputs (as AWS outputs are), the error format, the
-- cache and the JSON decoder.
local cjson = require("cjson")
local jmespath = require("jmespath")
local t = require("t")

local function json(text)
  return assert(jmespath.decode_json(text))
end

local function search_json(expression, document)
  return jmespath.search(expression, json(document))
end

t.test("or returns first truthy", function()
  local doc = '{"outer": {"foo": "foo", "bar": "bar", "empty": "", "list": [], "zero": 0}}'
  t.eq(search_json("outer.foo || outer.bar", doc), "foo")
  t.eq(search_json("outer.empty || outer.bar", doc), "bar")
  t.eq(search_json("outer.list || outer.bar", doc), "bar")
  t.eq(search_json("outer.zero || outer.bar", doc), 0)
  t.eq(search_json("outer.missing || outer.alsomissing", doc), nil)
end)

t.test("and returns first falsy", function()
  local doc = '{"True": true, "False": false, "Number": 5, "EmptyList": []}'
  t.eq(search_json("True && False", doc), false)
  t.eq(search_json("True && Number", doc), 5)
  t.eq(jmespath.type(search_json("EmptyList && True", doc)), "array")
  t.eq(search_json("Missing && True", doc), nil)
end)

t.test("not and parentheses", function()
  local doc = '{"True": true, "False": false, "Zero": 0, "Empty": {}}'
  t.eq(search_json("!True", doc), false)
  t.eq(search_json("!False", doc), true)
  t.eq(search_json("!Zero", doc), false)
  t.eq(search_json("!Empty", doc), true)
  t.eq(search_json("!(True && False)", doc), true)
  t.eq(search_json("!True || True", doc), true)
  t.eq(search_json("False || True && False", doc), false)
end)

t.test("filter with negation", function()
  local doc = '{"foo": [{"key": "a"}, {"key": "b"}, {"other": 1}]}'
  local result = search_json("foo[?!(key == 'a')].key", doc)
  t.eq(#result, 1)
  t.eq(result[1], "b")
  t.eq(#search_json("foo[?key == 'a' || key == 'b']", doc), 2)
end)

t.test("pipe stops projection", function()
  local doc = '{"foo": [{"bar": 1}, {"bar": 2}], "baz": {"a": {"x": 1}, "b": {"x": 2}}}'
  t.eq(search_json("foo[*].bar | [0]", doc), 1)
  t.eq(#search_json("foo[*].bar[0]", doc), 0, "index applied to each element")
  t.eq(search_json("foo[*].bar | length(@)", doc), 2)
  t.eq(search_json("baz.* | [0].x", doc), 1)
  t.eq(search_json("foo | [1] | bar", doc), 2)
end)

t.test("lua table input", function()
  local output = {
    DBInstances = {
      { DBInstanceIdentifier = "db1", DBInstanceStatus = "available" },
      { DBInstanceIdentifier = "db2", DBInstanceStatus = "modifying" },
    },
  }
  local statuses = jmespath.search("DBInstances[].DBInstanceStatus", output)
  t.eq(statuses, { "available", "modifying" })
  t.eq(jmespath.search("length(DBInstances[?DBInstanceStatus=='available'])", output), 1)
  t.eq(jmespath.search("DBInstances[0].Missing", output), nil)
  t.eq(jmespath.search("Missing[]", output), nil)
end)

t.test("empty lua table is array", function()
  t.eq(jmespath.type({}), "array")
  t.eq(jmespath.type(setmetatable({}, jmespath.object_mt)), "object")
  t.eq(jmespath.search("length(@)", {}), 0)
  t.eq(jmespath.search("keys(@)", setmetatable({}, jmespath.object_mt)), {})
  t.raises(function() jmespath.search("keys(@)", {}) end, "invalid-type")
end)

t.test("cjson null in lua tables", function()
  local doc = { items = { 1, cjson.null, 3 }, gone = cjson.null }
  t.eq(jmespath.search("gone", doc), nil)
  t.eq(jmespath.search("items[1]", doc), nil)
  t.eq(jmespath.search("items[*]", doc), { 1, 3 })
  t.eq(jmespath.search("length(items)", doc), 3)
  t.eq(jmespath.search("[gone, items[0]]", doc), { cjson.null, 1 })
end)

t.test("objects keep key order", function()
  local result = search_json("{b: a, a: b}", '{"a": 1, "b": 2}')
  t.eq(jmespath.encode_json(result), '{"b":1,"a":2}')
  t.eq(jmespath.encode_json(search_json("keys(@)", '{"z": 1, "a": 2}')), '["z","a"]')
  t.eq(jmespath.search("keys(@)", { z = 1, a = 2 }), { "a", "z" }, "plain tables iterate sorted")
end)

t.test("to_string formats json", function()
  t.eq(jmespath.search("to_string(@)", 1.5), "1.5")
  t.eq(jmespath.search("to_string(@)", 2.0), "2.0")
  t.eq(jmespath.search("to_string(@)", 7), "7")
  t.eq(jmespath.search("to_string(@)", 0.1), "0.1")
  t.eq(search_json("to_string(@)", '{"a": [1, null, "x\\"y"]}'), '{"a":[1,null,"x\\"y"]}')
end)

t.test("syntax error format", function()
  local err = t.raises(function() jmespath.compile("foo[") end)
  t.eq(type(err), "string")
  t.contains(err, "jmespath syntax error at column 5 in 'foo['")
  t.eq(jmespath.error_kind(err), "syntax")
end)

t.test("error kinds", function()
  local cases = {
    { "foo[8:2:0]", "invalid-value" },
    { "nosuch(@)", "unknown-function" },
    { "abs(@, @)", "invalid-arity" },
    { "not_null()", "invalid-arity" },
    { "abs('x')", "invalid-type" },
    { "sort_by(@, name)", "invalid-type" },
    { "a ==", "syntax" },
  }
  for _, case in ipairs(cases) do
    local err = t.raises(function() jmespath.search(case[1], {}) end, nil, case[1])
    t.eq(jmespath.error_kind(err), case[2], case[1])
  end
  t.eq(jmespath.error_kind("some other error"), nil)
  t.eq(jmespath.error_kind({}), nil)
end)

t.test("type error names function", function()
  local err = t.raises(function() jmespath.search("abs(name)", { name = "x" }) end)
  t.contains(err, "jmespath invalid-type error in 'abs(name)'")
  t.contains(err, "abs() argument 1 must be number, got string")
end)

t.test("non-string expression raises", function()
  t.raises(function() jmespath.search(42, {}) end, "jmespath.search: expression must be a string, got number")
  t.raises(function() jmespath.compile(nil) end, "jmespath.compile: expression must be a string, got nil")
end)

t.test("compiled expressions cached", function()
  local a = jmespath.compile("foo.bar")
  local b = jmespath.compile("foo.bar")
  t.ok(rawequal(a, b), "same object for the same text")
  t.eq(a:search({ foo = { bar = 3 } }), 3)
  t.contains(tostring(a), "foo.bar")
  for i = 1, 600 do jmespath.compile("x" .. i) end
  t.eq(jmespath.compile("foo.bar"):search({ foo = { bar = 4 } }), 4, "still works after the cache emptied")
end)

t.test("json decoder matches cjson", function()
  local folder = t.testdata("jmespath")
  if not folder then t.skip("MNEM_TESTDATA/jmespath is absent, so there is no JSON to compare") end
  -- Loose equality, because cjson cannot tell [] from {}.
  local function loose(a, b)
    if type(a) ~= "table" or type(b) ~= "table" then
      if a == cjson.null or b == cjson.null then return a == b end
      return a == b or (type(a) == "number" and type(b) == "number" and math.abs(a - b) < 1e-9)
    end
    for k, v in pairs(a) do
      if not loose(v, b[k]) then return false end
    end
    for k in pairs(b) do
      if a[k] == nil then return false end
    end
    return true
  end
  for _, name in ipairs({ "functions.json", "identifiers.json", "literal.json", "unicode.json", "escape.json" }) do
    local text = t.read_file(folder .. "/" .. name)
    t.ok(loose(json(text), cjson.decode(text)), name)
  end
end)

t.test("json decoder details", function()
  t.eq(jmespath.type(json("[]")), "array")
  t.eq(jmespath.type(json("{}")), "object")
  t.eq(math.type(json("1")), "integer")
  t.eq(math.type(json("1.0")), "float")
  t.eq(math.type(json("1e2")), "float")
  t.eq(json('"\\ud834\\udd1e"'), "\u{1D11E}")
  t.eq(json("null"), cjson.null)
  for _, bad in ipairs({ "[1,]", "01", "{\"a\" 1}", "\"\\x\"", "\"\\ud834\"", "tru", "1 2", "" }) do
    local value, message = jmespath.decode_json(bad)
    t.eq(value, nil, bad)
    t.eq(type(message), "string", bad)
  end
end)

return t.done()
