/*
 * sigv4.c: AWS Signature Version 4 request signing.
 *
 * Lua module `mnem._sigv4`.  sign() builds the canonical request, the
 * string to sign and the Authorization header value for one request, and
 * returns every intermediate string so tests can compare them byte for byte
 * with AWS's published suite.  presign() signs the query string instead
 * (presigned URLs).  The helpers (SHA-256, HMAC-SHA256, hex, base64, URI
 * encoding, constant-time comparison) use OpenSSL's libcrypto.
 *
 * Scratch arrays live in userdata and strings in Lua tables, so an error
 * raised halfway through a signature leaks nothing.  The secret key never
 * appears in an error message.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <lauxlib.h>

#include "mnem.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256                                                          \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


/* ---- byte helpers ---- */

static void to_hex(const unsigned char *in, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}


/*
 * The SHA-256 implementation and one digest context, made once for the
 * process.  OpenSSL 3's one-shot SHA256() and HMAC() look the algorithm up
 * in the provider store on every call, which costs more than hashing the
 * short strings of a signature (callgrind: about a tenth of the
 * instructions of a whole AWS call).  Returns 0 when OpenSSL cannot make
 * them (out of memory); callers then use the one-shot functions.
 */
static int digest_setup(const EVP_MD **md, EVP_MD_CTX **ctx)
{
  static EVP_MD *fetched;
  static EVP_MD_CTX *context;

  if (fetched == NULL)
    fetched = EVP_MD_fetch(NULL, "SHA2-256", NULL);
  if (context == NULL)
    context = EVP_MD_CTX_new();
  *md = fetched;
  *ctx = context;
  return fetched != NULL && context != NULL;
}


static void sha256(const char *data, size_t len, unsigned char out[32])
{
  const EVP_MD *md;
  EVP_MD_CTX *ctx;

  if (!digest_setup(&md, &ctx) || !EVP_DigestInit_ex(ctx, md, NULL) ||
      !EVP_DigestUpdate(ctx, data, len) || !EVP_DigestFinal_ex(ctx, out, NULL))
    SHA256((const unsigned char *)data, len, out);
}


/* HMAC-SHA256 as RFC 2104 defines it, on the cached digest. */
static void hmac_sha256(const void *key, size_t key_len, const char *data,
                        size_t len, unsigned char out[32])
{
  unsigned char block[64], inner[32];
  const EVP_MD *md;
  EVP_MD_CTX *ctx;
  unsigned int out_len = 32;
  size_t i;
  int ok;

  memset(block, 0, sizeof block);
  if (key_len > sizeof block)
    sha256(key, key_len, block);
  else
    memcpy(block, key, key_len);
  for (i = 0; i < sizeof block; i++)
    block[i] ^= 0x36;
  ok = digest_setup(&md, &ctx) && EVP_DigestInit_ex(ctx, md, NULL) &&
       EVP_DigestUpdate(ctx, block, sizeof block) &&
       EVP_DigestUpdate(ctx, data, len) &&
       EVP_DigestFinal_ex(ctx, inner, NULL);
  for (i = 0; i < sizeof block; i++)
    block[i] ^= 0x36 ^ 0x5c;
  ok = ok && EVP_DigestInit_ex(ctx, md, NULL) &&
       EVP_DigestUpdate(ctx, block, sizeof block) &&
       EVP_DigestUpdate(ctx, inner, sizeof inner) &&
       EVP_DigestFinal_ex(ctx, out, NULL);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(inner, sizeof inner);
  if (!ok)
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, len,
         out, &out_len);
}


static int is_unreserved(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
         c == '~';
}


/* Appends S percent-encoded per SigV4: only A-Za-z0-9-_.~ stay as they
 * are, and '/' too unless ENCODE_SLASH.  Hex digits are uppercase. */
static void add_encoded(luaL_Buffer *b, const char *s, size_t len,
                        int encode_slash)
{
  static const char digits[] = "0123456789ABCDEF";
  size_t i;

  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c) || (c == '/' && !encode_slash)) {
      luaL_addchar(b, (char)c);
    } else {
      luaL_addchar(b, '%');
      luaL_addchar(b, digits[c >> 4]);
      luaL_addchar(b, digits[c & 15]);
    }
  }
}


static int hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}


/* [-0, +1] pushes S with %XX escapes decoded; a '%' that does not start a
 * valid escape is kept as a literal character. */
static void push_percent_decoded(lua_State *L, const char *s, size_t len)
{
  luaL_Buffer b;
  size_t i;

  luaL_buffinit(L, &b);
  for (i = 0; i < len; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
        (lo = hex_value(s[i + 2])) >= 0) {
      luaL_addchar(&b, (char)(hi * 16 + lo));
      i += 2;
    } else {
      luaL_addchar(&b, s[i]);
    }
  }
  luaL_pushresult(&b);
}


/* ---- option checking ---- */


/* [-0, +0] returns the string field NAME of the table at IDX, or DEF when
 * it is nil; raises when it has another type. */
