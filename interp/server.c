/*
 * server.c: a loopback HTTP/1.1 server for the AWS simulator.
 *
 * Lua module `mnem._server`.  One thread, one poll(2) loop, non-blocking
 * sockets.  The server parses requests itself and rejects malformed ones
 * (400, 413, 431, 501, 505, 417) without calling Lua, so the Lua handler
 * receives only complete, well-formed requests.  One request per
 * connection is handled at a time: pipelined requests wait in the input
 * buffer until the previous response has been written.
 *
 * Every C resource (sockets, buffers, the pollfd array) is owned by the
 * `mnem.Server` userdata, never by a local variable, so a Lua error raised
 * anywhere (even out of memory) leaks nothing: `__gc` releases it all.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "mnem.h"

#define SERVER_TYPE "mnem.Server"
#define MAX_LISTENERS 64
#define MAX_HEADERS 128
#define MAX_CONNECTIONS 1024
#define READ_CHUNK 65536
#define DRAIN_SECONDS 2.0
#define STOP_FLUSH_SECONDS 1.0

/* ---- growable byte buffers ---- */

typedef struct {
  char *data;
  size_t len, cap;
} Buffer;


/* Makes room for EXTRA more bytes; raises a Lua error when out of memory. */
static void buffer_reserve(lua_State *L, Buffer *b, size_t extra)
{
  size_t need = b->len + extra, cap = b->cap ? b->cap : 1024;
  char *p;

  if (need <= b->cap)
    return;
  while (cap < need)
    cap *= 2;
  p = realloc(b->data, cap);
  if (p == NULL)
    luaL_error(L, "mnem._server: out of memory");
  b->data = p;
  b->cap = cap;
}


static void buffer_add(lua_State *L, Buffer *b, const void *p, size_t n)
{
  buffer_reserve(L, b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}


static void buffer_addstr(lua_State *L, Buffer *b, const char *s)
{
  buffer_add(L, b, s, strlen(s));
}


/* Drops the first N bytes. */
static void buffer_consume(Buffer *b, size_t n)
{
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}


static void buffer_free(Buffer *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}


/* ---- connections ---- */

enum conn_state {
  ST_READ,  /* reading (and parsing) a request */
  ST_WAIT,  /* a response is ready but held back until send_at */
  ST_WRITE, /* writing the response in `out` */
  ST_DRAIN  /* response sent, write side shut: discard input, then close */
};

enum chunk_state { CH_SIZE, CH_DATA, CH_CRLF, CH_TRAILER, CH_DONE };

typedef struct {
  size_t name_off, name_len, value_off, value_len;
} HeaderRange;

typedef struct {
  int fd; /* -1 once closed; the slot is then removed by compact() */
  long id;
  int local_port;
  char remote[64];
  enum conn_state state;
  short revents;
  int peer_eof;   /* the client shut its write side */
  Buffer in, out; /* received bytes; bytes to send (from out_off) */
  size_t out_off;
  Buffer chunked;   /* decoded body of a chunked request */
  Buffer hdrs;      /* scratch: the handler's response header lines */
  double last_io;   /* monotonic time of the last byte read or written */
  double started;   /* monotonic time the current request began */
  double send_at;   /* ST_WAIT: when to send (or drop) the response */
  double drain_end; /* ST_DRAIN: when to give up and close */
  int drop;         /* ST_WAIT: close without answering */
  int close_after;  /* close once the response is written */
  /* The request being parsed.  Offsets point into `in`. */
  size_t scan;      /* where the search for the end of the head resumes */
  int line_checked; /* the request line has been validated */
  int have_head;
  size_t head_len;
  size_t method_off, method_len, target_off, target_len;
  int minor; /* HTTP/1.MINOR */
  int nheaders;
  HeaderRange headers[MAX_HEADERS];
  long long content_length; /* -1 when absent */
  int is_chunked, keep_alive, expect_continue, continue_sent;
  enum chunk_state chunk;
  size_t chunk_scan;
  unsigned long long chunk_left;
} Conn;

typedef struct {
  int fd, port;
} Listener;

typedef struct {
  int released;
  int running, stopping, close_pending;
  size_t max_header, max_body;
  double idle_timeout;
  Listener listeners[MAX_LISTENERS];
  int nlisteners;
  Conn **conns;
  size_t nconns, conns_cap;
  struct pollfd *pfds;
  size_t pfds_cap;
  long next_id;
} Server;


static double monotonic_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static void conn_close(Conn *c)
{
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
}


static void conn_free(Conn *c)
{
  conn_close(c);
  buffer_free(&c->in);
  buffer_free(&c->out);
  buffer_free(&c->chunked);
  buffer_free(&c->hdrs);
  free(c);
}


/* Forgets the parsed request so the next one can be read. */
static void reset_request(Conn *c)
{
  c->scan = 0;
  c->line_checked = 0;
  c->have_head = 0;
  c->head_len = 0;
  c->nheaders = 0;
  c->content_length = -1;
  c->is_chunked = c->keep_alive = 0;
  c->expect_continue = c->continue_sent = 0;
  c->chunk = CH_SIZE;
  c->chunk_scan = 0;
  c->chunk_left = 0;
  c->chunked.len = 0;
  c->drop = 0;
  c->started = 0;
}


/* Closes every socket and frees every buffer; safe to call twice. */
static void server_release(Server *s)
{
  size_t i;
  int j;

  if (s->released)
    return;
  s->released = 1;
  for (j = 0; j < s->nlisteners; j++)
    close(s->listeners[j].fd);
  s->nlisteners = 0;
  for (i = 0; i < s->nconns; i++)
    conn_free(s->conns[i]);
  free(s->conns);
  s->conns = NULL;
  s->nconns = s->conns_cap = 0;
  free(s->pfds);
  s->pfds = NULL;
  s->pfds_cap = 0;
}


static Server *check_server(lua_State *L)
{
  Server *s = luaL_checkudata(L, 1, SERVER_TYPE);
  if (s->released || s->close_pending)
    luaL_error(L, "attempt to use a closed server");
  return s;
}


/* ---- HTTP syntax helpers ---- */

static int is_tchar(unsigned char ch)
{
  return isalnum(ch) || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}


static const char *reason_phrase(int status)
{
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 413:
    return "Content Too Large";
  case 417:
    return "Expectation Failed";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Status";
  }
}


