/* The `moonrun.local_invoke` module: what moonrun.testing needs from the C handler host so that
 * a spec's invocation is the one Lambda, `moonrun invoke` and `moonrun dev` make (the same
 * handler loading, JSON round trip, context, deadline and error JSON), run in the spec's own
 * Lua state instead of a separate one.
 *
 *   fn | nil, error_json, error_type = local_invoke.load(spec, task_root)
 *   ok, json, error_type = local_invoke.run(fn, event_json, timeout_ms)
 *   local_invoke.setenv(name, value | nil)   -- the function's environment, for os.getenv */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "handler.h"
#include "invocation.h"
#include "local_function.h"
#include "modules.h"

/* Returns the error's type and JSON after pushing nil, or the function. */
static int l_load(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    const char *task_root = luaL_checkstring(L, 2);
    struct handler h;
    struct buffer error_json = {0};
    struct error_report report = {0};
    lua_settop(L, 2);
    if (!handler_load(L, spec, task_root, &h, &error_json, &report)) {
        lua_settop(L, 2);
        lua_pushnil(L);
        lua_pushlstring(L, error_json.data ? error_json.data : "", error_json.len);
        lua_pushstring(L, report.type);
        buffer_free(&error_json);
        return 3;
    }
    buffer_free(&error_json);
    lua_settop(L, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h.function_ref);
    handler_release(L, &h);
    return 1;
}

static int l_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    size_t event_len;
    const char *event = luaL_checklstring(L, 2, &event_len);
    lua_Integer timeout_ms = luaL_checkinteger(L, 3);
    luaL_argcheck(L, timeout_ms > 0 && timeout_ms <= 900000, 3, "the timeout is 1 ms to 900 s");
    /* invocation_run clears this frame's stack: the function and the event are kept apart */
    lua_pushvalue(L, 1);
    int function_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 2);
    int event_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    struct local_headers headers;
    local_invocation_headers(&headers, timeout_ms);
    struct buffer out = {0};
    struct error_report report = {0};
    bool ok = invocation_run(L, function_ref, event, event_len, headers.list, LOCAL_HEADER_COUNT,
                             &out, &report);
    luaL_unref(L, LUA_REGISTRYINDEX, function_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, event_ref);
    lua_settop(L, 0);
    lua_pushboolean(L, ok);
    lua_pushlstring(L, out.data ? out.data : "", out.len);
    buffer_free(&out);
    if (ok)
        lua_pushnil(L);
    else
        lua_pushstring(L, report.type);
    return 3;
}

static int l_setenv(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_argcheck(L, *name && !strchr(name, '='), 1, "an environment variable's name, without '='");
    const char *value = luaL_optstring(L, 2, NULL);
    int failed = value ? setenv(name, value, 1) : unsetenv(name);
    if (failed) return luaL_error(L, "cannot set the environment variable %s", name);
    context_forget_settings(L); /* the next context reads the function's name and memory again */
    return 0;
}

int luaopen_moonrun_local_invoke(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"load", l_load}, {"run", l_run}, {"setenv", l_setenv}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
