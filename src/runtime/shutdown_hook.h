/* The handler module's shutdown function (M.shutdown): Lambda sends SIGTERM before it ends a
 * sandbox only when an extension is registered, so moonrun registers an internal one for a
 * module that has the function, then runs it, under a time limit, when SIGTERM comes. */
#ifndef MOONRUN_SHUTDOWN_HOOK_H
#define MOONRUN_SHUTDOWN_HOOK_H

#include <lauxlib.h> /* LUA_NOREF */
#include <lua.h>
#include <stdbool.h>

#include "handler.h"
#include "http_client.h"

/* Lambda gives a runtime with an internal extension 500 ms to exit after SIGTERM; the rest is
 * left for closing the state and exiting. Counted from the SIGTERM: stopping a running handler
 * and posting its error come out of it. The function always gets the minimum, so that it runs
 * at all when the handler was slow to stop. */
#define SHUTDOWN_HOOK_LIMIT_MS 400
#define SHUTDOWN_HOOK_MIN_MS 50
#define SHUTDOWN_EXTENSION_NAME "moonrun-shutdown"

/* The loaded handler module's `shutdown` function, kept in the registry; LUA_NOREF if none. */
int shutdown_hook_find(lua_State *L, const struct handler *h);

/* Registers the internal extension at the Runtime API's address (no events) and leaves its
 * GET event/next waiting on conn, as Lambda wants of every extension before init ends.
 * Failures are logged: the function still runs if SIGTERM comes. */
void shutdown_hook_register(struct http_conn *conn, const char *api_address);

/* Runs the function for at most limit_ms; its errors are logged, never fatal. */
void shutdown_hook_run(lua_State *L, int ref, long long limit_ms);

#endif
