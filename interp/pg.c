/*
 * pg.c: the libpq binding.
 *
 * Lua module `mnem._pg`, used only by the `pg` stdlib module, which adds
 * parameter conversion, structured errors, dry run and records on top.
 * The module's `methods` field is the connection's method table, and the
 * Lua side adds its own methods (exec, query_one, transaction...) to it.
 * The C methods those wrap are named raw_exec and raw_reset.
 *
 * Outside-world failures (a refused connection, an SQL error, a lost
 * server) are returned as `nil, fields` so the Lua side can build
 * mnem.errors values; only misuse raises here.  Every PGconn and PGresult
 * is owned by a userdata with a finalizer before anything that can raise
 * runs, so an out-of-memory error cannot leak one.
 *
 * Statements are sent with PQsendQueryParams and awaited with poll(), so a
 * SIGINT or SIGTERM arriving during a long statement cancels it on the
 * server instead of leaving mnem blocked inside libpq.  A statement also
 * given a deadline (the step's remaining time) is cancelled the same way
 * when the deadline passes.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <libpq-fe.h>

#include "mnem.h"

#define CONNECTION_MT "mnem.PgConnection"
#define RESULT_MT "mnem.PgResult"
#define OPTIONS_MT "mnem.PgOptions"
#define NULL_MT "mnem.PgNull"
#define NULL_KEY "mnem.pg.null"
#define METHODS_KEY "mnem.pg.methods"

/* Notices kept between two statements; later ones are counted, not kept. */
#define MAX_PENDING_NOTICES 200

/* Type OIDs from the server's pg_type catalog (stable across versions). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

struct notice {
  struct notice *next;
  char *severity;
  char *sqlstate;
  char *message;
  char *detail;
  char *hint;
};

typedef struct {
  PGconn *conn; /* NULL once closed */
  struct notice *first, *last;
  int pending;
  int dropped;
} Connection;

typedef struct {
  PGresult *res; /* NULL once cleared */
} Result;


/* ---- notices: copied in C while libpq runs, handed to Lua afterwards ---- */

static char *copy_field(const PGresult *res, int field)
{
  const char *value = PQresultErrorField(res, field);
  return value ? strdup(value) : NULL;
}


static void free_notice(struct notice *n)
{
  free(n->severity);
  free(n->sqlstate);
  free(n->message);
  free(n->detail);
  free(n->hint);
  free(n);
}


static void free_notices(Connection *c)
{
  while (c->first != NULL) {
    struct notice *next = c->first->next;
    free_notice(c->first);
    c->first = next;
  }
  c->last = NULL;
  c->pending = 0;
}


/*
 * Notice receiver: runs inside libpq, so it must not call Lua (a Lua error
 * would jump over libpq's frames).  It only queues a copy.
 */
