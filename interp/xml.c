/*
 * xml.c: XML parsing with expat, for AWS query-protocol responses.
 *
 * Lua module `mnem._xml`.  parse(text) returns the document as nested
 * tables: each element is { name = "Tag", attrs = { ... } (only when it
 * has attributes), text = "its own character data", [1] = first child,
 * ... }.  Namespace prefixes stay as written ("soap:Envelope").
 *
 * Hostile input is bounded: documents over 32 MiB and elements nested more
 * than 64 deep are rejected, and so is any DOCTYPE, which rules out entity
 * expansion attacks and external entities.
 */
#include <stdlib.h>
#include <string.h>

#include <expat.h>
#include <lauxlib.h>

#include "mnem.h"

#define XML_PARSER "mnem.XmlParser"
#define MAX_DEPTH 64
#define MAX_SIZE (32 * 1024 * 1024)

/* Character data of one open element. */
typedef struct {
  char *data;
  size_t len, cap;
} Text;

/* The state of one parse, in userdata so a Lua error raised from a
 * callback (out of memory) still frees the expat parser and buffers. */
typedef struct {
  XML_Parser parser;
  lua_State *L;
  int elements;             /* stack index of the open-element list */
  int depth;                /* number of open elements */
  const char *error;        /* why a limit stopped the parse, or NULL */
  Text text[MAX_DEPTH + 1]; /* text[d] for the element at depth d */
} Parse;


static void parse_free(Parse *p)
{
  int i;

  if (p->parser != NULL) {
    XML_ParserFree(p->parser);
    p->parser = NULL;
  }
  for (i = 0; i <= MAX_DEPTH; i++) {
    free(p->text[i].data);
    p->text[i].data = NULL;
    p->text[i].len = p->text[i].cap = 0;
  }
}


static int parse_gc(lua_State *L)
{
  parse_free(luaL_checkudata(L, 1, XML_PARSER));
  return 0;
}


static void stop(Parse *p, const char *reason)
{
  if (p->error == NULL)
    p->error = reason;
  XML_StopParser(p->parser, XML_FALSE);
}


/* ---- expat callbacks ---- */

static void on_start(void *data, const XML_Char *name, const XML_Char **atts)
{
  Parse *p = data;
  lua_State *L = p->L;

  if (p->error != NULL)
    return;
  if (p->depth >= MAX_DEPTH) {
    stop(p, "elements are nested deeper than 64 levels");
    return;
  }
  lua_createtable(L, 0, 3);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  if (atts[0] != NULL) {
    int i;
    lua_newtable(L);
    for (i = 0; atts[i] != NULL; i += 2) {
      lua_pushstring(L, atts[i + 1]);
      lua_setfield(L, -2, atts[i]);
    }
    lua_setfield(L, -2, "attrs");
  }
  if (p->depth > 0) {
    /* Append to the parent's children. */
    lua_rawgeti(L, p->elements, p->depth);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
  }
  p->depth++;
  lua_rawseti(L, p->elements, p->depth);
  p->text[p->depth].len = 0;
}


static void on_end(void *data, const XML_Char *name)
{
  Parse *p = data;
  lua_State *L = p->L;
  Text *t;

  (void)name;
  if (p->error != NULL || p->depth == 0)
    return;
  t = &p->text[p->depth];
  lua_rawgeti(L, p->elements, p->depth);
  lua_pushlstring(L, t->data != NULL ? t->data : "", t->len);
  lua_setfield(L, -2, "text");
  lua_pop(L, 1);
  p->depth--;
}


static void on_text(void *data, const XML_Char *s, int len)
{
  Parse *p = data;
  Text *t;

  if (p->error != NULL || p->depth == 0 || len <= 0)
    return;
  t = &p->text[p->depth];
  if (t->len + (size_t)len > t->cap) {
    size_t cap = t->cap > 0 ? t->cap : 256;
    char *grown;
    while (cap < t->len + (size_t)len)
      cap *= 2;
    grown = realloc(t->data, cap);
    if (grown == NULL) {
      stop(p, "out of memory");
      return;
    }
    t->data = grown;
    t->cap = cap;
  }
  memcpy(t->data + t->len, s, (size_t)len);
  t->len += (size_t)len;
}


static void on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
                       const XML_Char *pubid, int has_internal_subset)
{
  (void)name;
  (void)sysid;
  (void)pubid;
  (void)has_internal_subset;
  stop(data, "a DOCTYPE is not allowed (entity declarations could expand "
             "without bound)");
}


