-- The JMESPath compliance suite: every case of every file in
-- $MNEM_TESTDATA/jmespath. One test per file; each failing case prints its
-- own line, and a comment line per file counts the cases that passed.
local jmespath = require("jmespath")
local t = require("t")

local folder = t.testdata("jmespath")

-- JSON-aware equality: null and a missing value are equal, arrays compare
-- in order, objects by their key set, and [] differs from {}.
local function same(a, b)
  local ta, tb = jmespath.type(a), jmespath.type(b)
  if ta ~= tb then return false end
  if ta == "null" then return true end
  if ta == "array" then
    if #a ~= #b then return false end
    for i = 1, #a do
      if not same(a[i], b[i]) then return false end
    end
    return true
  end
  if ta == "object" then
    for k, v in pairs(a) do
      if not same(v, b[k]) then return false end
    end
    for k, v in pairs(b) do
      if not same(a[k], v) then return false end
    end
    return true
  end
  return a == b
end

-- Runs one case; returns nil when it passes, else the reason.
local function run_case(given, case)
  local ok, result = pcall(jmespath.search, case.expression, given)
  if case.error ~= nil then
    if ok then
      return ("expected a %s error, got %s"):format(case.error, jmespath.encode_json(result))
    end
    local kind = jmespath.error_kind(result)
    if kind ~= case.error then
      return ("expected a %s error, got: %s"):format(case.error, tostring(result))
    end
    return nil
  end
  if not ok then return "raised: " .. tostring(result) end
  if case.bench ~= nil then return nil end
  if not same(result, case.result) then
    return ("expected %s, got %s"):format(jmespath.encode_json(case.result), jmespath.encode_json(result))
  end
  return nil
end

local function list_files()
  local names = {}
  local p = io.popen("ls '" .. folder .. "'")
  for name in p:lines() do
    if name:match("%.json$") then names[#names + 1] = name end
  end
  p:close()
  return names
end

if not folder then
  t.test("jmespath compliance suite", function()
    t.skip("MNEM_TESTDATA/jmespath is absent, so the JMESPath compliance cases cannot run")
  end)
  return t.done()
end

local total, total_passed = 0, 0
for _, name in ipairs(list_files()) do
  t.test("jmespath compliance " .. name, function()
    local suites, message = jmespath.decode_json(t.read_file(folder .. "/" .. name))
    t.ok(suites, "cannot decode " .. name .. ": " .. tostring(message))
    local cases, passed = 0, 0
    for s, suite in ipairs(suites) do
      for c, case in ipairs(suite.cases) do
        cases = cases + 1
        local reason = run_case(suite.given, case)
        if reason then
          print(("# FAIL %s suite %d case %d %s: %s"):format(name, s, c, case.expression, reason))
        else
          passed = passed + 1
        end
      end
    end
    total, total_passed = total + cases, total_passed + passed
    print(("# %s: %d of %d cases passed"):format(name, passed, cases))
    t.eq(passed, cases, name .. " cases passed")
  end)
end
print(("# all files: %d of %d cases passed"):format(total_passed, total))

return t.done()
