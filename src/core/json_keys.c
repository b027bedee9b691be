/* The JSON reader's key cache (see json_keys.h). A fixed number of slots, each holding one
 * string, so it never grows: a key whose slot another key took is made again, as without the
 * cache. The strings live in the userdata's user values, which keeps them alive and the byte
 * pointers noted in C valid (Lua 5.4 never moves a string). */
#include "json_keys.h"

#include <stdint.h>
#include <string.h>

#define SLOT_BITS 8
#define SLOTS (1u << SLOT_BITS)
/* Lua interns strings up to 40 bytes (LUAI_MAXSHORTLEN): the ones whose making costs a hash
 * of every byte. Longer keys are rare and are made as they come. */
#define MAX_KEY_LEN 40

struct json_keys {
    const char *bytes[SLOTS]; /* the cached string's bytes, NULL: empty */
    size_t len[SLOTS];
};

static const char registry_key = 0;

struct json_keys *json_keys_push(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &registry_key) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        struct json_keys *keys = lua_newuserdatauv(L, sizeof *keys, SLOTS);
        memset(keys, 0, sizeof *keys);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &registry_key);
    }
    return lua_touserdata(L, -1);
}

/* From the length and the first and last eight bytes: cheap, and enough to tell apart the
 * few dozen names an event uses. */
static unsigned slot_of(const char *s, size_t len)
{
    uint64_t head = 0, tail = 0;
    if (len >= 8) {
        memcpy(&head, s, 8);
        memcpy(&tail, s + len - 8, 8);
    } else {
        memcpy(&head, s, len);
    }
    uint64_t h = (head ^ (tail * 0x9E3779B97F4A7C15u) ^ len) * 0xFF51AFD7ED558CCDu;
    return (unsigned)(h >> (64 - SLOT_BITS));
}

void json_keys_push_string(lua_State *L, struct json_keys *keys, int cache, const char *s,
                           size_t len)
{
    if (len > MAX_KEY_LEN) {
        lua_pushlstring(L, s, len);
        return;
    }
    unsigned slot = slot_of(s, len);
    if (keys->bytes[slot] && keys->len[slot] == len && memcmp(keys->bytes[slot], s, len) == 0) {
        lua_getiuservalue(L, cache, (int)slot + 1);
        return;
    }
    keys->bytes[slot] = lua_pushlstring(L, s, len);
    keys->len[slot] = len;
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, cache, (int)slot + 1);
}
