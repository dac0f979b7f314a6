/*
 * xml.c: XML parsing with expat, for AWS query-protocol responses.
 *
 * Lua module `mnem._xml`.  Two readers share one expat setup and its
 * limits:
 *
 *   parse(text) returns the document as nested tables: each element is
 *   { name = "Tag", attrs = { ... } (only when it has attributes), text =
 *   "its own character data", [1] = first child, ... }.  Namespace
 *   prefixes stay as written ("soap:Envelope").  Error responses, whose
 *   layout varies, are read this way.
 *
 *   read(text, plan) builds the value an AWS shape types directly from the
 *   parser's events, with no tree in between, and skips every element the
 *   shape does not name.  The query codec (stdlib/aws/protocol/query.lua)
 *   makes one plan per shape from the service model.  A plan is one of:
 *
 *     "string"                the element's own text
 *     "integer" / "float"     the text as a number (an integer when whole /
 *                             a float); nil when the text is empty or
 *                             blank; other text that is not a number
 *                             stops the parse with an error naming the
 *                             member.
 *                             A float also reads NaN, Infinity and
 *                             -Infinity, as botocore's float() does
 *     "boolean"               true when the text is "true"
 *     a function              called with the text, returns the value
 *                             (timestamps, blobs)
 *     { 1, fields, attributes }
 *                             a structure: fields[element name without
 *                             prefix] = { member name, plan, flattened };
 *                             attributes is false or a list of { member
 *                             name, attribute name } filled from the
 *                             element's attributes when no child element
 *                             gave the member
 *     { 2, plan, flattened }  a list: each child element is an item of
 *                             that plan; with flattened (the item is itself
 *                             a flattened list or map), each child element
 *                             is read as a one-item list or one-entry map;
 *                             an item read as nil is left out
 *     { 3, key name, value name, key plan, value plan }
 *                             a map: each child element is an entry whose
 *                             first children with those names give the key
 *                             and the value
 *
 *   A structure member marked flattened is a list or map with no element
 *   of its own: every child of the structure with the member's name is one
 *   item (or entry).  Otherwise the first child element with a member's
 *   name gives the member.
 *
 * Hostile input is bounded: documents over 32 MiB and elements nested more
 * than 64 deep are rejected, and so is any DOCTYPE, which rules out entity
 * expansion attacks and external entities.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* What read() is building, one frame per value under construction.  An
 * element usually has one frame; a flattened list or map item has two on
 * the same element (the container, then the item or entry). */
enum { FRAME_SCALAR, FRAME_STRUCT, FRAME_LIST, FRAME_MAP, FRAME_ENTRY };

/* How a finished frame's value goes into the frame below it. */
enum {
  ROLE_ROOT,      /* the result of read() */
  ROLE_FIELD,     /* a structure member, unless an earlier child gave it */
  ROLE_FIELD_SET, /* a flattened member's list or map: always stored */
  ROLE_ITEM,      /* the next item of a list */
  ROLE_ENTRY,     /* an entry of a map: map[key] = value */
  ROLE_KEY,       /* the key of an entry */
  ROLE_VALUE      /* the value of an entry */
};

typedef struct {
  unsigned char kind, role;
  unsigned char has_key, has_value; /* entries: key / value child seen */
  int depth;                        /* the element depth it ends with */
  lua_Integer count; /* lists: items so far; structures: members set */
} Frame;

/* Each frame owns FRAME_SLOTS consecutive Lua stack slots from its base.
 * The first contains what the value is delivered under: the field entry of
 * a member, or the key of an entry.  Then come the value, the plan, and
 * the saved attributes of a structure whose plan reads attributes.  A
 * frame is opened with its deliver slot and plan pushed, so no temporary
 * ever sits between two frames. */
#define FRAME_SLOTS 4
#define SLOT_DELIVER 0
#define SLOT_VALUE 1
#define SLOT_PLAN 2
#define SLOT_ATTRS 3
#define MAX_FRAMES (4 * MAX_DEPTH)

