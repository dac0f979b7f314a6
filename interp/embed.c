/*
 * embed.c: the standard library and AWS models built into the binary.
 *
 * Lua module `mnem._embed`.  The build turns every file under stdlib/ and
 * every compacted AWS model into a byte array (build/gen/embedded.c); this
 * file finds them by path and installs a `require` searcher for them.
 *
 * During development MNEM_STDLIB names a source stdlib/ folder: files found
 * there win over the embedded copies, so edits take effect without a
 * rebuild.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "mnem.h"

static int compare_path(const void *key, const void *element)
{
  const struct mnem_embedded_file *file = element;
  return strcmp(key, file->path);
}


const struct mnem_embedded_file *mnem_embedded_find(const char *path)
{
  return bsearch(path, mnem_embedded_files, mnem_embedded_count,
                 sizeof mnem_embedded_files[0], compare_path);
}


/*
 * Pushes the contents of PATH under MNEM_STDLIB and returns 1, or pushes
 * nothing and returns 0 when the variable is unset or the file is absent.
 */
static int push_override(lua_State *L, const char *path)
{
  const char *dir = getenv("MNEM_STDLIB");
  luaL_Buffer b;
  FILE *f;
  size_t n;

  if (dir == NULL || *dir == '\0')
    return 0;
  lua_pushfstring(L, "%s/%s", dir, path);
  f = fopen(lua_tostring(L, -1), "rb");
  lua_pop(L, 1);
  if (f == NULL)
    return 0;
  luaL_buffinit(L, &b);
  do {
    char *p = luaL_prepbuffer(&b);
    n = fread(p, 1, LUAL_BUFFERSIZE, f);
    luaL_addsize(&b, n);
  } while (n == LUAL_BUFFERSIZE);
  fclose(f);
  luaL_pushresult(&b);
  return 1;
}


/* Pushes the file at PATH; returns 0 and pushes nothing when it is absent. */
static int push_file(lua_State *L, const char *path, const char **origin)
{
  const struct mnem_embedded_file *file;

  if (push_override(L, path)) {
    *origin = "MNEM_STDLIB";
    return 1;
  }
  file = mnem_embedded_find(path);
  if (file == NULL)
    return 0;
  lua_pushlstring(L, (const char *)file->data, file->size);
  *origin = "embedded";
  return 1;
}


/* read(path) -> string | nil */
static int embed_read(lua_State *L)
{
  const char *origin;

  if (!push_file(L, luaL_checkstring(L, 1), &origin))
    lua_pushnil(L);
  return 1;
}


/* list(prefix) -> array of embedded paths starting with prefix */
static int embed_list(lua_State *L)
{
  size_t len, i;
  const char *prefix = luaL_checklstring(L, 1, &len);
  lua_Integer n = 0;

  lua_newtable(L);
  for (i = 0; i < mnem_embedded_count; i++) {
    if (strncmp(mnem_embedded_files[i].path, prefix, len) == 0) {
      lua_pushstring(L, mnem_embedded_files[i].path);
      lua_rawseti(L, -2, ++n);
    }
  }
  return 1;
}


/*
 * Loads the bytecode the build compiled from PATH (the entry
 * "bytecode/PATH") and pushes the chunk and PATH.  Returns 0 with the stack
 * unchanged when MNEM_STDLIB is set (its sources win) or there is no such
 * entry, and the caller then looks for the source.  Raises when this Lua
 * rejects the bytecode, which means the build's lua5.4 and the linked
 * liblua5.4 are different releases.  Loading bytecode skips the parser,
 * which is most of the cost of a module's first require.
 */
static int load_compiled(lua_State *L, const char *path)
{
  const struct mnem_embedded_file *file;
  const char *dir = getenv("MNEM_STDLIB");

  if (dir != NULL && *dir != '\0')
    return 0;
  lua_pushfstring(L, "bytecode/%s", path);
  file = mnem_embedded_find(lua_tostring(L, -1));
  lua_pop(L, 1);
  if (file == NULL)
    return 0;
  if (luaL_loadbufferx(L, (const char *)file->data, file->size, path, "b") !=
      LUA_OK)
    return luaL_error(L,
                      "cannot load the built-in module %s: %s (rebuild mnem "
                      "with the lua5.4 that matches its liblua5.4)",
                      path, lua_tostring(L, -1));
  lua_pushstring(L, path);
  return 1;
}


/*
 * The searcher for `require`: module a.b is the file a/b.lua or
 * a/b/init.lua of the standard library.
 */
static int embed_searcher(lua_State *L)
{
  const char *name = luaL_checkstring(L, 1);
  const char *forms[] = { "%s.lua", "%s/init.lua" };
  const char *origin = NULL;
  const char *path;
  size_t i, size;

  luaL_gsub(L, name, ".", "/");
  for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    path = lua_pushfstring(L, forms[i], lua_tostring(L, 2));
    if (load_compiled(L, path))
      return 2;
    if (push_file(L, path, &origin)) {
      const char *code = lua_tolstring(L, -1, &size);
      const char *chunkname = lua_pushfstring(L, "@stdlib/%s", path);
      if (luaL_loadbufferx(L, code, size, chunkname, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' (%s copy): %s", name,
                          origin, lua_tostring(L, -1));
      lua_pushstring(L, path);
      return 2;
    }
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "\n\tno module '%s' in mnem's standard library", name);
  return 1;
}


/*
 * install(): empties package.path and package.cpath, drops the C-library
 * searchers, and appends the standard-library searcher.  The CLI later
 * puts the playbook's folder and MNEM_PATH on package.path, so the search
 * order is: preload, playbook folder, MNEM_PATH, standard library.
 */
static int embed_install(lua_State *L)
{
  lua_getglobal(L, "package");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_getfield(L, -1, "searchers");
  lua_pushnil(L);
  lua_rawseti(L, -2, 4);
  lua_pushcfunction(L, embed_searcher);
  lua_rawseti(L, -2, 3);
  return 0;
}


int luaopen_mnem_embed(lua_State *L)
{
  static const luaL_Reg functions[] = { { "read", embed_read },
                                        { "list", embed_list },
                                        { "searcher", embed_searcher },
                                        { "install", embed_install },
                                        { NULL, NULL } };

  luaL_newlib(L, functions);
  return 1;
}
