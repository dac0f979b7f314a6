-- recipes.settings: checks the settings table that a recipe's settings
-- function returns, so that a misspelt key, a value of the wrong type or a
-- missing key fails the step at once instead of being ignored.
--
-- Each recipe function declares its settings as one table of fields:
--
--   local FIELDS = {
--     cluster = { type = "string", required = true },
--     timeout = { type = "duration" },
--     port = { type = { "integer", "string" } },
--     circuit_breaker = { type = "table", fields = { enable = { type = "boolean" } } },
--     security_groups = { type = "list", items = { type = "string" } },
--     tags = { type = "map", values = { type = "string" } },
--     kind = { type = "string", choices = { "String", "SecureString" } },
--   }
--
-- and reads its settings with `settings.read("ecs_deploy.redeploy",
-- spec_of, ctx, FIELDS)`. The plain types are string, number, integer,
-- boolean and function. A duration is a number of seconds or a text that
-- mnem.duration parses. A table is any table, or a record when `fields`
-- declares its keys. A list is a sequence whose items `items` declares,
-- and a map has string keys and values that `values` declares. A list of
-- types accepts any one of them. A dry-run
-- placeholder (a value that an earlier step would have produced) passes
-- every check, because its real value is not known yet.
--
-- The step's settings function has returned before the check runs, so the
-- Lua stack no longer shows where the settings came from. Every message
-- therefore names the file and line where that function is defined.
local dryrun = require("mnem.dryrun")
local duration = require("mnem.duration")
local misuse = require("mnem.misuse")
local retry = require("mnem.retry")

local M = {}

-- Lua type of the values that each declared type accepts.
local BASE_TYPE = {
  string = "string", number = "number", integer = "number", boolean = "boolean", ["function"] = "function",
  duration = { string = true, number = true }, table = "table", list = "table", map = "table",
}

-- Name of each declared type in messages.
local TYPE_NAME = {
  string = "a string", number = "a number", integer = "an integer", boolean = "a boolean",
  ["function"] = "a function", duration = "a duration such as \"90s\" or \"20m\"", table = "a table",
  list = "a list", map = "a table of names to values",
}

local function article(value)
  local kind = type(value)
  if kind == "nil" then return "nil" end
  if kind == "number" and math.type(value) == "float" then return "a number with a fraction" end
  if kind == "table" and next(value) == nil then return "an empty table" end
  return (kind:match("^[aeiou]") and "an " or "a ") .. kind
end

local function accepts(declared, value)
  local base = BASE_TYPE[declared]
  if type(base) == "table" then return base[type(value)] == true end
  return base == type(value)
end

