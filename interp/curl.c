/*
 * curl.c: the HTTP transport, over libcurl.
 *
 * Lua module `mnem._curl`.  session() returns a mnem.CurlSession that owns
 * one curl easy handle, reused for every request so connections are kept
 * alive.  session:request(opts) sends one request and returns the response
 * table, or nil and a table describing the transport failure (the stage
 * that failed, curl's code and message).  HTTP statuses of 400 and above
 * are responses, not failures.
 *
 * Every C resource of a request (header lists, the response buffers) is
 * owned by the session, freed at the start of the next request and by the
 * session's release, so a Lua error raised midway leaks nothing.  TLS peer
 * and host verification are always on.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "mnem.h"

#define CURL_SESSION "mnem.CurlSession"
#define DEFAULT_MAX_BODY (64 * 1024 * 1024)

/* A growing byte buffer owned by a session. */
typedef struct {
  char *data;
  size_t len, cap;
} Bytes;

typedef struct {
  CURL *easy;                 /* NULL once closed */
  struct curl_slist *headers; /* request headers of the current request */
  struct curl_slist *connect_to;
  Bytes body, head; /* response body and raw header lines */
  size_t max_body;
  int too_big;        /* the body passed max_body */
  int interrupted;    /* aborted because a signal arrived */
  lua_State *L;       /* set during perform for on_data */
  int on_data;        /* stack index of on_data, or 0 */
  int callback_error; /* stack index to store an on_data error */
  int callback_failed;
  int busy; /* inside curl_easy_perform */
  char errbuf[CURL_ERROR_SIZE];
} Session;


static void bytes_free(Bytes *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}


/* Appends LEN bytes; returns 0 when memory runs out. */
static int bytes_append(Bytes *b, const char *data, size_t len)
{
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap > 0 ? b->cap : 4096;
    char *p;
    while (cap < b->len + len + 1)
      cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
      return 0;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 1;
}


/* Frees what the previous request left; the easy handle stays. */
static void session_clear(Session *s)
{
  curl_slist_free_all(s->headers);
  s->headers = NULL;
  curl_slist_free_all(s->connect_to);
  s->connect_to = NULL;
  bytes_free(&s->body);
  bytes_free(&s->head);
}


static Session *check_session(lua_State *L)
{
  Session *s = luaL_checkudata(L, 1, CURL_SESSION);
  if (s->easy == NULL)
    luaL_error(L, "attempt to use a closed curl session");
  if (s->busy)
    luaL_error(L, "curl session is busy: on_data must not use its own "
                  "session");
  return s;
}


/* session:close(), also __gc and __close: idempotent */
static int session_close(lua_State *L)
{
  Session *s = luaL_checkudata(L, 1, CURL_SESSION);

  if (s->busy)
    return luaL_error(L, "curl session is busy: on_data must not close its "
                         "own session");
  session_clear(s);
  if (s->easy != NULL) {
    curl_easy_cleanup(s->easy);
    s->easy = NULL;
  }
  return 0;
}


/* session() -> mnem.CurlSession */
static int curl_session(lua_State *L)
{
  Session *s = lua_newuserdatauv(L, sizeof *s, 0);

  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, CURL_SESSION);
  s->easy = curl_easy_init();
  if (s->easy == NULL)
    return luaL_error(L, "curl.session: curl_easy_init failed");
  return 1;
}


/* ---- libcurl callbacks ---- */

/* Calls on_data (argument 1) with the chunk given as a light userdata and
 * a length, so that even making the chunk's string runs protected. */
static int call_on_data(lua_State *L)
{
  const char *data = lua_touserdata(L, 2);
  size_t len = (size_t)lua_tointeger(L, 3);

  lua_settop(L, 1);
  lua_pushlstring(L, data, len);
  lua_call(L, 1, 0);
  return 0;
}


static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
  Session *s = arg;
  size_t len = size * count;

  if (s->on_data != 0) {
    lua_State *L = s->L;
    lua_pushcfunction(L, call_on_data);
    lua_pushvalue(L, s->on_data);
    lua_pushlightuserdata(L, data);
    lua_pushinteger(L, (lua_Integer)len);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
      lua_replace(L, s->callback_error);
      s->callback_failed = 1;
      return 0;
    }
    return len;
  }
  if (s->body.len + len > s->max_body) {
    s->too_big = 1;
    return 0;
  }
  return bytes_append(&s->body, data, len) ? len : 0;
}