static void receive_notice(void *arg, const PGresult *res)
{
  Connection *c = arg;
  struct notice *n;

  if (c->pending >= MAX_PENDING_NOTICES) {
    c->dropped++;
    return;
  }
  n = calloc(1, sizeof *n);
  if (n == NULL) {
    c->dropped++;
    return;
  }
  n->severity = copy_field(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  n->sqlstate = copy_field(res, PG_DIAG_SQLSTATE);
  n->message = copy_field(res, PG_DIAG_MESSAGE_PRIMARY);
  n->detail = copy_field(res, PG_DIAG_MESSAGE_DETAIL);
  n->hint = copy_field(res, PG_DIAG_MESSAGE_HINT);
  if (n->message == NULL)
    n->message = strdup(PQresultErrorMessage(res));
  if (c->last)
    c->last->next = n;
  else
    c->first = n;
  c->last = n;
  c->pending++;
}


/* [-0, +0] Sets t[key] = value (a C string) when value is not NULL. */
static void set_string(lua_State *L, int t, const char *key, const char *value)
{
  if (value == NULL)
    return;
  lua_pushstring(L, value);
  lua_setfield(L, t, key);
}


/*
 * conn:take_notices() -> list of { severity, sqlstate, message, detail,
 * hint }, number of notices dropped since the last call.
 */
static int conn_take_notices(lua_State *L)
{
  Connection *c = luaL_checkudata(L, 1, CONNECTION_MT);
  struct notice *n;
  int i = 0;

  lua_newtable(L);
  for (n = c->first; n != NULL; n = n->next) {
    lua_createtable(L, 0, 5);
    set_string(L, lua_gettop(L), "severity", n->severity);
    set_string(L, lua_gettop(L), "sqlstate", n->sqlstate);
    set_string(L, lua_gettop(L), "message", n->message);
    set_string(L, lua_gettop(L), "detail", n->detail);
    set_string(L, lua_gettop(L), "hint", n->hint);
    lua_rawseti(L, -2, ++i);
  }
  lua_pushinteger(L, c->dropped);
  free_notices(c);
  c->dropped = 0;
  return 2;
}


/* ---- connections ---- */

static Connection *check_open(lua_State *L)
{
  Connection *c = luaL_checkudata(L, 1, CONNECTION_MT);
  if (c->conn == NULL) {
    lua_pushliteral(L, "attempt to use a closed PostgreSQL connection");
    lua_error(L);
  }
  return c;
}


/* conn:close(), also __gc and __close: idempotent */
static int conn_close(lua_State *L)
{
  Connection *c = luaL_checkudata(L, 1, CONNECTION_MT);
  if (c->conn != NULL) {
    PQfinish(c->conn);
    c->conn = NULL;
  }
  free_notices(c);
  return 0;
}


/* [-0, +1] Pushes a table naming where CONN was meant to connect. */
static void push_target(lua_State *L, PGconn *conn)
{
  int t;

  lua_newtable(L);
  t = lua_gettop(L);
  set_string(L, t, "host", PQhost(conn));
  set_string(L, t, "port", PQport(conn));
  set_string(L, t, "dbname", PQdb(conn));
  set_string(L, t, "user", PQuser(conn));
}


/* [-0, +1] Copies the array at INDEX into a NULL-terminated C array held
 * in a new userdata left on the stack.  The strings stay owned by the Lua
 * table, so the caller keeps that table on the stack while it is used. */
static const char **to_c_strings(lua_State *L, int index, int n)
{
  const char **array;
  int i;

  array = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, index, i + 1);
    array[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (array[i] == NULL)
      luaL_error(L, "connect: entry %d is not a string", i + 1);
  }
  array[n] = NULL;
  return array;
}


/*
 * connect(keywords, values) -> Connection | nil, { message, host, port,
 * dbname, user, used_password }.  Uses PQconnectdbParams with
 * expand_dbname, so a dbname value may itself be a conninfo string or URI.
 */
static int pg_connect(lua_State *L)
{
  const char **keywords, **values;
  Connection *c;
  int n;

  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  n = (int)luaL_len(L, 1);
  luaL_argcheck(L, luaL_len(L, 2) == n, 2, "must match the keywords");
  keywords = to_c_strings(L, 1, n);
  values = to_c_strings(L, 2, n);
  c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, CONNECTION_MT);
  c->conn = PQconnectdbParams(keywords, values, 1);
  if (c->conn == NULL)
    return luaL_error(L, "PQconnectdbParams: out of memory");
  if (PQstatus(c->conn) != CONNECTION_OK) {
    lua_pushnil(L);
    push_target(L, c->conn);
    set_string(L, lua_gettop(L), "message", PQerrorMessage(c->conn));
    lua_pushboolean(L, PQconnectionUsedPassword(c->conn));
    lua_setfield(L, -2, "used_password");
    PQfinish(c->conn);
    c->conn = NULL;
    return 2;
  }
  PQsetNoticeReceiver(c->conn, receive_notice, c);
  return 1;
}