/* Case-insensitive comparison of a byte range with a NUL-terminated word. */
static int range_equals(const char *p, size_t n, const char *word)
{
  return strlen(word) == n && strncasecmp(p, word, n) == 0;
}


/* Returns whether the comma-separated list P..P+N has TOKEN (any case). */
static int list_has_token(const char *p, size_t n, const char *token)
{
  size_t i = 0;

  while (i < n) {
    size_t start, end;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
      i++;
    start = i;
    while (i < n && p[i] != ',')
      i++;
    end = i;
    while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\t'))
      end--;
    if (range_equals(p + start, end - start, token))
      return 1;
  }
  return 0;
}


static void append_date(lua_State *L, Buffer *b)
{
  char date[64];
  time_t now = time(NULL);
  struct tm tm;

  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  buffer_addstr(L, b, date);
}


/*
 * Appends a whole response (status line, HEADERS_BLOCK as already
 * formatted lines, the added Content-Length/Date/Connection, BODY) to the
 * connection's output.
 */
static void append_response(lua_State *L, Conn *c, int status,
                            const char *headers_block, size_t headers_len,
                            const char *body, size_t body_len, int head_only)
{
  char line[128];

  snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status,
           reason_phrase(status));
  buffer_addstr(L, &c->out, line);
  buffer_add(L, &c->out, headers_block, headers_len);
  snprintf(line, sizeof line, "Content-Length: %zu\r\n", body_len);
  buffer_addstr(L, &c->out, line);
  append_date(L, &c->out);
  if (c->close_after)
    buffer_addstr(L, &c->out, "Connection: close\r\n");
  else if (c->minor == 0)
    buffer_addstr(L, &c->out, "Connection: keep-alive\r\n");
  buffer_addstr(L, &c->out, "\r\n");
  if (!head_only)
    buffer_add(L, &c->out, body, body_len);
}


/*
 * Answers the current request with STATUS and a plain-text body naming
 * REASON, then closes the connection.  Used for requests the server
 * rejects itself.  Raises only when out of memory.
 */
static void reject(lua_State *L, Conn *c, int status, const char *reason)
{
  char body[256];
  static const char type[] = "Content-Type: text/plain; charset=utf-8\r\n";
  int n = snprintf(body, sizeof body, "%d %s: %s\n", status,
                   reason_phrase(status), reason);

  c->close_after = 1;
  c->minor = 1;
  c->out.len = c->out_off = 0;
  append_response(L, c, status, type, sizeof type - 1, body, (size_t)n, 0);
  c->in.len = 0;
  c->state = ST_WRITE;
}


/* ---- request parsing ---- */

/*
 * Checks the request line in[0..end) (without its CRLF).  Returns 0 and
 * fills the method, target and version fields, or an HTTP status to reject
 * with and sets *why.
 */
static int parse_request_line(Conn *c, size_t end, const char **why)
{
  const char *p = c->in.data;
  size_t i = 0, start;

  while (i < end && is_tchar((unsigned char)p[i]))
    i++;
  if (i == 0 || i >= end || p[i] != ' ')
    return *why = "invalid request method", 400;
  c->method_off = 0;
  c->method_len = i;
  start = ++i;
  while (i < end && p[i] > ' ' && p[i] < 0x7f)
    i++;
  if (i == start || i >= end || p[i] != ' ')
    return *why = "invalid request target", 400;
  c->target_off = start;
  c->target_len = i - start;
  i++;
  if (end - i != 8 || strncmp(p + i, "HTTP/", 5) != 0 ||
      !isdigit((unsigned char)p[i + 5]) || p[i + 6] != '.' ||
      !isdigit((unsigned char)p[i + 7]))
    return *why = "invalid HTTP version", 400;
  if (p[i + 5] != '1' || (p[i + 7] != '0' && p[i + 7] != '1'))
    return *why = "only HTTP/1.0 and HTTP/1.1 are supported", 505;
  c->minor = p[i + 7] - '0';
  if (p[c->target_off] != '/' && p[c->target_off] != '*' &&
      strncasecmp(p + c->target_off, "http://", 7) != 0 &&
      strncasecmp(p + c->target_off, "https://", 8) != 0)
    return *why = "invalid request target", 400;
  return 0;
}


/* Checks the method seen so far of an incomplete first line. */
static int partial_line_ok(const Conn *c)
{
  size_t i;

  for (i = 0; i < c->in.len; i++) {
    unsigned char ch = (unsigned char)c->in.data[i];
    if (ch == ' ')
      return i > 0;
    if (!is_tchar(ch))
      return 0;
  }
  return 1;
}


/*
 * Parses one header line in[start..end) into the header list.  Returns 0
 * or the status to reject with (setting *why).
 */
