/* Fuzzes how moonrun.aws reads an answer (lua/moonrun/aws.lua, through M._parse_answer, the
 * code client:call runs on every response). The input is split into a response:
 *
 *   bytes 0-1   the status, big-endian, modulo 1000 (curl reports any three digits)
 *   lines (\n)  "name: value" headers up to an empty line, names lowercased and repeats
 *               joined with ", ", as moonrun.http gives them
 *   the rest    the body
 *
 * The answer must give a result table, or nil and an error value with a string code (not
 * empty), a string message, the status and a boolean retryable, whose tostring works; any
 * other Lua error, or a crash, is a bug. Lua's own lines feed libFuzzer's coverage through a
 * line hook, so the fuzzer is guided by the Lua code it reaches, not only by the C under it. */
#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_target.h"

static const char checker[] =
    "local aws = require 'moonrun.aws'\n"
    "return function(status, headers, body)\n"
    "  local result, err = aws._parse_answer('SendMessage', status, headers, body)\n"
    "  if result ~= nil then\n"
    "    assert(err == nil, 'a result and an error at once')\n"
    "    assert(type(result) == 'table', 'a result that is not a table')\n"
    "    assert(type(result.ResponseMetadata) == 'table', 'a result without ResponseMetadata')\n"
    "    assert(status >= 200 and status < 300, 'a result for status ' .. status)\n"
    "    return\n"
    "  end\n"
    "  assert(aws.is_error(err), 'nil without an error value')\n"
    "  assert(type(err.code) == 'string' and err.code ~= '', 'an error without a code')\n"
    "  assert(type(err.message) == 'string', 'an error without a message')\n"
    "  assert(err.status == status, 'an error without the status')\n"
    "  assert(type(err.retryable) == 'boolean', 'retryable is not a boolean')\n"
    "  assert(type(tostring(err)) == 'string')\n"
    "end\n";

static lua_State *target_state;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    target_state = lua_target_open("aws_answer", checker, sizeof checker - 1);
    return 0;
}

/* Adds the header line [line, end) to the table on top, as moonrun.http would. */
static void add_header(lua_State *L, const char *line, const char *end)
{
    const char *colon = memchr(line, ':', (size_t)(end - line));
    if (!colon || colon == line) return; /* curl passes on no such line */
    luaL_Buffer name;
    luaL_buffinit(L, &name);
    for (const char *c = line; c < colon; c++)
        luaL_addchar(&name, (char)tolower((unsigned char)*c));
    luaL_pushresult(&name);
    const char *value = colon + 1;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, value, (size_t)(end - value));
        lua_concat(L, 3);
    } else {
        lua_pop(L, 1);
        lua_pushlstring(L, value, (size_t)(end - value));
    }
    lua_rawset(L, -3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    lua_State *L = target_state;
    lua_target_push_check(L);
    lua_pushinteger(L, (data[0] << 8 | data[1]) % 1000);
    lua_newtable(L);
    const char *at = (const char *)data + 2, *end = (const char *)data + size;
    while (at < end) {
        const char *eol = memchr(at, '\n', (size_t)(end - at));
        if (!eol) eol = end;
        if (eol == at) {
            at++;
            break;
        }
        add_header(L, at, eol);
        at = eol < end ? eol + 1 : end;
    }
    lua_pushlstring(L, at, (size_t)(end - at));
    lua_target_call_check(L, 3);
    return 0;
}
