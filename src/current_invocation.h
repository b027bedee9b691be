/* The context of the invocation a Lua state is serving, kept in its registry while the handler
 * runs; Lua reads it with require("moonrun.invocation").current(). */
#ifndef MOONRUN_CURRENT_INVOCATION_H
#define MOONRUN_CURRENT_INVOCATION_H

#include <lua.h>

void current_invocation_set(lua_State *L, int context_index);
void current_invocation_clear(lua_State *L);

#endif