static int parse_header_line(Conn *c, size_t start, size_t end,
                             const char **why)
{
  const char *p = c->in.data;
  size_t i = start, vs, ve;
  HeaderRange *h;

  if (p[i] == ' ' || p[i] == '\t')
    return *why = "folded header lines are not allowed", 400;
  while (i < end && is_tchar((unsigned char)p[i]))
    i++;
  if (i == start || i >= end || p[i] != ':')
    return *why = "invalid header line", 400;
  if (c->nheaders == MAX_HEADERS)
    return *why = "too many header fields", 431;
  vs = i + 1;
  while (vs < end && (p[vs] == ' ' || p[vs] == '\t'))
    vs++;
  ve = end;
  while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
    ve--;
  for (i = vs; i < ve; i++) {
    unsigned char ch = (unsigned char)p[i];
    if ((ch < ' ' && ch != '\t') || ch == 0x7f)
      return *why = "control character in a header value", 400;
  }
  h = &c->headers[c->nheaders++];
  h->name_off = start;
  h->name_len = (size_t)(strchr(p + start, ':') - (p + start));
  h->value_off = vs;
  h->value_len = ve - vs;
  return 0;
}


/* Applies the framing headers of a complete head.  0 or a status. */
static int interpret_headers(Server *s, Conn *c, const char **why)
{
  const char *p = c->in.data;
  int i, have_host = 0, have_te = 0;

  c->keep_alive = c->minor == 1;
  for (i = 0; i < c->nheaders; i++) {
    const HeaderRange *h = &c->headers[i];
    const char *name = p + h->name_off, *value = p + h->value_off;

    if (range_equals(name, h->name_len, "host")) {
      have_host = 1;
    } else if (range_equals(name, h->name_len, "content-length")) {
      long long n = 0;
      size_t k;
      if (h->value_len == 0 || h->value_len > 18)
        return *why = "invalid Content-Length", 400;
      for (k = 0; k < h->value_len; k++) {
        if (!isdigit((unsigned char)value[k]))
          return *why = "invalid Content-Length", 400;
        n = n * 10 + (value[k] - '0');
      }
      if (c->content_length >= 0 && c->content_length != n)
        return *why = "conflicting Content-Length headers", 400;
      c->content_length = n;
    } else if (range_equals(name, h->name_len, "transfer-encoding")) {
      if (have_te || !range_equals(value, h->value_len, "chunked"))
        return *why = "only the chunked transfer coding is supported", 501;
      have_te = 1;
      c->is_chunked = 1;
    } else if (range_equals(name, h->name_len, "connection")) {
      if (list_has_token(value, h->value_len, "close"))
        c->keep_alive = 0;
      else if (list_has_token(value, h->value_len, "keep-alive"))
        c->keep_alive = 1;
    } else if (range_equals(name, h->name_len, "expect")) {
      if (!range_equals(value, h->value_len, "100-continue"))
        return *why = "unsupported Expect value", 417;
      c->expect_continue = c->minor == 1;
    }
  }
  if (c->minor == 1 && !have_host)
    return *why = "missing Host header", 400;
  if (c->is_chunked && c->content_length >= 0)
    return *why = "both Content-Length and Transfer-Encoding given", 400;
  if (c->is_chunked && c->minor == 0)
    return *why = "chunked transfer coding needs HTTP/1.1", 400;
  if (c->content_length > (long long)s->max_body)
    return *why = "request body is larger than the server accepts", 413;
  return 0;
}


/*
 * Searches the new bytes of `in` for the end of the head, validating each
 * line as it completes.  Returns 0 (head complete or more bytes needed:
 * see c->have_head) or a status to reject with.
 */
static int scan_head(Server *s, Conn *c, const char **why)
{
  const char *p;
  size_t i, line_start;
  int rc;

  /* Tolerate empty lines before a request line. */
  while (c->scan == 0 && c->in.len >= 2 && c->in.data[0] == '\r' &&
         c->in.data[1] == '\n')
    buffer_consume(&c->in, 2);
  if (c->scan == 0 && c->in.len == 1 && c->in.data[0] == '\r')
    return 0; /* maybe the start of an empty line */
  p = c->in.data;
  if (!c->line_checked && c->in.len > 0 && !partial_line_ok(c))
    return *why = "not an HTTP request", 400;
  line_start = c->scan;
  if (c->line_checked) {
    /* Resume at the start of the line that was incomplete. */
    while (line_start > 0 && p[line_start - 1] != '\n')
      line_start--;
  }
  for (i = c->scan; i < c->in.len; i++) {
    if (p[i] == '\0')
      return *why = "NUL byte in the request head", 400;
    if (p[i] != '\n')
      continue;
    if (i == 0 || p[i - 1] != '\r')
      return *why = "header lines must end with CRLF", 400;
    if (!c->line_checked) {
      if ((rc = parse_request_line(c, i - 1, why)) != 0)
        return rc;
      c->line_checked = 1;
    } else if (i - 1 == line_start) {
      c->have_head = 1;
      c->head_len = i + 1;
      c->scan = i + 1;
      if (c->head_len > s->max_header)
        return *why = "request head is larger than the server accepts", 431;
      return interpret_headers(s, c, why);
    } else if ((rc = parse_header_line(c, line_start, i - 1, why)) != 0) {
      return rc;
    }
    line_start = i + 1;
  }
  c->scan = c->in.len;
  if (c->in.len > s->max_header)
    return *why = "request head is larger than the server accepts", 431;
  return 0;
}


