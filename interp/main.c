/*
 * main.c: the mnem executable.
 *
 * Creates one Lua state, registers the C bindings in package.preload, and
 * hands the command line to the Lua module `mnem.cli`, which implements every
 * subcommand.  Everything after state creation runs inside one protected call
 * with a traceback handler, so no Lua error escapes to C unprotected.
 */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "mnem.h"

static const luaL_Reg c_modules[] = { { "mnem._embed", luaopen_mnem_embed },
                                      { "mnem._sys", luaopen_mnem_sys },
                                      { "mnem._proc", luaopen_mnem_proc },
                                      { "mnem._curl", luaopen_mnem_curl },
                                      { "mnem._sigv4", luaopen_mnem_sigv4 },
                                      { "mnem._xml", luaopen_mnem_xml },
                                      { "mnem._pg", luaopen_mnem_pg },
                                      { "mnem._server", luaopen_mnem_server },
                                      { "cjson", luaopen_cjson },
                                      { NULL, NULL } };


/* Message handler: [-1, +1] replaces the error with message + traceback. */
static int traceback(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);

  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}


static void register_c_modules(lua_State *L)
{
  const luaL_Reg *m;

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (m = c_modules; m->name != NULL; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}


/*
 * Protected main: [-0, +1] with argc and argv as upvalue-free arguments.
 * Returns the exit status chosen by mnem.cli.main.
 */
static int pmain(lua_State *L)
{
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int i;

  luaL_checkversion(L);
  luaL_openlibs(L);
  register_c_modules(L);

  /* Install the embedded-stdlib searcher and clear the host's search
   * paths, so modules come from the binary, the playbook's folder or
   * MNEM_PATH, never from whatever Lua files the machine happens to have. */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mnem._embed");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "install");
  lua_call(L, 0, 0);
  lua_pop(L, 1);

  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mnem.cli");
  if (lua_pcall(L, 1, 1, -3) != LUA_OK)
    return lua_error(L);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  if (lua_pcall(L, 1, 1, -4) != LUA_OK)
    return lua_error(L);
  return 1;
}


int main(int argc, char **argv)
{
  lua_State *L = luaL_newstate();
  int status, code;

  if (L == NULL) {
    fputs("mnem: cannot create the Lua state: out of memory\n", stderr);
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "mnem: internal error: %s\n", msg ? msg : "(no message)");
    code = 1;
  } else {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  }
  lua_close(L);
  return code;
}
