-- recipes.pg_schema: a schema bootstrap for an application database.
--
--   step "Bootstrap the schema" (pg_schema.bootstrap(function(ctx)
--     return { connection = {...}, schema = "app", app_role = "app_user",
--              privileges = { "USAGE", "CREATE" } }
--   end))
--
-- Creates the schema if it is missing and grants the privileges to the
-- application role only if that role exists (a missing role is a warning
-- and a follow-up, not a failure). CONNECTION is a table of libpq keywords
-- (host, port, dbname, user, password, sslmode, connect_timeout); the
-- password is secret. Unknown settings and values of the wrong type raise
-- (see recipes.settings).
local pg = require("pg")
local settings = require("recipes.settings")

local M = {}

-- The settings of bootstrap, as recipes.settings declares them.
local BOOTSTRAP_FIELDS = {
  connection = { type = "table", required = true, fields = {
    host = { type = "string" },
    port = { type = { "integer", "string" } },
    dbname = { type = "string" },
    user = { type = "string" },
    password = { type = "string" },
    sslmode = { type = "string",
                choices = { "disable", "allow", "prefer", "require", "verify-ca", "verify-full" } },
    connect_timeout = { type = { "integer", "string" } },
  } },
  schema = { type = "string", required = true },
  app_role = { type = "string" },
  privileges = { type = "list", items = { type = "string" } },
}

local function connect(spec)
  local c = spec.connection
  return pg.connect{ host = c.host, port = c.port and tostring(c.port), dbname = c.dbname, user = c.user,
                     password = c.password, sslmode = c.sslmode, connect_timeout = c.connect_timeout or 10,
                     application_name = "mnem pg_schema" }
end

local function missing_privileges(conn, spec)
  local missing = {}
  for _, privilege in ipairs(spec.privileges or { "USAGE", "CREATE" }) do
    if not conn:has_schema_privilege(spec.app_role, spec.schema, privilege) then
      missing[#missing + 1] = privilege
    end
  end
  return missing
end

--- Returns the fields of a step that makes sure SPEC(ctx).schema exists
-- and that SPEC.app_role, if it exists, has SPEC.privileges on it.
-- Skipped when both already hold. Outputs: { schema, created, granted,
-- role_exists }.
function M.bootstrap(spec_of)
  settings.expect_function("pg_schema.bootstrap", spec_of)
  local function read(ctx) return settings.read("pg_schema.bootstrap", spec_of, ctx, BOOTSTRAP_FIELDS) end
  return {
    description = "Create the schema if missing; grant it to the application role if that role exists",
    already_done = function(ctx)
      local spec = read(ctx)
      local conn <close> = connect(spec)
      if not conn:schema_exists(spec.schema) then return false end
      local role = spec.app_role and conn:role_exists(spec.app_role)
      if role and #missing_privileges(conn, spec) > 0 then return false end
      return { schema = spec.schema, created = false, granted = {}, role_exists = role or false }
    end,
    run = function(ctx)
      local spec = read(ctx)
      local conn <close> = connect(spec)
      local outcome = conn:ensure_schema(spec.schema)
      if outcome == "created" then
        ctx.change{ action = "created", resource = "postgres:schema", id = spec.schema }
      end
      local granted, role = {}, false
      if spec.app_role then
        role = conn:role_exists(spec.app_role)
        if role then
          granted = missing_privileges(conn, spec)
          if #granted > 0 then
            conn:grant{ privileges = granted, on_schema = spec.schema, to = spec.app_role }
            ctx.change{ action = "modified", resource = "postgres:grant", id = spec.schema,
                        details = { role = spec.app_role, privileges = granted } }
          end
        else
          ctx.warn(("role %s does not exist, so nothing was granted on schema %s"):format(spec.app_role, spec.schema))
          ctx.follow_up(("Grant %s on schema %s to %s once the role exists"):format(
            table.concat(spec.privileges or { "USAGE", "CREATE" }, ", "), spec.schema, spec.app_role))
        end
      end
      return { schema = spec.schema, created = outcome == "created", granted = granted, role_exists = role }
    end,
  }
end

--- The settings each recipe function accepts, as recipes.settings declares
-- them: function name -> setting name -> { type, required, ... }.
M.FIELDS = { bootstrap = BOOTSTRAP_FIELDS }

return M