/*
 * Decodes as much of a chunked body as has arrived.  Returns 0 (see
 * c->chunk == CH_DONE) or a status to reject with.
 */
static int scan_chunked(lua_State *L, Server *s, Conn *c, const char **why)
{
  const char *p = c->in.data;

  if (c->chunk_scan == 0)
    c->chunk_scan = c->head_len;
  while (c->chunk != CH_DONE) {
    size_t at = c->chunk_scan, avail = c->in.len - at, i;
    const char *nl;

    if (c->chunk == CH_DATA) {
      size_t take = avail < c->chunk_left ? avail : (size_t)c->chunk_left;
      if (take == 0)
        return 0;
      buffer_add(L, &c->chunked, p + at, take);
      c->chunk_scan += take;
      c->chunk_left -= take;
      if (c->chunk_left == 0)
        c->chunk = CH_CRLF;
      continue;
    }
    if (c->chunk == CH_CRLF) {
      if (avail < 2)
        return 0;
      if (p[at] != '\r' || p[at + 1] != '\n')
        return *why = "chunk data not followed by CRLF", 400;
      c->chunk_scan += 2;
      c->chunk = CH_SIZE;
      continue;
    }
    nl = memchr(p + at, '\n', avail);
    if (nl == NULL) {
      if (avail > 4096)
        return *why = "chunk line too long", 400;
      return 0;
    }
    i = (size_t)(nl - p);
    if (i == at || p[i - 1] != '\r')
      return *why = "chunk lines must end with CRLF", 400;
    if (c->chunk == CH_TRAILER) {
      c->chunk_scan = i + 1;
      if (i - 1 == at)
        c->chunk = CH_DONE;
      else if (c->chunk_scan - c->head_len > s->max_body + s->max_header)
        return *why = "chunk trailer too large", 431;
      continue;
    }
    {
      unsigned long long size = 0;
      size_t k = at;
      if (!isxdigit((unsigned char)p[k]))
        return *why = "invalid chunk size", 400;
      for (; k < i - 1 && isxdigit((unsigned char)p[k]); k++) {
        int d = isdigit((unsigned char)p[k])
                    ? p[k] - '0'
                    : tolower((unsigned char)p[k]) - 'a' + 10;
        size = size * 16 + (unsigned long long)d;
        if (size > s->max_body)
          return *why = "request body is larger than the server accepts", 413;
      }
      if (k < i - 1 && p[k] != ';' && p[k] != ' ' && p[k] != '\t')
        return *why = "invalid chunk size", 400;
      if (c->chunked.len + size > s->max_body)
        return *why = "request body is larger than the server accepts", 413;
      c->chunk_scan = i + 1;
      c->chunk_left = size;
      c->chunk = size == 0 ? CH_TRAILER : CH_DATA;
    }
  }
  return 0;
}


/* ---- calling the Lua handler ---- */

/* Pushes the request table for the complete request of C: [-0, +1]. */
static void push_request(lua_State *L, Conn *c)
{
  const char *p = c->in.data;
  const char *target = p + c->target_off, *path = target, *q;
  size_t tlen = c->target_len, plen;
  int i;

  lua_createtable(L, 0, 10);
  lua_pushlstring(L, p + c->method_off, c->method_len);
  lua_setfield(L, -2, "method");
  lua_pushlstring(L, target, tlen);
  lua_setfield(L, -2, "target");
  if (strncasecmp(target, "http://", 7) == 0 ||
      strncasecmp(target, "https://", 8) == 0) {
    const char *slash = memchr(target + 8, '/', tlen - 8);
    path = slash ? slash : target + tlen;
  }
  plen = tlen - (size_t)(path - target);
  q = memchr(path, '?', plen);
  if (plen == 0)
    lua_pushliteral(L, "/");
  else
    lua_pushlstring(L, path, q ? (size_t)(q - path) : plen);
  lua_setfield(L, -2, "path");
  if (q)
    lua_pushlstring(L, q + 1, plen - (size_t)(q + 1 - path));
  else
    lua_pushliteral(L, "");
  lua_setfield(L, -2, "query");
  lua_pushfstring(L, "HTTP/1.%d", c->minor);
  lua_setfield(L, -2, "version");

  lua_createtable(L, 0, c->nheaders);
  for (i = 0; i < c->nheaders; i++) {
    const HeaderRange *h = &c->headers[i];
    luaL_Buffer name;
    size_t k;

    luaL_buffinit(L, &name);
    for (k = 0; k < h->name_len; k++)
      luaL_addchar(&name, (char)tolower((unsigned char)p[h->name_off + k]));
    luaL_pushresult(&name);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TSTRING) {
      lua_pushliteral(L, ",");
      lua_pushlstring(L, p + h->value_off, h->value_len);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, p + h->value_off, h->value_len);
    }
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "headers");

  if (c->is_chunked)
    lua_pushlstring(L, c->chunked.data ? c->chunked.data : "", c->chunked.len);
  else
    lua_pushlstring(L, p + c->head_len,
                    c->content_length > 0 ? (size_t)c->content_length : 0);
  lua_setfield(L, -2, "body");
  lua_pushinteger(L, c->local_port);
  lua_setfield(L, -2, "local_port");
  lua_pushstring(L, c->remote);
  lua_setfield(L, -2, "remote");
  lua_pushinteger(L, c->id);
  lua_setfield(L, -2, "conn");
}


