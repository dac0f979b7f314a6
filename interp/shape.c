/*
 * shape.c: converting decoded JSON to the values AWS shapes type.
 *
 * Lua module `mnem._shape`.  convert(value, plan) walks VALUE, fresh from
 * cjson.decode, converts its tables in place as PLAN directs, and returns the
 * converted value.  The JSON codec (stdlib/aws/protocol/json.lua) builds
 * one plan per shape from the service model.  A plan is one of:
 *
 *   false                   the value passes unchanged (documents)
 *   "scalar"                the value passes unchanged unless it is a
 *                           table (strings, booleans)
 *   "integer" / "float"     a number becomes a Lua integer when whole / a
 *                           float
 *   a function              called with the value, returns the converted
 *                           value (timestamps, blobs)
 *   { 1, fields }           a structure: fields[wire name] = { member
 *                           name, plan }; other keys are dropped
 *   { 2, plan }             a list of values of that plan
 *   { 3, plan }             a map whose values have that plan
 *
 * JSON null (cjson.null, a NULL light userdata) is dropped everywhere.  A
 * value of the wrong JSON type converts as the Lua codec always did: a
 * scalar where a structure, list or map belongs becomes nil, and an object
 * where a list belongs an empty list.  A list or object where a scalar
 * plan ("scalar", "integer", "float") belongs becomes nil, so no table with
 * cjson.null inside reaches a playbook as a string or number.  Walking the
 * tables in C saves the Lua interpreter's overhead on every field of a large
 * response (ECS tasks, log events).
 */
#include <lauxlib.h>

#include "mnem.h"

#define PLAN_STRUCTURE 1
#define PLAN_LIST 2
#define PLAN_MAP 3

/* Deeper than any AWS shape nests; cjson stops at 1000 levels anyway. */
#define MAX_DEPTH 200

static int is_null(lua_State *L, int idx)
{
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA &&
         lua_touserdata(L, idx) == NULL;
}


static void convert(lua_State *L, int depth);


/* [-0, +0] converts in place the structure at V with the fields at F. */
static void convert_structure(lua_State *L, int v, int f, int depth)
{
  int moved, n_moved = 0, i;

  /* Members whose wire name differs from their name are added after the
   * traversal, because lua_next allows assigning only to existing keys. */
  lua_pushnil(L);
  moved = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, v) != 0) { /* key, raw */
    int field_type = LUA_TNIL;
    if (!is_null(L, -1)) {
      lua_pushvalue(L, -2);
      field_type = lua_rawget(L, f); /* key, raw, field */
      if (field_type != LUA_TTABLE)
        lua_pop(L, 1);
    }
    if (field_type != LUA_TTABLE) {
      lua_pop(L, 1); /* key */
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, v);
      continue;
    }
    lua_rawgeti(L, -1, 1); /* key, raw, field, member */
    lua_pushvalue(L, -3);
    lua_rawgeti(L, -3, 2); /* key, raw, field, member, raw, plan */
    convert(L, depth + 1); /* key, raw, field, member, converted */
    if (lua_rawequal(L, -2, -5)) {
      lua_rawset(L, v); /* key, raw, field */
      lua_pop(L, 2);
      continue;
    }
    if (lua_isnil(L, moved)) {
      lua_newtable(L);
      lua_replace(L, moved);
    }
    lua_rawseti(L, moved, ++n_moved); /* key, raw, field, member */
    lua_rawseti(L, moved, ++n_moved); /* key, raw, field */
    lua_pop(L, 2);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, v);
  }
  for (i = 1; i < n_moved; i += 2) {
    lua_rawgeti(L, moved, i + 1); /* member */
    lua_rawgeti(L, moved, i);     /* converted */
    lua_rawset(L, v);
  }
  lua_pop(L, 1); /* moved */
}


/* [-0, +0] converts in place the list at V, items planned by P. */
static void convert_list(lua_State *L, int v, int p, int depth)
{
  lua_Integer n = (lua_Integer)lua_rawlen(L, v), kept = 0, i;

  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, v, i);
    if (is_null(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, p);
    convert(L, depth + 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    lua_rawseti(L, v, ++kept);
  }
  for (i = kept + 1; i <= n; i++) {
    lua_pushnil(L);
    lua_rawseti(L, v, i);
  }
}


/* [-0, +0] converts in place the values of the map at V, planned by P. */
static void convert_map(lua_State *L, int v, int p, int depth)
{
  lua_pushnil(L);
  while (lua_next(L, v) != 0) { /* key, item */
    if (is_null(L, -1)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, v);
      continue;
    }
    lua_pushvalue(L, p);
    convert(L, depth + 1); /* key, converted */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, v);
  }
}


/*
 * [-2, +1] replaces the value and plan at the top of the stack with the
 * converted value.
 */
static void convert(lua_State *L, int depth)
{
  int v = lua_gettop(L) - 1, p = v + 1, kind;

  if (depth > MAX_DEPTH)
    luaL_error(L, "shape.convert: value nested deeper than %d levels",
               MAX_DEPTH);
  luaL_checkstack(L, 12, "shape.convert");
  switch (lua_type(L, p)) {
  case LUA_TFUNCTION:
    lua_insert(L, v);
    lua_call(L, 1, 1);
    return;
  case LUA_TSTRING:
    if (lua_type(L, v) == LUA_TTABLE) {
      lua_pop(L, 2);
      lua_pushnil(L);
      return;
    }
    /* A number where a "scalar" (string, boolean) belongs stays as is. */
    if (lua_type(L, v) == LUA_TNUMBER && lua_tostring(L, p)[0] != 's') {
      if (lua_tostring(L, p)[0] == 'i') {
        lua_Integer whole;
        int exact;
        whole = lua_tointegerx(L, v, &exact);
        if (exact) {
          lua_pushinteger(L, whole);
          lua_replace(L, v);
        }
      } else {
        lua_pushnumber(L, lua_tonumber(L, v));
        lua_replace(L, v);
      }
    }
    lua_pop(L, 1);
    return;
  case LUA_TTABLE:
    break;
  default:
    lua_pop(L, 1);
    return;
  }
  if (lua_type(L, v) != LUA_TTABLE) {
    lua_pop(L, 2);
    lua_pushnil(L);
    return;
  }
  lua_rawgeti(L, p, 1);
  kind = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_rawgeti(L, p, 2); /* value, plan, inner */
  switch (kind) {
  case PLAN_STRUCTURE:
    convert_structure(L, v, lua_gettop(L), depth);
    break;
  case PLAN_LIST:
    lua_rawgeti(L, v, 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushnil(L);
      if (lua_next(L, v) != 0) {
        /* an object where a list belongs */
        lua_pop(L, 5);
        lua_newtable(L);
        return;
      }
    } else {
      lua_pop(L, 1);
      convert_list(L, v, lua_gettop(L), depth);
    }
    break;
  case PLAN_MAP:
    convert_map(L, v, lua_gettop(L), depth);
    break;
  default:
    luaL_error(L, "shape.convert: invalid plan kind %d", kind);
  }
  lua_pop(L, 2); /* inner, plan */
}


/* convert(value, plan) -> the converted value */
static int shape_convert(lua_State *L)
{
  luaL_checkany(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  convert(L, 0);
  return 1;
}


int luaopen_mnem_shape(lua_State *L)
{
  static const luaL_Reg functions[] = { { "convert", shape_convert },
                                        { NULL, NULL } };

  luaL_newlib(L, functions);
  return 1;
}