/* conn:raw_reset() -> true | nil, message: reconnects, same settings */
static int conn_reset(lua_State *L)
{
  Connection *c = check_open(L);

  PQreset(c->conn);
  if (PQstatus(c->conn) != CONNECTION_OK) {
    lua_pushnil(L);
    lua_pushstring(L, PQerrorMessage(c->conn));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}


/* conn:status() -> "ok" | "bad" | "closed" */
static int conn_status(lua_State *L)
{
  Connection *c = luaL_checkudata(L, 1, CONNECTION_MT);

  if (c->conn == NULL)
    lua_pushliteral(L, "closed");
  else if (PQstatus(c->conn) == CONNECTION_OK)
    lua_pushliteral(L, "ok");
  else
    lua_pushliteral(L, "bad");
  return 1;
}


/* conn:transaction_status() -> "idle" | "active" | "intrans" | "inerror" |
 * "unknown" */
static int conn_transaction_status(lua_State *L)
{
  Connection *c = check_open(L);

  switch (PQtransactionStatus(c->conn)) {
  case PQTRANS_IDLE:
    lua_pushliteral(L, "idle");
    break;
  case PQTRANS_ACTIVE:
    lua_pushliteral(L, "active");
    break;
  case PQTRANS_INTRANS:
    lua_pushliteral(L, "intrans");
    break;
  case PQTRANS_INERROR:
    lua_pushliteral(L, "inerror");
    break;
  default:
    lua_pushliteral(L, "unknown");
  }
  return 1;
}


/* conn:info() -> { host, port, dbname, user, server_version, backend_pid } */
static int conn_info(lua_State *L)
{
  Connection *c = check_open(L);

  push_target(L, c->conn);
  lua_pushinteger(L, PQserverVersion(c->conn));
  lua_setfield(L, -2, "server_version");
  lua_pushinteger(L, PQbackendPID(c->conn));
  lua_setfield(L, -2, "backend_pid");
  return 1;
}


/* [-0, +1] Pushes the escaped form of argument 2, or raises with libpq's
 * reason (e.g. invalid encoding). */
static int escape(lua_State *L, int literal)
{
  Connection *c = check_open(L);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  char *escaped;

  if (memchr(text, '\0', len) != NULL)
    return luaL_argerror(L, 2, "contains a NUL byte");
  escaped = literal ? PQescapeLiteral(c->conn, text, len)
                    : PQescapeIdentifier(c->conn, text, len);
  if (escaped == NULL)
    return luaL_error(L, "cannot quote %s: %s",
                      literal ? "literal" : "identifier",
                      PQerrorMessage(c->conn));
  lua_pushstring(L, escaped);
  PQfreemem(escaped);
  return 1;
}


/* conn:escape_identifier(name) -> "quoted" (PQescapeIdentifier) */
static int conn_escape_identifier(lua_State *L)
{
  return escape(L, 0);
}


/* conn:escape_literal(text) -> 'quoted' (PQescapeLiteral) */
static int conn_escape_literal(lua_State *L)
{
  return escape(L, 1);
}


/* ---- statements ---- */

/* result holder: __gc clears a PGresult still owned when an error unwinds */
static int result_gc(lua_State *L)
{
  Result *r = luaL_checkudata(L, 1, RESULT_MT);
  if (r->res != NULL) {
    PQclear(r->res);
    r->res = NULL;
  }
  return 0;
}


static void cancel_statement(PGconn *conn)
{
  char reason[256];
  PGcancel *cancel = PQgetCancel(conn);

  if (cancel != NULL) {
    PQcancel(cancel, reason, sizeof reason);
    PQfreeCancel(cancel);
  }
}


/* Returns the CLOCK_MONOTONIC time in seconds. */
static double monotonic_seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/*
 * How a statement's wait ended early: whether it was cancelled, and
 * whether the cancel came from the deadline (a monotonic time in seconds,
 * or a negative number for none).
 */
typedef struct {
  double deadline;
  int cancelled;
  int timed_out;
} Wait;


/*
 * Waits until libpq can return a result without blocking.  Returns 0 when
 * the connection failed while waiting (PQgetResult then reports why).
 * Cancels the statement once when SIGINT or SIGTERM arrives or when
 * W->deadline passes.
 */
static int await_result(PGconn *conn, Wait *w)
{
  while (PQisBusy(conn)) {
    struct pollfd pfd = { PQsocket(conn), POLLIN, 0 };
    int rc, wait_ms = 100;

    if (pfd.fd < 0)
      return 0;
    if (w->deadline >= 0 && !w->cancelled) {
      double left = w->deadline - monotonic_seconds();

      if (left <= 0) {
        cancel_statement(conn);
        w->cancelled = w->timed_out = 1;
      } else if (left * 1000 < wait_ms) {
        wait_ms = (int)(left * 1000) + 1;
      }
    }
    rc = poll(&pfd, 1, wait_ms);
    if (rc < 0 && errno != EINTR)
      return 0;
    if (mnem_signal_received && !w->cancelled) {
      cancel_statement(conn);
      w->cancelled = 1;
    }
    if (rc > 0 && !PQconsumeInput(conn))
      return 0;
  }
  return 1;
}


/* [-0, +1] Pushes the text value at (row, col) converted by type OID. */
static void push_value(lua_State *L, const PGresult *res, int row, int col)
{
  const char *text = PQgetvalue(res, row, col);
  int len = PQgetlength(res, row, col);
  char *end;

  switch (PQftype(res, col)) {
  case OID_BOOL:
    lua_pushboolean(L, text[0] == 't');
    return;
  case OID_INT2:
  case OID_INT4:
  case OID_INT8:
  case OID_OID:
  case OID_NUMERIC: {
    long long value;
    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno == 0 && end != text && *end == '\0') {
      lua_pushinteger(L, (lua_Integer)value);
      return;
    }
    break; /* out of int64 range or a fraction: keep the exact text */
  }
  case OID_FLOAT4:
  case OID_FLOAT8: {
    double value = strtod(text, &end); /* also parses NaN and Infinity */
    if (end != text && *end == '\0') {
      lua_pushnumber(L, value);
      return;
    }
    break;
  }
  default:
    break;
  }
  lua_pushlstring(L, text, (size_t)len);
}


