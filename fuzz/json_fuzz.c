/* Fuzzes the JSON bridge: arbitrary bytes are decoded into a fresh Lua state; what decodes is
 * written back, read again and written again. A failure to decode must be a Lua error with a
 * message; whatever decodes must write, read back as the same values, and write to the same
 * text (up to the order of object keys, which follows Lua's table order). The one exception is
 * by design: a number beyond a double's range reads as +-math.huge, which JSON cannot write.
 * Each input also goes through the bridge built without the SSE2/NEON string scan
 * (json_decode_scalar, json_encode_scalar: see fuzz/CMakeLists.txt): both builds must read it
 * to the same values or refuse it with the same message, and write the decoded value and the
 * input itself (as a Lua string) to the same bytes or refuse them alike. */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "json.h"

/* The bridge without the vector scan (MOONRUN_JSON_SCALAR renames it, see json.h). */
void json_decode_scalar(lua_State *L, const char *text, size_t len);
void json_encode_scalar(lua_State *L, int idx, struct buffer *out, const char *root);

static struct buffer first_text, second_text, vector_text, scalar_text;

static void broken(const char *what, const struct buffer *a, const struct buffer *b)
{
    fprintf(stderr, "json_fuzz: %s\n", what);
    if (a) fprintf(stderr, "  first:  %.*s\n", (int)(a->len > 2000 ? 2000 : a->len), a->data);
    if (b) fprintf(stderr, "  second: %.*s\n", (int)(b->len > 2000 ? 2000 : b->len), b->data);
    abort();
}

/* Whether the values at a and b are the same JSON value: same types, integers and floats kept
 * apart, the same keys, array marks alike. */
static bool same_value(lua_State *L, int a, int b, int depth)
{
    a = lua_absindex(L, a), b = lua_absindex(L, b);
    if (lua_type(L, a) != lua_type(L, b)) return false;
    switch (lua_type(L, a)) {
    case LUA_TNUMBER:
        return lua_isinteger(L, a) == lua_isinteger(L, b) && lua_rawequal(L, a, b);
    case LUA_TTABLE:
        break;
    default:
        return lua_rawequal(L, a, b); /* strings, booleans, json.null */
    }
    if (depth > JSON_MAX_DEPTH + 1) return false;
    luaL_checkstack(L, 6, "comparing decoded values");
    bool marked_a = lua_getmetatable(L, a), marked_b = lua_getmetatable(L, b);
    bool same_marks = marked_a == marked_b && (!marked_a || lua_rawequal(L, -1, -2));
    lua_pop(L, (int)marked_a + (int)marked_b);
    if (!same_marks || lua_rawlen(L, a) != lua_rawlen(L, b)) return false;
    lua_Integer count_a = 0, count_b = 0;
    lua_pushnil(L);
    while (lua_next(L, a)) {
        count_a++;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        bool same = same_value(L, -1, -2, depth + 1);
        lua_pop(L, 2);
        if (!same) {
            lua_pop(L, 1);
            return false;
        }
    }
    lua_pushnil(L);
    while (lua_next(L, b))
        count_b++, lua_pop(L, 1);
    return count_a == count_b;
}

static int round_trip(lua_State *L)
{
    const char *text = lua_touserdata(L, 1);
    size_t len = (size_t)lua_tointeger(L, 2);
    json_decode(L, text, len); /* a Lua error here is bad input refused: fine */
    int decoded = lua_gettop(L);

    lua_pushcfunction(L, round_trip); /* marks the point past which errors are bugs */
    lua_setfield(L, LUA_REGISTRYINDEX, "json_fuzz.decoded");
    buffer_clear(&first_text);
    json_encode(L, decoded, &first_text, "value");
    json_decode(L, first_text.data, first_text.len);
    if (!same_value(L, decoded, -1, 0)) broken("decode(encode(v)) is not v", &first_text, NULL);
    buffer_clear(&second_text);
    json_encode(L, -1, &second_text, "value");
    if (first_text.len != second_text.len)
        broken("encode(decode(encode(v))) differs from encode(v)", &first_text, &second_text);
    if (memcmp(first_text.data, second_text.data, first_text.len) != 0) {
        /* Only the order of keys may differ: the second text must hold the same values. */
        json_decode(L, second_text.data, second_text.len);
        if (!same_value(L, decoded, -1, 0))
            broken("encode(decode(encode(v))) holds other values than encode(v)", &first_text,
                   &second_text);
    }
    return 0;
}

