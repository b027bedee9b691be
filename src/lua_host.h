/* A Lua state that lives as long as the process (one per worker): its allocator (with an
 * optional cap), the standard libraries, moonrun's modules and the module search path. */
#ifndef MOONRUN_LUA_HOST_H
#define MOONRUN_LUA_HOST_H

#include <limits.h>
#include <stdbool.h>
#include <lua.h>
#include <stddef.h>

struct lua_heap {
    size_t used;
    size_t limit; /* 0: no limit */
};

struct lua_host {
    lua_State *L;
    struct lua_heap heap; /* per state: with several workers, each one's heap is capped alone */
    int warn_state;       /* warn("@on") turns warnings on for this state only */
    char task_root[PATH_MAX];
};

/* task_root: where handlers and their modules are found. Logs and returns false on failure. */
bool lua_host_open(struct lua_host *host, const char *task_root);
void lua_host_close(struct lua_host *host);

/* The message handler for scripts (run, repl): any error value as text, with the traceback. */
int lua_host_traceback(lua_State *L);

#endif
