/* The commands written in Lua (`moonrun init`, `moonrun deps`, `moonrun package`): this file
 * only starts the module's main(args, {exe, tty}) in a fresh Lua state and returns its exit status.
 */
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "commands.h"
#include "log.h"
#include "lua_host.h"

struct lua_command {
    const char *module;
    int argc;
    char **argv;
};

/* In a protected call: [1] the command. */
static int run_main(lua_State *L)
{
    const struct lua_command *c = lua_touserdata(L, 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, c->module);
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, c->argc, 0);
    for (int i = 0; i < c->argc; i++) {
        lua_pushstring(L, c->argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return luaL_error(L, "cannot find moonrun's own executable (/proc/self/exe)");
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, exe, (size_t)n);
    lua_setfield(L, -2, "exe");
    lua_pushboolean(L, isatty(STDOUT_FILENO));
    lua_setfield(L, -2, "tty");
    lua_call(L, 2, 1);
    return 1;
}

static int run_lua_command(const char *name, const char *module, int argc, char **argv)
{
    struct lua_host host;
    if (!lua_host_open(&host, ".")) return 1;
    lua_State *L = host.L;
    struct lua_command c = {module, argc, argv};
    lua_pushcfunction(L, lua_host_traceback);
    lua_pushcfunction(L, run_main);
    lua_pushlightuserdata(L, &c);
    int status = 1;
    if (lua_pcall(L, 1, 1, 1) != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        log_error("%s: %s", name, message ? message : "(an error that is not a string)");
    } else {
        status = (int)luaL_optinteger(L, -1, 0);
    }
    fflush(stdout);
    lua_host_close(&host);
    return status;
}

int init_cmd_main(int argc, char **argv)
{
    return run_lua_command("init", "moonrun.project_init", argc, argv);
}

int deps_cmd_main(int argc, char **argv)
{
    return run_lua_command("deps", "moonrun.deps", argc, argv);
}

int package_cmd_main(int argc, char **argv)
{
    return run_lua_command("package", "moonrun.package", argc, argv);
}