/* The index at which read() stores, in a structure or list plan, how many
 * members or items its last value had.  The next value's table is made
 * that size, so it is not grown (and rehashed) one power of two at a time. */
#define PLAN_SIZE_HINT 4

/* The state of one parse, in userdata so a Lua error raised from a
 * callback (out of memory) still frees the expat parser and buffers. */
typedef struct {
  XML_Parser parser;
  lua_State *L;
  int depth;         /* number of open elements */
  const char *error; /* why a limit stopped the parse, or NULL */
  char detail[200];  /* read(): the message error points to for a value */
  /* parse(): the open-element list and each open element's text */
  int elements;             /* stack index of the open-element list */
  Text text[MAX_DEPTH + 1]; /* parse(): text[d] for the element at depth d;
                               read(): text[0] for the open scalar */
  /* read(): frames, the depth of the element being skipped (0 = none) */
  int base; /* stack index of frame 0's first slot */
  int nframes;
  int skip;
  Frame frames[MAX_FRAMES];
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


/* Appends LEN bytes of character data to T; stops the parse when memory
 * runs out. */
static void text_append(Parse *p, Text *t, const XML_Char *s, size_t len)
{
  if (t->len + len > t->cap) {
    size_t cap = t->cap > 0 ? t->cap : 256;
    char *grown;
    while (cap < t->len + len)
      cap *= 2;
    grown = realloc(t->data, cap);
    if (grown == NULL) {
      stop(p, "out of memory");
      return;
    }
    t->data = grown;
    t->cap = cap;
  }
  memcpy(t->data + t->len, s, len);
  t->len += len;
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
  text_append(p, t, s, (size_t)len);
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


/* [-0, +2 | +0] checks the size of the document at index 1.  When it is
 * over the limit, pushes nil and the message and returns 2; else 0. */
static int check_size(lua_State *L, size_t len)
{
  if (len <= MAX_SIZE)
    return 0;
  lua_pushnil(L);
  lua_pushfstring(L,
                  "XML parse error at line 1, column 1: the document is "
                  "%I bytes, more than the limit of 32 MiB",
                  (lua_Integer)len);
  return 2;
}


/* [-0, +1] pushes the userdata owning a new parse and its expat parser,
 * which rejects DOCTYPEs and entities and calls the given handlers. */
static Parse *new_parse(lua_State *L, XML_StartElementHandler on_open,
                        XML_EndElementHandler on_close,
                        XML_CharacterDataHandler on_chars)
{
  Parse *p = lua_newuserdatauv(L, sizeof *p, 0);

  memset(p, 0, sizeof *p);
  luaL_setmetatable(L, XML_PARSER);
  p->L = L;
  p->parser = XML_ParserCreate("UTF-8");
  if (p->parser == NULL)
    luaL_error(L, "mnem._xml: XML_ParserCreate failed (out of memory)");
  XML_SetUserData(p->parser, p);
  XML_SetElementHandler(p->parser, on_open, on_close);
  XML_SetCharacterDataHandler(p->parser, on_chars);
  XML_SetStartDoctypeDeclHandler(p->parser, on_doctype);
  XML_SetEntityDeclHandler(p->parser, on_entity_decl);
  XML_SetExternalEntityRefHandler(p->parser, on_external_entity);
  XML_SetParamEntityParsing(p->parser, XML_PARAM_ENTITY_PARSING_NEVER);
  return p;
}


/* Runs the parse over TEXT.  Returns 1 with nothing pushed when it
 * succeeded, else pushes nil and the message and returns 2. */
static int run_parse(lua_State *L, Parse *p, const char *text, size_t len)
{
  enum XML_Status status = XML_Parse(p->parser, text, (int)len, XML_TRUE);

  if (p->error != NULL)
    return push_error(L, p, p->error);
  if (status != XML_STATUS_OK)
    return push_error(L, p, XML_ErrorString(XML_GetErrorCode(p->parser)));
  return 1;
}


/* parse(text) -> root element table | nil, message */
static int xml_parse(lua_State *L)
{
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  Parse *p;
  int results;

  if (check_size(L, len))
    return 2;
  lua_settop(L, 1);
  p = new_parse(L, on_start, on_end, on_text); /* 2 */
  lua_newtable(L); /* 3: the open elements, root first */
  p->elements = 3;
  results = run_parse(L, p, text, len);
  if (results == 1)
    lua_rawgeti(L, 3, 1);
  parse_free(p);
  return results;
}


/* ---- read(): values typed by a plan ---- */

static const char *local_name(const char *name)
{
  const char *colon = strrchr(name, ':');
  return colon != NULL ? colon + 1 : name;
}


static int slot(const Parse *p, int frame, int slot_index)
{
  return p->base + frame * FRAME_SLOTS + slot_index;
}


/* [-2, +4 | -2, +0] opens a frame from the deliver value and the plan on
 * top of the stack; its value starts as nil, or as a new table for
 * containers.  Returns NULL, with both popped, past MAX_FRAMES. */
static Frame *push_frame(Parse *p, int kind, int role)
{
  lua_State *L = p->L;
  Frame *f;

  if (p->nframes >= MAX_FRAMES) {
    lua_pop(L, 2);
    stop(p, "the shape nests deeper than the reader allows");
    return NULL;
  }
  luaL_checkstack(L, FRAME_SLOTS + 8, "mnem._xml.read");
  f = &p->frames[p->nframes];
  memset(f, 0, sizeof *f);
  f->kind = (unsigned char)kind;
  f->role = (unsigned char)role;
  f->depth = p->depth;
  if (kind == FRAME_SCALAR || kind == FRAME_ENTRY) {
    lua_pushnil(L);
  } else if (kind == FRAME_MAP) {
    lua_newtable(L);
  } else {
    int hint;
    lua_rawgeti(L, -1, PLAN_SIZE_HINT);
    hint = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (hint < 0 || hint > 1024)
      hint = 0;
    if (kind == FRAME_LIST)
      lua_createtable(L, hint, 0);
    else
      lua_createtable(L, 0, hint);
  }
  lua_insert(L, -2); /* deliver, value, plan */
  lua_pushnil(L);
  p->nframes++;
  return f;
}


/* The kind of frame the plan on top of the stack reads with. */
static int plan_kind(lua_State *L)
{
  lua_Integer kind;

  if (lua_type(L, -1) != LUA_TTABLE)
    return FRAME_SCALAR;
  lua_rawgeti(L, -1, 1);
  kind = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (kind == 1)
    return FRAME_STRUCT;
  if (kind == 2)
    return FRAME_LIST;
  return FRAME_MAP;
}


/* [-2, +4] starts reading the current element with the deliver value and
 * plan on top of the stack, delivered with ROLE.  Saves the attributes when
 * the plan is a structure that reads some. */
static void open_value(Parse *p, int role, const XML_Char **atts)
{
  lua_State *L = p->L;
  int kind = plan_kind(L);
  Frame *f = push_frame(p, kind, role);

  if (f == NULL)
    return;
  if (kind == FRAME_SCALAR) {
    p->text[0].len = 0;
  } else if (kind == FRAME_STRUCT && atts[0] != NULL) {
    int plan = slot(p, p->nframes - 1, SLOT_PLAN), i;
    if (lua_rawgeti(L, plan, 3) == LUA_TTABLE) {
      lua_pop(L, 1);
      lua_createtable(L, 0, 2);
      for (i = 0; atts[i] != NULL; i += 2) {
        lua_pushstring(L, atts[i + 1]);
        lua_setfield(L, -2, atts[i]);
      }
      lua_replace(L, slot(p, p->nframes - 1, SLOT_ATTRS));
    } else {
      lua_pop(L, 1);
    }
  }
}


/* [-1, +4..] starts reading the current element as one item of the list
 * whose plan is on top of the stack.  The item is read with the item plan.
 * When the items are flattened lists or maps, the element is read as a
 * one-item list or one-entry map of its own, and so opens two frames or
 * more. */
static void open_item(Parse *p, const XML_Char **atts)
{
  lua_State *L = p->L;
  int flattened, kind;

  lua_rawgeti(L, -1, 3);
  flattened = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_rawgeti(L, -1, 2); /* list plan, item plan */
  lua_pushnil(L);
  lua_replace(L, -3); /* nil (deliver), item plan */
  kind = flattened ? plan_kind(L) : FRAME_SCALAR;
  if (kind == FRAME_LIST) {
    if (push_frame(p, FRAME_LIST, ROLE_ITEM) != NULL) {
      lua_pushvalue(L, slot(p, p->nframes - 1, SLOT_PLAN));
      open_item(p, atts);
    }
  } else if (kind == FRAME_MAP) {
    if (push_frame(p, FRAME_MAP, ROLE_ITEM) != NULL) {
      lua_pushnil(L);
      lua_pushvalue(L, slot(p, p->nframes - 1, SLOT_PLAN));
      push_frame(p, FRAME_ENTRY, ROLE_ENTRY);
    }
  } else {
    open_value(p, ROLE_ITEM, atts);
  }
}


/* [-0, +4..] starts reading a child named NAME of the structure frame
 * TOP, or skips it when the structure has no such member. */
static void open_member(Parse *p, int top, const char *name,
                        const XML_Char **atts)
{
  lua_State *L = p->L;
  int field, kind = FRAME_SCALAR;

  lua_rawgeti(L, slot(p, top, SLOT_PLAN), 2);
  if (lua_getfield(L, -1, name) != LUA_TTABLE) {
    lua_pop(L, 2);
    p->skip = p->depth;
    return;
  }
  lua_remove(L, -2);
  field = lua_gettop(L);
  lua_rawgeti(L, field, 2); /* field, plan */
  if (lua_rawgeti(L, field, 3) == LUA_TBOOLEAN && lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    kind = plan_kind(L);
  } else {
    lua_pop(L, 1);
  }
  if (kind != FRAME_LIST && kind != FRAME_MAP) {
    open_value(p, ROLE_FIELD, atts);
    return;
  }
  /* A flattened member: this child is one item or entry of the list or map
   * stored under the member, which its first such child makes. */
  if (push_frame(p, kind, ROLE_FIELD_SET) == NULL)
    return;
  lua_rawgeti(L, field, 1);
  if (lua_rawget(L, slot(p, top, SLOT_VALUE)) == LUA_TTABLE) {
    p->frames[p->nframes - 1].count = (lua_Integer)lua_rawlen(L, -1);
    lua_replace(L, field + SLOT_VALUE);
  } else {
    lua_pop(L, 1);
  }
  if (kind == FRAME_LIST) {
    lua_pushvalue(L, field + SLOT_PLAN);
    open_item(p, atts);
  } else {
    lua_pushnil(L);
    lua_pushvalue(L, field + SLOT_PLAN);
    push_frame(p, FRAME_ENTRY, ROLE_ENTRY);
  }
}


/* [-0, +0] starts reading a child named NAME of the map entry frame TOP:
 * its first key child and its first value child are read, others
 * skipped. */
static void open_entry_part(Parse *p, int top, const char *name,
                            const XML_Char **atts)
{
  lua_State *L = p->L;
  Frame *f = &p->frames[top];
  int plan = slot(p, top, SLOT_PLAN);
  const char *expected;

  lua_rawgeti(L, plan, 2);
  expected = lua_tostring(L, -1);
  lua_pop(L, 1);
  if (!f->has_key && expected != NULL && strcmp(name, expected) == 0) {
    f->has_key = 1;
    lua_pushnil(L);
    lua_rawgeti(L, plan, 4);
    open_value(p, ROLE_KEY, atts);
    return;
  }
  lua_rawgeti(L, plan, 3);
  expected = lua_tostring(L, -1);
  lua_pop(L, 1);
  if (!f->has_value && expected != NULL && strcmp(name, expected) == 0) {
    f->has_value = 1;
    lua_pushnil(L);
    lua_rawgeti(L, plan, 5);
    open_value(p, ROLE_VALUE, atts);
    return;
  }
  p->skip = p->depth;
}


static void on_read_start(void *data, const XML_Char *name,
                          const XML_Char **atts)
{
  Parse *p = data;
  lua_State *L = p->L;
  int top = p->nframes - 1;

  if (p->error != NULL)
    return;
  if (p->depth >= MAX_DEPTH) {
    stop(p, "elements are nested deeper than 64 levels");
    return;
  }
  p->depth++;
  if (p->skip != 0)
    return;
  if (top < 0) {
    if (p->depth == 1) {
      lua_pushnil(L);
      lua_pushvalue(L, 2); /* the root plan */
      open_value(p, ROLE_ROOT, atts);
    } else {
      p->skip = p->depth; /* the root element has ended */
    }
    return;
  }
  switch (p->frames[top].kind) {
  case FRAME_STRUCT:
    open_member(p, top, local_name(name), atts);
    break;
  case FRAME_LIST:
    lua_pushvalue(L, slot(p, top, SLOT_PLAN));
    open_item(p, atts);
    break;
  case FRAME_MAP:
    lua_pushnil(L);
    lua_pushvalue(L, slot(p, top, SLOT_PLAN));
    push_frame(p, FRAME_ENTRY, ROLE_ENTRY);
    break;
  case FRAME_ENTRY:
    open_entry_part(p, top, local_name(name), atts);
    break;
  default: /* a scalar's children are not part of its value */
    p->skip = p->depth;
  }
}


/* Pushes the special float TEXT names (NaN, Infinity, -Infinity in any
 * case, as Python's float() reads them) and returns 1, or returns 0. */
static int push_special_float(lua_State *L, const char *text, size_t len)
{
  const char *word = text;
  int negative = 0;

  if (len > 0 && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    word++;
    len--;
  }
  if ((len == 3 && strncasecmp(word, "nan", 3) == 0)) {
    lua_pushnumber(L, (lua_Number)NAN);
    return 1;
  }
  if ((len == 3 && strncasecmp(word, "inf", 3) == 0) ||
      (len == 8 && strncasecmp(word, "infinity", 8) == 0)) {
    lua_pushnumber(L, negative ? -(lua_Number)HUGE_VAL : (lua_Number)HUGE_VAL);
    return 1;
  }
  return 0;
}


/* Returns whether the LEN bytes at TEXT are all XML white space. */
static int is_blank(const char *text, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++)
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
        text[i] != '\n')
      return 0;
  return 1;
}