static size_t on_header(char *data, size_t size, size_t count, void *arg)
{
  Session *s = arg;
  size_t len = size * count;

  /* A new status line starts the headers of another response (after a
   * redirect or a 100 Continue): keep only the last response's. */
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
    s->head.len = 0;
  if (s->head.len + len > 1024 * 1024)
    return 0;
  return bytes_append(&s->head, data, len) ? len : 0;
}


static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
  Session *s = arg;

  (void)dltotal;
  (void)dlnow;
  (void)ultotal;
  (void)ulnow;
  if (mnem_signal_received) {
    s->interrupted = 1;
    return 1;
  }
  return 0;
}


/* ---- options ---- */

static const char *const request_keys[] = {
  "method",           "url",
  "headers",          "body",
  "timeout",          "connect_timeout",
  "follow_redirects", "max_redirects",
  "ca_file",          "max_body",
  "on_data",          "connect_to",
  "use_proxy",        "proxy",
  "no_proxy",         NULL
};


/* [-0, +0] the number field NAME of the options at 2, or DEF. */
static double opt_number(lua_State *L, const char *name, double def)
{
  double v = def;
  int t = lua_getfield(L, 2, name);

  if (t == LUA_TNUMBER)
    v = lua_tonumber(L, -1);
  else if (t != LUA_TNIL)
    luaL_error(L, "session:request: option '%s' must be a number, got %s",
               name, luaL_typename(L, -1));
  lua_pop(L, 1);
  if (!(v > 0))
    luaL_error(L, "session:request: option '%s' must be positive", name);
  return v;
}


/* [-0, +0] the string field NAME of the options at 2, or NULL.  The
 * options table keeps the string alive. */
static const char *opt_string(lua_State *L, const char *name, size_t *len)
{
  const char *s = NULL;
  int t = lua_getfield(L, 2, name);

  if (t == LUA_TSTRING)
    s = lua_tolstring(L, -1, len);
  else if (t != LUA_TNIL)
    luaL_error(L, "session:request: option '%s' must be a string, got %s",
               name, luaL_typename(L, -1));
  lua_pop(L, 1);
  return s;
}


static int opt_bool(lua_State *L, const char *name, int def)
{
  int v = def, t = lua_getfield(L, 2, name);

  if (t == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    luaL_error(L, "session:request: option '%s' must be a boolean, got %s",
               name, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}


/* Appends LINE to *LIST, which stays owned by the session on failure. */
static void slist_add(lua_State *L, struct curl_slist **list, const char *line)
{
  struct curl_slist *grown = curl_slist_append(*list, line);

  if (grown == NULL)
    luaL_error(L, "session:request: out of memory");
  *list = grown;
}


static int header_is(const char *name, size_t len, const char *want)
{
  size_t i;

  if (strlen(want) != len)
    return 0;
  for (i = 0; i < len; i++) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != want[i])
      return 0;
  }
  return 1;
}


/* Flags of the headers the caller set itself, which curl must not add. */
enum { HAS_ACCEPT = 1, HAS_EXPECT = 2, HAS_CONTENT_TYPE = 4 };


/* Whether NAME is an HTTP token: letters, digits and !#$%&'*+-.^_`|~ only.
 * A space or tab at its start would make the line a continuation of the
 * header before it, and a ';' at its end curl's empty-value form. */
static int is_token(const char *name, size_t len)
{
  size_t i;

  if (len == 0)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL) ||
        c == '\0')
      return 0;
  }
  return 1;
}


/* [-0, +0] adds one header to the session's list.  An empty value, or one
 * of spaces and tabs only, uses curl's "Name;" form, which sends the header
 * with no value: curl would drop "Name: " as a request to remove it.  The
 * line is assembled in C because a Lua string per header cost about 1,600
 * instructions under callgrind. */
