-- pg: PostgreSQL for playbooks, on libpq.
--
--   local pg = require("pg")
--   local conn <close> = pg.connect{ host = "127.0.0.1", dbname = "app", password = pw }
--   local row = conn:query_one("SELECT count(*) AS n FROM users WHERE active = $1", true)
--   conn:transaction(function(tx) tx:exec("UPDATE t SET x = $1", 2) end)
--
-- Parameters are always sent apart from the SQL text ($1, $2, ...), and
-- values come back converted by column type. SQL errors are raised as
-- mnem.errors values of kind "pg" with the SQLSTATE as code. Passwords are
-- marked secret before anything can fail. Every statement is recorded in the run
-- record; in a dry run only statements that read are sent (see
-- pg.sql.is_read_only for the rule). See docs/primitives.md, section "pg".
local core = require("mnem._pg")
local errors = require("mnem.errors")
local log = require("mnem.log")
local misuse = require("mnem.misuse")
local secret = require("mnem.secret")
local sql_text = require("pg.sql")
local sys = require("mnem._sys")

local M = {}

--- The SQL NULL value: rows contain it where a column is NULL, so a row
-- keeps all its columns, and it may be passed as a parameter.
M.null = core.null

--- Returns true when V is pg.null.
function M.is_null(v) return v == core.null end

M.quote_ident = sql_text.quote_ident

--- Quotes VALUE as an SQL literal (see pg.sql.quote_literal).
function M.quote_literal(value) return sql_text.quote_literal(value, core.null) end

--- Returns true when SQL would be sent in a dry run (see pg.sql).
M.is_read_only = sql_text.is_read_only

-- SQLSTATEs after which the same statement may succeed when retried:
-- class 08 (connection exceptions) is matched by prefix.
local RETRYABLE = {
  ["40001"] = true, -- serialization_failure
  ["40P01"] = true, -- deadlock_detected
  ["53300"] = true, -- too_many_connections
  ["57P01"] = true, -- admin_shutdown
  ["57P02"] = true, -- crash_shutdown
  ["57P03"] = true, -- cannot_connect_now
}

local function is_retryable(code)
  return code ~= nil and (code:sub(1, 2) == "08" or RETRYABLE[code] == true)
end

-- Optional engine modules, loaded on first use so pg also works in scripts
-- that run without an engine.
local optional_cache = {}
local function optional(name)
  if optional_cache[name] == nil then
    local ok, module = pcall(require, name)
    optional_cache[name] = ok and type(module) == "table" and module or false
  end
  return optional_cache[name] or nil
end

local function dry_run_active()
  local dryrun = optional("mnem.dryrun")
  return dryrun ~= nil and dryrun.active() == true
end

local function record_call(call)
  local record = optional("mnem.record")
  if record and record.primitive then record.primitive(call) end
end

-- Per-connection Lua state, keyed weakly by the connection userdata:
-- target = { host, port, dbname, user }, depth = open transaction levels.
local state = setmetatable({}, { __mode = "k" })

local Connection = core.methods

local function clean_message(text)
  text = secret.redact(tostring(text or ""))
  return (text:gsub("%s*\n%s*", "; "):gsub("[;%s]+$", ""))
end

local function describe_target(t)
  return ("%s:%s (database %s, user %s)"):format(t.host or "?", t.port or "?", t.dbname or "?", t.user or "?")
end

-- ---- notices ----

local NOTICE_LEVEL = { WARNING = "warn", NOTICE = "info", INFO = "info", LOG = "info", DEBUG = "debug" }

local function deliver_notices(conn)
  local notices, dropped = conn:take_notices()
  for _, n in ipairs(notices) do
    local level = NOTICE_LEVEL[n.severity or ""] or "info"
    local fields = { detail = n.detail, hint = n.hint }
    if n.sqlstate ~= "00000" then fields.sqlstate = n.sqlstate end
    log[level](("postgres %s: %s"):format(n.severity or "NOTICE", clean_message(n.message)),
      next(fields) and fields or nil)
  end
  if dropped > 0 then
    log.warn(("postgres: %d more notices from one statement were not shown"):format(dropped))
  end
end

-- ---- errors ----