/* [-0, +1] Pushes { name, type_oid } for each column of RES. */
static void push_columns(lua_State *L, const PGresult *res)
{
  int ncols = PQnfields(res), j;

  lua_createtable(L, ncols, 0);
  for (j = 0; j < ncols; j++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, PQfname(res, j));
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)PQftype(res, j));
    lua_setfield(L, -2, "type_oid");
    lua_rawseti(L, -2, j + 1);
  }
}


/*
 * [-0, +1] Pushes { command, affected, columns, rows }.  Each row maps
 * column names to values; when two columns share a name the first wins.
 */
static void push_result(lua_State *L, PGresult *res)
{
  int nrows = PQntuples(res), ncols = PQnfields(res), i, j, t;
  const char *affected = PQcmdTuples(res);

  lua_createtable(L, 0, 4);
  t = lua_gettop(L);
  set_string(L, t, "command", PQcmdStatus(res));
  if (affected[0] != '\0') {
    lua_pushinteger(L, strtoll(affected, NULL, 10));
    lua_setfield(L, t, "affected");
  }
  push_columns(L, res);
  lua_setfield(L, t, "columns");
  lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
  lua_createtable(L, nrows, 0);
  for (i = 0; i < nrows; i++) {
    lua_createtable(L, 0, ncols);
    for (j = ncols - 1; j >= 0; j--) { /* reverse: the first name wins */
      if (PQgetisnull(res, i, j))
        lua_pushvalue(L, t + 1);
      else
        push_value(L, res, i, j);
      lua_setfield(L, -2, PQfname(res, j));
    }
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, t, "rows");
  lua_pop(L, 1); /* the null sentinel */
}