static int add_request_header(lua_State *L, Session *s, const char *name,
                              size_t nlen, const char *value, size_t vlen)
{
  int flag = 0;
  char small[1024], *line;
  struct curl_slist *grown;

  if (!is_token(name, nlen) || strlen(value) != vlen ||
      strpbrk(value, "\r\n") != NULL)
    luaL_error(L, "session:request: invalid header name or value for '%s'",
               name);
  if (strspn(value, " \t") == vlen)
    vlen = 0;
  if (header_is(name, nlen, "accept"))
    flag = HAS_ACCEPT;
  else if (header_is(name, nlen, "expect"))
    flag = HAS_EXPECT;
  else if (header_is(name, nlen, "content-type"))
    flag = HAS_CONTENT_TYPE;

  line = nlen + vlen + 3 <= sizeof small ? small : malloc(nlen + vlen + 3);
  if (line == NULL)
    luaL_error(L, "session:request: out of memory");
  memcpy(line, name, nlen);
  if (vlen == 0) {
    line[nlen] = ';';
    line[nlen + 1] = '\0';
  } else {
    line[nlen] = ':';
    line[nlen + 1] = ' ';
    memcpy(line + nlen + 2, value, vlen + 1);
  }
  grown = curl_slist_append(s->headers, line);
  if (line != small)
    free(line);
  if (grown == NULL)
    luaL_error(L, "session:request: out of memory");
  s->headers = grown;
  return flag;
}


/* Builds the session's header list from opts.headers (a list of
 * {name, value} pairs or a map) and returns the HAS_* flags. */
static int build_headers(lua_State *L, Session *s)
{
  int flags = 0, t = lua_getfield(L, 2, "headers"), h = lua_gettop(L);

  if (t == LUA_TTABLE && lua_rawlen(L, h) > 0) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, h), i;
    for (i = 1; i <= n; i++) {
      size_t nlen, vlen;
      const char *name, *value;
      if (lua_rawgeti(L, h, i) != LUA_TTABLE)
        luaL_error(L,
                   "session:request: headers[%d] must be a {name, value} "
                   "pair",
                   (int)i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      name =
          lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nlen) : NULL;
      value =
          lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &vlen) : NULL;
      if (name == NULL || value == NULL)
        luaL_error(L, "session:request: headers[%d] must hold two strings",
                   (int)i);
      flags |= add_request_header(L, s, name, nlen, value, vlen);
      lua_pop(L, 3);
    }
  } else if (t == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, h) != 0) {
      size_t nlen, vlen;
      const char *name, *value;
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "session:request: headers must map names to strings");
      name = lua_tolstring(L, -2, &nlen);
      value = lua_tolstring(L, -1, &vlen);
      flags |= add_request_header(L, s, name, nlen, value, vlen);
      lua_pop(L, 1);
    }
  } else if (t != LUA_TNIL) {
    luaL_error(L, "session:request: option 'headers' must be a table, got %s",
               luaL_typename(L, h));
  }
  lua_pop(L, 1);
  return flags;
}


static void build_connect_to(lua_State *L, Session *s)
{
  int t = lua_getfield(L, 2, "connect_to"), list = lua_gettop(L);
  lua_Integer n, i;

  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (t != LUA_TTABLE)
    luaL_error(L, "session:request: option 'connect_to' must be a list of "
                  "\"HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT\" strings");
  n = (lua_Integer)lua_rawlen(L, list);
  for (i = 1; i <= n; i++) {
    if (lua_rawgeti(L, list, i) != LUA_TSTRING)
      luaL_error(L, "session:request: connect_to[%d] must be a string",
                 (int)i);
    slist_add(L, &s->connect_to, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}


/* Sets the method and body.  The body string stays alive in the options
 * table for the whole transfer, so curl may point at it. */
static void set_method(lua_State *L, Session *s, int *flags)
{
  size_t body_len = 0;
  const char *method = opt_string(L, "method", NULL);
  const char *body = opt_string(L, "body", &body_len);
  CURL *e = s->easy;

  if (method == NULL)
    method = "GET";
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") == 0 && body == NULL) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (body != NULL || strcmp(method, "POST") == 0) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    if (strcmp(method, "POST") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    /* curl would add a form Content-Type of its own. */
    if (!(*flags & HAS_CONTENT_TYPE))
      slist_add(L, &s->headers, "Content-Type:");
  } else {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
}


static void set_options(lua_State *L, Session *s)
{
  CURL *e = s->easy;
  const char *url = opt_string(L, "url", NULL);
  const char *ca_file = opt_string(L, "ca_file", NULL);
  double timeout = opt_number(L, "timeout", 60);
  double connect_timeout = opt_number(L, "connect_timeout", 10);
  double max_body = opt_number(L, "max_body", DEFAULT_MAX_BODY);
  double max_redirects = opt_number(L, "max_redirects", 5);
  int follow = opt_bool(L, "follow_redirects", 0);
  int use_proxy = opt_bool(L, "use_proxy", 0);
  const char *proxy = opt_string(L, "proxy", NULL);
  const char *no_proxy = opt_string(L, "no_proxy", NULL);
  int flags, t;

  if (url == NULL)
    luaL_error(L, "session:request: missing option 'url' (a string)");
  t = lua_getfield(L, 2, "on_data");
  if (t != LUA_TNIL && t != LUA_TFUNCTION)
    luaL_error(L, "session:request: option 'on_data' must be a function");
  lua_pop(L, 1);

  flags = build_headers(L, s);
  set_method(L, s, &flags);
  if (!(flags & HAS_EXPECT))
    slist_add(L, &s->headers, "Expect:");
  if (!(flags & HAS_ACCEPT))
    slist_add(L, &s->headers, "Accept:");
  build_connect_to(L, s);
  s->max_body = (size_t)max_body;

  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
  curl_easy_setopt(e, CURLOPT_CONNECT_TO, s->connect_to);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (ca_file != NULL)
    curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
  /* An empty proxy disables the proxy variables of the environment. */
  if (proxy != NULL)
    curl_easy_setopt(e, CURLOPT_PROXY, proxy);
  else if (!use_proxy)
    curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_NOPROXY,
                   no_proxy != NULL ? no_proxy : "127.0.0.1,localhost,::1");
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)(connect_timeout * 1000));
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)max_redirects);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
}


