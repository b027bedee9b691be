/* Lua values -> JSON text in a reusable buffer. Every refusal names where in the value the
 * offending part sits (result.items[3]), since a handler's result can be large. */
#include "json.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"

struct path_step {
    const char *key; /* NULL for an array index */
    size_t key_len;
    lua_Integer index;
};

struct writer {
    lua_State *L;
    struct buffer *out;
    const char *root;
    int depth;
    int array_marker, null_value; /* stack indexes of the sentinels */
    const void *open_tables[JSON_MAX_DEPTH + 1];
    struct path_step path[JSON_MAX_DEPTH + 1];
};

static void write_value(struct writer *w, int idx);

static bool is_identifier(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* Raises "<problem> at result.a[2]["b c"]". */
static int fail(struct writer *w, const char *problem)
{
    luaL_Buffer b;
    luaL_buffinit(w->L, &b);
    luaL_addstring(&b, problem);
    luaL_addstring(&b, " at ");
    luaL_addstring(&b, w->root);
    for (int i = 1; i <= w->depth; i++) {
        const struct path_step *step = &w->path[i];
        char piece[96];
        if (!step->key)
            snprintf(piece, sizeof piece, "[%lld]", (long long)step->index);
        else if (is_identifier(step->key, step->key_len) && step->key_len < 80)
            snprintf(piece, sizeof piece, ".%.*s", (int)step->key_len, step->key);
        else
            snprintf(piece, sizeof piece, "[\"%.*s%s\"]",
                     (int)(step->key_len < 40 ? step->key_len : 40), step->key,
                     step->key_len < 40 ? "" : "...");
        luaL_addstring(&b, piece);
    }
    luaL_pushresult(&b);
    return lua_error(w->L);
}

static void reserve(struct writer *w, size_t n)
{
    if (n > w->out->cap - w->out->len && !buffer_reserve(w->out, n))
        fail(w, "out of memory while writing JSON");
}

static inline void put(struct writer *w, const char *s, size_t n)
{
    reserve(w, n);
    memcpy(w->out->data + w->out->len, s, n);
    w->out->len += n;
}

static void write_integer(struct writer *w, lua_Integer value)
{
    char digits[24];
    char *p = digits + sizeof digits;
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0) *--p = '-';
    put(w, p, (size_t)(digits + sizeof digits - p));
}

static void write_float(struct writer *w, lua_Number value)
{
    if (isnan(value)) fail(w, "cannot write NaN as JSON");
    if (isinf(value)) fail(w, "cannot write inf (math.huge) as JSON");
    /* The shortest of %.15g and %.17g that reads back as the same double. */
    char text[40];
    int n = snprintf(text, sizeof text, "%.15g", value);
    if (strtod(text, NULL) != value) n = snprintf(text, sizeof text, "%.17g", value);
    bool looks_integral = true;
    for (int i = 0; i < n; i++) {
        if (text[i] == ',') text[i] = '.'; /* a locale's decimal comma */
        if (text[i] == '.' || text[i] == 'e') looks_integral = false;
    }
    /* Keep it a float when read back: 1.0 stays 1.0, not the integer 1. */
    if (looks_integral) text[n++] = '.', text[n++] = '0';
    put(w, text, (size_t)n);
}

/* Writes the escape for an ASCII byte that JSON does not allow raw in a string. */
static char *write_escape(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    *o++ = '\\';
    switch (c) {
    case '"':
        *o++ = '"';
        break;
    case '\\':
        *o++ = '\\';
        break;
    case '\n':
        *o++ = 'n';
        break;
    case '\r':
        *o++ = 'r';
        break;
    case '\t':
        *o++ = 't';
        break;
    case '\b':
        *o++ = 'b';
        break;
    case '\f':
        *o++ = 'f';
        break;
    default:
        memcpy(o, "u00", 3);
        o[3] = hex[c >> 4], o[4] = hex[c & 15];
        o += 5;
    }
    return o;
}

static void write_string(struct writer *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    /* Kept true throughout: limit - o >= (end - p) + 1 + JSON_COPY_SLACK, room for the rest as
     * plain bytes, the closing quote and copy_plain_run's slack. Only an escape (up to 6 bytes
     * for 1) can break it, so only an escape checks it. */
    reserve(w, n + 2 + JSON_COPY_SLACK);
    char *o = w->out->data + w->out->len, *limit = w->out->data + w->out->cap;
    *o++ = '"';
    for (;;) {
        size_t run = copy_plain_run(o, p, end);
        o += run, p += run;
        if (p == end) break;
        if (*p >= 0x80) {
            size_t len = utf8_sequence_length(p, end);
            if (!len) {
                w->out->len = (size_t)(o - w->out->data);
                fail(w, "invalid UTF-8 in string (JSON text must be UTF-8)");
            }
            memcpy(o, p, len);
            o += len, p += len;
            continue;
        }
        if ((size_t)(limit - o) < (size_t)(end - p) + 6 + JSON_COPY_SLACK) {
            w->out->len = (size_t)(o - w->out->data);
            reserve(w, (size_t)(end - p) + 6 + JSON_COPY_SLACK);
            o = w->out->data + w->out->len, limit = w->out->data + w->out->cap;
        }
        unsigned char c = *p++;
        if (c == '"' || c == '\\') { /* the common escapes (JSON inside JSON), written inline */
            o[0] = '\\', o[1] = (char)c;
            o += 2;
        } else {
            o = write_escape(o, c);
        }
    }
    *o++ = '"';
    w->out->len = (size_t)(o - w->out->data);
}

