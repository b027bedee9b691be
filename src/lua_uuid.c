/* The `moonrun.uuid` module: random (v4) and time-ordered (v7, RFC 9562) identifiers. The
 * random bytes come from the kernel's CSPRNG (getrandom), the source OpenSSL itself seeds from,
 * so no library is loaded for them. */
#include <errno.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "modules.h"

static void random_bytes(lua_State *L, unsigned char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) luaL_error(L, "uuid: the system gave no random bytes: %s", strerror(errno));
        got += (size_t)r;
    }
}

static int push_uuid(lua_State *L, unsigned char b[16], unsigned version)
{
    b[6] = (unsigned char)((b[6] & 0x0F) | version << 4);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* the RFC 9562 variant */
    char text[37];
    snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    lua_pushstring(L, text);
    return 1;
}

static int uuid_v4(lua_State *L)
{
    unsigned char b[16];
    random_bytes(L, b, sizeof b);
    return push_uuid(L, b, 4);
}

/* v7 ids of one process sort in the order they were made, even within one millisecond: the
 * 12 bits after the timestamp are a counter that starts at a random value below 2048 each
 * millisecond and steps by one; when it runs out, the timestamp moves one ms ahead. */
static int uuid_v7(lua_State *L)
{
    static uint64_t last_ms;
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    unsigned char b[16];
    random_bytes(L, b, sizeof b);
    if (now_ms > last_ms) {
        last_ms = now_ms;
        counter = ((unsigned)b[6] << 8 | b[7]) & 0x7FF;
    } else if (++counter > 0xFFF) { /* same (or an earlier) millisecond: keep the order */
        last_ms++;
        counter = 0;
    }
    for (int i = 0; i < 6; i++) b[i] = (unsigned char)(last_ms >> (40 - 8 * i));
    b[6] = (unsigned char)(counter >> 8);
    b[7] = (unsigned char)counter;
    return push_uuid(L, b, 7);
}

int luaopen_moonrun_uuid(lua_State *L)
{
    static const luaL_Reg functions[] = {{"v4", uuid_v4}, {"v7", uuid_v7}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