/* ---- results ---- */

/* [-0, +1] pushes the response headers of the last response as a table of
 * lowercase names; a repeated name's values are joined with ", ". */
static void push_response_headers(lua_State *L, const Bytes *head)
{
  const char *p = head->data, *end = head->data + head->len;
  int t;

  lua_createtable(L, 0, 8);
  t = lua_gettop(L);
  while (p != NULL && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol != NULL ? eol : end, *colon, *v, *ve;
    if (line_end > p && line_end[-1] == '\r')
      line_end--;
    colon = memchr(p, ':', (size_t)(line_end - p));
    if (colon != NULL && colon > p) {
      size_t i, nlen = (size_t)(colon - p);
      char small[128];
      luaL_Buffer b;
      char *name =
          nlen <= sizeof small ? small : luaL_buffinitsize(L, &b, nlen);
      for (i = 0; i < nlen; i++)
        name[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] + 32) : p[i];
      if (name == small)
        lua_pushlstring(L, small, nlen);
      else
        luaL_pushresultsize(&b, nlen);
      for (v = colon + 1; v < line_end && (*v == ' ' || *v == '\t'); v++)
        ;
      for (ve = line_end; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
        ;
      lua_pushvalue(L, -1);
      if (lua_rawget(L, t) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, t);
    }
    p = eol != NULL ? eol + 1 : end;
  }
}


static double info_time(CURL *e, CURLINFO what)
{
  double v = 0;
  curl_easy_getinfo(e, what, &v);
  return v;
}


/* [-0, +1] pushes the response table. */
static void push_response(lua_State *L, Session *s)
{
  long status = 0, local_port = 0, connects = 0;
  char *effective = NULL;

  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(s->easy, CURLINFO_EFFECTIVE_URL, &effective);
  curl_easy_getinfo(s->easy, CURLINFO_LOCAL_PORT, &local_port);
  curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  push_response_headers(L, &s->head);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, s->body.data != NULL ? s->body.data : "", s->body.len);
  lua_setfield(L, -2, "body");
  lua_pushstring(L, effective != NULL ? effective : "");
  lua_setfield(L, -2, "effective_url");
  lua_pushinteger(L, local_port);
  lua_setfield(L, -2, "local_port");
  lua_pushinteger(L, connects);
  lua_setfield(L, -2, "new_connections");
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, info_time(s->easy, CURLINFO_TOTAL_TIME));
  lua_setfield(L, -2, "total");
  lua_pushnumber(L, info_time(s->easy, CURLINFO_CONNECT_TIME));
  lua_setfield(L, -2, "connect");
  lua_pushnumber(L, info_time(s->easy, CURLINFO_APPCONNECT_TIME));
  lua_setfield(L, -2, "tls");
  lua_pushnumber(L, info_time(s->easy, CURLINFO_STARTTRANSFER_TIME));
  lua_setfield(L, -2, "first_byte");
  lua_setfield(L, -2, "time");
}


