-- pg.admin: role, schema and privilege helpers on pg connections.
--
-- The pg module calls `install` once to add these methods to the
-- connection's method table. The existence checks are reads and run in dry
-- runs too. ensure_schema and grant go through conn:exec, so in a dry run
-- they log what they would change instead.
local misuse = require("mnem.misuse")
local sql_text = require("pg.sql")

local M = {}

local SCHEMA_PRIVILEGES = { USAGE = true, CREATE = true }

local function check_string(fn, what, value)
  if type(value) ~= "string" or value == "" then
    misuse.raise(("%s: %s must be a non-empty string, got %s"):format(fn, what,
      type(value) == "string" and "an empty string" or ("a " .. type(value))), 3)
  end
end

local function check_options(fn, options, allowed, closest)
  if options == nil then return {} end
  if type(options) ~= "table" then
    misuse.raise(("%s: options must be a table, got a %s"):format(fn, type(options)), 3)
  end
  for key in pairs(options) do
    if not allowed[key] then
      misuse.raise(("%s: unknown option %q (did you mean %q?)"):format(fn, tostring(key),
        closest(tostring(key), allowed)), 3)
    end
  end
  return options
end

-- Returns the upper-case privilege list of a grant, raising for keywords
-- that are not schema privileges. ALL expands to USAGE and CREATE.
local function schema_privileges(fn, privileges)
  if type(privileges) == "string" then privileges = { privileges } end
  if type(privileges) ~= "table" or #privileges == 0 then
    misuse.raise(("%s: privileges must be a non-empty list such as { \"USAGE\", \"CREATE\" }"):format(fn), 3)
  end
  local list, seen = {}, {}
  for i, p in ipairs(privileges) do
    if type(p) ~= "string" then
      misuse.raise(("%s: privileges[%d] must be a string, got a %s"):format(fn, i, type(p)), 3)
    end
    local word = p:upper()
    if word == "ALL" or word == "ALL PRIVILEGES" then
      for _, each in ipairs({ "USAGE", "CREATE" }) do
        if not seen[each] then list[#list + 1], seen[each] = each, true end
      end
    elseif SCHEMA_PRIVILEGES[word] then
      if not seen[word] then list[#list + 1], seen[word] = word, true end
    else
      misuse.raise(("%s: %q is not a schema privilege; use USAGE, CREATE or ALL"):format(fn, p), 3)
    end
  end
  return list
end

-- "PUBLIC" (upper case) is the SQL keyword for every role; anything else
-- is a role name and gets quoted.
local function grantee_sql(role)
  if role == "PUBLIC" then return "PUBLIC" end
  return sql_text.quote_ident(role)
end

--- Adds the helper methods to CONNECTION, the connection method table.
-- INTERNAL gives the pg module's run_read(conn, sql, ...) (sends even in
-- a dry run), exec(conn, fn, sql) (honours dry run), dry_run_active(),
-- optional(name) and closest(key, names).
function M.install(_, Connection, internal)
  local function exists(conn, sql, name)
    return internal.run_read(conn, sql, name).rows[1].found == true
  end

  --- Returns true when role NAME exists (pg_roles). Sends a query, also
  -- in dry runs.
  function Connection:role_exists(name)
    check_string("conn:role_exists", "argument 1", name)
    return exists(self, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1) AS found", name)
  end

  --- Returns true when schema NAME exists in the current database.
  -- Sends a query, also in dry runs.
  function Connection:schema_exists(name)
    check_string("conn:schema_exists", "argument 1", name)
    return exists(self, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1) AS found", name)
  end

  --- Returns whether ROLE has privilege PRIVILEGE ("USAGE" or "CREATE",
  -- optionally followed by " WITH GRANT OPTION") on schema SCHEMA,
  -- directly, through a role it belongs to, through PUBLIC or as
  -- superuser. Raises code 42704 for an unknown role, 3F000 for an
  -- unknown schema.
  function Connection:has_schema_privilege(role, schema, privilege)
    check_string("conn:has_schema_privilege", "argument 1 (role)", role)
    check_string("conn:has_schema_privilege", "argument 2 (schema)", schema)
    check_string("conn:has_schema_privilege", "argument 3 (privilege)", privilege)
    local word = privilege:upper():match("^(%a+)")
    if not SCHEMA_PRIVILEGES[word] then
      misuse.raise(("conn:has_schema_privilege: %q is not a schema privilege; use USAGE or CREATE"):format(privilege),
        2)
    end
    local row = internal.run_read(self, "SELECT pg_catalog.has_schema_privilege($1, $2, $3) AS granted",
      role, schema, privilege).rows[1]
    return row.granted == true
  end

  --- Creates schema NAME unless it exists. OPTIONS.owner names the role
  -- that owns a new schema (AUTHORIZATION); an existing schema keeps its
  -- owner. Returns "created" or "exists". In a dry run a missing schema is
  -- reported with `would` and "created" is returned. NOTE: when another
  -- session creates the schema between the check and CREATE SCHEMA IF NOT
  -- EXISTS, "created" is returned although that session created it.
  function Connection:ensure_schema(name, options)
    check_string("conn:ensure_schema", "argument 1", name)
    options = check_options("conn:ensure_schema", options, { owner = true }, internal.closest)
    if options.owner ~= nil then check_string("conn:ensure_schema", "owner", options.owner) end
    if self:schema_exists(name) then return "exists" end
    local sql = "CREATE SCHEMA IF NOT EXISTS " .. sql_text.quote_ident(name)
    if options.owner then sql = sql .. " AUTHORIZATION " .. sql_text.quote_ident(options.owner) end
    internal.exec(self, "conn:ensure_schema", sql)
    return "created"
  end

  --- Grants schema privileges: { privileges = { "USAGE", "CREATE" } (or
  -- "ALL"), on_schema = NAME, to = ROLE (or "PUBLIC"), with_grant_option =
  -- boolean }. Returns true when it sent GRANT and false when the role
  -- already held every privilege (has_schema_privilege), so nothing
  -- changed. Roles that hold a privilege only as superuser or through
  -- PUBLIC count as holding it. In a dry run GRANT is logged with `would`
  -- and true is returned when the grant would be sent.
  function Connection:grant(spec)
    local fn = "conn:grant"
    if type(spec) ~= "table" then
      misuse.raise(("%s: argument 1 must be a table, got a %s"):format(fn, type(spec)), 2)
    end
    check_options(fn, spec, { privileges = true, on_schema = true, to = true, with_grant_option = true },
      internal.closest)
    check_string(fn, "on_schema", spec.on_schema)
    check_string(fn, "to", spec.to)
    local privileges = schema_privileges(fn, spec.privileges)
    local suffix = spec.with_grant_option and " WITH GRANT OPTION" or ""
    local checkable = not internal.dry_run_active() or (self:schema_exists(spec.on_schema)
      and (spec.to == "PUBLIC" or self:role_exists(spec.to)))
    if checkable then
      local missing = false
      for _, p in ipairs(privileges) do
        if not self:has_schema_privilege(spec.to == "PUBLIC" and "public" or spec.to, spec.on_schema, p .. suffix) then
          missing = true
          break
        end
      end
      if not missing then return false end
    end
    internal.exec(self, fn, ("GRANT %s ON SCHEMA %s TO %s%s"):format(table.concat(privileges, ", "),
      sql_text.quote_ident(spec.on_schema), grantee_sql(spec.to), suffix))
    return true
  end
end

return M