static const char *opt_string_field(lua_State *L, int idx, const char *fname,
                                    const char *name, const char *def,
                                    size_t *len)
{
  const char *s;
  int t = lua_getfield(L, idx, name);

  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    if (len != NULL)
      *len = def != NULL ? strlen(def) : 0;
    return def;
  }
  if (t != LUA_TSTRING)
    luaL_error(L, "%s: field '%s' must be a string, got %s", fname, name,
               luaL_typename(L, -1));
  /* The table keeps the string alive after the pop. */
  s = lua_tolstring(L, -1, len);
  lua_pop(L, 1);
  return s;
}


static const char *check_string_field(lua_State *L, int idx, const char *fname,
                                      const char *name, size_t *len)
{
  const char *s = opt_string_field(L, idx, fname, name, NULL, len);
  if (s == NULL)
    luaL_error(L, "%s: missing field '%s' (a string)", fname, name);
  return s;
}


static int opt_bool_field(lua_State *L, int idx, const char *fname,
                          const char *name, int def)
{
  int t = lua_getfield(L, idx, name), v;

  if (t == LUA_TNIL)
    v = def;
  else if (t == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else
    return luaL_error(L, "%s: field '%s' must be a boolean, got %s", fname,
                      name, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}


/* ---- the request time ---- */

/* Fills AMZ_DATE ("20150830T123600Z") from req.time: epoch seconds, the
 * same basic format, or ISO 8601 "2015-08-30T12:36:00Z".  Absent means
 * now. */
static void read_time(lua_State *L, int req, const char *fname,
                      char amz_date[17])
{
  int t = lua_getfield(L, req, "time");

  if (t == LUA_TNIL || t == LUA_TNUMBER) {
    time_t when = t == LUA_TNIL ? time(NULL) : (time_t)lua_tointeger(L, -1);
    struct tm tm;
    if (t == LUA_TNUMBER && !lua_isinteger(L, -1))
      when = (time_t)lua_tonumber(L, -1);
    if (gmtime_r(&when, &tm) == NULL ||
        strftime(amz_date, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
      luaL_error(L, "%s: field 'time' is out of range", fname);
  } else if (t == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    size_t n = 0, i;
    for (i = 0; s[i] != '\0' && n < 16; i++) {
      if (s[i] != '-' && s[i] != ':')
        amz_date[n++] = s[i];
    }
    amz_date[n] = '\0';
    for (i = 0; i < 16; i++) {
      int want_digit = i != 8 && i != 15;
      char c = amz_date[i];
      if (want_digit ? (c < '0' || c > '9')
                     : (c != (i == 8 ? 'T' : 'Z')) || s[strlen(s) - 1] != 'Z')
        luaL_error(L,
                   "%s: field 'time' must look like 20150830T123600Z or "
                   "2015-08-30T12:36:00Z, got '%s'",
                   fname, s);
    }
  } else {
    luaL_error(L, "%s: field 'time' must be epoch seconds or a string, got %s",
               fname, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}


/* ---- canonical URI ---- */

/* [-0, +1] pushes the canonical URI of PATH: with NORMALIZE, dot segments
 * removed and repeated slashes merged; then every segment URI-encoded.
 * PATH is the path as it appears in the request line, so for a path that
 * was already percent-encoded on the wire the '%' is encoded again, which
 * is the double encoding AWS specifies for services other than S3. */
static void push_canonical_uri(lua_State *L, const char *path, size_t len,
                               int normalize)
{
  luaL_Buffer b;

  if (len == 0) {
    lua_pushliteral(L, "/");
    return;
  }
  if (!normalize) {
    luaL_buffinit(L, &b);
    if (path[0] != '/')
      luaL_addchar(&b, '/');
    add_encoded(&b, path, len, 0);
    luaL_pushresult(&b);
    return;
  }
  {
    /* Segment start offsets and lengths, kept in userdata. */
    size_t *seg = lua_newuserdatauv(L, sizeof(size_t) * (len + 1) * 2, 0);
    size_t nseg = 0, i = 0, k;
    int trailing = 0;

    while (i < len) {
      size_t start, n;
      while (i < len && path[i] == '/')
        i++;
      start = i;
      while (i < len && path[i] != '/')
        i++;
      n = i - start;
      trailing = 1;
      if (n == 0)
        break;
      if (n == 1 && path[start] == '.')
        continue;
      if (n == 2 && path[start] == '.' && path[start + 1] == '.') {
        if (nseg > 0)
          nseg--;
        continue;
      }
      seg[2 * nseg] = start;
      seg[2 * nseg + 1] = n;
      nseg++;
      trailing = i < len; /* a '/' follows this segment */
    }
    luaL_buffinit(L, &b);
    for (k = 0; k < nseg; k++) {
      luaL_addchar(&b, '/');
      add_encoded(&b, path + seg[2 * k], seg[2 * k + 1], 1);
    }
    if (nseg == 0 || trailing)
      luaL_addchar(&b, '/');
    luaL_pushresult(&b);
    lua_remove(L, -2);
  }
}


/* ---- canonical query ---- */

typedef struct {
  const char *name, *value;
} Pair;


static int compare_pairs(const void *a, const void *b)
{
  const Pair *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c != 0 ? c : strcmp(x->value, y->value);
}


/* [-1, +1] replaces the string at the top with its URI-encoded form. */
static void encode_top(lua_State *L)
{
  luaL_Buffer b;
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);

  luaL_buffinit(L, &b);
  add_encoded(&b, s, len, 1);
  luaL_pushresult(&b);
  lua_remove(L, -2);
}


/* [-0, +0] appends {encoded name, encoded value} to the list at LIST. */
static void add_query_pair(lua_State *L, int list, const char *name,
                           size_t nlen, const char *value, size_t vlen,
                           int decode)
{
  lua_createtable(L, 2, 0);
  if (decode)
    push_percent_decoded(L, name, nlen);
  else
    lua_pushlstring(L, name, nlen);
  encode_top(L);
  lua_rawseti(L, -2, 1);
  if (decode)
    push_percent_decoded(L, value, vlen);
  else
    lua_pushlstring(L, value, vlen);
  encode_top(L);
  lua_rawseti(L, -2, 2);
  lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
}


/* [-0, +1] pushes a list of encoded {name, value} pairs read from req.query:
 * a string "a=1&b=2" (percent-escapes in it are decoded first, so raw and
 * already-encoded text give the same result) or a list of {name, value}
 * pairs taken as raw text. */
static void push_query_pairs(lua_State *L, int req, const char *fname)
{
  int t = lua_getfield(L, req, "query"), q = lua_gettop(L), list;

  lua_newtable(L);
  list = lua_gettop(L);
  if (t == LUA_TSTRING) {
    size_t len, i = 0;
    const char *s = lua_tolstring(L, q, &len);
    while (i < len) {
      size_t start = i, eq;
      while (i < len && s[i] != '&')
        i++;
      if (i > start) {
        for (eq = start; eq < i && s[eq] != '='; eq++)
          ;
        add_query_pair(L, list, s + start, eq - start, s + eq + 1,
                       eq < i ? i - eq - 1 : 0, 1);
      }
      i++;
    }
  } else if (t == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, q), i;
    for (i = 1; i <= n; i++) {
      size_t nlen, vlen;
      const char *name, *value;
      if (lua_rawgeti(L, q, i) != LUA_TTABLE)
        luaL_error(L, "%s: query[%d] must be a {name, value} pair", fname,
                   (int)i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      name = lua_tolstring(L, -2, &nlen);
      value = lua_tolstring(L, -1, &vlen);
      if (name == NULL || value == NULL)
        luaL_error(L, "%s: query[%d] must hold two strings", fname, (int)i);
      add_query_pair(L, list, name, nlen, value, vlen, 0);
      lua_pop(L, 3);
    }
  } else if (t != LUA_TNIL) {
    luaL_error(L, "%s: field 'query' must be a string or a list, got %s",
               fname, luaL_typename(L, q));
  }
  lua_remove(L, q);
}


/* [-1, +1] replaces the pair list at the top with the canonical query
 * string: pairs sorted by encoded name, then by encoded value. */
static void push_canonical_query(lua_State *L)
{
  int list = lua_gettop(L);
  size_t n = lua_rawlen(L, list), i;
  Pair *pairs = lua_newuserdatauv(L, sizeof(Pair) * (n + 1), 0);
  luaL_Buffer b;

  for (i = 0; i < n; i++) {
    lua_rawgeti(L, list, (lua_Integer)i + 1);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    /* The pair tables in LIST keep these strings alive. */
    pairs[i].name = lua_tostring(L, -2);
    pairs[i].value = lua_tostring(L, -1);
    lua_pop(L, 3);
  }
  qsort(pairs, n, sizeof(Pair), compare_pairs);
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    if (i > 0)
      luaL_addchar(&b, '&');
    luaL_addstring(&b, pairs[i].name);
    luaL_addchar(&b, '=');
    luaL_addstring(&b, pairs[i].value);
  }
  luaL_pushresult(&b);
  lua_replace(L, list);
  lua_settop(L, list);
}


/* ---- canonical headers ---- */

/* [-0, +1] pushes NAME lowercased. */
static void push_lower(lua_State *L, const char *name, size_t len)
{
  luaL_Buffer b;
  size_t i;
  char *p = luaL_buffinitsize(L, &b, len);

  for (i = 0; i < len; i++) {
    char c = name[i];
    p[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  luaL_pushresultsize(&b, len);
}


static int is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* [-0, +1] pushes VALUE trimmed, with each inner run of whitespace
 * (including the line breaks of continuation lines) made one space. */
static void push_trimmed(lua_State *L, const char *value, size_t len)
{
  luaL_Buffer b;
  size_t i = 0;

  luaL_buffinit(L, &b);
  while (len > 0 && is_space(value[len - 1]))
    len--;
  while (i < len && is_space(value[i]))
    i++;
  for (; i < len; i++) {
    if (is_space(value[i])) {
      if (!is_space(value[i - 1]))
        luaL_addchar(&b, ' ');
    } else {
      luaL_addchar(&b, value[i]);
    }
  }
  luaL_pushresult(&b);
}


/* [-0, +0] sets canon[lower(name)] to the canonical VALUE, joining a
 * repeated name's values with ','. */
static void add_header(lua_State *L, int canon, const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
  push_lower(L, name, nlen);
  lua_pushvalue(L, -1);
  if (lua_rawget(L, canon) == LUA_TSTRING) {
    lua_pushliteral(L, ",");
    push_trimmed(L, value, vlen);
    lua_concat(L, 3);
  } else {
    lua_pop(L, 1);
    push_trimmed(L, value, vlen);
  }
  lua_rawset(L, canon);
}


/* [-0, +1] pushes a table mapping lowercase header names to canonical
 * values, read from req.headers (a list of {name, value} or a map). */
static void push_header_table(lua_State *L, int req, const char *fname)
{
  int t = lua_getfield(L, req, "headers"), h = lua_gettop(L), canon;

  lua_newtable(L);
  canon = lua_gettop(L);
  if (t == LUA_TNIL) {
    lua_remove(L, h);
    return;
  }
  if (t != LUA_TTABLE)
    luaL_error(L, "%s: field 'headers' must be a table, got %s", fname,
               luaL_typename(L, h));
  if (lua_rawlen(L, h) > 0) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, h), i;
    for (i = 1; i <= n; i++) {
      size_t nlen, vlen;
      const char *name, *value;
      if (lua_rawgeti(L, h, i) != LUA_TTABLE)
        luaL_error(L, "%s: headers[%d] must be a {name, value} pair", fname,
                   (int)i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      name =
          lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nlen) : NULL;
      value = lua_tolstring(L, -1, &vlen);
      if (name == NULL || value == NULL)
        luaL_error(L, "%s: headers[%d] must hold a name and a value", fname,
                   (int)i);
      add_header(L, canon, name, nlen, value, vlen);
      lua_pop(L, 3);
    }
  } else {
    lua_pushnil(L);
    while (lua_next(L, h) != 0) {
      size_t nlen, vlen;
      const char *name, *value;
      if (lua_type(L, -2) != LUA_TSTRING ||
          (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        luaL_error(L, "%s: headers must map names to string values", fname);
      lua_pushvalue(L, -1); /* lua_tolstring must not convert the key */
      value = lua_tolstring(L, -1, &vlen);
      name = lua_tolstring(L, -3, &nlen);
      add_header(L, canon, name, nlen, value, vlen);
      lua_pop(L, 2);
    }
  }
  lua_remove(L, h);
}


static int has_header(lua_State *L, int canon, const char *lname)
{
  int t = lua_getfield(L, canon, lname);
  lua_pop(L, 1);
  return t != LUA_TNIL;
}


/* [-0, +0] appends {name, value} to the list at LIST. */
static void append_pair(lua_State *L, int list, const char *name,
                        const char *value)
{
  lua_createtable(L, 2, 0);
  lua_pushstring(L, name);
  lua_rawseti(L, -2, 1);
  lua_pushstring(L, value);
  lua_rawseti(L, -2, 2);
  lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
}


static int compare_strings(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}


/* [-0, +1] pushes a sorted list (userdata of const char *, NULL ended) of
 * the header names to sign, and returns it.  The names are keys of CANON
 * or strings in req.signed_headers, both of which outlive the list. */
static const char **push_signed_names(lua_State *L, int canon, int req,
                                      const char *fname)
{
  const char **names;
  size_t n = 0;
  int t = lua_getfield(L, req, "signed_headers"), list = lua_gettop(L);

  if (t == LUA_TTABLE) {
    size_t count = lua_rawlen(L, list), i;
    names = lua_newuserdatauv(L, sizeof(char *) * (count + 1), 0);
    for (i = 0; i < count; i++) {
      const char *name;
      if (lua_rawgeti(L, list, (lua_Integer)i + 1) != LUA_TSTRING)
        luaL_error(L, "%s: signed_headers[%d] must be a string", fname,
                   (int)i + 1);
      name = lua_tostring(L, -1);
      lua_pop(L, 1);
      if (!has_header(L, canon, name))
        luaL_error(L,
                   "%s: signed_headers names '%s', which is not a header of "
                   "the request (names must be lowercase)",
                   fname, name);
      names[n++] = name;
    }
  } else if (t == LUA_TNIL) {
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, canon) != 0) {
      lua_pop(L, 1);
      count++;
    }
    names = lua_newuserdatauv(L, sizeof(char *) * (count + 1), 0);
    lua_pushnil(L);
    while (lua_next(L, canon) != 0) {
      lua_pop(L, 1);
      if (n < count)
        names[n++] = lua_tostring(L, -1);
    }
  } else {
    luaL_error(L, "%s: field 'signed_headers' must be a list, got %s", fname,
               luaL_typename(L, list));
    return NULL;
  }
  names[n] = NULL;
  qsort(names, n, sizeof(char *), compare_strings);
  lua_remove(L, list);
  return names;
}


/* ---- the signing key ---- */

/* One cached signing key, keyed by a hash of the secret (the secret itself
 * is not kept) and the scope.  Signing many requests with one credential
 * then costs one HMAC instead of five. */
static struct {
  unsigned char secret_hash[32];
  char scope[160];
  unsigned char key[32];
  int valid;
} key_cache;


static void signing_key(lua_State *L, const char *secret, size_t secret_len,
                        const char *date8, const char *region,
                        const char *service, unsigned char key[32])
{
  unsigned char secret_hash[32], k[32];
  char scope[160];
  size_t prefixed_len = secret_len + 4;
  unsigned char *prefixed;
  int cacheable;

  sha256(secret, secret_len, secret_hash);
  cacheable = snprintf(scope, sizeof scope, "%s/%s/%s", date8, region,
                       service) < (int)sizeof scope;
  if (cacheable && key_cache.valid &&
      memcmp(key_cache.secret_hash, secret_hash, 32) == 0 &&
      strcmp(key_cache.scope, scope) == 0) {
    memcpy(key, key_cache.key, 32);
    return;
  }
  /* Userdata, so a memory error raised here leaks nothing. */
  prefixed = lua_newuserdatauv(L, prefixed_len, 0);
  memcpy(prefixed, "AWS4", 4);
  memcpy(prefixed + 4, secret, secret_len);
  hmac_sha256(prefixed, prefixed_len, date8, strlen(date8), k);
  OPENSSL_cleanse(prefixed, prefixed_len);
  lua_pop(L, 1);
  hmac_sha256(k, 32, region, strlen(region), k);
  hmac_sha256(k, 32, service, strlen(service), k);
  hmac_sha256(k, 32, "aws4_request", 12, key);
  if (cacheable) {
    memcpy(key_cache.secret_hash, secret_hash, 32);
    strcpy(key_cache.scope, scope);
    memcpy(key_cache.key, key, 32);
    key_cache.valid = 1;
  }
}


/* ---- sign and presign ---- */

typedef struct {
  const char *fname;
  const char *method, *path, *access_key, *secret_key, *token, *region;
  const char *service, *body, *payload_hash, *host;
  size_t path_len, secret_len, body_len;
  int normalize, sign_body, omit_token;
  char amz_date[17], date8[9];
} Request;

static const char *const sign_keys[] = {
  "method",         "path",
  "query",          "headers",
  "body",           "access_key",
  "secret_key",     "session_token",
  "region",         "service",
  "time",           "normalize",
  "sign_body",      "omit_session_token",
  "signed_headers", "payload_hash",
  "host",           NULL
};


static void read_request(lua_State *L, const char *fname, Request *r)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  mnem_check_option_keys(L, 1, fname, sign_keys);
  r->fname = fname;
  r->method = check_string_field(L, 1, fname, "method", NULL);
  r->path = opt_string_field(L, 1, fname, "path", "/", &r->path_len);
  r->access_key = check_string_field(L, 1, fname, "access_key", NULL);
  r->secret_key =
      check_string_field(L, 1, fname, "secret_key", &r->secret_len);
  r->token = opt_string_field(L, 1, fname, "session_token", NULL, NULL);
  if (r->token != NULL && r->token[0] == '\0')
    r->token = NULL;
  r->region = check_string_field(L, 1, fname, "region", NULL);
  r->service = check_string_field(L, 1, fname, "service", NULL);
  r->body = opt_string_field(L, 1, fname, "body", "", &r->body_len);
  r->payload_hash = opt_string_field(L, 1, fname, "payload_hash", NULL, NULL);
  r->host = opt_string_field(L, 1, fname, "host", NULL, NULL);
  r->normalize = opt_bool_field(L, 1, fname, "normalize", 1);
  r->sign_body = opt_bool_field(L, 1, fname, "sign_body", 0);
  r->omit_token = opt_bool_field(L, 1, fname, "omit_session_token", 0);
  read_time(L, 1, fname, r->amz_date);
  memcpy(r->date8, r->amz_date, 8);
  r->date8[8] = '\0';
}


/* [-0, +1] pushes the canonical request built from the method, the
 * canonical URI and query strings at URI and QUERY, the headers in CANON
 * named by NAMES, the signed-headers string at SH and PAYLOAD. */
static void push_canonical_request(lua_State *L, const Request *r, int uri,
                                   int query, int canon, const char **names,
                                   int sh, const char *payload)
{
  luaL_Buffer b;
  size_t i;

  luaL_buffinit(L, &b);
  luaL_addstring(&b, r->method);
  luaL_addchar(&b, '\n');
  lua_pushvalue(L, uri);
  luaL_addvalue(&b);
  luaL_addchar(&b, '\n');
  lua_pushvalue(L, query);
  luaL_addvalue(&b);
  luaL_addchar(&b, '\n');
  for (i = 0; names[i] != NULL; i++) {
    luaL_addstring(&b, names[i]);
    luaL_addchar(&b, ':');
    lua_getfield(L, canon, names[i]);
    luaL_addvalue(&b);
    luaL_addchar(&b, '\n');
  }
  luaL_addchar(&b, '\n');
  lua_pushvalue(L, sh);
  luaL_addvalue(&b);
  luaL_addchar(&b, '\n');
  luaL_addstring(&b, payload);
  luaL_pushresult(&b);
}


/* [-0, +1] pushes "a;b;c" from the NULL-ended NAMES. */
static void push_joined(lua_State *L, const char **names)
{
  luaL_Buffer b;
  size_t i;

  luaL_buffinit(L, &b);
  for (i = 0; names[i] != NULL; i++) {
    if (i > 0)
      luaL_addchar(&b, ';');
    luaL_addstring(&b, names[i]);
  }
  luaL_pushresult(&b);
}


/*
 * [-0, +0] finishes a signature into the result table at RESULT: hashes
 * the canonical request at CREQ, builds the string to sign and the
 * signature, and sets canonical_request, string_to_sign, signature and
 * scope.  Writes the hex signature to SIG.
 */
static void finish_signature(lua_State *L, const Request *r, int creq,
                             int result, char sig[65])
{
  unsigned char digest[32], key[32];
  char creq_hex[65];
  size_t creq_len;
  const char *creq_s = lua_tolstring(L, creq, &creq_len);
  const char *sts;
  size_t sts_len;

  lua_pushvalue(L, creq);
  lua_setfield(L, result, "canonical_request");
  lua_pushfstring(L, "%s/%s/%s/aws4_request", r->date8, r->region, r->service);
  lua_setfield(L, result, "scope");
  sha256(creq_s, creq_len, digest);
  to_hex(digest, 32, creq_hex);
  sts =
      lua_pushfstring(L, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s",
                      r->amz_date, r->date8, r->region, r->service, creq_hex);
  sts_len = lua_rawlen(L, -1);
  signing_key(L, r->secret_key, r->secret_len, r->date8, r->region, r->service,
              key);
  hmac_sha256(key, 32, sts, sts_len, digest);
  OPENSSL_cleanse(key, sizeof key);
  lua_setfield(L, result, "string_to_sign");
  to_hex(digest, 32, sig);
  lua_pushstring(L, sig);
  lua_setfield(L, result, "signature");
  lua_pushstring(L, r->amz_date);
  lua_setfield(L, result, "date");
}


static const char *payload_hash(lua_State *L, const Request *r, char buf[65])
{
  unsigned char digest[32];

  (void)L;
  if (r->payload_hash != NULL)
    return r->payload_hash;
  if (r->body_len == 0)
    return EMPTY_SHA256;
  sha256(r->body, r->body_len, digest);
  to_hex(digest, 32, buf);
  return buf;
}


/*
 * sign(req) -> { authorization, signature, canonical_request,
 * string_to_sign, signed_headers, headers, scope, date }.
 *
 * req: method; path as written in the request line (default "/"); query
 * (string or {name, value} list); headers ({name, value} list or map, must
 * include Host unless req.host is set); body; access_key, secret_key,
 * session_token; region, service; time (epoch seconds or a string, default
 * now); normalize (default true); sign_body (add and sign
 * X-Amz-Content-Sha256); omit_session_token (send the token unsigned);
 * signed_headers (lowercase names to sign, default all); payload_hash
 * (instead of the body's SHA-256, e.g. "UNSIGNED-PAYLOAD").  The result's
 * `headers` lists the {name, value} pairs the caller must add to the
 * request: X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token, each
 * only when it was not among req.headers already.
 */
static int sigv4_sign(lua_State *L)
{
  Request r;
  char hash_buf[65], sig[65];
  const char *payload, **names;
  int canon, added, uri, query, sh, creq, result;

  read_request(L, "sigv4.sign", &r);
  payload = payload_hash(L, &r, hash_buf);
  push_header_table(L, 1, r.fname);
  canon = lua_gettop(L);
  lua_newtable(L);
  added = lua_gettop(L);
  if (!has_header(L, canon, "host")) {
    if (r.host == NULL)
      return luaL_error(L,
                        "%s: the request has no Host header; add one to "
                        "'headers' or set 'host'",
                        r.fname);
    lua_pushstring(L, r.host);
    lua_setfield(L, canon, "host");
  }
  if (!has_header(L, canon, "x-amz-date")) {
    lua_pushstring(L, r.amz_date);
    lua_setfield(L, canon, "x-amz-date");
    append_pair(L, added, "X-Amz-Date", r.amz_date);
  }
  if (r.sign_body && !has_header(L, canon, "x-amz-content-sha256")) {
    lua_pushstring(L, payload);
    lua_setfield(L, canon, "x-amz-content-sha256");
    append_pair(L, added, "X-Amz-Content-Sha256", payload);
  }
  if (r.token != NULL && !has_header(L, canon, "x-amz-security-token")) {
    if (!r.omit_token) {
      lua_pushstring(L, r.token);
      lua_setfield(L, canon, "x-amz-security-token");
    }
    append_pair(L, added, "X-Amz-Security-Token", r.token);
  }
  names = push_signed_names(L, canon, 1, r.fname);
  push_joined(L, names);
  sh = lua_gettop(L);
  push_canonical_uri(L, r.path, r.path_len, r.normalize);
  uri = lua_gettop(L);
  push_query_pairs(L, 1, r.fname);
  push_canonical_query(L);
  query = lua_gettop(L);
  push_canonical_request(L, &r, uri, query, canon, names, sh, payload);
  creq = lua_gettop(L);

  lua_createtable(L, 0, 9);
  result = lua_gettop(L);
  finish_signature(L, &r, creq, result, sig);
  lua_pushvalue(L, sh);
  lua_setfield(L, result, "signed_headers");
  lua_pushvalue(L, added);
  lua_setfield(L, result, "headers");
  lua_pushfstring(L,
                  ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, "
                            "SignedHeaders=%s, Signature=%s",
                  r.access_key, r.date8, r.region, r.service,
                  lua_tostring(L, sh), sig);
  lua_setfield(L, result, "authorization");
  return 1;
}


/* [-0, +0] appends the raw pair NAME=VALUE to the pair list at LIST. */
static void add_raw_query(lua_State *L, int list, const char *name,
                          const char *value)
{
  add_query_pair(L, list, name, strlen(name), value, strlen(value), 0);
}


/*
 * presign(req, expires) -> { query, signature, canonical_request,
 * string_to_sign, signed_headers, scope, date }.  Signs the query string:
 * `query` is the whole canonical query including X-Amz-Signature, ready to
 * put after '?' in the URL.  The payload hash defaults to the hash of the
 * body, like header signing; set payload_hash = "UNSIGNED-PAYLOAD" for S3.
 */
static int sigv4_presign(lua_State *L)
{
  Request r;
  char hash_buf[65], sig[65], expires_s[24];
  const char *payload, **names;
  lua_Integer expires = luaL_checkinteger(L, 2);
  int canon, uri, pairs, query, sh, creq, result;

  luaL_argcheck(L, expires >= 1 && expires <= 604800, 2,
                "sigv4.presign: expires must be 1 to 604800 seconds");
  read_request(L, "sigv4.presign", &r);
  snprintf(expires_s, sizeof expires_s, "%lld", (long long)expires);
  payload = payload_hash(L, &r, hash_buf);
  push_header_table(L, 1, r.fname);
  canon = lua_gettop(L);
  if (!has_header(L, canon, "host")) {
    if (r.host == NULL)
      return luaL_error(L,
                        "%s: the request has no Host header; add one to "
                        "'headers' or set 'host'",
                        r.fname);
    lua_pushstring(L, r.host);
    lua_setfield(L, canon, "host");
  }
  names = push_signed_names(L, canon, 1, r.fname);
  push_joined(L, names);
  sh = lua_gettop(L);
  push_canonical_uri(L, r.path, r.path_len, r.normalize);
  uri = lua_gettop(L);
  push_query_pairs(L, 1, r.fname);
  pairs = lua_gettop(L);
  add_raw_query(L, pairs, "X-Amz-Algorithm", ALGORITHM);
  lua_pushfstring(L, "%s/%s/%s/%s/aws4_request", r.access_key, r.date8,
                  r.region, r.service);
  add_raw_query(L, pairs, "X-Amz-Credential", lua_tostring(L, -1));
  lua_pop(L, 1);
  add_raw_query(L, pairs, "X-Amz-Date", r.amz_date);
  add_raw_query(L, pairs, "X-Amz-Expires", expires_s);
  add_raw_query(L, pairs, "X-Amz-SignedHeaders", lua_tostring(L, sh));
  if (r.token != NULL && !r.omit_token)
    add_raw_query(L, pairs, "X-Amz-Security-Token", r.token);
  lua_pushvalue(L, pairs);
  push_canonical_query(L);
  query = lua_gettop(L);
  push_canonical_request(L, &r, uri, query, canon, names, sh, payload);
  creq = lua_gettop(L);

  lua_createtable(L, 0, 8);
  result = lua_gettop(L);
  finish_signature(L, &r, creq, result, sig);
  lua_pushvalue(L, sh);
  lua_setfield(L, result, "signed_headers");
  /* The final query: the signed pairs, the signature, and a token left
   * out of the signature when omit_session_token is set. */
  add_raw_query(L, pairs, "X-Amz-Signature", sig);
  if (r.token != NULL && r.omit_token)
    add_raw_query(L, pairs, "X-Amz-Security-Token", r.token);
  lua_pushvalue(L, pairs);
  push_canonical_query(L);
  lua_setfield(L, result, "query");
  return 1;
}


/* ---- helpers exported to Lua ---- */

/* sha256_hex(data) -> 64 lowercase hex characters */
static int sigv4_sha256_hex(lua_State *L)
{
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  unsigned char digest[32];
  char hex[65];

  sha256(data, len, digest);
  to_hex(digest, 32, hex);
  lua_pushlstring(L, hex, 64);
  return 1;
}


/* hmac_sha256(key, data) -> 32 raw bytes */
static int sigv4_hmac_sha256(lua_State *L)
{
  size_t klen, dlen;
  const char *key = luaL_checklstring(L, 1, &klen);
  const char *data = luaL_checklstring(L, 2, &dlen);
  unsigned char digest[32];

  hmac_sha256(key, klen, data, dlen, digest);
  lua_pushlstring(L, (const char *)digest, 32);
  return 1;
}


/* hex(bytes) -> lowercase hex string */
static int sigv4_hex(lua_State *L)
{
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, len * 2 + 1);

  to_hex((const unsigned char *)data, len, out);
  luaL_pushresultsize(&b, len * 2);
  return 1;
}


/* uri_encode(s [, encode_slash = true]) -> SigV4 percent-encoding of s */
static int sigv4_uri_encode(lua_State *L)
{
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int encode_slash = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
  luaL_Buffer b;

  luaL_buffinit(L, &b);
  add_encoded(&b, s, len, encode_slash);
  luaL_pushresult(&b);
  return 1;
}


static const char base64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


/* base64_encode(s) -> standard base64 with '=' padding */
static int sigv4_base64_encode(lua_State *L)
{
  size_t len, i, o = 0;
  const unsigned char *s =
      (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, (len + 2) / 3 * 4 + 1);

  for (i = 0; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
    out[o++] = base64_digits[v >> 18];
    out[o++] = base64_digits[(v >> 12) & 63];
    out[o++] = base64_digits[(v >> 6) & 63];
    out[o++] = base64_digits[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)s[i + 1] << 8;
    out[o++] = base64_digits[v >> 18];
    out[o++] = base64_digits[(v >> 12) & 63];
    out[o++] = i + 1 < len ? base64_digits[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  luaL_pushresultsize(&b, o);
  return 1;
}


static int base64_value(unsigned char c)
{
  const char *p = c != 0 ? strchr(base64_digits, c) : NULL;
  return p != NULL ? (int)(p - base64_digits) : -1;
}


/* base64_decode(s) -> bytes, or nil when s is not valid padded base64.
 * Whitespace is not accepted. */
static int sigv4_base64_decode(lua_State *L)
{
  size_t len, i, o = 0;
  const unsigned char *s =
      (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out;

  if (len % 4 != 0) {
    lua_pushnil(L);
    return 1;
  }
  out = luaL_buffinitsize(L, &b, len / 4 * 3 + 1);
  for (i = 0; i < len; i += 4) {
    int v[4], k, pad = 0;
    for (k = 0; k < 4; k++) {
      if (s[i + k] == '=' && i + 4 == len && k >= 2) {
        v[k] = 0;
        pad++;
      } else if (pad > 0 || (v[k] = base64_value(s[i + k])) < 0) {
        lua_pushnil(L);
        return 1;
      }
    }
    out[o++] = (char)(v[0] << 2 | v[1] >> 4);
    if (pad < 2)
      out[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
    if (pad < 1)
      out[o++] = (char)((v[2] & 3) << 6 | v[3]);
  }
  luaL_pushresultsize(&b, o);
  return 1;
}


/* constant_time_equal(a, b) -> boolean; the time taken depends only on the
 * lengths, not on where the strings differ. */
static int sigv4_constant_time_equal(lua_State *L)
{
  size_t alen, blen;
  const char *a = luaL_checklstring(L, 1, &alen);
  const char *b = luaL_checklstring(L, 2, &blen);

  lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
  return 1;
}


int luaopen_mnem_sigv4(lua_State *L)
{
  static const luaL_Reg functions[] = {
    { "sign", sigv4_sign },
    { "presign", sigv4_presign },
    { "sha256_hex", sigv4_sha256_hex },
    { "hmac_sha256", sigv4_hmac_sha256 },
    { "hex", sigv4_hex },
    { "uri_encode", sigv4_uri_encode },
    { "base64_encode", sigv4_base64_encode },
    { "base64_decode", sigv4_base64_decode },
    { "constant_time_equal", sigv4_constant_time_equal },
    { NULL, NULL }
  };

  luaL_newlib(L, functions);
  return 1;
}
