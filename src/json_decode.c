/* JSON text -> Lua values, straight onto the Lua stack. cJSON keeps every number as a double,
 * which cannot hold integers above 2^53 exactly, so the reader is our own. */
#include "json.h"

#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

#include "utf8_check.h"

struct reader {
    lua_State *L;
    const unsigned char *start, *p, *end;
    int depth;
    int array_marker; /* stack index of the metatable given to decoded arrays */
    int null_value;   /* stack index of json.null */
};

static void parse_value(struct reader *r);

static int fail(struct reader *r, const unsigned char *at, const char *what)
{
    int line = 1, column = 1;
    for (const unsigned char *c = r->start; c < at; c++) {
        if (*c == '\n') line++, column = 1;
        else column++;
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

static void add_utf8(luaL_Buffer *b, unsigned cp)
{
    char out[4];
    int n;
    if (cp < 0x80) out[0] = (char)cp, n = 1;
    else if (cp < 0x800) out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        out[0] = (char)(0xF0 | cp >> 18), out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    luaL_addlstring(b, out, (size_t)n);
}

static void parse_escape(struct reader *r, luaL_Buffer *b)
{
    const unsigned char *at = r->p++; /* at the backslash */
    if (r->p >= r->end) fail(r, at, "unterminated string");
    unsigned char c = *r->p++;
    switch (c) {
    case '"': luaL_addchar(b, '"'); return;
    case '\\': luaL_addchar(b, '\\'); return;
    case '/': luaL_addchar(b, '/'); return;
    case 'b': luaL_addchar(b, '\b'); return;
    case 'f': luaL_addchar(b, '\f'); return;
    case 'n': luaL_addchar(b, '\n'); return;
    case 'r': luaL_addchar(b, '\r'); return;
    case 't': luaL_addchar(b, '\t'); return;
    case 'u': break;
    default: fail(r, at, "unknown escape in string");
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
    add_utf8(b, cp);
}

/* Scans the plain run of a string (no escapes, valid UTF-8) and returns where it stops. */
static const unsigned char *scan_plain(struct reader *r, const unsigned char *p)
{
    while (p < r->end) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') return p;
        if (c < 0x20) fail(r, p, "control character in string (escape it)");
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_sequence_length(p, r->end);
        if (!n) fail(r, p, "invalid UTF-8 in string");
        p += n;
    }
    fail(r, r->end, "unterminated string");
    return p;
}

static void parse_string(struct reader *r)
{
    const unsigned char *run = ++r->p; /* past the opening quote */
    const unsigned char *stop = scan_plain(r, run);
    if (*stop == '"') { /* the common case: no escapes, one copy */
        lua_pushlstring(r->L, (const char *)run, (size_t)(stop - run));
        r->p = stop + 1;
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(r->L, &b);
    for (;;) {
        luaL_addlstring(&b, (const char *)run, (size_t)(stop - run));
        r->p = stop;
        if (*stop == '"') break;
        parse_escape(r, &b);
        run = r->p;
        stop = scan_plain(r, run);
    }
    r->p++;
    luaL_pushresult(&b);
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
        if (magnitude > (UINT64_MAX - digit) / 10) overflow = true;
        else magnitude = magnitude * 10 + digit;
    }
    bool is_float = false;
    if (p < r->end && *p == '.') {
        is_float = true;
        if (++p >= r->end || *p < '0' || *p > '9') fail(r, begin, "bad number (digit expected after '.')");
        while (p < r->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        if (++p < r->end && (*p == '+' || *p == '-')) p++;
        if (p >= r->end || *p < '0' || *p > '9') fail(r, begin, "bad number (digit expected in exponent)");
        while (p < r->end && *p >= '0' && *p <= '9') p++;
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

static void parse_array(struct reader *r)
{
    enter(r);
    r->p++;
    lua_createtable(r->L, 4, 0);
    lua_pushvalue(r->L, r->array_marker);
    lua_setmetatable(r->L, -2);
    skip_space(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        r->depth--;
        return;
    }
    for (lua_Integer i = 1;; i++) {
        parse_value(r);
        lua_rawseti(r->L, -2, i);
        skip_space(r);
        if (r->p >= r->end) fail(r, r->p, "unterminated array");
        if (*r->p == ']') break;
        if (*r->p != ',') fail(r, r->p, "expected ',' or ']' in array");
        r->p++;
    }
    r->p++;
    r->depth--;
}

static void parse_object(struct reader *r)
{
    enter(r);
    r->p++;
    lua_createtable(r->L, 0, 4);
    skip_space(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        r->depth--;
        return;
    }
    for (;;) {
        skip_space(r);
        if (r->p >= r->end || *r->p != '"') fail(r, r->p, "expected a string key in object");
        parse_string(r);
        skip_space(r);
        if (r->p >= r->end || *r->p != ':') fail(r, r->p, "expected ':' after object key");
        r->p++;
        parse_value(r);
        lua_rawset(r->L, -3);
        skip_space(r);
        if (r->p >= r->end) fail(r, r->p, "unterminated object");
        if (*r->p == '}') break;
        if (*r->p != ',') fail(r, r->p, "expected ',' or '}' in object");
        r->p++;
    }
    r->p++;
    r->depth--;
}

static void parse_value(struct reader *r)
{
    skip_space(r);
    if (r->p >= r->end) fail(r, r->p, "unexpected end of input");
    switch (*r->p) {
    case '{': parse_object(r); break;
    case '[': parse_array(r); break;
    case '"': parse_string(r); break;
    case 't': expect_word(r, "true"), lua_pushboolean(r->L, 1); break;
    case 'f': expect_word(r, "false"), lua_pushboolean(r->L, 0); break;
    case 'n': expect_word(r, "null"), lua_pushvalue(r->L, r->null_value); break;
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) parse_number(r);
        else fail(r, r->p, "unexpected character");
    }
}

void json_decode(lua_State *L, const char *text, size_t len)
{
    luaL_checkstack(L, 8, "JSON decode");
    json_push_array_marker(L);
    json_push_null(L);
    struct reader r = {.L = L,
                       .start = (const unsigned char *)text,
                       .p = (const unsigned char *)text,
                       .end = (const unsigned char *)text + len,
                       .array_marker = lua_gettop(L) - 1,
                       .null_value = lua_gettop(L)};
    parse_value(&r);
    skip_space(&r);
    if (r.p != r.end) fail(&r, r.p, "unexpected data after the JSON value");
    lua_replace(L, -3);
    lua_pop(L, 1);
}
