/* The JSON bridge: JSON text <-> Lua values, written for the invoke path (no intermediate
 * tree, integers kept exact, UTF-8 kept as UTF-8). Both raise Lua errors, so call them from
 * a protected context. */
#ifndef MOONRUN_JSON_H
#define MOONRUN_JSON_H

#include <lua.h>

#include "buffer.h"

/* The fuzz target builds the bridge a second time with MOONRUN_JSON_SCALAR (no vector scan, see
 * json_text.h) and under these other names, to hold the two builds against each other. */
#ifdef MOONRUN_JSON_SCALAR
#define json_decode json_decode_scalar
#define json_encode json_encode_scalar
#endif

/* Nesting deeper than this is refused by both directions, with an error naming the depth. */
#define JSON_MAX_DEPTH 1000
#define JSON_MAX_DEPTH_TEXT "1000"

/* Pushes the value that text holds. */
void json_decode(lua_State *L, const char *text, size_t len);

/* Appends the value at stack index idx to out; root names the value in error messages
 * ("result.items[3]"). */
void json_encode(lua_State *L, int idx, struct buffer *out, const char *root);

/* The sentinels: json.null, and the metatable that marks a table as a JSON array. */
void json_push_null(lua_State *L);
void json_push_array_marker(lua_State *L);

/* A buffer kept in the registry under key (created on first use, freed with the state): for
 * work space that must survive a Lua error unwinding past the C code that uses it. */
struct buffer *json_scratch_buffer(lua_State *L, const void *key);

/* Pushes json.open_lines (lua_json_lines.c), registering its metatable. */
int json_lines_open(lua_State *L);

#endif
