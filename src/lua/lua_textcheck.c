/* The `moonrun.textcheck` module: where a string stops being text that SQS (and XML 1.0)
 * accepts: valid UTF-8 of the characters #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
 * #x10000-#x10FFFF. In C because every message body is checked before it is sent, and bodies
 * run to a megabyte: a Lua pattern costs hundreds of instructions per byte. */
#include <lauxlib.h>

#include "json_text.h"
#include "modules.h"

static unsigned long decode(const unsigned char *p, size_t len)
{
    if (len == 2) return (p[0] & 0x1Fu) << 6 | (p[1] & 0x3Fu);
    if (len == 3) return (p[0] & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);
    return (p[0] & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu);
}

/* find_invalid(s): nil when every character is accepted; otherwise the 1-based byte position of
 * the first one that is not, and its code point (nil when the bytes there are not UTF-8). */
static int find_invalid(lua_State *L)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    const unsigned char *p = s, *end = s + n;
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x80) {
            p++;
            continue;
        }
        if (c < 0x80) {
            if (c == 0x9 || c == 0xA || c == 0xD) {
                p++;
                continue;
            }
            lua_pushinteger(L, (lua_Integer)(p - s) + 1);
            lua_pushinteger(L, c);
            return 2;
        }
        size_t len = utf8_sequence_length(p, end);
        if (len == 0) {
            lua_pushinteger(L, (lua_Integer)(p - s) + 1);
            lua_pushnil(L);
            return 2;
        }
        unsigned long code = decode(p, len);
        if (code == 0xFFFE || code == 0xFFFF) { /* surrogates are not well-formed UTF-8 */
            lua_pushinteger(L, (lua_Integer)(p - s) + 1);
            lua_pushinteger(L, (lua_Integer)code);
            return 2;
        }
        p += len;
    }
    lua_pushnil(L);
    return 1;
}

int luaopen_moonrun_textcheck(lua_State *L)
{
    static const luaL_Reg functions[] = {{"find_invalid", find_invalid}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