static void on_entity_decl(void *data, const XML_Char *name,
                           int is_parameter_entity, const XML_Char *value,
                           int value_length, const XML_Char *base,
                           const XML_Char *system_id,
                           const XML_Char *public_id,
                           const XML_Char *notation_name)
{
  (void)name;
  (void)is_parameter_entity;
  (void)value;
  (void)value_length;
  (void)base;
  (void)system_id;
  (void)public_id;
  (void)notation_name;
  stop(data, "entity declarations are not allowed");
}


static int on_external_entity(XML_Parser parser, const XML_Char *context,
                              const XML_Char *base, const XML_Char *system_id,
                              const XML_Char *public_id)
{
  (void)parser;
  (void)context;
  (void)base;
  (void)system_id;
  (void)public_id;
  return XML_STATUS_ERROR;
}


/* [-0, +2] pushes nil and "XML parse error at line L, column C: REASON",
 * with a 1-based column. */
static int push_error(lua_State *L, Parse *p, const char *reason)
{
  lua_pushnil(L);
  lua_pushfstring(L, "XML parse error at line %I, column %I: %s",
                  (lua_Integer)XML_GetCurrentLineNumber(p->parser),
                  (lua_Integer)XML_GetCurrentColumnNumber(p->parser) + 1,
                  reason);
  return 2;
}


/* parse(text) -> root element table | nil, message */
static int xml_parse(lua_State *L)
{
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  Parse *p;
  enum XML_Status status;
  int results = 1;

  if (len > MAX_SIZE) {
    lua_pushnil(L);
    lua_pushfstring(L,
                    "XML parse error at line 1, column 1: the document is "
                    "%I bytes, more than the limit of 32 MiB",
                    (lua_Integer)len);
    return 2;
  }
  lua_settop(L, 1);
  p = lua_newuserdatauv(L, sizeof *p, 0); /* 2 */
  memset(p, 0, sizeof *p);
  luaL_setmetatable(L, XML_PARSER);
  lua_newtable(L); /* 3: the open elements, root first */
  p->L = L;
  p->elements = 3;
  p->parser = XML_ParserCreate("UTF-8");
  if (p->parser == NULL)
    return luaL_error(L, "xml.parse: XML_ParserCreate failed");
  XML_SetUserData(p->parser, p);
  XML_SetElementHandler(p->parser, on_start, on_end);
  XML_SetCharacterDataHandler(p->parser, on_text);
  XML_SetStartDoctypeDeclHandler(p->parser, on_doctype);
  XML_SetEntityDeclHandler(p->parser, on_entity_decl);
  XML_SetExternalEntityRefHandler(p->parser, on_external_entity);
  XML_SetParamEntityParsing(p->parser, XML_PARAM_ENTITY_PARSING_NEVER);

  status = XML_Parse(p->parser, text, (int)len, XML_TRUE);
  if (p->error != NULL)
    results = push_error(L, p, p->error);
  else if (status != XML_STATUS_OK)
    results = push_error(L, p, XML_ErrorString(XML_GetErrorCode(p->parser)));
  else
    lua_rawgeti(L, 3, 1);
  parse_free(p);
  return results;
}


/* escape(s) -> s with & < > " ' replaced by entity references and tab, LF
 * and CR by numeric references, so the result is safe in element content
 * and in attribute values.  Raises on other control characters, which XML
 * 1.0 cannot represent at all. */
static int xml_escape(lua_State *L)
{
  size_t len, i;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;

  luaL_buffinit(L, &b);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '&':
      luaL_addstring(&b, "&amp;");
      break;
    case '<':
      luaL_addstring(&b, "&lt;");
      break;
    case '>':
      luaL_addstring(&b, "&gt;");
      break;
    case '"':
      luaL_addstring(&b, "&quot;");
      break;
    case '\'':
      luaL_addstring(&b, "&apos;");
      break;
    case '\t':
      luaL_addstring(&b, "&#9;");
      break;
    case '\n':
      luaL_addstring(&b, "&#10;");
      break;
    case '\r':
      luaL_addstring(&b, "&#13;");
      break;
    default:
      if (c < 0x20)
        return luaL_error(L,
                          "xml.escape: byte %d (a control character) at "
                          "position %I cannot appear in XML 1.0",
                          (int)c, (lua_Integer)i + 1);
      luaL_addchar(&b, (char)c);
    }
  }
  luaL_pushresult(&b);
  return 1;
}


int luaopen_mnem_xml(lua_State *L)
{
  static const luaL_Reg functions[] = { { "parse", xml_parse },
                                        { "escape", xml_escape },
                                        { NULL, NULL } };

  if (luaL_newmetatable(L, XML_PARSER)) {
    lua_pushcfunction(L, parse_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
