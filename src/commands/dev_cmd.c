/* `moonrun dev [TEMPLATE] [OPTIONS]`: the service of a SAM template on this machine (HTTP front,
 * embedded SQS, triggers, hot reload). The work is Lua's (lua/moonrun/dev.lua), over
 * moonrun.event_loop, moonrun.httpd and moonrun.process; this file only starts it. */
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "commands.h"
#include "log.h"
#include "lua_host.h"

/* In a protected call: [1] argc, [2] argv. Returns dev.main(args, {exe, tty, interactive})'s exit
 * status. */
static int run_dev(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonrun.dev");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    /* the children (functions, pollers) are this same executable */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return luaL_error(L, "cannot find moonrun's own executable (/proc/self/exe)");
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, exe, (size_t)n);
    lua_setfield(L, -2, "exe");
    lua_pushboolean(L, isatty(STDOUT_FILENO));
    lua_setfield(L, -2, "tty");
    lua_pushboolean(L,
                    isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)); /* someone to ask (--reset) */
    lua_setfield(L, -2, "interactive");
    lua_call(L, 2, 1);
    return 1;
}

int dev_cmd_main(int argc, char **argv)
{
    struct lua_host host;
    /* moonrun's own code, not a handler's: lua's paths (dev's functions are child processes,
     * each a runtime loop with a handler's paths). */
    static const struct lua_host_options script = {.paths = LUA_HOST_SCRIPT_PATHS};
    if (!lua_host_open_with(&host, ".", &script)) return 1;
    lua_State *L = host.L;
    lua_pushcfunction(L, lua_host_traceback);
    lua_pushcfunction(L, run_dev);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = 1;
    if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        log_error("dev: %s", message ? message : "(an error that is not a string)");
    } else {
        status = (int)luaL_optinteger(L, -1, 0);
    }
    fflush(stdout);
    lua_host_close(&host);
    return status;
}
