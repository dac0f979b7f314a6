/*
 * options.c: strict option tables for the C bindings.
 *
 * Every binding that takes a table of named options rejects an unknown
 * key, naming the function, the key and the closest valid key, so a typo
 * such as `timout` is reported at once instead of being ignored.
 */
#include <string.h>

#include <lauxlib.h>

#include "mnem.h"


/* Levenshtein distance of two short strings; (size_t)-1 when either is 63
 * bytes or longer, which no option name is. */
static size_t edit_distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b), i, j;
  size_t row[64];

  if (lb >= 63 || la >= 63)
    return (size_t)-1;
  for (j = 0; j <= lb; j++)
    row[j] = j;
  for (i = 1; i <= la; i++) {
    size_t prev = row[0], tmp;
    row[0] = i;
    for (j = 1; j <= lb; j++) {
      size_t best = prev + (a[i - 1] == b[j - 1] ? 0 : 1);
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      tmp = row[j];
      row[j] = best;
      prev = tmp;
    }
  }
  return row[lb];
}


void mnem_check_option_keys(lua_State *L, int idx, const char *fname,
                            const char *const keys[])
{
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const char *key, *best = NULL;
    size_t best_d = 3, i;
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: option keys must be strings, got a %s key", fname,
                 luaL_typename(L, -1));
    key = lua_tostring(L, -1);
    for (i = 0; keys[i] != NULL; i++)
      if (strcmp(keys[i], key) == 0)
        break;
    if (keys[i] == NULL) {
      /* Distances only for an unknown key: every request checks its
       * options, and a valid key needs no suggestion. */
      for (i = 0; keys[i] != NULL; i++) {
        size_t d = edit_distance(key, keys[i]);
        if (d < best_d) {
          best_d = d;
          best = keys[i];
        }
      }
      if (best != NULL)
        luaL_error(L, "%s: unknown option '%s' (did you mean '%s'?)", fname,
                   key, best);
      luaL_error(L, "%s: unknown option '%s'", fname, key);
    }
  }
}
