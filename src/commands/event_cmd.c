/* `moonrun event TYPE [OPTIONS]`: prints a sample event as an AWS service would send it
 * (lua/moonrun/sample_events.lua makes it and parses the options, so a new event type needs no
 * rebuild), indented on a terminal and compact otherwise, to pipe into `moonrun invoke --event -`.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "json_pretty.h"
#include "log.h"
#include "lua_host.h"

/* In a protected call: [1] argc, [2] argv. Returns what sample_events.command returns: a kind
 * ("event", "help" or "usage") and its text. */
static int run_command(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonrun.sample_events");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "command");
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_call(L, 1, 2);
    return 2;
}

/* Prints the outcome of a successful call and returns the exit status. */
static int report(const char *kind, const char *text, size_t len)
{
    if (strcmp(kind, "help") == 0) {
        fwrite(text, 1, len, stdout);
        return 0;
    }
    if (strcmp(kind, "usage") == 0) {
        log_error("%s", text);
        return 2;
    }
    if (isatty(STDOUT_FILENO)) {
        json_pretty_print(stdout, text, len);
    } else {
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
    }
    return 0;
}

int event_cmd_main(int argc, char **argv)
{
    struct lua_host host;
    /* moonrun's own code, not a handler's: lua's paths (dev's functions are child processes,
     * each a runtime loop with a handler's paths). */
    static const struct lua_host_options script = {.paths = LUA_HOST_SCRIPT_PATHS};
    if (!lua_host_open_with(&host, ".", &script)) return 1;
    lua_State *L = host.L;
    lua_pushcfunction(L, run_command);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status;
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        /* Not a bad command line but a fault: a missing library, a bug in a generator (whose
         * message sample_events.command has given a traceback). */
        const char *message = lua_tostring(L, -1);
        log_error("event: %s", message ? message : "(an error that is not a string)");
        status = 1;
    } else {
        size_t len = 0;
        const char *kind = lua_tostring(L, -2), *text = lua_tolstring(L, -1, &len);
        if (kind && text) {
            status = report(kind, text, len);
        } else {
            log_error("event: moonrun.sample_events.command returned no result");
            status = 1;
        }
    }
    fflush(stdout);
    lua_host_close(&host);
    return status;
}