/* Names the server adds itself; a handler's copies are ignored. */
static int is_managed_header(const char *name)
{
  return strcasecmp(name, "content-length") == 0 ||
         strcasecmp(name, "date") == 0 ||
         strcasecmp(name, "connection") == 0 ||
         strcasecmp(name, "transfer-encoding") == 0;
}


/* Appends the handler's header list (at IDX) as lines to B. */
static void collect_headers(lua_State *L, int idx, Buffer *b)
{
  lua_Integer i, n;

  if (lua_isnil(L, idx))
    return;
  luaL_argexpected(L, lua_istable(L, idx), idx, "headers list");
  n = (lua_Integer)lua_rawlen(L, idx);
  for (i = 1; i <= n; i++) {
    const char *name, *value, *k;
    size_t vlen;

    if (lua_rawgeti(L, idx, i) != LUA_TTABLE)
      luaL_error(L, "response header %d is not a {name, value} pair", (int)i);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    name = lua_tostring(L, -2);
    value = lua_tolstring(L, -1, &vlen);
    if (name == NULL || value == NULL || *name == '\0')
      luaL_error(L, "response header %d is not a {name, value} pair", (int)i);
    for (k = name; *k; k++)
      if (!is_tchar((unsigned char)*k))
        luaL_error(L, "invalid response header name %s", name);
    if (strlen(value) != vlen || strpbrk(value, "\r\n") != NULL)
      luaL_error(L, "response header %s has a CR, LF or NUL", name);
    if (!is_managed_header(name)) {
      buffer_addstr(L, b, name);
      buffer_addstr(L, b, ": ");
      buffer_add(L, b, value, vlen);
      buffer_addstr(L, b, "\r\n");
    }
    lua_pop(L, 3);
  }
}


/*
 * Protected part of dispatching, run by lua_pcall:
 * [-3, +0] with (handler, server lightuserdata, conn lightuserdata).
 * Calls the handler and formats its answer into the connection's output.
 */
static int call_handler(lua_State *L)
{
  Server *s = lua_touserdata(L, 2);
  Conn *c = lua_touserdata(L, 3);
  lua_Integer status;
  const char *body = "";
  size_t body_len = 0;
  double delay;
  int head_only =
      range_equals(c->in.data + c->method_off, c->method_len, "HEAD");

  (void)s;
  lua_settop(L, 3);
  lua_pushvalue(L, 1);
  push_request(L, c);
  lua_call(L, 1, 1); /* stack: handler, s, c, resp */
  if (!lua_istable(L, 4))
    return luaL_error(L, "request handler returned %s instead of a table",
                      luaL_typename(L, 4));
  lua_getfield(L, 4, "drop");
  c->drop = lua_toboolean(L, -1);
  lua_getfield(L, 4, "delay");
  delay = lua_isnil(L, -1) ? 0 : luaL_checknumber(L, -1);
  lua_getfield(L, 4, "status");
  status = lua_isnil(L, -1) ? 200 : luaL_checkinteger(L, -1);
  if (status < 100 || status > 599)
    return luaL_error(L, "invalid response status %d", (int)status);
  lua_getfield(L, 4, "body");
  if (!lua_isnil(L, -1))
    body = luaL_checklstring(L, -1, &body_len);
  lua_getfield(L, 4, "headers"); /* index 9 */
  c->hdrs.len = 0;
  collect_headers(L, 9, &c->hdrs);
  c->out.len = c->out_off = 0;
  append_response(L, c, (int)status, c->hdrs.data ? c->hdrs.data : "",
                  c->hdrs.len, body, body_len, head_only);
  c->send_at = monotonic_now() + (delay > 0 ? delay : 0);
  return 0;
}


/*
 * Runs the handler at stack index 2 of `run` for the complete request of
 * C (through call_handler, protected) and queues the answer; a failing
 * handler gets a 500.  Removes the request's bytes from `in`.
 */
static void dispatch(lua_State *L, Server *s, Conn *c, size_t request_len)
{
  int rc;

  c->close_after = !c->keep_alive || c->peer_eof || s->stopping;
  lua_pushcfunction(L, call_handler);
  lua_pushvalue(L, 2);
  lua_pushlightuserdata(L, s);
  lua_pushlightuserdata(L, c);
  rc = lua_pcall(L, 3, 0, 3);
  if (rc != LUA_OK) {
    static const char type[] = "Content-Type: text/plain; charset=utf-8\r\n";
    static const char body[] = "500 Internal Server Error: the request "
                               "handler failed (see the server's log)\n";
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "mnem server: request handler failed: %s\n",
            msg ? msg : "(error object is not a string)");
    lua_pop(L, 1);
    c->out.len = c->out_off = 0;
    c->drop = 0;
    append_response(L, c, 500, type, sizeof type - 1, body, sizeof body - 1,
                    0);
    c->send_at = monotonic_now();
  }
  buffer_consume(&c->in, request_len);
  c->state = ST_WAIT;
}


/*
 * Parses what has arrived on C.  Dispatches a complete request, queues a
 * 100 Continue or a rejection, or waits for more bytes.
 */
