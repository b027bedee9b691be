/* mrtest-yaml: a C rock linked with libyaml, a system library that the provided.al2023 base
 * image does not have: it builds and loads here, and packaging must say it cannot run there. */
#include <lauxlib.h>
#include <lua.h>
#include <yaml.h>

static int version(lua_State *L)
{
    lua_pushstring(L, yaml_get_version_string());
    return 1;
}

int luaopen_mrtest_yaml(lua_State *L)
{
    static const luaL_Reg functions[] = {{"version", version}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
