/* mrtest-broken: a C rock that does not compile (an undeclared name), for the error a user
 * gets when a C dependency fails to build. */
#include <lauxlib.h>
#include <lua.h>

int luaopen_mrtest_broken(lua_State *L)
{
    lua_pushinteger(L, mrtest_undeclared_value);
    return 1;
}