static void parse_input(lua_State *L, Server *s, Conn *c)
{
  const char *why = NULL;
  int rc = 0;
  size_t request_len;

  if (c->state != ST_READ || c->in.len == 0)
    return;
  if (c->started == 0)
    c->started = monotonic_now();
  if (!c->have_head) {
    rc = scan_head(s, c, &why);
    if (rc == 0 && !c->have_head)
      return;
  }
  if (rc == 0 && c->is_chunked) {
    rc = scan_chunked(L, s, c, &why);
    if (rc == 0 && c->chunk != CH_DONE)
      goto incomplete;
    request_len = c->chunk_scan;
  } else if (rc == 0) {
    long long cl = c->content_length < 0 ? 0 : c->content_length;
    request_len = c->head_len + (size_t)cl;
    if (c->in.len < request_len)
      goto incomplete;
  }
  if (rc != 0) {
    reject(L, c, rc, why);
    return;
  }
  dispatch(L, s, c, request_len);
  return;

incomplete:
  if (c->expect_continue && !c->continue_sent) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    buffer_add(L, &c->out, cont, sizeof cont - 1);
    c->continue_sent = 1;
  }
}


/* Reads what the socket has.  Sets peer_eof on end of stream. */
static int read_input(lua_State *L, Server *s, Conn *c, double now)
{
  size_t limit = s->max_header + s->max_body + 65536;
  int rounds;

  for (rounds = 0; rounds < 16; rounds++) {
    ssize_t n;
    buffer_reserve(L, &c->in, READ_CHUNK);
    n = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, 0);
    if (n > 0) {
      c->in.len += (size_t)n;
      c->last_io = now;
      if (c->in.len > limit)
        break;
      continue;
    }
    if (n == 0) {
      c->peer_eof = 1;
      return 0;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    return -1;
  }
  return 0;
}


/* Sends pending output.  Returns -1 when the connection failed. */
static int write_output(Conn *c, double now)
{
  while (c->out_off < c->out.len) {
    ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                     MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n;
      c->last_io = now;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    return -1;
  }
  c->out.len = c->out_off = 0;
  return 0;
}


/* Moves C to draining: the write side is shut so the client sees the end
 * of the response, and unread input is discarded for a short while so
 * closing does not reset the connection before the client reads it. */
static void start_drain(Conn *c, double now)
{
  shutdown(c->fd, SHUT_WR);
  c->state = ST_DRAIN;
  c->drain_end = now + DRAIN_SECONDS;
}


static void drain_input(Conn *c, double now)
{
  char scratch[4096];

  for (;;) {
    ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
    if (n > 0)
      continue;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        now < c->drain_end)
      return;
    conn_close(c);
    return;
  }
}


/* Closes C when it has been idle (or slow to send a request) too long. */
static void check_timeouts(lua_State *L, Server *s, Conn *c, double now)
{
  if (c->fd < 0)
    return;
  if (c->state == ST_DRAIN && now >= c->drain_end) {
    conn_close(c);
  } else if (c->state == ST_READ && c->started > 0 &&
             now - c->started > s->idle_timeout) {
    reject(L, c, 408, "the request was not completed in time");
  } else if (c->state == ST_READ && now - c->last_io > s->idle_timeout) {
    conn_close(c);
  } else if (c->state == ST_WRITE && now - c->last_io > s->idle_timeout) {
    conn_close(c);
  }
}


/* Advances one connection as far as it can go without blocking. */
static void service_conn(lua_State *L, Server *s, Conn *c, double now)
{
  int progress = 1;

  if (c->revents & (POLLERR | POLLNVAL)) {
    conn_close(c);
    return;
  }
  if (c->state == ST_DRAIN) {
    drain_input(c, now);
    return;
  }
  if (c->state == ST_READ && (c->revents & (POLLIN | POLLHUP)) &&
      !c->peer_eof && read_input(L, s, c, now) < 0) {
    conn_close(c);
    return;
  }
  if (c->state == ST_WAIT && (c->revents & POLLHUP)) {
    conn_close(c);
    return;
  }
  while (progress && c->fd >= 0) {
    progress = 0;
    if (c->state == ST_READ) {
      parse_input(L, s, c);
      if (c->state == ST_READ) {
        if (c->out_off < c->out.len && write_output(c, now) < 0)
          conn_close(c);
        else if (c->peer_eof)
          conn_close(c);
        break;
      }
      progress = 1;
    }
    if (c->state == ST_WAIT) {
      if (now < c->send_at && !s->stopping)
        break;
      if (c->drop) {
        conn_close(c);
        break;
      }
      c->state = ST_WRITE;
    }
    if (c->state == ST_WRITE) {
      if (write_output(c, now) < 0) {
        conn_close(c);
        break;
      }
      if (c->out.len > 0)
        break;
      if (c->close_after) {
        start_drain(c, now);
        break;
      }
      c->state = ST_READ;
      reset_request(c);
      progress = c->in.len > 0;
    }
  }
  check_timeouts(L, s, c, now);
}


/* ---- accepting connections ---- */

static void format_remote(const struct sockaddr_storage *ss, char *out,
                          size_t size)
{
  char host[INET6_ADDRSTRLEN] = "?";

  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    snprintf(out, size, "%s:%u", host, ntohs(a->sin_port));
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    snprintf(out, size, "[%s]:%u", host, ntohs(a->sin6_port));
  } else {
    snprintf(out, size, "unknown");
  }
}


/* Accepts the pending connections of listener L; beyond the connection
 * limit, each new connection is closed at once. */
