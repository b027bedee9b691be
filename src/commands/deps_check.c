/* Before a command runs a project's handlers (invoke, repl, test; dev does it in Lua): the
 * dependencies its rockspec declares, installed into lua_modules/ when they changed since the
 * last install. moonrun.deps decides and installs; this file only runs it in a Lua state of
 * its own, closed before the handlers' state opens, and reports its error. */
#include <lauxlib.h>
#include <stdio.h>

#include "commands.h"
#include "log.h"
#include "lua_host.h"

/* In a protected call: [1] the start folder. Returns ok, and the error's message. */
static int run_ensure(lua_State *L)
{
    const char *start = lua_tostring(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonrun.deps");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "ensure");
    lua_createtable(L, 0, 1);
    lua_pushstring(L, start);
    lua_setfield(L, -2, "start");
    lua_call(L, 1, 2);
    if (lua_toboolean(L, -2)) return lua_pushboolean(L, 1), 1;
    lua_getfield(L, -1, "message");
    return 1;
}

bool deps_ensure(const char *command, const char *start)
{
    struct lua_host host;
    static const struct lua_host_options script = {.paths = LUA_HOST_SCRIPT_PATHS};
    if (!lua_host_open_with(&host, ".", &script)) return false;
    lua_State *L = host.L;
    lua_pushcfunction(L, lua_host_traceback);
    lua_pushcfunction(L, run_ensure);
    lua_pushstring(L, start);
    bool ok = false;
    if (lua_pcall(L, 1, 1, 1) != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        log_error("%s: cannot check the project's dependencies: %s", command,
                  message ? message : "(no message)");
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        log_error("%s: the project's dependencies cannot be installed: %s", command,
                  lua_tostring(L, -1));
    } else {
        ok = lua_toboolean(L, -1);
        if (!ok) log_error("%s: the project's dependencies cannot be installed", command);
    }
    lua_host_close(&host);
    return ok;
}
