/* The invocation a Lua state is serving now, so that library code deep below the handler (the
 * AWS layer's trace header, log lines' request id) finds it without the handler passing its
 * context down. Kept per state, not in the process environment: with several workers, each
 * with its own state, an environment variable cannot say which invocation is whose. */
#include "current_invocation.h"

#include <lauxlib.h>

#include "modules.h"

static const char current_key = 0;

void current_invocation_set(lua_State *L, int context_index)
{
    lua_pushvalue(L, context_index);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &current_key);
}

void current_invocation_clear(lua_State *L)
{
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &current_key);
}

/* current(): the context table of the invocation being served, or nil between invocations. */
static int current(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &current_key);
    return 1;
}

int luaopen_moonrun_invocation(lua_State *L)
{
    static const luaL_Reg functions[] = {{"current", current}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