static void accept_all(lua_State *L, Server *s, const Listener *ln, double now)
{
  int rounds;

  for (rounds = 0; rounds < 64; rounds++) {
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    int fd, one = 1;
    Conn *c;

    fd = accept4(ln->fd, (struct sockaddr *)&ss, &sslen,
                 SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return; /* EAGAIN, or a transient error such as EMFILE */
    if (s->nconns >= MAX_CONNECTIONS || s->stopping) {
      close(fd);
      continue;
    }
    if (s->nconns == s->conns_cap) {
      size_t cap = s->conns_cap ? s->conns_cap * 2 : 16;
      Conn **p = realloc(s->conns, cap * sizeof *p);
      if (p == NULL) {
        close(fd);
        luaL_error(L, "mnem._server: out of memory");
      }
      s->conns = p;
      s->conns_cap = cap;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
      close(fd);
      luaL_error(L, "mnem._server: out of memory");
    }
    c->fd = fd;
    s->conns[s->nconns++] = c;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->id = ++s->next_id;
    c->local_port = ln->port;
    format_remote(&ss, c->remote, sizeof c->remote);
    c->state = ST_READ;
    c->last_io = now;
    reset_request(c);
  }
}


/* Removes closed connections from the list. */
static void compact(Server *s)
{
  size_t i, j = 0;

  for (i = 0; i < s->nconns; i++) {
    if (s->conns[i]->fd < 0)
      conn_free(s->conns[i]);
    else
      s->conns[j++] = s->conns[i];
  }
  s->nconns = j;
}


/* ---- the event loop ---- */

static short wanted_events(const Conn *c)
{
  switch (c->state) {
  case ST_READ:
    return (short)((c->peer_eof ? 0 : POLLIN) |
                   (c->out_off < c->out.len ? POLLOUT : 0));
  case ST_WRITE:
    return POLLOUT;
  case ST_DRAIN:
    return POLLIN;
  default:
    return 0;
  }
}


/* Milliseconds until the earliest timer, at most 250 so signals and
 * stop() are noticed promptly. */
static int poll_timeout(const Server *s, double now)
{
  double wait = 0.25;
  size_t i;

  for (i = 0; i < s->nconns; i++) {
    const Conn *c = s->conns[i];
    double left = wait;
    if (c->state == ST_WAIT)
      left = c->send_at - now;
    else if (c->state == ST_DRAIN)
      left = c->drain_end - now;
    if (left < wait)
      wait = left;
  }
  return wait <= 0 ? 0 : (int)(wait * 1000) + 1;
}


/* Builds the pollfd array (owned by the server): listeners first. */
static size_t build_pollfds(lua_State *L, Server *s)
{
  size_t n = (size_t)s->nlisteners + s->nconns, i;

  if (n > s->pfds_cap) {
    struct pollfd *p = realloc(s->pfds, n * sizeof *p);
    if (p == NULL)
      luaL_error(L, "mnem._server: out of memory");
    s->pfds = p;
    s->pfds_cap = n;
  }
  for (i = 0; i < (size_t)s->nlisteners; i++) {
    s->pfds[i].fd = s->stopping ? -1 : s->listeners[i].fd;
    s->pfds[i].events = POLLIN;
    s->pfds[i].revents = 0;
  }
  for (i = 0; i < s->nconns; i++) {
    struct pollfd *p = &s->pfds[s->nlisteners + i];
    p->fd = s->conns[i]->fd;
    p->events = wanted_events(s->conns[i]);
    p->revents = 0;
  }
  return n;
}


/* Returns whether some connection still has a response to deliver. */
static int output_pending(const Server *s)
{
  size_t i;

  for (i = 0; i < s->nconns; i++) {
    const Conn *c = s->conns[i];
    if (c->state == ST_WAIT || c->state == ST_WRITE)
      return 1;
  }
  return 0;
}


/* One round: poll, accept, advance every connection. */
static void run_once(lua_State *L, Server *s)
{
  size_t n = build_pollfds(L, s), i, count;
  int rc = poll(s->pfds, (nfds_t)n, poll_timeout(s, monotonic_now()));
  double now = monotonic_now();

  if (rc < 0 && errno != EINTR)
    luaL_error(L, "mnem._server: poll failed: %s", strerror(errno));
  if (rc < 0)
    return;
  count = s->nconns;
  for (i = 0; i < count; i++)
    s->conns[i]->revents = s->pfds[s->nlisteners + i].revents;
  for (i = 0; i < (size_t)s->nlisteners; i++)
    if (s->pfds[i].revents & POLLIN)
      accept_all(L, s, &s->listeners[i], now);
  for (i = 0; i < count && !s->close_pending; i++)
    if (s->conns[i]->fd >= 0)
      service_conn(L, s, s->conns[i], now);
  compact(s);
}


/* Message handler for handler errors: [-1, +1] adds a traceback. */
static int traceback(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL)
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}


/*
 * srv:run(handler) -> "stopped" | "signal".  Serves until srv:stop() or
 * SIGINT/SIGTERM (the caller installs the trap: mnem._sys.trap_signals).
 * On stop, responses already being written get a short time to finish.
 */
static int server_run(lua_State *L)
{
  Server *s = check_server(L);
  double flush_end = 0;
  const char *reason = "stopped";

  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (s->running)
    return luaL_error(L, "server:run: the server is already running");
  lua_settop(L, 2);
  lua_pushcfunction(L, traceback); /* index 3: dispatch's handler */
  s->running = 1;
  s->stopping = 0;
  for (;;) {
    if (mnem_signal_received && !s->stopping) {
      s->stopping = 1;
      reason = "signal";
    }
    if (s->stopping) {
      if (flush_end == 0)
        flush_end = monotonic_now() + STOP_FLUSH_SECONDS;
      if (!output_pending(s) || monotonic_now() > flush_end ||
          s->close_pending)
        break;
    }
    run_once(L, s);
  }
  s->running = 0;
  if (s->close_pending)
    server_release(s);
  lua_pushstring(L, reason);
  return 1;
}


