/* The `moonrun.json` module: encode, decode, null, array (open_lines: lua_json_lines.c). */
#include <lauxlib.h>

#include "json.h"
#include "modules.h"

static const char null_key = 0, array_marker_key = 0, encode_output_key = 0;

static int null_tostring(lua_State *L)
{
    lua_pushliteral(L, "json.null");
    return 1;
}

void json_push_null(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &null_key) != LUA_TNIL) return;
    lua_pop(L, 1);
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "json.null");
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &null_key);
}

void json_push_array_marker(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &array_marker_key) != LUA_TNIL) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_marker_key);
}

static int scratch_gc(lua_State *L)
{
    buffer_free(lua_touserdata(L, 1));
    return 0;
}

struct buffer *json_scratch_buffer(lua_State *L, const void *key)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TNIL) {
        lua_pop(L, 1);
        struct buffer *b = lua_newuserdatauv(L, sizeof *b, 0);
        *b = (struct buffer){0};
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, scratch_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, key);
    }
    struct buffer *b = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return b;
}

static int json_encode_lua(lua_State *L)
{
    luaL_checkany(L, 1);
    struct buffer *out = json_scratch_buffer(L, &encode_output_key);
    buffer_clear(out);
    json_encode(L, 1, out, "value");
    lua_pushlstring(L, out->data ? out->data : "", out->len);
    buffer_shrink(out, 64 * 1024);
    return 1;
}

static int json_decode_lua(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_decode(L, text, len);
    return 1;
}

static int json_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    json_push_array_marker(L);
    lua_setmetatable(L, 1);
    return 1;
}

static int json_is_array(lua_State *L)
{
    bool marked = false;
    if (lua_getmetatable(L, 1)) {
        json_push_array_marker(L);
        marked = lua_rawequal(L, -1, -2);
    }
    lua_pushboolean(L, marked);
    return 1;
}

int luaopen_moonrun_json(lua_State *L)
{
    static const luaL_Reg functions[] = {{"encode", json_encode_lua},
                                         {"decode", json_decode_lua},
                                         {"array", json_array},
                                         {"is_array", json_is_array},
                                         {NULL, NULL}};
    luaL_newlib(L, functions);
    json_push_null(L);
    lua_setfield(L, -2, "null");
    json_lines_open(L);
    lua_setfield(L, -2, "open_lines");
    return 1;
}
