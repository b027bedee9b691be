/* JSON text -> Lua values, straight onto the Lua stack. cJSON keeps every number as a double,
 * which cannot hold integers above 2^53 exactly, so the reader is our own. */
#include "json.h"

#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

#include "json_keys.h"
#include "json_text.h"

struct reader {
    lua_State *L;
    const unsigned char *start, *p, *end;
    int depth;
    int array_marker;         /* stack index of the metatable given to decoded arrays */
    int null_value;           /* stack index of json.null */
    struct buffer *unescaped; /* strings with escapes are rebuilt here, kept per state */
    struct json_keys *keys;   /* object keys without escapes come from here */
    int keys_index;           /* its stack index */
};

static void parse_value(struct reader *r);

static int fail(struct reader *r, const unsigned char *at, const char *what)
{
    int line = 1, column = 1;
    for (const unsigned char *c = r->start; c < at; c++) {
        if (*c == '\n')
            line++, column = 1;
        else
            column++;
    }
    return luaL_error(r->L, "invalid JSON at line %d, column %d (byte %d): %s", line, column,
                      (int)(at - r->start) + 1, what);
}

static void skip_space(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static void expect_word(struct reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        fail(r, r->p, "unexpected character");
    r->p += n;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned read_hex4(struct reader *r)
{
    if (r->end - r->p < 4) fail(r, r->p, "truncated \\u escape");
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(r->p[i]);
        if (d < 0) fail(r, r->p + i, "bad hex digit in \\u escape");
        value = value << 4 | (unsigned)d;
    }
    r->p += 4;
    return value;
}

/* Writes code point cp as UTF-8 at o; returns the end. */
static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* What each one-letter escape stands for (0: not one). */
static const char simple_escapes[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                         ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};

/* Reads the escape at r->p and writes what it stands for at o; returns the end. */
static char *unescape(struct reader *r, char *o)
{
    const unsigned char *at = r->p++; /* at the backslash */
    if (r->p >= r->end) fail(r, at, "unterminated string");
    unsigned char c = *r->p++;
    switch (c) {
    case '"':
        *o++ = '"';
        return o;
    case '\\':
        *o++ = '\\';
        return o;
    case '/':
        *o++ = '/';
        return o;
    case 'b':
        *o++ = '\b';
        return o;
    case 'f':
        *o++ = '\f';
        return o;
    case 'n':
        *o++ = '\n';
        return o;
    case 'r':
        *o++ = '\r';
        return o;
    case 't':
        *o++ = '\t';
        return o;
    case 'u':
        break;
    default:
        fail(r, at, "unknown escape in string");
    }
    unsigned cp = read_hex4(r);
    if (cp >= 0xDC00 && cp <= 0xDFFF) fail(r, at, "unpaired low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u')
            fail(r, at, "unpaired high surrogate in \\u escape");
        r->p += 2;
        unsigned low = read_hex4(r);
        if (low < 0xDC00 || low > 0xDFFF) fail(r, at, "unpaired high surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    return put_utf8(o, cp);
}

/* Scans the plain run of a string (no escapes, valid UTF-8) and returns where it stops. */
static const unsigned char *scan_plain(struct reader *r, const unsigned char *p)
{
    for (;;) {
        p += plain_ascii_run(p, r->end);
        if (p >= r->end) fail(r, r->end, "unterminated string");
        if (*p == '"' || *p == '\\') return p;
        if (*p < 0x20) fail(r, p, "control character in string (escape it)");
        size_t n = utf8_sequence_length(p, r->end);
        if (!n) fail(r, p, "invalid UTF-8 in string");
        p += n;
    }
}

/* Pushes the string at r->p; an object key (is_key) goes through the key cache. */
static void parse_string(struct reader *r, bool is_key)
{
    const unsigned char *run = ++r->p; /* past the opening quote */
    const unsigned char *stop = scan_plain(r, run);
    if (*stop == '"') { /* the common case: no escapes, one copy */
        if (is_key)
            json_keys_push_string(r->L, r->keys, r->keys_index, (const char *)run,
                                  (size_t)(stop - run));
        else
            lua_pushlstring(r->L, (const char *)run, (size_t)(stop - run));
        r->p = stop + 1;
        return;
    }
    /* Unescaped text is never longer than its escaped form, so what is left of the input
     * (plus the slack copy_plain_run needs) bounds it: one reservation, then plain stores. */
    if (!buffer_reserve(r->unescaped, (size_t)(r->end - run) + JSON_COPY_SLACK))
        luaL_error(r->L, "not enough memory for a JSON string");
    char *start = r->unescaped->data, *o = start;
    memcpy(o, run, (size_t)(stop - run));
    o += stop - run;
    r->p = stop;
    while (*r->p != '"') {
        if (*r->p == '\\') {
            /* The one-letter escapes inline (every quote of JSON inside JSON is one); \u and
             * the errors in unescape. */
            char plain = r->end - r->p > 1 ? simple_escapes[r->p[1]] : 0;
            if (plain)
                *o++ = plain, r->p += 2;
            else
                o = unescape(r, o);
        } else if (*r->p < 0x20) {
            fail(r, r->p, "control character in string (escape it)");
        } else {
            size_t n = utf8_sequence_length(r->p, r->end);
            if (!n) fail(r, r->p, "invalid UTF-8 in string");
            memcpy(o, r->p, n);
            o += n, r->p += n;
        }
        size_t plain = copy_plain_run(o, r->p, r->end);
        o += plain, r->p += plain;
        if (r->p >= r->end) fail(r, r->end, "unterminated string");
    }
    r->p++;
    lua_pushlstring(r->L, start, (size_t)(o - start));
}

static void parse_number(struct reader *r)
{
    const unsigned char *begin = r->p, *p = r->p;
    bool negative = *p == '-';
    if (negative) p++;
    if (p >= r->end || *p < '0' || *p > '9') fail(r, begin, "bad number");
    if (*p == '0' && p + 1 < r->end && p[1] >= '0' && p[1] <= '9')
        fail(r, begin, "bad number (leading zero)");
    uint64_t magnitude = 0;
    bool overflow = false;
    for (; p < r->end && *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (magnitude > (UINT64_MAX - digit) / 10)
            overflow = true;
        else
            magnitude = magnitude * 10 + digit;
    }
    bool is_float = false;
    if (p < r->end && *p == '.') {
        is_float = true;
        if (++p >= r->end || *p < '0' || *p > '9')
            fail(r, begin, "bad number (digit expected after '.')");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        if (++p < r->end && (*p == '+' || *p == '-')) p++;
        if (p >= r->end || *p < '0' || *p > '9')
            fail(r, begin, "bad number (digit expected in exponent)");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    r->p = p;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (!is_float && !overflow && magnitude <= limit) {
        lua_pushinteger(r->L, negative ? (lua_Integer)(0 - magnitude) : (lua_Integer)magnitude);
        return;
    }
    /* Lua's own conversion: exact, and independent of the C locale's decimal point. */
    size_t n = (size_t)(p - begin);
    char small[128];
    const char *text = small;
    if (n < sizeof small) {
        memcpy(small, begin, n);
        small[n] = '\0';
    } else {
        text = lua_pushlstring(r->L, (const char *)begin, n);
    }
    if (lua_stringtonumber(r->L, text) == 0) fail(r, begin, "bad number");
    if (text != small) lua_remove(r->L, -2);
}

static void enter(struct reader *r)
{
    if (++r->depth > JSON_MAX_DEPTH)
        fail(r, r->p, "nesting deeper than " JSON_MAX_DEPTH_TEXT " levels");
    luaL_checkstack(r->L, 4, "JSON nesting");
}

/* Members are first staged on the Lua stack, up to this many, so that the table is created
 * with its final size: growing it one insertion at a time rehashes it again and again. */
#define STAGED_MAX 32

/* Creates the table for the count values staged above it and moves them in. */
static void flush_array(struct reader *r, int staged, lua_Integer first_index, bool create)
{
    lua_State *L = r->L;
    if (create) {
        lua_createtable(L, staged, 0);
        lua_pushvalue(L, r->array_marker);
        lua_setmetatable(L, -2);
        lua_insert(L, -staged - 1);
    }
    for (int i = staged - 1; i >= 0; i--)
        lua_rawseti(L, -i - 2, first_index + i);
}

static void parse_array(struct reader *r)
{
    enter(r);
    luaL_checkstack(r->L, STAGED_MAX + 4, "JSON nesting");
    r->p++;
    skip_space(r);
    int staged = 0;
    bool created = false;
    lua_Integer flushed = 0;
    if (r->p < r->end && *r->p == ']') goto done;
    for (;;) {
        parse_value(r);
        if (++staged == STAGED_MAX) {
            flush_array(r, staged, flushed + 1, !created);
            created = true, flushed += staged, staged = 0;
        }
        skip_space(r);
        if (r->p >= r->end) fail(r, r->p, "unterminated array");
        if (*r->p == ']') break;
        if (*r->p != ',') fail(r, r->p, "expected ',' or ']' in array");
        r->p++;
    }
done:
    if (staged || !created) flush_array(r, staged, flushed + 1, !created);
    r->p++;
    r->depth--;
}

/* Creates the table for the key/value pairs staged above it (if needed) and moves them in,
 * in document order, so that a repeated key keeps its last value. */
static void flush_object(struct reader *r, int pairs, bool create)
{
    lua_State *L = r->L;
    if (create) {
        lua_createtable(L, 0, pairs);
        lua_insert(L, -2 * pairs - 1);
    }
    int table = lua_gettop(L) - 2 * pairs;
    for (int i = 0; i < pairs; i++) {
        lua_pushvalue(L, table + 1 + 2 * i);
        lua_pushvalue(L, table + 2 + 2 * i);
        lua_rawset(L, table);
    }
    lua_settop(L, table);
}

static void parse_object(struct reader *r)
{
    enter(r);
    luaL_checkstack(r->L, 2 * STAGED_MAX + 4, "JSON nesting");
    r->p++;
    skip_space(r);
    int staged = 0;
    bool created = false;
    if (r->p < r->end && *r->p == '}') goto done;
    for (;;) {
        skip_space(r);
        if (r->p >= r->end || *r->p != '"') fail(r, r->p, "expected a string key in object");
        parse_string(r, true);
        skip_space(r);
        if (r->p >= r->end || *r->p != ':') fail(r, r->p, "expected ':' after object key");
        r->p++;
        parse_value(r);
        if (++staged == STAGED_MAX) {
            flush_object(r, staged, !created);
            created = true, staged = 0;
        }
        skip_space(r);
        if (r->p >= r->end) fail(r, r->p, "unterminated object");
        if (*r->p == '}') break;
        if (*r->p != ',') fail(r, r->p, "expected ',' or '}' in object");
        r->p++;
    }
done:
    if (staged || !created) flush_object(r, staged, !created);
    r->p++;
    r->depth--;
}

static void parse_value(struct reader *r)
{
    skip_space(r);
    if (r->p >= r->end) fail(r, r->p, "unexpected end of input");
    switch (*r->p) {
    case '{':
        parse_object(r);
        break;
    case '[':
        parse_array(r);
        break;
    case '"':
        parse_string(r, false);
        break;
    case 't':
        expect_word(r, "true"), lua_pushboolean(r->L, 1);
        break;
    case 'f':
        expect_word(r, "false"), lua_pushboolean(r->L, 0);
        break;
    case 'n':
        expect_word(r, "null"), lua_pushvalue(r->L, r->null_value);
        break;
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            parse_number(r);
        else
            fail(r, r->p, "unexpected character");
    }
}

void json_decode(lua_State *L, const char *text, size_t len)
{
    static const char unescaped_key = 0;
    luaL_checkstack(L, 8, "JSON decode");
    struct json_keys *keys = json_keys_push(L);
    json_push_array_marker(L);
    json_push_null(L);
    struct reader r = {.L = L,
                       .keys = keys,
                       .keys_index = lua_gettop(L) - 2,
                       .unescaped = json_scratch_buffer(L, &unescaped_key),
                       .start = (const unsigned char *)text,
                       .p = (const unsigned char *)text,
                       .end = (const unsigned char *)text + len,
                       .array_marker = lua_gettop(L) - 1,
                       .null_value = lua_gettop(L)};
    parse_value(&r);
    skip_space(&r);
    if (r.p != r.end) fail(&r, r.p, "unexpected data after the JSON value");
    buffer_shrink(r.unescaped, 64 * 1024);
    lua_replace(L, -4);
    lua_pop(L, 2);
}