static int decode_vector(lua_State *L)
{
    json_decode(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
    return 1;
}

static int decode_scalar(lua_State *L)
{
    json_decode_scalar(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
    return 1;
}

static int encode_vector(lua_State *L)
{
    buffer_clear(&vector_text);
    json_encode(L, 1, &vector_text, "value");
    return 0;
}

static int encode_scalar(lua_State *L)
{
    buffer_clear(&scalar_text);
    json_encode_scalar(L, 1, &scalar_text, "value");
    return 0;
}

/* Calls step(value at idx) protected, leaving nothing; returns the status, and the error
 * message (copied into message) when it failed. */
static int encode_with(lua_State *L, lua_CFunction step, int idx, char *message, size_t size)
{
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, step);
    lua_pushvalue(L, idx);
    int status = lua_pcall(L, 1, 0, 0);
    if (status != LUA_OK) {
        if (lua_type(L, -1) != LUA_TSTRING)
            broken("an encode error that is not a message", NULL, NULL);
        snprintf(message, size, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return status;
}

/* The value at idx written by both builds: the same bytes, or the same refusal. */
static void same_encoding(lua_State *L, int idx)
{
    char vector_error[512] = "", scalar_error[512] = "";
    int vector = encode_with(L, encode_vector, idx, vector_error, sizeof vector_error);
    int scalar = encode_with(L, encode_scalar, idx, scalar_error, sizeof scalar_error);
    if (vector != scalar || strcmp(vector_error, scalar_error) != 0) {
        fprintf(stderr, "json_fuzz: vector: %s\n  scalar: %s\n", vector_error, scalar_error);
        broken("the vector and scalar writers disagree on refusing a value", NULL, NULL);
    }
    if (vector == LUA_OK && (vector_text.len != scalar_text.len ||
                             memcmp(vector_text.data, scalar_text.data, vector_text.len) != 0))
        broken("the vector and scalar writers wrote different text", &vector_text, &scalar_text);
}

/* Reads the input with both builds and writes what they read (and the input itself, as a
 * string) with both. */
static void vector_against_scalar(lua_State *L, const uint8_t *data, size_t size)
{
    int statuses[2];
    lua_CFunction steps[2] = {decode_vector, decode_scalar};
    for (int i = 0; i < 2; i++) {
        lua_pushcfunction(L, steps[i]);
        lua_pushlightuserdata(L, (void *)data);
        lua_pushinteger(L, (lua_Integer)size);
        statuses[i] = lua_pcall(L, 2, 1, 0);
    }
    if (statuses[0] != statuses[1])
        broken("one of the vector and scalar readers refused the input", NULL, NULL);
    if (statuses[0] != LUA_OK) {
        if (lua_type(L, -1) != LUA_TSTRING || lua_type(L, -2) != LUA_TSTRING)
            broken("a decode error that is not a message", NULL, NULL);
        if (strcmp(lua_tostring(L, -1), lua_tostring(L, -2)) != 0) {
            fprintf(stderr, "json_fuzz: vector: %s\n  scalar: %s\n", lua_tostring(L, -2),
                    lua_tostring(L, -1));
            broken("the vector and scalar readers refuse the input with different messages", NULL,
                   NULL);
        }
    } else {
        if (!same_value(L, -1, -2, 0))
            broken("the vector and scalar readers read different values", NULL, NULL);
        same_encoding(L, -2);
    }
    lua_pop(L, 2);
    lua_pushlstring(L, (const char *)data, size);
    same_encoding(L, -1);
    lua_pop(L, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = luaL_newstate();
    if (!L) return 0;
    vector_against_scalar(L, data, size);
    lua_pushcfunction(L, round_trip);
    lua_pushlightuserdata(L, (void *)data);
    lua_pushinteger(L, (lua_Integer)size);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        if (lua_type(L, -1) != LUA_TSTRING) broken("an error that is not a message", NULL, NULL);
        /* Once the input has decoded, writing and reading it back must not fail. */
        const char *message = lua_tostring(L, -1);
        bool huge_number = strstr(message, "cannot write inf (math.huge) as JSON") != NULL;
        if (lua_getfield(L, LUA_REGISTRYINDEX, "json_fuzz.decoded") != LUA_TNIL && !huge_number) {
            fprintf(stderr, "json_fuzz: the round trip raised: %s\n", lua_tostring(L, -2));
            broken("a decoded value does not write and read back", &first_text, NULL);
        }
    }
    lua_close(L);
    return 0;
}