local function statement_error(conn, sql, failure)
  local target = state[conn] and state[conn].target or {}
  local code = failure.sqlstate
  local message = clean_message(failure.message)
  if failure.connection_lost and (code == nil or code:sub(1, 2) ~= "08") then
    message = ("connection to PostgreSQL at %s was lost: %s; reconnect with conn:reset()"):format(
      describe_target(target), message ~= "" and message or "no reason given")
    code = code or "08006"
  end
  return errors.new{
    kind = "pg", code = code or "libpq", sqlstate = failure.sqlstate, message = message,
    detail = failure.detail and clean_message(failure.detail), hint = failure.hint and clean_message(failure.hint),
    position = failure.position, context = failure.context and clean_message(failure.context),
    schema = failure.schema, table = failure.table, column = failure.column, constraint = failure.constraint,
    severity = failure.severity, statement = secret.redact(sql),
    connection_lost = failure.connection_lost, retryable = failure.connection_lost or is_retryable(code),
    host = target.host, port = target.port, dbname = target.dbname,
  }
end

-- Connection failures carry no SQLSTATE from libpq; these message patterns
-- (libpq and server texts of PostgreSQL 15) give the closest one.
local CONNECT_CODES = {
  { "password authentication failed", "28P01", false },
  { "no password supplied", "28P01", false },
  { "authentication failed", "28000", false },
  { "role \".-\" does not exist", "28000", false },
  { "database \".-\" does not exist", "3D000", false },
  { "too many clients", "53300", true },
  { "remaining connection slots", "53300", true },
  { "database system is starting up", "57P03", true },
  { "database system is shutting down", "57P03", true },
  { "invalid %S+ value", "08001", false },
}

local function connect_error(failure)
  local text = clean_message(failure.message)
  local code, retryable = "08001", true
  for _, entry in ipairs(CONNECT_CODES) do
    if text:find(entry[1]) then code, retryable = entry[2], entry[3] break end
  end
  return errors.new{
    kind = "pg", code = code, sqlstate = code, retryable = retryable,
    message = ("cannot connect to PostgreSQL at %s: %s"):format(describe_target(failure), text),
    host = failure.host, port = failure.port, dbname = failure.dbname, user = failure.user,
  }
end

-- ---- connecting ----

local keyword_set
local function known_keywords()
  if not keyword_set then
    keyword_set = {}
    for _, k in ipairs(core.keywords()) do keyword_set[k] = true end
  end
  return keyword_set
end