/* [-0, +1] Pushes the error fields of RES (which may be NULL). */
static void push_failure(lua_State *L, PGconn *conn, const PGresult *res)
{
  static const struct {
    int code;
    const char *name;
  } fields[] = { { PG_DIAG_SQLSTATE, "sqlstate" },
                 { PG_DIAG_SEVERITY_NONLOCALIZED, "severity" },
                 { PG_DIAG_MESSAGE_PRIMARY, "message" },
                 { PG_DIAG_MESSAGE_DETAIL, "detail" },
                 { PG_DIAG_MESSAGE_HINT, "hint" },
                 { PG_DIAG_CONTEXT, "context" },
                 { PG_DIAG_SCHEMA_NAME, "schema" },
                 { PG_DIAG_TABLE_NAME, "table" },
                 { PG_DIAG_COLUMN_NAME, "column" },
                 { PG_DIAG_CONSTRAINT_NAME, "constraint" } };
  const char *position;
  size_t k;
  int t;

  lua_newtable(L);
  t = lua_gettop(L);
  if (res != NULL) {
    for (k = 0; k < sizeof fields / sizeof fields[0]; k++)
      set_string(L, t, fields[k].name,
                 PQresultErrorField(res, fields[k].code));
    position = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    if (position != NULL) {
      lua_pushinteger(L, strtol(position, NULL, 10));
      lua_setfield(L, t, "position");
    }
  }
  lua_getfield(L, t, "message");
  if (lua_isnil(L, -1))
    set_string(L, t, "message",
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  lua_pop(L, 1);
  lua_pushboolean(L, PQstatus(conn) != CONNECTION_OK);
  lua_setfield(L, t, "connection_lost");
}


/*
 * Reads every result of the statement just sent into HOLDER (waiting
 * under the limits in W), keeping the
 * first failed result, else the last one.  A COPY to or from the client is
 * ended at once (its data discarded) and 1 is returned so the caller can
 * report it as unsupported; otherwise returns 0.
 */
static int collect_results(PGconn *conn, Result *holder, Wait *w)
{
  int copy = 0;
  PGresult *res;
  char *data;

  for (;;) {
    await_result(conn, w);
    res = PQgetResult(conn);
    if (res == NULL)
      break;
    switch (PQresultStatus(res)) {
    case PGRES_COPY_IN:
      copy = 1;
      PQclear(res);
      PQputCopyEnd(conn, "COPY FROM STDIN is not supported by mnem");
      continue;
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
      copy = 1;
      PQclear(res);
      while (PQgetCopyData(conn, &data, 0) > 0)
        PQfreemem(data);
      continue;
    default:
      break;
    }
    if (holder->res == NULL ||
        PQresultStatus(holder->res) != PGRES_FATAL_ERROR) {
      PQclear(holder->res);
      holder->res = res;
    } else {
      PQclear(res);
    }
    if (PQstatus(conn) != CONNECTION_OK)
      break;
  }
  return copy;
}


/*
 * conn:raw_exec(sql, params, n [, seconds]) -> { command, affected, columns,
 * rows } | nil, failure fields.  params[1..n] are strings, or false for SQL
 * NULL; the pg module converts Lua values before calling.  When SECONDS is
 * given, the statement is cancelled after that many seconds and the
 * failure fields have timed_out = true.
 */
static int conn_exec(lua_State *L)
{
  Connection *c = check_open(L);
  const char *sql = luaL_checkstring(L, 2);
  int n = (int)luaL_checkinteger(L, 4), i, copy, ok;
  lua_Number seconds = luaL_optnumber(L, 5, -1);
  Wait w = { -1, 0, 0 };
  const char **values;
  Result *holder;
  PGresult *res;

  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, n >= 0 && n <= 65535, 4, "at most 65535 parameters");
  values = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, 3, i + 1);
    values[i] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* the table at index 3 keeps the string alive */
  }
  holder = lua_newuserdatauv(L, sizeof *holder, 0);
  holder->res = NULL;
  luaL_setmetatable(L, RESULT_MT);

  if (!PQsendQueryParams(c->conn, sql, n, NULL, values, NULL, NULL, 0)) {
    lua_pushnil(L);
    push_failure(L, c->conn, NULL);
    return 2;
  }
  if (seconds >= 0)
    w.deadline = monotonic_seconds() + (double)seconds;
  copy = collect_results(c->conn, holder, &w);
  res = holder->res;
  if (copy || res == NULL ||
      (PQresultStatus(res) != PGRES_COMMAND_OK &&
       PQresultStatus(res) != PGRES_TUPLES_OK &&
       PQresultStatus(res) != PGRES_EMPTY_QUERY)) {
    lua_pushnil(L);
    push_failure(L, c->conn, copy ? NULL : res);
    if (copy) {
      lua_pushliteral(L, "COPY FROM STDIN and COPY TO STDOUT are not "
                         "supported; use COPY with a server-side file");
      lua_setfield(L, -2, "message");
    }
    if (w.timed_out) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "timed_out");
    }
    ok = 0;
  } else {
    push_result(L, res);
    ok = 1;
  }
  PQclear(holder->res);
  holder->res = NULL;
  return ok ? 1 : 2;
}


