/* curl.c: not written yet; registers an empty module so the host links. */
#include <lauxlib.h>

#include "mnem.h"

int luaopen_mnem_curl(lua_State *L)
{
  lua_newtable(L);
  return 1;
}