local function edit_distance(a, b)
  local previous = {}
  for j = 0, #b do previous[j] = j end
  for i = 1, #a do
    local current = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[#b]
end

local function closest(key, names)
  local best, best_distance
  for name in pairs(names) do
    local d = edit_distance(key, name)
    if not best_distance or d < best_distance or (d == best_distance and name < best) then
      best, best_distance = name, d
    end
  end
  return best
end

local function mark_conninfo(text)
  for _, candidate in ipairs(sql_text.conninfo_passwords(text)) do secret.mark(candidate) end
  local parsed, reason = core.parse_conninfo(text)
  if not parsed then
    misuse.raise(("pg.connect: invalid connection string: %s"):format(clean_message(reason)), 4)
  end
  secret.mark(parsed.password)
end

local function keyword_value(key, value)
  local kind = type(value)
  if kind == "string" then return value end
  if kind == "number" then return sql_text.number_text(value) end
  if kind == "boolean" then return value and "1" or "0" end
  misuse.raise(("pg.connect: option %s must be a string or a number, got a %s"):format(key, kind), 4)
end

-- Builds libpq's keyword and value arrays. Defaults come first, so a
-- connection string or table setting the same keyword overrides them, and
-- dbname (which may itself be a connection string) comes before the other
-- table keys, so explicit keys win over what it expands to.
local function connect_arrays(conninfo)
  local keywords = { "fallback_application_name", "client_encoding" }
  local values = { "mnem", "UTF8" }
  if type(conninfo) == "string" then
    mark_conninfo(conninfo)
    keywords[#keywords + 1], values[#values + 1] = "dbname", conninfo
    return keywords, values
  end
  secret.mark(conninfo.password)
  local known, keys = known_keywords(), {}
  for key in pairs(conninfo) do
    if type(key) ~= "string" or not known[key] then
      misuse.raise(("pg.connect: unknown option %q (did you mean %q?)"):format(tostring(key),
        closest(tostring(key), known)), 3)
    end
    if key ~= "dbname" then keys[#keys + 1] = key end
  end
  table.sort(keys)
  if conninfo.dbname ~= nil then
    local dbname = keyword_value("dbname", conninfo.dbname)
    if dbname:find("=", 1, true) or dbname:find("://", 1, true) then mark_conninfo(dbname) end
    table.insert(keys, 1, "dbname")
  end
  for _, key in ipairs(keys) do
    keywords[#keywords + 1], values[#values + 1] = key, keyword_value(key, conninfo[key])
  end
  return keywords, values
end

-- In a rehearsal, returns an OutsideRehearsal error and the host when
-- CONNINFO names a server that is not on loopback: a host or hostaddr in
-- the table, in its dbname connection string, or in a connection string
-- or URI. A socket folder (a host starting with / or @) is local. Without
-- a host, libpq uses PGHOST, which the rehearsal points at its server.
-- A service (or servicefile) raises too: libpq then reads the host from
-- ~/.pg_service.conf or the system's pg_service.conf, and those values
-- take precedence over PGHOST.
local function check_rehearsal_target(conninfo)
  local rehearsal = require("mnem.rehearsal")
  if not rehearsal.active() then return end
  local sources = {}
  if type(conninfo) == "string" then
    sources[1] = core.parse_conninfo(conninfo)
  else
    sources[1] = conninfo
    local dbname = conninfo.dbname
    if type(dbname) == "string" and (dbname:find("=", 1, true) or dbname:find("://", 1, true)) then
      sources[2] = core.parse_conninfo(dbname)
    end
  end
  for _, source in ipairs(sources) do
    for _, key in ipairs({ "service", "servicefile" }) do
      local name = source[key]
      if name ~= nil and name ~= "" then
        local what = ("the host of %s %s"):format(key, tostring(name))
        return rehearsal.outside_error("pg", ("pg.connect with %s %s"):format(key, tostring(name)), what,
          "Leave out service so pg.connect uses the rehearsal's PostgreSQL (PGHOST)"), what
      end
    end
    for _, key in ipairs({ "host", "hostaddr" }) do
      for host in tostring(source[key] or ""):gmatch("[^,]+") do
        local name = host:match("^%s*(.-)%s*$")
        local bare = name:match("^%[(.*)%]$") or name
        if name ~= "" and not name:find("^[/@]") and not rehearsal.is_loopback(bare:lower()) then
          return rehearsal.outside_error("pg", "pg.connect to " .. key .. " " .. name, name,
            "Leave out host and hostaddr so pg.connect uses the rehearsal's PostgreSQL (PGHOST)"), name
        end
      end
    end
  end
end

--- Opens a connection. CONNINFO is a libpq connection string
-- ("host=... dbname=..."), a URI ("postgresql://user:pass@host/db"), or a
-- table of libpq keywords ({ host, port, dbname, user, password, sslmode,
-- connect_timeout, application_name, ... }); unset keywords come from the
-- PG* environment variables, ~/.pgpass and libpq defaults. The password
-- is marked secret first. application_name defaults to "mnem" and
-- client_encoding to UTF8. Returns a connection (closed by :close(), by a
-- `<close>` variable, or when collected). Raises a kind "pg" error with
-- the host, port and database named when the connection fails (code 08001,
-- retryable, unless the message shows a cause such as 28P01 for a rejected
-- password). Touches the network and waits up to connect_timeout. In a
-- rehearsal (`mnem run --sim`), a host outside loopback raises
-- OutsideRehearsal before anything is sent.
function M.connect(conninfo)
  local kind = type(conninfo)
  if kind ~= "string" and kind ~= "table" then
    misuse.raise(("pg.connect: argument 1 must be a connection string or a table of libpq keywords, got a %s"):format(
      kind), 2)
  end
  require("mnem.dryrun").check_known(conninfo)
  secret.mark(os.getenv("PGPASSWORD"))
  local keywords, values = connect_arrays(conninfo)
  local outside, outside_host = check_rehearsal_target(conninfo)
  if outside then
    record_call{ name = "pg.connect", args = { host = outside_host }, status = "error", error = outside, duration = 0 }
    error(outside, 2)
  end
  local started = sys.monotonic()
  local conn, failure = core.connect(keywords, values)
  if not conn then
    local err = connect_error(failure)
    record_call{ name = "pg.connect", args = { host = failure.host, port = failure.port, dbname = failure.dbname },
                 status = "error", error = err, duration = sys.monotonic() - started }
    error(err, 2)
  end
  local info = conn:info()
  state[conn] = { target = info, depth = 0 }
  record_call{ name = "pg.connect", args = { host = info.host, port = info.port, dbname = info.dbname },
               status = "ok", duration = sys.monotonic() - started }
  deliver_notices(conn)
  return conn
end

-- ---- statements ----

local function encode_params(fn, ...)
  local n = select("#", ...)
  local params = {}
  for i = 1, n do
    params[i] = sql_text.encode_param(fn, i, (select(i, ...)), core.null)
  end
  return params, n
end

-- Sends SQL with encoded PARAMS, ignoring dry run. Returns the result
-- table or raises a pg error.
local function run(conn, sql, params, n)
  -- The statement is cancelled on the server when the step's timeout or
  -- the run's deadline passes, so a statement blocked on a lock cannot
  -- hold the run past it.
  local engine = optional("mnem.engine")
  local left = engine and engine.remaining and engine.remaining()
  if type(left) ~= "number" then left = nil end
  local started = sys.monotonic()
  local result, failure = conn:raw_exec(sql, params, n, left)
  local elapsed = sys.monotonic() - started
  deliver_notices(conn)
  local call = { name = "pg.exec", args = { sql = secret.redact(sql), nparams = n }, duration = elapsed }
  if not result then
    local err = statement_error(conn, sql, failure)
    if failure.timed_out then
      err = errors.new{ kind = "timeout", code = "Timeout", retryable = false, sqlstate = failure.sqlstate,
        message = ("the statement was cancelled after %.2fs because the step's time ran out"):format(elapsed) }
    end
    call.status, call.error = "error", err
    record_call(call)
    -- Raised as the step's own timeout error when the engine has one.
    if failure.timed_out and engine and engine.check_deadline then engine.check_deadline(true) end
    error(err, 0)
  end
  call.status, call.command = "ok", result.command
  record_call(call)
  for i, row in ipairs(result.rows) do result[i] = row end
  return result
end

local function check_sql(conn, fn, sql)
  if conn:status() == "closed" then
    misuse.raise(("%s: attempt to use a closed PostgreSQL connection"):format(fn), 3)
  end
  if type(sql) ~= "string" then
    misuse.raise(("%s: argument 1 must be an SQL string, got a %s"):format(fn, type(sql)), 3)
  end
  if sql:find("\0", 1, true) then misuse.raise(("%s: the SQL text contains a NUL byte"):format(fn), 3) end
end

local function exec(conn, fn, sql, ...)
  require("mnem.dryrun").check_known(table.pack(sql, ...))
  check_sql(conn, fn, sql)
  local params, n = encode_params(fn, ...)
  if dry_run_active() and not sql_text.is_read_only(sql) then
    local dryrun = optional("mnem.dryrun")
    local placeholder = dryrun.would("pg exec", {
      sql = secret.redact(sql), params = n > 0 and ("(%d parameters, values not shown)"):format(n) or nil,
    })
    record_call{ name = "pg.exec", args = { sql = secret.redact(sql), nparams = n }, status = "dry_run" }
    return { rows = {}, columns = {}, dry_run = true, placeholder = placeholder }
  end
  return run(conn, sql, params, n)
end

--- Runs one SQL statement with parameters $1, $2, ... taken from the
-- remaining arguments (nil or pg.null is NULL; booleans, numbers and
-- strings are sent as text; tables raise). Returns { rows, columns,
-- command, affected, [1..n] = rows }: rows is a list of tables mapping
-- column name to value (when two columns share a name, the first wins),
-- columns a list of { name, type_oid }, command the command tag such as
-- "INSERT 0 1", affected the row count when the command has one. In a dry
-- run a statement that writes is not sent: `would` is logged and the
-- result has rows = {}, dry_run = true and a placeholder. Raises kind "pg"
-- errors with code = SQLSTATE. Touches the network.
function Connection:exec(sql, ...)
  return exec(self, "conn:exec", sql, ...)
end

--- Runs SQL like exec and returns only its list of rows.
function Connection:query(sql, ...)
  return exec(self, "conn:query", sql, ...).rows
end

local function single_row(conn, fn, sql, ...)
  local result = exec(conn, fn, sql, ...)
  if #result.rows > 1 then
    errors.raise({ kind = "pg", code = "TooManyRows", retryable = false, statement = secret.redact(sql),
                   message = ("%s expected at most one row, got %d"):format(fn, #result.rows) }, 3)
  end
  return result.rows[1], result
end

--- Runs SQL and returns its only row, or nil when there is none. Raises
-- a kind "pg" error with code "TooManyRows" when there are several.
function Connection:query_one(sql, ...)
  return (single_row(self, "conn:query_one", sql, ...))
end

--- Runs SQL and returns the first column of its only row (pg.null for
-- SQL NULL), or nil when there is no row. Raises "TooManyRows" like
-- query_one.
function Connection:query_value(sql, ...)
  local row, result = single_row(self, "conn:query_value", sql, ...)
  if row == nil or #result.columns == 0 then return nil end
  return row[result.columns[1].name]
end

--- Reconnects with the same settings, e.g. after the server restarted.
-- Any open transaction is lost. Returns the connection; raises a kind "pg"
-- error (retryable) when the server still cannot be reached.
function Connection:reset()
  local ok, reason = self:raw_reset()
  local target = state[self] and state[self].target or self:info()
  if not ok then
    errors.raise({ kind = "pg", code = "08001", sqlstate = "08001", retryable = true,
                   message = ("cannot reconnect to PostgreSQL at %s: %s"):format(describe_target(target),
                     clean_message(reason)) }, 2)
  end
  state[self] = { target = self:info(), depth = 0 }
  return self
end

--- Quotes NAME as an identifier with libpq's PQescapeIdentifier.
function Connection:quote_ident(name) return self:escape_identifier(name) end

--- Quotes TEXT as a literal with libpq's PQescapeLiteral.
function Connection:quote_literal(text) return self:escape_literal(text) end

-- ---- transactions ----

local function control(conn, sql)
  return run(conn, sql, {}, 0)
end

local function rollback_quietly(conn, sql)
  local ok, err = pcall(control, conn, sql)
  if not ok then log.warn("pg: rollback failed: " .. tostring(err)) end
end

--- Runs FN(conn) inside a transaction: BEGIN, then COMMIT when FN returns
-- (its results are returned), or ROLLBACK when FN raises, re-raising the
-- same error. A nested call uses a savepoint, so only its own work is
-- undone. When FN caught an SQL error itself and returned, PostgreSQL
-- turns COMMIT into a rollback; that raises code "25P02". Transaction
-- statements are sent in dry runs too; they change no data.
function Connection:transaction(fn)
  if type(fn) ~= "function" then
    misuse.raise(("conn:transaction: argument 1 must be a function, got a %s"):format(type(fn)), 2)
  end
  local s = state[self]
  local depth = s.depth
  local savepoint = "mnem_savepoint_" .. (depth + 1)
  control(self, depth == 0 and "BEGIN" or ("SAVEPOINT " .. savepoint))
  s.depth = depth + 1
  local results = table.pack(pcall(fn, self))
  s.depth = depth
  if not results[1] then
    if self:status() == "ok" then
      rollback_quietly(self, depth == 0 and "ROLLBACK" or ("ROLLBACK TO SAVEPOINT " .. savepoint))
    end
    error(results[2], 0)
  end
  local ended = control(self, depth == 0 and "COMMIT" or ("RELEASE SAVEPOINT " .. savepoint))
  if ended.command == "ROLLBACK" then
    errors.raise({ kind = "pg", code = "25P02", sqlstate = "25P02", retryable = false,
                   message = "transaction was rolled back at COMMIT because a statement inside it failed" }, 2)
  end
  return table.unpack(results, 2, results.n)
end

require("pg.admin").install(M, Connection, {
  run_read = function(conn, sql, ...) return run(conn, sql, encode_params("pg", ...)) end,
  exec = function(conn, fn, sql) return exec(conn, fn, sql) end,
  dry_run_active = dry_run_active,
  optional = optional,
  closest = closest,
})

return M
