-- recipes.ssm_parameters: SSM parameters written from a table.
--
--   step "Write the connection parameters" (ssm_parameters.write(function(ctx)
--     return { prefix = "/app/test/db/", type = "SecureString",
--              values = { host = ..., port = ..., name = ... } }
--   end))
--
-- The step is skipped when every parameter already has its value, so a
-- second run writes nothing. Values of SecureString parameters are marked
-- secret before anything is logged or recorded. Unknown settings and
-- values of the wrong type raise (see recipes.settings).
local aws = require("aws")
local dryrun = require("mnem.dryrun")
local misuse = require("mnem.misuse")
local secret = require("mnem.secret")
local settings = require("recipes.settings")

local M = {}

-- The settings of write, as recipes.settings declares them. A value is
-- written as text, and a list of values as its items joined by commas.
local WRITE_FIELDS = {
  prefix = { type = "string", required = true },
  type = { type = "string", choices = { "String", "StringList", "SecureString" } },
  values = { type = "map", required = true,
             values = { type = { "string", "number", "boolean", "list" }, items = { type = { "string", "number" } } } },
}

local function text_of(value)
  if type(value) == "table" then return table.concat(value, ",") end
  return tostring(value)
end

local function wanted(spec)
  local list = {}
  for key, value in pairs(spec.values) do
    local text = text_of(value)
    if (spec.type or "SecureString") == "SecureString" then secret.mark(text) end
    list[#list + 1] = { name = spec.prefix .. key, value = text }
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

-- Returns name -> current value for the parameters that exist.
local function current_values(names)
  local found = {}
  for first = 1, #names, 10 do
    local batch = table.move(names, first, math.min(first + 9, #names), 1, {})
    local out = aws.ssm.get_parameters{ Names = batch, WithDecryption = true }
    for _, p in ipairs(out.Parameters or {}) do found[p.Name] = p.Value end
  end
  return found
end

local function stale(spec)
  local list = wanted(spec)
  local names = {}
  for i, entry in ipairs(list) do names[i] = entry.name end
  local found = current_values(names)
  local out_of_date = {}
  for _, entry in ipairs(list) do
    if found[entry.name] ~= entry.value then out_of_date[#out_of_date + 1] = entry end
  end
  return out_of_date, list
end

--- Returns the fields of a step that writes SPEC(ctx).values under
-- SPEC(ctx).prefix with type SPEC.type (default SecureString), overwriting
-- old values. Outputs: { names = {...}, written = n }.
function M.write(spec_of)
  settings.expect_function("ssm_parameters.write", spec_of)
  local function read(ctx) return settings.read("ssm_parameters.write", spec_of, ctx, WRITE_FIELDS) end
  return {
    description = "Write SSM parameters from a table, overwriting values that differ",
    already_done = function(ctx)
      local out_of_date, list = stale(read(ctx))
      if #out_of_date > 0 then return false end
      local names = {}
      for i, entry in ipairs(list) do names[i] = entry.name end
      return { names = names, written = 0 }
    end,
    run = function(ctx)
      local spec = read(ctx)
      local out_of_date, list = stale(spec)
      local names = {}
      for i, entry in ipairs(list) do names[i] = entry.name end
      for _, entry in ipairs(out_of_date) do
        aws.ssm.put_parameter{ Name = entry.name, Value = entry.value, Type = spec.type or "SecureString",
                               Overwrite = true }
        ctx.change{ action = "written", resource = "ssm:parameter", id = entry.name,
                    details = { type = spec.type or "SecureString" } }
      end
      return { names = names, written = #out_of_date }
    end,
  }
end

--- Reads the parameters under PREFIX with decryption and returns a table
-- of key (the name without the prefix) -> value. SecureString values come
-- back marked secret. Raises when a name in REQUIRED (a list of keys) is
-- missing, and raises at the caller's line when PREFIX is not a string or
-- REQUIRED is not a list of strings.
function M.read(prefix, required)
  if type(prefix) ~= "string" and not dryrun.is_unknown(prefix) then
    misuse.raise(("ssm_parameters.read: argument 1 (prefix) must be a string, got a %s"):format(type(prefix)), 2)
  end
  if required ~= nil and type(required) ~= "table" then
    misuse.raise(("ssm_parameters.read: argument 2 (required) must be a list of names, got a %s"):format(
      type(required)), 2)
  end
  for i, key in ipairs(required or {}) do
    if type(key) ~= "string" then
      misuse.raise(("ssm_parameters.read: argument 2 (required) item %d must be a string, got a %s"):format(
        i, type(key)), 2)
    end
  end
  local values = {}
  for page in aws.ssm.paginate("get_parameters_by_path", { Path = prefix, Recursive = true, WithDecryption = true }) do
    for _, p in ipairs(page.Parameters or {}) do
      values[p.Name:sub(#prefix + 1)] = p.Value
    end
  end
  for _, key in ipairs(required or {}) do
    if values[key] == nil then
      error(("SSM parameter %s%s is missing: create it (aws ssm put-parameter --type SecureString --name %s%s ...)")
        :format(prefix, key, prefix, key), 2)
    end
  end
  return values
end

--- The settings each recipe function accepts, as recipes.settings declares
-- them: function name -> setting name -> { type, required, ... }.
M.FIELDS = { write = WRITE_FIELDS }

return M
