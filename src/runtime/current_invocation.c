/* The invocation a Lua state is serving now, so that library code deep below the handler (the
 * AWS layer's trace header, log lines' request id) finds it without the handler passing its
 * context down. Kept per state, not in the process environment: with several workers, each
 * with its own state, an environment variable cannot say which invocation is whose. */
#include "current_invocation.h"

#include <lauxlib.h>

#include "log.h"
#include "modules.h"

static const char current_key = 0;
static const char finish_hooks_key = 0;

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

void current_invocation_push(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &current_key);
}

static void push_finish_hooks(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &finish_hooks_key) != LUA_TNIL) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &finish_hooks_key);
}

void current_invocation_on_finish(lua_State *L)
{
    push_finish_hooks(L);
    lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= count; i++) {
        lua_rawgeti(L, -1, i);
        int same = lua_rawequal(L, -1, -3);
        lua_pop(L, 1);
        if (same) return (void)lua_pop(L, 2);
    }
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, count + 1);
    lua_pop(L, 2);
}

void current_invocation_finish(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &finish_hooks_key) == LUA_TTABLE) {
        int hooks = lua_gettop(L);
        for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, hooks); i++) {
            lua_rawgeti(L, hooks, i);
            if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
                const char *message = lua_tostring(L, -1);
                log_error("a function registered with invocation.on_finish failed: %s",
                          message ? message : "(error without a message)");
                lua_pop(L, 1);
            }
        }
    }
    lua_pop(L, 1);
    current_invocation_clear(L);
}

/* on_finish(fn): fn() runs at the end of every invocation, after the handler returned or failed
 * and before the result is posted. Registering the same function again changes nothing. */
static int on_finish(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    current_invocation_on_finish(L);
    return 0;
}

/* current(): the context table of the invocation being served, or nil between invocations. */
static int current(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &current_key);
    return 1;
}

int luaopen_moonrun_invocation(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"current", current}, {"on_finish", on_finish}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
