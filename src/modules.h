/* moonrun's modules written in C, preloaded into every Lua state (require "moonrun.json"). */
#ifndef MOONRUN_MODULES_H
#define MOONRUN_MODULES_H

#include <lua.h>

int luaopen_moonrun_json(lua_State *L);   /* lua_json.c */

#endif
