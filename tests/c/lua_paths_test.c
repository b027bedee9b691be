/* The machine-module allow-list of lua_host_open_with (src/lua/lua_host.h), which no command uses
 * yet (`moonrun test` is to keep busted's own modules with it): a listed module and its
 * sub-modules load from this machine's Lua paths, anything else found there is the error, and
 * package.path and package.cpath are the same afterwards, even when loading fails. Needs
 * Debian's lua-dkjson, lua-penlight and lua-filesystem (lua-busted brings them). Exit 0: passed. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "lua_host.h"

static int failures;

/* Runs chunk, which returns a string; it must contain expected. */
static void check(lua_State *L, const char *what, const char *chunk, const char *expected)
{
    const char *got = "(not a string)";
    if (luaL_dostring(L, chunk) != LUA_OK)
        got = lua_tostring(L, -1);
    else if (lua_type(L, -1) == LUA_TSTRING)
        got = lua_tostring(L, -1);
    bool ok = got && strstr(got, expected);
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) {
        printf("     expected to contain: %s\n     got: %s\n", expected, got ? got : "(null)");
        failures++;
    }
    lua_settop(L, 0);
}

static const char PATHS_KEPT[] =
    "local path, cpath = package.path, package.cpath\n"
    "local ok, err = pcall(require, ...)\n"
    "return tostring(package.path == path and package.cpath == cpath) .. ' ' .. tostring(ok) .. "
    "' ' .. tostring(err)";

int main(void)
{
    static const char *const busted_like[] = {"dkjson", "pl", "lfs", NULL};
    static const char *const without_lfs[] = {"dkjson", "pl", NULL};
    struct lua_host host;
    const struct lua_host_options allow = {.paths = LUA_HOST_LAMBDA_PATHS,
                                           .machine_modules = busted_like};
    if (!lua_host_open_with(&host, ".", &allow)) return 1;
    lua_State *L = host.L;
    check(L, "a listed module loads from the machine", "return require('dkjson').version",
          "dkjson");
    check(L, "a listed name covers its sub-modules", "return type(require('pl.path').join)",
          "function");
    check(L, "the machine's paths are swapped back",
          "return tostring(not package.path:find('/usr/share/lua', 1, true))", "true");
    check(L, "a name is a whole first component", "return select(2, pcall(require, 'dkjsonx'))",
          "module 'dkjsonx' not found");
    lua_host_close(&host);

    const struct lua_host_options partial = {.paths = LUA_HOST_LAMBDA_PATHS,
                                             .machine_modules = without_lfs};
    if (!lua_host_open_with(&host, ".", &partial)) return 1;
    L = host.L;
    check(L, "an unlisted module required by a listed one is the error",
          "return select(2, pcall(require, 'lfs'))", "module 'lfs' is installed on this machine");
    if (luaL_loadstring(L, PATHS_KEPT) != LUA_OK) return 1;
    lua_pushstring(L, "pl.path"); /* pl.path requires lfs, which fails: the paths must come back */
    lua_call(L, 1, 1);
    const char *result = lua_tostring(L, -1);
    bool kept = result && strncmp(result, "true false", 10) == 0 && strstr(result, "LuaFileSystem");
    printf("%s the paths come back when a listed module fails to load\n", kept ? "ok  " : "FAIL");
    if (!kept) {
        printf("     got: %s\n", result ? result : "(null)");
        failures++;
    }
    lua_host_close(&host);

    if (!lua_host_open(&host, ".")) return 1;
    check(host.L, "without a list every machine module is the error",
          "return select(2, pcall(require, 'dkjson'))",
          "module 'dkjson' is installed on this machine");
    lua_host_close(&host);
    return failures ? 1 : 0;
}