/* srv:stop(): makes run() return after this round. */
static int server_stop(lua_State *L)
{
  Server *s = check_server(L);
  s->stopping = 1;
  return 0;
}


/* ---- listening ---- */

/* Fills SS for HOST and PORT when HOST is a loopback address; else 0. */
static int loopback_address(const char *host, int port,
                            struct sockaddr_storage *ss, socklen_t *len)
{
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

  memset(ss, 0, sizeof *ss);
  if (strcmp(host, "localhost") == 0)
    host = "127.0.0.1";
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
      return 0;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((unsigned short)port);
    *len = sizeof *a4;
    return 1;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
      return 0;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((unsigned short)port);
    *len = sizeof *a6;
    return 1;
  }
  return 0;
}


/*
 * srv:listen(host, port) -> bound port.  HOST must be a loopback address
 * (127.0.0.0/8, ::1 or "localhost"); PORT 0 picks a free port.
 */
static int server_listen(lua_State *L)
{
  Server *s = check_server(L);
  const char *host = luaL_checkstring(L, 2);
  lua_Integer port = luaL_checkinteger(L, 3);
  struct sockaddr_storage ss;
  socklen_t len;
  int fd, one = 1, err;
  Listener *ln;

  luaL_argcheck(L, port >= 0 && port <= 65535, 3,
                "must be between 0 and 65535");
  if (!loopback_address(host, (int)port, &ss, &len))
    return luaL_error(L, "refusing to listen on non-loopback address %s",
                      host);
  if (s->nlisteners == MAX_LISTENERS)
    return luaL_error(L, "server:listen: at most %d listeners", MAX_LISTENERS);
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return luaL_error(L, "server:listen: socket failed: %s", strerror(errno));
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 511) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    err = errno;
    close(fd);
    return luaL_error(L, "server:listen: cannot listen on %s port %d: %s",
                      host, (int)port, strerror(err));
  }
  ln = &s->listeners[s->nlisteners++];
  ln->fd = fd;
  ln->port =
      ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
  lua_pushinteger(L, ln->port);
  return 1;
}


/* srv:ports() -> list of bound ports, in listen order */
static int server_ports(lua_State *L)
{
  Server *s = check_server(L);
  int i;

  lua_createtable(L, s->nlisteners, 0);
  for (i = 0; i < s->nlisteners; i++) {
    lua_pushinteger(L, s->listeners[i].port);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}


/* srv:connections() -> number of open connections */
static int server_connections(lua_State *L)
{
  Server *s = check_server(L);
  lua_pushinteger(L, (lua_Integer)s->nconns);
  return 1;
}


/* srv:close(), also __gc and __close: idempotent.  Inside run() the
 * release waits until run() returns. */
static int server_close(lua_State *L)
{
  Server *s = luaL_checkudata(L, 1, SERVER_TYPE);

  if (s->running) {
    s->stopping = 1;
    s->close_pending = 1;
    return 0;
  }
  server_release(s);
  return 0;
}


static size_t opt_size(lua_State *L, const char *key, size_t def, size_t min)
{
  lua_Integer v;

  if (lua_getfield(L, 1, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  if (!lua_isinteger(L, -1))
    luaL_error(L, "server.new: option %s must be an integer, got %s", key,
               luaL_typename(L, -1));
  v = lua_tointeger(L, -1);
  if (v < (lua_Integer)min || v > ((lua_Integer)1 << 40))
    luaL_error(L, "server.new: option %s is out of range", key);
  lua_pop(L, 1);
  return (size_t)v;
}


/*
 * new{ max_header = 65536, max_body = 16 MiB, idle_timeout = 30 } ->
 * server.  Unknown option keys raise.
 */
static int server_new(lua_State *L)
{
  static const char *const keys[] = { "max_header", "max_body", "idle_timeout",
                                      NULL };
  Server *s;
  double idle = 30;

  if (lua_isnoneornil(L, 1))
    lua_newtable(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    int k, known = 0;
    lua_pop(L, 1);
    for (k = 0; keys[k]; k++)
      if (lua_type(L, -1) == LUA_TSTRING &&
          strcmp(lua_tostring(L, -1), keys[k]) == 0)
        known = 1;
    if (!known)
      return luaL_error(L,
                        "server.new: unknown option %s (expected "
                        "max_header, max_body or idle_timeout)",
                        luaL_tolstring(L, -1, NULL));
  }
  s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->released = 1; /* nothing to release until configured */
  luaL_setmetatable(L, SERVER_TYPE);
  s->max_header = opt_size(L, "max_header", 65536, 256);
  s->max_body = opt_size(L, "max_body", 16 * 1024 * 1024, 0);
  if (lua_getfield(L, 1, "idle_timeout") != LUA_TNIL) {
    if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) <= 0)
      return luaL_error(L, "server.new: option idle_timeout must be a "
                           "positive number of seconds");
    idle = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  s->idle_timeout = idle;
  s->released = 0;
  return 1;
}


int luaopen_mnem_server(lua_State *L)
{
  static const luaL_Reg methods[] = { { "listen", server_listen },
                                      { "run", server_run },
                                      { "stop", server_stop },
                                      { "ports", server_ports },
                                      { "connections", server_connections },
                                      { "close", server_close },
                                      { NULL, NULL } };
  static const luaL_Reg functions[] = { { "new", server_new },
                                        { NULL, NULL } };

  luaL_newmetatable(L, SERVER_TYPE);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, server_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, server_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
