/* mrtest-cmod: a C rock for the tests, only the Lua C API: add(a, b) and where it was built
 * (the compiler's target, so a test can tell an x86_64 build from an aarch64 one). */
#include <lauxlib.h>
#include <lua.h>

static int add(lua_State *L)
{
    lua_pushinteger(L, luaL_checkinteger(L, 1) + luaL_checkinteger(L, 2));
    return 1;
}

int luaopen_mrtest_cmod(lua_State *L)
{
    static const luaL_Reg functions[] = {{"add", add}, {NULL, NULL}};
    luaL_newlib(L, functions);
#if defined(__aarch64__)
    lua_pushliteral(L, "aarch64");
#elif defined(__x86_64__)
    lua_pushliteral(L, "x86_64");
#else
    lua_pushliteral(L, "other");
#endif
    lua_setfield(L, -2, "arch");
    return 1;
}
