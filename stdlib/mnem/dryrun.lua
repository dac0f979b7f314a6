-- mnem.dryrun: dry runs and the placeholder values they produce.
--
-- In a dry run (`mnem run --dry-run`) steps still run, but a primitive that
-- would change something calls `would(description, fields)` instead of
-- acting. That logs "would: ...", records it, and returns a placeholder: an
-- unknown value for the result the change would have had. Indexing a
-- placeholder gives another placeholder, and tostring gives
-- "<unknown from STEP>". Arithmetic, concatenation, comparison, length,
-- calls and iteration raise an error of kind "dry_run". The engine reports
-- such a step as "would run, depends on STEP" instead of a failure.
local errors = require("mnem.errors")
local log = require("mnem.log")
local record = require("mnem.record")

local M = {}

local enabled = false
local current_step = nil
local origins = setmetatable({}, { __mode = "k" })   -- placeholder -> { step, path }

--- Returns true while a dry run is in progress.
function M.active() return enabled end

--- Turns dry-run mode on or off (the engine does this for --dry-run).
function M.set_active(on) enabled = on and true or false end

--- Sets the step that new placeholders come from (the engine calls it).
function M.set_step(name) current_step = name end

local Unknown = { __name = "mnem.Unknown" }

local function describe(u)
  local origin = origins[u]
  return origin.step, origin.path
end

local function misuse(u)
  local step, path = describe(u)
  error(errors.new{
    kind = "dry_run", code = "UnknownValue", depends_on = step, value = path,
    message = ("%s is not known in a dry run because step %q did not really run"):format(path, step),
  }, 2)
end

--- Returns a new placeholder for a value produced by step STEP (default:
-- the current step). PATH names it in messages, such as "endpoint".
function M.unknown(step, path)
  local u = setmetatable({}, Unknown)
  step = step or current_step or "(dry run)"
  origins[u] = { step = step, path = path or ("a result of step " .. ("%q"):format(step)) }
  return u
end

-- A field of a placeholder is another placeholder, so `out.DBInstance.Endpoint`
-- reads on. An element (an integer key) is a use: a placeholder list has no
-- length, and without this `ipairs(placeholder)` would never end.
Unknown.__index = function(u, key)
  if math.type(key) == "integer" then misuse(u) end
  local step, path = describe(u)
  return M.unknown(step, path .. "." .. tostring(key))
end
Unknown.__tostring = function(u) return ("<unknown from %s>"):format((describe(u))) end
for _, event in ipairs({ "__newindex", "__call", "__concat", "__len", "__eq", "__lt", "__le", "__unm", "__add",
                         "__sub", "__mul", "__div", "__mod", "__pow", "__idiv", "__band", "__bor", "__bxor",
                         "__shl", "__shr", "__bnot", "__pairs" }) do
  Unknown[event] = function(a, b)
    if getmetatable(a) == Unknown then misuse(a) end
    misuse(b)
  end
end

--- Returns true when V is a dry-run placeholder.
function M.is_unknown(v) return getmetatable(v) == Unknown end

-- Returns the first placeholder inside VALUE (a table searched deeply,
-- keys included), or nil.
local function find_unknown(value, seen)
  if getmetatable(value) == Unknown then return value end
  if type(value) ~= "table" then return nil end
  seen = seen or {}
  if seen[value] then return nil end
  seen[value] = true
  for k, v in next, value do
    local found = find_unknown(k, seen) or find_unknown(v, seen)
    if found then return found end
  end
  return nil
end

--- Raises the "depends on STEP" error when VALUE is, or contains, a
-- placeholder. Primitives call it on their arguments before checking
-- types, so a dry run reports which step a call waits for instead of a
-- type error about a table.
function M.check_known(value)
  local u = find_unknown(value)
  if u then misuse(u) end
end

--- In a dry run, ends a wait for WHAT whose first poll did not see the
-- awaited state: the changes it waits for were not made, so waiting would
-- only run into the timeout. Raises the "would run, depends on" error,
-- naming the last STATE seen. Does nothing outside a dry run.
function M.check_wait(what, state)
  if not enabled then return end
  M.missing_change(("waiting for %s; now: %s"):format(what, tostring(state or "?")))
end

--- In a dry run, raises the "would run, depends on changes a dry run does
-- not make" error with DETAIL, for a read that finds something missing
-- because an earlier step only printed what it would do. Does nothing
-- outside a dry run.
function M.missing_change(detail)
  if not enabled then return end
  error(errors.new{
    kind = "dry_run", code = "WouldWait", retryable = false,
    depends_on = ("changes a dry run does not make (%s)"):format(detail),
    message = "in a dry run: " .. detail,
  }, 2)
end

--- Returns the step a placeholder V came from, or nil for other values.
function M.origin(v)
  if getmetatable(v) ~= Unknown then return nil end
  return (describe(v))
end

--- Returns the step an error ERR depends on when it was raised by using a
-- placeholder, else nil.
function M.depends_on(err)
  if errors.is(err) and err.kind == "dry_run" then return err.depends_on or "(dry run)" end
  return nil
end

--- Reports that DESCRIPTION (such as "aws rds CreateDBInstance") would run
-- with FIELDS: logs "would: ..." with secrets masked, records a "would"
-- event, and returns a placeholder for its result.
function M.would(description, fields)
  if type(description) ~= "string" then
    error("dryrun.would: description must be a string, got a " .. type(description), 2)
  end
  fields = fields or {}
  local plain = record.plain(fields)
  log.info("would: " .. description, next(plain) and plain or nil)
  record.event("would", { step = current_step, description = description, fields = plain })
  return M.unknown(current_step, description)
end

return M