static void push_step(struct writer *w, int idx)
{
    lua_State *L = w->L;
    if (w->depth >= JSON_MAX_DEPTH) fail(w, "nesting deeper than " JSON_MAX_DEPTH_TEXT " levels");
    const void *table = lua_topointer(L, idx);
    for (int i = 0; i < w->depth; i++)
        if (w->open_tables[i] == table) fail(w, "cycle (a table that contains itself)");
    w->open_tables[w->depth++] = table;
    w->path[w->depth] = (struct path_step){0};
    luaL_checkstack(L, 4, "JSON nesting");
}

/* An array when marked by json.array or when the keys are exactly 1..n (n > 0). */
static bool classify_array(struct writer *w, int idx, lua_Integer *length)
{
    lua_State *L = w->L;
    bool marked = false;
    if (lua_getmetatable(L, idx)) {
        marked = lua_rawequal(L, -1, w->array_marker);
        lua_pop(L, 1);
    }
    /* A table without t[1] is no sequence, so unless marked it is an object: no need for the
     * pass over its keys (most event tables are objects). */
    if (!marked && lua_rawlen(L, idx) == 0) return false;
    lua_Integer count = 0, max = 0;
    bool positive_integers = true;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
        if (positive_integers && lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
            lua_Integer k = lua_tointeger(L, -1);
            if (k > max) max = k;
        } else {
            positive_integers = false;
        }
    }
    *length = max;
    if (marked) {
        if (!positive_integers)
            fail(w, "table marked with json.array has a key that is not an index");
        if (max > count * 4 + 16) fail(w, "array marked with json.array is too sparse to write");
        return true;
    }
    return count > 0 && positive_integers && max == count;
}

static void write_array(struct writer *w, int idx, lua_Integer length)
{
    put(w, "[", 1);
    for (lua_Integer i = 1; i <= length; i++) {
        if (i > 1) put(w, ",", 1);
        w->path[w->depth].index = i;
        lua_rawgeti(w->L, idx, i);
        write_value(w, lua_gettop(w->L));
        lua_pop(w->L, 1);
    }
    put(w, "]", 1);
}

static void write_key(struct writer *w)
{
    lua_State *L = w->L;
    struct path_step *step = &w->path[w->depth];
    if (lua_type(L, -2) == LUA_TSTRING) {
        step->key = lua_tolstring(L, -2, &step->key_len);
        write_string(w, step->key, step->key_len);
    } else if (lua_isinteger(L, -2)) {
        step->key = NULL;
        step->index = lua_tointeger(L, -2);
        put(w, "\"", 1);
        write_integer(w, step->index);
        put(w, "\"", 1);
    } else {
        w->depth--; /* the path names the table that holds the key */
        lua_pushfstring(L, "cannot use a %s as an object key (keys must be strings or integers)",
                        luaL_typename(L, -2));
        fail(w, lua_tostring(L, -1));
    }
    put(w, ":", 1);
}

static void write_object(struct writer *w, int idx)
{
    lua_State *L = w->L;
    bool first = true;
    put(w, "{", 1);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (!first) put(w, ",", 1);
        first = false;
        write_key(w);
        write_value(w, lua_gettop(L));
        lua_pop(L, 1);
    }
    put(w, "}", 1);
}

static void write_table(struct writer *w, int idx)
{
    push_step(w, idx);
    lua_Integer length;
    if (classify_array(w, idx, &length))
        write_array(w, idx, length);
    else
        write_object(w, idx);
    w->depth--;
}

static void write_value(struct writer *w, int idx)
{
    lua_State *L = w->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        put(w, "null", 4);
        break;
    case LUA_TBOOLEAN:
        lua_toboolean(L, idx) ? put(w, "true", 4) : put(w, "false", 5);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            write_integer(w, lua_tointeger(L, idx));
        else
            write_float(w, lua_tonumber(L, idx));
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        write_string(w, s, n);
        break;
    }
    case LUA_TTABLE:
        write_table(w, idx);
        break;
    case LUA_TUSERDATA:
        if (lua_rawequal(L, idx, w->null_value)) {
            put(w, "null", 4);
            break;
        }
        /* fall through */
    default:
        lua_pushfstring(L, "cannot write a %s as JSON", luaL_typename(L, idx));
        fail(w, lua_tostring(L, -1));
    }
}

/* The writer's path arrays are large, so one is kept per Lua state (in the registry) instead
 * of being allocated per call; writing never runs Lua code, so it is never used twice at once. */
static struct writer *shared_writer(lua_State *L)
{
    static const char registry_key = 0;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &registry_key) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        lua_newuserdatauv(L, sizeof(struct writer), 0);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &registry_key);
    }
    struct writer *w = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return w;
}

void json_encode(lua_State *L, int idx, struct buffer *out, const char *root)
{
    idx = lua_absindex(L, idx);
    struct writer *w = shared_writer(L);
    json_push_array_marker(L);
    json_push_null(L);
    w->L = L;
    w->out = out;
    w->root = root;
    w->depth = 0;
    w->array_marker = lua_gettop(L) - 1;
    w->null_value = lua_gettop(L);
    write_value(w, idx);
    lua_pop(L, 2);
}
