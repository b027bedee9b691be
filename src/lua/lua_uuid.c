/* The `moonrun.uuid` module: random (v4) and time-ordered (v7, RFC 9562) identifiers, as
 * lowercase canonical text (8-4-4-4-12). The random bits come from OpenSSL's RAND_bytes. */
#include <lauxlib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "modules.h"

#define UUID_TEXT_LEN 36

static void random_bytes(lua_State *L, unsigned char *out, size_t n)
{
    char err[640];
    if (!crypto_random_bytes(out, n, err, sizeof err)) luaL_error(L, "uuid: %s", err);
}

/* Sets the version nibble and the RFC 9562 variant (binary 10) and pushes the text. */
static int push_uuid(lua_State *L, unsigned char b[16], unsigned version)
{
    b[6] = (unsigned char)((b[6] & 0x0F) | (version << 4));
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    char hex[33], text[UUID_TEXT_LEN + 1];
    crypto_hex(b, 16, hex);
    /* groups of 8, 4, 4, 4 and 12 hex digits */
    memcpy(text, hex, 8);
    text[8] = '-';
    memcpy(text + 9, hex + 8, 4);
    text[13] = '-';
    memcpy(text + 14, hex + 12, 4);
    text[18] = '-';
    memcpy(text + 19, hex + 16, 4);
    text[23] = '-';
    memcpy(text + 24, hex + 20, 12);
    lua_pushlstring(L, text, UUID_TEXT_LEN);
    return 1;
}

static int uuid_v4(lua_State *L)
{
    unsigned char b[16];
    random_bytes(L, b, sizeof b);
    return push_uuid(L, b, 4);
}

static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* v7 ids made by this process sort in the order they were made (RFC 9562, 6.2 method 1): the
 * 12 bits of rand_a are a counter, seeded at random each new millisecond below 0x800 (so at
 * least 2048 ids fit in one ms) and bumped by one per id. When it would overflow, or when the
 * clock steps back, the timestamp is carried forward instead, so the order still holds. The
 * state is the process's, shared by every worker thread under a lock, so ids made by different
 * workers sort in the order they were made too. */
static int uuid_v7(lua_State *L)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t last_ms;
    static unsigned counter;
    unsigned char b[16];
    random_bytes(L, b, sizeof b);
    pthread_mutex_lock(&lock);
    uint64_t now = unix_ms();
    if (now > last_ms) {
        last_ms = now;
        counter = ((unsigned)b[6] << 8 | b[7]) & 0x7FF;
    } else if (counter < 0xFFF) {
        counter++;
    } else {
        last_ms++; /* the counter ran out in this millisecond: borrow the next one */
        counter = ((unsigned)b[6] << 8 | b[7]) & 0x7FF;
    }
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(last_ms >> (40 - 8 * i)); /* 48-bit big-endian ms */
    b[6] = (unsigned char)(counter >> 8);
    b[7] = (unsigned char)counter;
    pthread_mutex_unlock(&lock);
    return push_uuid(L, b, 7);
}

/* is_valid(s): whether s is a UUID in canonical text form (any version, either case). */
static int uuid_is_valid(lua_State *L)
{
    size_t len;
    const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
    bool valid = s && len == UUID_TEXT_LEN;
    for (size_t i = 0; valid && i < len; i++) {
        bool dash_place = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        bool is_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        valid = dash_place ? c == '-' : is_hex;
    }
    lua_pushboolean(L, valid);
    return 1;
}

int luaopen_moonrun_uuid(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"v4", uuid_v4}, {"v7", uuid_v7}, {"is_valid", uuid_is_valid}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
