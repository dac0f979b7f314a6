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
-- (host, port, dbname, user, password, sslmode); the password is secret.
local pg = require("pg")

local M = {}

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
  return {
    description = "Create the schema if missing; grant it to the application role if that role exists",
    already_done = function(ctx)
      local spec = spec_of(ctx)
      local conn <close> = connect(spec)
      if not conn:schema_exists(spec.schema) then return false end
      local role = spec.app_role and conn:role_exists(spec.app_role)
      if role and #missing_privileges(conn, spec) > 0 then return false end
      return { schema = spec.schema, created = false, granted = {}, role_exists = role or false }
    end,
    run = function(ctx)
      local spec = spec_of(ctx)
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

return M
