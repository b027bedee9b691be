/* The JSON reader's cache of object keys: the field names every event repeats ("messageId",
 * "ApproximateReceiveCount") are found by their bytes in a small fixed table instead of being
 * hashed and interned by Lua again at each decode. */
#ifndef MOONRUN_JSON_KEYS_H
#define MOONRUN_JSON_KEYS_H

#include <lua.h>
#include <stddef.h>

struct json_keys;

/* Pushes the state's cache (a userdata made on first use, freed with the state) and returns
 * it; it stays usable while it is on the stack. */
struct json_keys *json_keys_push(lua_State *L);

/* Pushes the Lua string of the len bytes at s, from the cache at stack index cache when it is
 * there, else made and remembered (replacing whatever had its slot). */
void json_keys_push_string(lua_State *L, struct json_keys *keys, int cache, const char *s,
                           size_t len);

#endif