/* ---- module functions ---- */

/* option list holder: __gc frees a PQconninfoOption array still owned */
static int options_gc(lua_State *L)
{
  PQconninfoOption **options = luaL_checkudata(L, 1, OPTIONS_MT);
  if (*options != NULL) {
    PQconninfoFree(*options);
    *options = NULL;
  }
  return 0;
}


/* [-0, +1] Pushes a holder that frees OPTIONS when collected. */
static PQconninfoOption **hold_options(lua_State *L, PQconninfoOption *options)
{
  PQconninfoOption **holder = lua_newuserdatauv(L, sizeof *holder, 0);

  *holder = NULL;
  luaL_setmetatable(L, OPTIONS_MT);
  *holder = options;
  return holder;
}


/* parse_conninfo(text) -> { keyword = value } | nil, message.  Accepts the
 * keyword=value form and postgresql:// URIs, exactly as libpq does. */
static int pg_parse_conninfo(lua_State *L)
{
  const char *text = luaL_checkstring(L, 1);
  char *message = NULL;
  PQconninfoOption **holder = hold_options(L, NULL), *o;

  *holder = PQconninfoParse(text, &message);
  if (*holder == NULL) {
    char reason[512];
    /* Copy and free libpq's message before pushing, which can raise. */
    snprintf(reason, sizeof reason, "%s", message ? message : "out of memory");
    PQfreemem(message);
    lua_pushnil(L);
    lua_pushstring(L, reason);
    return 2;
  }
  lua_newtable(L);
  for (o = *holder; o->keyword != NULL; o++) {
    if (o->val == NULL)
      continue;
    lua_pushstring(L, o->val);
    lua_setfield(L, -2, o->keyword);
  }
  return 1;
}


/* keywords() -> list of every connection keyword this libpq accepts */
static int pg_keywords(lua_State *L)
{
  PQconninfoOption **holder = hold_options(L, NULL), *o;
  int i = 0;

  *holder = PQconndefaults();
  if (*holder == NULL)
    return luaL_error(L, "PQconndefaults: out of memory");
  lua_newtable(L);
  for (o = *holder; o->keyword != NULL; o++) {
    lua_pushstring(L, o->keyword);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}


/* lib_version() -> libpq's version number, e.g. 150018 */
static int pg_lib_version(lua_State *L)
{
  lua_pushinteger(L, PQlibVersion());
  return 1;
}


static int null_tostring(lua_State *L)
{
  lua_pushliteral(L, "pg.null");
  return 1;
}


/* [-0, +0] Creates the SQL NULL sentinel and stores it in the registry. */
static void create_null(lua_State *L)
{
  lua_newuserdatauv(L, 1, 0);
  luaL_newmetatable(L, NULL_MT);
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, NULL_KEY);
}


int luaopen_mnem_pg(lua_State *L)
{
  static const luaL_Reg methods[] = {
    { "raw_exec", conn_exec },
    { "close", conn_close },
    { "raw_reset", conn_reset },
    { "status", conn_status },
    { "transaction_status", conn_transaction_status },
    { "info", conn_info },
    { "escape_identifier", conn_escape_identifier },
    { "escape_literal", conn_escape_literal },
    { "take_notices", conn_take_notices },
    { NULL, NULL }
  };
  static const luaL_Reg functions[] = { { "connect", pg_connect },
                                        { "parse_conninfo",
                                          pg_parse_conninfo },
                                        { "keywords", pg_keywords },
                                        { "lib_version", pg_lib_version },
                                        { NULL, NULL } };

  luaL_newmetatable(L, CONNECTION_MT);
  luaL_newlib(L, methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, METHODS_KEY);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, conn_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, conn_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newmetatable(L, RESULT_MT);
  lua_pushcfunction(L, result_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, OPTIONS_MT);
  lua_pushcfunction(L, options_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
  if (lua_isnil(L, -1))
    create_null(L);
  lua_pop(L, 1);

  luaL_newlib(L, functions);
  lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY);
  lua_setfield(L, -2, "null");
  lua_getfield(L, LUA_REGISTRYINDEX, METHODS_KEY);
  lua_setfield(L, -2, "methods");
  return 1;
}
