-- t: the test library used by every tests/**/test_*.lua file.
--
--   local t = require("t")
--   t.test("sigv4 get-vanilla", function() t.eq(actual, expected) end)
--   return t.done()
--
-- Each test prints "ok - NAME" or "not ok - NAME: reason"; t.done prints
-- "# passed N failed M skipped K", which tests/run adds up, and returns the
-- exit status. A skipped test says why on its own line.
local M = {}

local passed, failed, skipped = 0, 0, 0

local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  local ok, cjson = pcall(require, "cjson")
  if ok then
    local fine, text = pcall(cjson.encode, v)
    if fine then return text end
  end
  return tostring(v)
end

local function fail(message, level)
  error({ test_failure = message }, level + 1)
end

--- Compares two values deeply; tables are equal when every key matches.
function M.same(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not M.same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

function M.eq(actual, expected, what)
  if not M.same(actual, expected) then
    fail(("%sexpected %s, got %s"):format(what and (what .. ": ") or "", describe(expected), describe(actual)), 2)
  end
end

function M.ok(condition, what)
  if not condition then fail(what or "condition is false", 2) end
  return condition
end

--- Checks that TEXT contains NEEDLE (plain text, not a pattern).
function M.contains(text, needle, what)
  if type(text) ~= "string" or not text:find(needle, 1, true) then
    fail(("%sexpected %s to contain %s"):format(what and (what .. ": ") or "", describe(text), describe(needle)), 2)
  end
end

function M.not_contains(text, needle, what)
  if type(text) == "string" and text:find(needle, 1, true) then
    fail(("%sexpected %s not to contain %s"):format(what and (what .. ": ") or "", describe(text), describe(needle)), 2)
  end
end

--- Calls FN and checks that it raises; returns the error value. When
-- PATTERN is given, tostring(error) must contain it (plain text).
function M.raises(fn, needle, what)
  local ok, err = pcall(fn)
  if ok then fail((what and (what .. ": ") or "") .. "expected an error, none was raised", 2) end
  if needle and not tostring(err):find(needle, 1, true) then
    fail(("%sexpected error containing %s, got %s"):format(what and (what .. ": ") or "", describe(needle),
      describe(tostring(err))), 2)
  end
  return err
end

--- Marks the current test skipped with REASON and stops it.
function M.skip(reason)
  error({ test_skip = reason }, 2)
end

function M.test(name, fn)
  local ok, err = xpcall(fn, function(e)
    if type(e) == "table" and (e.test_failure or e.test_skip) then return e end
    return { test_failure = debug.traceback(tostring(e), 2) }
  end)
  if ok then
    passed = passed + 1
    print("ok - " .. name)
  elseif err.test_skip then
    skipped = skipped + 1
    print(("skip - %s: %s"):format(name, err.test_skip))
  else
    failed = failed + 1
    print(("not ok - %s: %s"):format(name, err.test_failure))
  end
  io.stdout:flush()
end

function M.done()
  print(("# passed %d failed %d skipped %d"):format(passed, failed, skipped))
  return failed == 0 and 0 or 1
end

--- Returns the folder of the shared reference test data, or nil.
function M.testdata(sub)
  local root = os.getenv("MNEM_TESTDATA")
  if not root or root == "" then return nil end
  local path = root .. "/" .. sub
  local f = io.open(path .. "/README.md", "r")
  if not f then return nil end
  f:close()
  return path
end

--- Reads a whole file; raises when it is missing.
function M.read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end

--- Returns a fresh temporary folder, removed by the test runner's cleanup.
function M.tmpdir()
  local base = os.getenv("MNEM_TEST_TMP") or "/tmp"
  local p = io.popen("mktemp -d '" .. base .. "/t.XXXXXX'")
  local dir = p:read("l")
  p:close()
  return dir
end

return M