/* Stops the parse because scalar frame TOP's TEXT is not a KIND. */
static void stop_invalid_number(Parse *p, int top, const char *kind,
                                const char *text, size_t len)
{
  lua_State *L = p->L;
  int role = p->frames[top].role, deliver = slot(p, top, SLOT_DELIVER);
  int shown = len > 40 ? 40 : (int)len;
  const char *more = len > 40 ? "..." : "";

  /* A member's field entry starts with the member name; a list item or a
   * map entry has none. */
  if ((role == ROLE_FIELD || role == ROLE_FIELD_SET) &&
      lua_type(L, deliver) == LUA_TTABLE &&
      lua_rawgeti(L, deliver, 1) == LUA_TSTRING)
    snprintf(p->detail, sizeof p->detail,
             "member %.60s is not a valid %s: \"%.*s%s\"", lua_tostring(L, -1),
             kind, shown, text, more);
  else
    snprintf(p->detail, sizeof p->detail,
             "an item is not a valid %s: \"%.*s%s\"", kind, shown, text, more);
  if ((role == ROLE_FIELD || role == ROLE_FIELD_SET) &&
      lua_type(L, deliver) == LUA_TTABLE)
    lua_pop(L, 1);
  stop(p, p->detail);
}


/* [-0, +1] pushes the value of the scalar frame TOP from its text. */
static void push_scalar(Parse *p, int top)
{
  lua_State *L = p->L;
  const Text *t = &p->text[0];
  const char *text = t->data != NULL ? t->data : "";
  int plan = slot(p, top, SLOT_PLAN);

  if (lua_type(L, plan) == LUA_TFUNCTION) {
    lua_pushvalue(L, plan);
    lua_pushlstring(L, text, t->len);
    lua_call(L, 1, 1);
    return;
  }
  if (lua_type(L, plan) == LUA_TSTRING) {
    const char *kind = lua_tostring(L, plan);
    if (strcmp(kind, "string") == 0) {
      lua_pushlstring(L, text, t->len);
    } else if (strcmp(kind, "boolean") == 0) {
      lua_pushboolean(L, t->len == 4 && memcmp(text, "true", 4) == 0);
    } else {
      /* As Lua's tonumber: the whole text must be a numeral. */
      size_t used;
      int isnum = 0;
      lua_pushlstring(L, text, t->len);
      used = lua_stringtonumber(L, lua_tostring(L, -1));
      if (used != t->len + 1) {
        lua_pop(L, used != 0 ? 2 : 1);
        if (strcmp(kind, "float") == 0 && push_special_float(L, text, t->len))
          return;
        /* An empty element (<Port/>) reads as absent. */
        if (!is_blank(text, t->len))
          stop_invalid_number(p, top, kind, text, t->len);
        lua_pushnil(L);
        return;
      }
      lua_remove(L, -2);
      if (strcmp(kind, "float") == 0) {
        lua_Number x = lua_tonumber(L, -1);
        lua_pop(L, 1);
        lua_pushnumber(L, x);
      } else {
        lua_Integer whole = lua_tointegerx(L, -1, &isnum);
        if (isnum) {
          lua_pop(L, 1);
          lua_pushinteger(L, whole);
        }
      }
    }
    return;
  }
  lua_pushnil(L);
}


