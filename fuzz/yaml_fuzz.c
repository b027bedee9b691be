/* Fuzzes moonrun.yaml's decoder: arbitrary bytes are decoded in a fresh Lua state. Bad input
 * must be refused with a message "fuzz.yaml:LINE:COLUMN: ..." (or "fuzz.yaml: out of memory"),
 * never a crash or a leak; whatever decodes is walked to its end, so that a value the decoder
 * built wrong (or an alias expansion past the limit) shows. */
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"

static void broken(const char *what, const char *message)
{
    fprintf(stderr, "yaml_fuzz: %s%s%s\n", what, message ? ": " : "", message ? message : "");
    abort();
}

/* The number of values in v, aliases expanded; stops counting past limit. */
static long walk(lua_State *L, int v, long limit, int depth)
{
    v = lua_absindex(L, v);
    if (lua_type(L, v) != LUA_TTABLE || limit <= 0) return 1;
    if (depth > 250) broken("a value nested deeper than the decoder's limit", NULL);
    luaL_checkstack(L, 4, "walking a decoded value");
    long count = 1;
    lua_pushnil(L);
    while (lua_next(L, v) && count < limit) {
        if (lua_type(L, -2) != LUA_TSTRING && lua_type(L, -2) != LUA_TNUMBER)
            broken("a key that is neither a string nor an index", NULL);
        count += walk(L, -1, limit - count, depth + 1);
        lua_pop(L, 1);
    }
    lua_settop(L, v);
    return count;
}

static int decode(lua_State *L)
{
    luaL_requiref(L, "moonrun.yaml", luaopen_moonrun_yaml, 0);
    lua_getfield(L, -1, "decode");
    lua_pushlstring(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
    lua_pushliteral(L, "fuzz.yaml");
    lua_call(L, 2, 1);
    /* the decoder's own limit is a million nodes: a walk must never see more */
    if (walk(L, -1, 1100000, 0) > 1000000 + 1) broken("more nodes than the decoder's limit", NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = luaL_newstate();
    if (!L) return 0;
    luaL_requiref(L, "moonrun.json", luaopen_moonrun_json, 0);
    lua_pop(L, 1);
    lua_pushcfunction(L, decode);
    lua_pushlightuserdata(L, (void *)data);
    lua_pushinteger(L, (lua_Integer)size);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        if (lua_type(L, -1) != LUA_TSTRING) broken("an error that is not a message", NULL);
        const char *message = lua_tostring(L, -1);
        int line, column;
        bool placed =
            sscanf(message, "fuzz.yaml:%d:%d: ", &line, &column) == 2 && line > 0 && column > 0;
        if (!placed && strcmp(message, "fuzz.yaml: out of memory") != 0 &&
            !strstr(message, "not enough memory"))
            broken("an error without its line and column", message);
    }
    lua_close(L);
    return 0;
}
