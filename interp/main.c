/*
 * main.c: the mnem executable.
 *
 * Creates one Lua state, registers the C bindings in package.preload, and
 * hands the command line to the Lua module `mnem.cli`, which implements every
 * subcommand.  Everything after state creation runs inside one protected call
 * with a traceback handler, so no Lua error escapes to C unprotected.
 *
 * The libcurl and libpq bindings are shared objects (lib/mnem/curl.so and
 * pg.so beside or above the executable) loaded on first `require`:
 * linking those libraries and their thirty-odd dependencies into the
 * executable cost about 6 ms of dynamic loading on every start, which a
 * playbook that never uses HTTP or PostgreSQL should not pay.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "mnem.h"

static const luaL_Reg c_modules[] = { { "mnem._embed", luaopen_mnem_embed },
                                      { "mnem._sys", luaopen_mnem_sys },
                                      { "mnem._proc", luaopen_mnem_proc },
                                      { "mnem._sigv4", luaopen_mnem_sigv4 },
                                      { "mnem._xml", luaopen_mnem_xml },
                                      { "mnem._server", luaopen_mnem_server },
                                      { "mnem._shape", luaopen_mnem_shape },
                                      { "cjson", luaopen_cjson },
                                      { NULL, NULL } };


/* Bindings built as shared objects: module name, file, opener symbol. */
static const struct plugin {
  const char *module;
  const char *file;
  const char *opener;
} plugins[] = { { "mnem._curl", "curl.so", "luaopen_mnem_curl" },
                { "mnem._pg", "pg.so", "luaopen_mnem_pg" },
                { NULL, NULL, NULL } };


/*
 * Writes to buf the folder a plugin is looked for in, the index-th
 * candidate: MNEM_LIBDIR, then lib/mnem beside the executable (the build
 * tree), then ../lib/mnem (an installed PREFIX/bin/mnem).  Returns 0 when
 * there is no such candidate.
 */
static int plugin_dir(int index, char *buf, size_t size)
{
  char exe[PATH_MAX];
  ssize_t n;
  char *slash;
  const char *env = getenv("MNEM_LIBDIR");

  if (env != NULL && *env != '\0') {
    if (index == 0)
      return snprintf(buf, size, "%s", env) < (int)size;
    index--;
  }
  if (index > 1)
    return 0;
  n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return 0;
  exe[n] = '\0';
  slash = strrchr(exe, '/');
  if (slash == NULL)
    return 0;
  *slash = '\0';
  return snprintf(buf, size, index == 0 ? "%s/lib/mnem" : "%s/../lib/mnem",
                  exe) < (int)size;
}


/*
 * The package.preload loader of a plugin: [-0, +1].  Upvalue 1 is the
 * index into plugins[].  Opens the shared object from the first folder
 * that has it and calls its opener.
 */
static int load_plugin(lua_State *L)
{
  const struct plugin *p = &plugins[lua_tointeger(L, lua_upvalueindex(1))];
  char dir[PATH_MAX], path[PATH_MAX];
  luaL_Buffer tried;
  int i;

  luaL_buffinit(L, &tried);
  for (i = 0; plugin_dir(i, dir, sizeof dir); i++) {
    void *handle;
    lua_CFunction opener;

    if (snprintf(path, sizeof path, "%s/%s", dir, p->file) >= (int)sizeof path)
      continue;
    if (access(path, R_OK) != 0) {
      luaL_addstring(&tried, "\n\t");
      luaL_addstring(&tried, path);
      luaL_addstring(&tried, ": not found");
      continue;
    }
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
      luaL_addstring(&tried, "\n\t");
      luaL_addstring(&tried, dlerror());
      continue;
    }
    /* POSIX allows converting dlsym's result to a function pointer. */
    *(void **)(&opener) = dlsym(handle, p->opener);
    if (opener == NULL)
      return luaL_error(L, "%s has no %s", path, p->opener);
    lua_pushcfunction(L, opener);
    lua_pushstring(L, p->module);
    lua_call(L, 1, 1);
    return 1;
  }
  luaL_pushresult(&tried);
  return luaL_error(L,
                    "cannot load %s, the binding %s needs:%s\n"
                    "reinstall mnem (make install) or set MNEM_LIBDIR to the "
                    "folder that has %s",
                    p->file, p->module, lua_tostring(L, -1), p->file);
}


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
  int i;

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (m = c_modules; m->name != NULL; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  for (i = 0; plugins[i].module != NULL; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, load_plugin, 1);
    lua_setfield(L, -2, plugins[i].module);
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
