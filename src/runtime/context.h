/* The `context` argument: Lambda-Runtime-* headers of the invocation plus the function's
 * settings from the environment, with the field names Python's Lambda users know. */
#ifndef MOONRUN_CONTEXT_H
#define MOONRUN_CONTEXT_H

#include <lua.h>
#include <stddef.h>

struct header_view {
    const char *name, *value;
    size_t name_len, value_len;
};

/* Pushes a new context table. */
void context_push(lua_State *L, const struct header_view *headers, size_t count);

/* The function's settings (name, version, memory, log group) are read from the environment
 * once per state; after this, the next context reads them again (moonrun.testing changes the
 * environment from one function to the next within one state). */
void context_forget_settings(lua_State *L);

#endif