/* [-0, +0] fills the members of structure frame TOP that no child gave
 * from its saved attributes. */
static void fill_attributes(Parse *p, int top)
{
  lua_State *L = p->L;
  int attrs = slot(p, top, SLOT_ATTRS), value = slot(p, top, SLOT_VALUE);
  lua_Integer i, n;

  if (lua_type(L, attrs) != LUA_TTABLE)
    return;
  lua_rawgeti(L, slot(p, top, SLOT_PLAN), 3); /* the attribute list */
  n = (lua_Integer)lua_rawlen(L, -1);
  for (i = 1; i <= n; i++) {
    /* Each pair is checked before it is indexed, because lua_rawgeti on a
     * non-table is undefined behaviour.  A malformed pair is skipped. */
    if (lua_rawgeti(L, -1, i) != LUA_TTABLE) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_rawgeti(L, -1, 1) == LUA_TNIL) {
      lua_pop(L, 2);
      continue;
    }
    if (lua_rawget(L, value) == LUA_TNIL) {
      lua_rawgeti(L, -2, 1);
      lua_rawgeti(L, -3, 2);
      lua_rawget(L, attrs); /* list, pair, nil, member, attribute value */
      lua_rawset(L, value);
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
}


/* [-0, +0] finishes the top frame, hands its value to the frame below as
 * its role directs and drops it.  The root frame's value stays on the stack
 * as read()'s result. */
static void close_frame(Parse *p)
{
  lua_State *L = p->L;
  int top = p->nframes - 1, below = top - 1;
  Frame *f = &p->frames[top];
  int value = slot(p, top, SLOT_VALUE);

  if (f->kind == FRAME_SCALAR) {
    push_scalar(p, top);
    lua_replace(L, value);
  } else if (f->kind == FRAME_STRUCT) {
    fill_attributes(p, top);
  }
  if ((f->kind == FRAME_STRUCT || f->kind == FRAME_LIST) &&
      f->role != ROLE_FIELD_SET) {
    int plan = slot(p, top, SLOT_PLAN);
    lua_rawgeti(L, plan, PLAN_SIZE_HINT);
    if (lua_tointeger(L, -1) != f->count) {
      lua_pushinteger(L, f->count);
      lua_rawseti(L, plan, PLAN_SIZE_HINT);
    }
    lua_pop(L, 1);
  }
  switch (f->role) {
  case ROLE_FIELD:
  case ROLE_FIELD_SET:
    if (lua_isnil(L, value))
      break;
    lua_rawgeti(L, slot(p, top, SLOT_DELIVER), 1); /* the member name */
    if (f->role == ROLE_FIELD) {
      lua_pushvalue(L, -1);
      if (lua_rawget(L, slot(p, below, SLOT_VALUE)) != LUA_TNIL) {
        lua_pop(L, 2);
        break;
      }
      lua_pop(L, 1);
    }
    lua_pushvalue(L, value);
    lua_rawset(L, slot(p, below, SLOT_VALUE));
    p->frames[below].count++;
    break;
  case ROLE_ITEM:
    /* An item read as nil (a number that is not one) is left out, so the
     * list has no hole that would cut ipairs and # short. */
    if (!lua_isnil(L, value)) {
      p->frames[below].count++;
      lua_pushvalue(L, value);
      lua_rawseti(L, slot(p, below, SLOT_VALUE), p->frames[below].count);
    }
    break;
  case ROLE_ENTRY: {
    int key = slot(p, top, SLOT_DELIVER);
    if (lua_isnil(L, key) || (lua_type(L, key) == LUA_TNUMBER &&
                              lua_tonumber(L, key) != lua_tonumber(L, key)))
      break;
    lua_pushvalue(L, key);
    lua_pushvalue(L, value);
    lua_rawset(L, slot(p, below, SLOT_VALUE));
    break;
  }
  case ROLE_KEY:
    lua_pushvalue(L, value);
    lua_replace(L, slot(p, below, SLOT_DELIVER));
    break;
  case ROLE_VALUE:
    lua_pushvalue(L, value);
    lua_replace(L, slot(p, below, SLOT_VALUE));
    break;
  default: /* ROLE_ROOT */
    lua_settop(L, value);
    p->nframes--;
    return;
  }
  lua_settop(L, slot(p, top, SLOT_DELIVER) - 1);
  p->nframes--;
}


static void on_read_end(void *data, const XML_Char *name)
{
  Parse *p = data;

  (void)name;
  if (p->error != NULL || p->depth == 0)
    return;
  if (p->skip != 0) {
    if (p->skip == p->depth)
      p->skip = 0;
  } else {
    while (p->nframes > 0 && p->frames[p->nframes - 1].depth == p->depth)
      close_frame(p);
  }
  p->depth--;
}


static void on_read_text(void *data, const XML_Char *s, int len)
{
  Parse *p = data;
  Text *t = &p->text[0];

  if (p->error != NULL || p->skip != 0 || p->nframes == 0 || len <= 0 ||
      p->frames[p->nframes - 1].kind != FRAME_SCALAR)
    return;
  text_append(p, t, s, (size_t)len);
}


/* read(text, plan) -> value | nil, message: the root element read with
 * PLAN (see the head of this file). */
static int xml_read(lua_State *L)
{
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  Parse *p;
  int results;

  luaL_argexpected(
      L, lua_istable(L, 2) || lua_isstring(L, 2) || lua_isfunction(L, 2), 2,
      "plan");
  if (check_size(L, len))
    return 2;
  lua_settop(L, 2);
  p = new_parse(L, on_read_start, on_read_end, on_read_text); /* 3 */
  p->base = 4;
  results = run_parse(L, p, text, len);
  if (results == 1) {
    /* The root frame's value, or nil for a document with no root. */
    if (lua_gettop(L) < p->base + SLOT_VALUE)
      lua_pushnil(L);
    else
      lua_settop(L, p->base + SLOT_VALUE);
  }
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
                                        { "read", xml_read },
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
