/* package.path, package.cpath and the machine-module searcher of a new Lua state
 * (lua_paths.c); lua_host.c calls it, the rest of moonrun goes through lua_host_open_with. */
#ifndef MOONRUN_LUA_PATHS_H
#define MOONRUN_LUA_PATHS_H

#include <lua.h>

#include "lua_host.h"

/* Where a layer's Lua files are on Lambda (layers are unpacked in /opt). */
#define LUA_PATHS_LAYER_DIR "/opt/lua"

/* Sets the paths for task_root (a real path) as options ask (NULL: a handler's). Needs the
 * package library open; may raise a Lua error (memory). */
void lua_paths_set(lua_State *L, const char *task_root, const struct lua_host_options *options);

#endif
