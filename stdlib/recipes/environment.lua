-- recipes.environment: per-environment settings files.
--
-- A playbook keeps account ids, regions, resource names, network ids and
-- ports out of its own text: they live in one Lua file per environment
-- (for example env/test.lua beside the playbook) that returns a table.
-- `loader(folder)` returns a function of the step context that loads the
-- file named by the playbook variable `environment` once per run.
local M = {}

--- Returns settings(ctx): loads FOLDER/<ctx.vars[VARIABLE]>.lua (VARIABLE
-- defaults to "environment") the first time and returns its table. FOLDER
-- is relative to the playbook's folder unless absolute. Raises a string
-- error naming the file when it is missing or does not return a table.
function M.loader(folder, variable)
  if type(folder) ~= "string" then
    error(("environment.loader: argument 1 (folder) must be a string, got a %s"):format(type(folder)), 2)
  end
  if variable ~= nil and type(variable) ~= "string" then
    error(("environment.loader: argument 2 (variable) must be a string, got a %s"):format(type(variable)), 2)
  end
  variable = variable or "environment"
  local caller = debug.getinfo(2, "S").source
  local base = caller:match("^@(.*)/[^/]*$") or "."
  if folder:sub(1, 1) ~= "/" then folder = base .. "/" .. folder end
  local cache = {}
  return function(ctx)
    local name = ctx.vars[variable]
    if type(name) ~= "string" or name == "" then
      error(("environment settings: variable %q is not set; pass --var %s=NAME"):format(variable, variable), 2)
    end
    if cache[name] then return cache[name] end
    local path = folder .. "/" .. name .. ".lua"
    local chunk, message = loadfile(path, "t", {})
    if not chunk then
      error(("environment settings for %q: %s (create %s returning a table)"):format(name, message, path), 2)
    end
    local settings = chunk()
    if type(settings) ~= "table" then
      error(("environment settings file %s must return a table, got %s"):format(path, type(settings)), 2)
    end
    cache[name] = settings
    return settings
  end
end

--- Returns settings[KEY] or raises an error naming the missing setting.
function M.require_key(settings, key, where)
  local value = settings[key]
  if value == nil then
    error(("environment settings: missing %q%s"):format(key, where and (" in " .. where) or ""), 2)
  end
  return value
end

return M