static const char *stage_of(const Session *s, CURLcode rc)
{
  if (s->interrupted)
    return "interrupted";
  if (s->too_big)
    return "receive";
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return "dns";
  case CURLE_COULDNT_CONNECT:
    return "connect";
  case CURLE_OPERATION_TIMEDOUT:
    /* NOTE: curl uses this code for connect_timeout as well, so a
     * connection that never completes also reports "timeout". */
    return "timeout";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_USE_SSL_FAILED:
    return "tls";
  case CURLE_SEND_ERROR:
  case CURLE_READ_ERROR:
    return "send";
  case CURLE_TOO_MANY_REDIRECTS:
    return "redirect";
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_BAD_FUNCTION_ARGUMENT:
    return "url";
  default:
    return "receive";
  }
}


/* [-0, +1] pushes the failure table for RC. */
static void push_failure(lua_State *L, Session *s, CURLcode rc,
                         const char *url)
{
  lua_createtable(L, 0, 5);
  lua_pushstring(L, stage_of(s, rc));
  lua_setfield(L, -2, "stage");
  if (s->too_big)
    lua_pushfstring(L, "the response body is larger than max_body (%I bytes)",
                    (lua_Integer)s->max_body);
  else if (s->interrupted)
    lua_pushliteral(L, "the request was interrupted by a signal");
  else
    lua_pushstring(L,
                   s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(rc));
  lua_setfield(L, -2, "message");
  lua_pushinteger(L, (lua_Integer)rc);
  lua_setfield(L, -2, "curl_code");
  {
    long os_errno = 0; /* e.g. ECONNREFUSED, set by failed connects */
    curl_easy_getinfo(s->easy, CURLINFO_OS_ERRNO, &os_errno);
    lua_pushinteger(L, (lua_Integer)os_errno);
    lua_setfield(L, -2, "os_errno");
  }
  lua_pushnumber(L, info_time(s->easy, CURLINFO_TOTAL_TIME));
  lua_setfield(L, -2, "elapsed");
  lua_pushstring(L, url);
  lua_setfield(L, -2, "url");
}


/*
 * session:request(opts) -> response | nil, failure.
 *
 * opts: method (default "GET"), url, headers, body, timeout (seconds for
 * the whole request, default 60), connect_timeout (default 10),
 * follow_redirects (default false), max_redirects (default 5), ca_file,
 * max_body (bytes, default 64 MiB). on_data is called with each body chunk,
 * and the body is then not stored. connect_to lists CURLOPT_CONNECT_TO
 * strings. use_proxy (default false) lets the proxy variables of the
 * environment apply, except to loopback addresses.  proxy sets the proxy
 * itself, and no_proxy the comma-separated hosts reached without it
 * (default: the loopback names).
 */
static int session_request(lua_State *L)
{
  Session *s = check_session(L);
  CURLcode rc;
  const char *url;

  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  mnem_check_option_keys(L, 2, "session:request", request_keys);
  session_clear(s);
  curl_easy_reset(s->easy);
  s->too_big = s->interrupted = s->callback_failed = 0;
  s->errbuf[0] = '\0';
  set_options(L, s);
  url = opt_string(L, "url", NULL);

  lua_getfield(L, 2, "on_data"); /* 3: on_data or nil */
  lua_pushnil(L);                /* 4: an error raised by on_data */
  s->L = L;
  s->on_data = lua_isfunction(L, 3) ? 3 : 0;
  s->callback_error = 4;
  s->busy = 1;
  rc = curl_easy_perform(s->easy);
  s->busy = 0;
  s->L = NULL;
  s->on_data = 0;
  lua_settop(L, 4);
  if (s->callback_failed) {
    session_clear(s);
    return lua_error(L);
  }
  if (rc != CURLE_OK) {
    lua_pushnil(L);
    push_failure(L, s, rc, url);
    session_clear(s);
    return 2;
  }
  push_response(L, s);
  session_clear(s);
  return 1;
}


int luaopen_mnem_curl(lua_State *L)
{
  static int initialized = 0;
  static const luaL_Reg methods[] = { { "request", session_request },
                                      { "close", session_close },
                                      { NULL, NULL } };
  static const luaL_Reg functions[] = { { "session", curl_session },
                                        { NULL, NULL } };

  if (!initialized) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "curl_global_init failed");
    initialized = 1;
  }
  if (luaL_newmetatable(L, CURL_SESSION)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, session_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, session_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
