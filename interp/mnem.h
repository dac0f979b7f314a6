/*
 * mnem.h: declarations shared by the C host's files.
 *
 * Each binding file exports one opener, registered by main.c in
 * package.preload under the name given beside it, so Lua code reaches the
 * C side only through `require`.
 */
#ifndef MNEM_H
#define MNEM_H

#include <stddef.h>

#include <lua.h>

#define MNEM_VERSION "0.1.0"

/* One file of the embedded standard library or of the compacted AWS models. */
struct mnem_embedded_file {
  const char *path; /* relative to stdlib/, or "models/NAME.json" */
  const unsigned char *data;
  size_t size;
};

/* Generated at build time (build/gen/embedded.c), sorted by path. */
extern const struct mnem_embedded_file mnem_embedded_files[];
extern const size_t mnem_embedded_count;

const struct mnem_embedded_file *mnem_embedded_find(const char *path);

int luaopen_mnem_embed(lua_State *L);  /* mnem._embed: searcher, files */
int luaopen_mnem_sys(lua_State *L);    /* mnem._sys: clock, signals, fs */
int luaopen_mnem_proc(lua_State *L);   /* mnem._proc: child processes */
int luaopen_mnem_curl(lua_State *L);   /* mnem._curl: HTTP transport */
int luaopen_mnem_sigv4(lua_State *L);  /* mnem._sigv4: request signing */
int luaopen_mnem_xml(lua_State *L);    /* mnem._xml: expat parser */
int luaopen_mnem_pg(lua_State *L);     /* mnem._pg: libpq binding */
int luaopen_mnem_server(lua_State *L); /* mnem._server: loopback HTTP */
int luaopen_mnem_shape(lua_State *L);  /* mnem._shape: JSON to shapes */
int luaopen_cjson(lua_State *L);       /* cjson: lua-cjson, linked in */

/*
 * Raises when the table at idx has a key that is not in keys (a NULL-ended
 * list), naming fname, the key and the closest valid key.  [-0, +0]
 */
void mnem_check_option_keys(lua_State *L, int idx, const char *fname,
                            const char *const keys[]);

/* Set by the SIGINT/SIGTERM handler; 0 while no signal has arrived. */
extern volatile int mnem_signal_received;

#endif