local function sorted_keys(fields)
  local names = {}
  for name in pairs(fields) do names[#names + 1] = name end
  table.sort(names)
  return names
end

--- Returns where function FN is defined, for messages: "FILE:LINE" with
-- the whole path when FN was loaded from a file, or "[string]:LINE" for a
-- chunk loaded from a string without a name. Returns "a C function" for
-- a function that is not written in Lua.
function M.where(fn)
  local info = debug.getinfo(fn, "S")
  if info.what == "C" then return "a C function" end
  local source = info.source
  local first = source:sub(1, 1)
  local name = (first == "@" or first == "=") and source:sub(2) or "[string]"
  return ("%s:%d"):format(name, info.linedefined)
end

-- Adds MESSAGE to the problems found so far in CONTEXT. Settings are named
-- by their dotted path, such as "circuit_breaker.enable".
local function fail(context, message)
  context.problems[#context.problems + 1] = message
end

local check_value

-- Checks the keys of VALUE, a record of named settings at PATH.
local function check_record(context, path, value, fields)
  local prefix = path == "" and "" or (path .. ".")
  local names = sorted_keys(fields)
  local keys = {}
  for key in pairs(value) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, key in ipairs(keys) do
    if type(key) ~= "string" then
      local subject = path == "" and "the settings table" or ("setting %q"):format(path)
      fail(context, ("%s must have string keys, got the key %s"):format(subject, tostring(key)))
    elseif not fields[key] then
      local hint = retry.closest(key, names)
      local suggestion = hint and (" (did you mean %q?)"):format(prefix .. hint)
        or (" (known settings: %s)"):format(table.concat(names, ", "))
      fail(context, ("unknown setting %q%s"):format(prefix .. key, suggestion))
    end
  end
  for _, key in ipairs(names) do
    check_value(context, prefix .. key, value[key], fields[key])
  end
end

local function check_list(context, path, value, items)
  local count = 0
  for _ in pairs(value) do count = count + 1 end
  if count ~= #value then
    fail(context, ("setting %q must be a list (keys 1 to n), got a table with other keys"):format(path))
    return
  end
  if items then
    for i, item in ipairs(value) do check_value(context, ("%s[%d]"):format(path, i), item, items) end
  end
end

local function check_map(context, path, value, values)
  for key, item in pairs(value) do
    if type(key) ~= "string" then
      fail(context, ("setting %q must have string keys, got the key %s"):format(path, tostring(key)))
    elseif values then
      check_value(context, path .. "." .. key, item, values)
    end
  end
end

local function check_shape(context, path, value, declared, field)
  if declared == "integer" and (value ~= math.floor(value) or value ~= value or math.abs(value) == math.huge) then
    fail(context, ("setting %q must be an integer, got %s"):format(path, tostring(value)))
  elseif declared == "duration" then
    local _, message = duration.try_parse(value)
    if message then fail(context, ("setting %q: %s"):format(path, message)) end
  elseif declared == "table" and field.fields then
    check_record(context, path, value, field.fields)
  elseif declared == "list" then
    check_list(context, path, value, field.items)
  elseif declared == "map" then
    check_map(context, path, value, field.values)
  end
end

local function check_choice(context, path, value, choices)
  for _, choice in ipairs(choices) do
    if value == choice then return end
  end
  local hint = type(value) == "string" and retry.closest(value, choices)
  fail(context, ("setting %q must be one of %s, got %q%s"):format(path, table.concat(choices, ", "),
    tostring(value), hint and (" (did you mean %q?)"):format(hint) or ""))
end

-- Checks VALUE, the setting at PATH, against its declaration FIELD.
check_value = function(context, path, value, field)
  if value == nil then
    if field.required then fail(context, ("missing required setting %q"):format(path)) end
    return
  end
  if dryrun.is_unknown(value) then return end
  local declared = field.type
  local alternatives = type(declared) == "table" and declared or { declared }
  for _, alternative in ipairs(alternatives) do
    if accepts(alternative, value) then
      check_shape(context, path, value, alternative, field)
      if field.choices then check_choice(context, path, value, field.choices) end
      return
    end
  end
  local names = {}
  for i, alternative in ipairs(alternatives) do names[i] = TYPE_NAME[alternative] end
  fail(context, ("setting %q must be %s, got %s"):format(path, table.concat(names, " or "), article(value)))
end

--- Checks SETTINGS, the table of settings for the recipe function named
-- RECIPE (such as "ecs_deploy.redeploy"), against FIELDS (name ->
-- declaration, as in the header). WHERE names where the settings come
-- from and ends the message. Raises one string error that names RECIPE
-- and lists every problem found: each unknown key with the closest known
-- key, each value of the wrong type and each missing required key.
-- Returns SETTINGS.
function M.check(recipe, settings, fields, where)
  where = where and (" " .. where) or ""
  if dryrun.is_unknown(settings) then return settings end
  if type(settings) ~= "table" then
    error(("%s: expected a table of settings, got %s%s"):format(recipe, article(settings), where), 0)
  end
  local context = { problems = {} }
  check_record(context, "", settings, fields)
  local problems = context.problems
  if #problems == 1 then
    error(("%s: %s%s"):format(recipe, problems[1], where), 0)
  elseif #problems > 1 then
    error(("%s: %d problems%s:\n  %s"):format(recipe, #problems, where, table.concat(problems, "\n  ")), 0)
  end
  return settings
end

--- Calls SPEC_OF(ctx), the settings function given to the recipe function
-- RECIPE, checks the table it returns against FIELDS and returns it.
-- Raises a string error that names RECIPE, the setting and the file and
-- line where SPEC_OF is defined.
function M.read(recipe, spec_of, ctx, fields)
  local defined = M.where(spec_of)
  local settings = spec_of(ctx)
  if type(settings) ~= "table" then
    error(("%s: the settings function defined at %s returned %s, expected a table of settings"):format(
      recipe, defined, article(settings)), 0)
  end
  return M.check(recipe, settings, fields, "in the settings returned by the function defined at " .. defined)
end

--- Raises at the playbook line calling the recipe function RECIPE unless
-- SPEC_OF is a function, which is what every recipe step expects for its
-- settings. Returns SPEC_OF.
function M.expect_function(recipe, spec_of)
  if type(spec_of) ~= "function" then
    misuse.raise(("%s: argument 1 must be a function(ctx) returning a table of settings, got %s"):format(
      recipe, article(spec_of)), 3)
  end
  return spec_of
end

return M
