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

/* What `require` sees in a new state.
 *
 * LUA_HOST_LAMBDA_PATHS (handlers: invoke, repl, dev's instances, the runtime loop, tests of
 * handlers) is what a Lambda function sees, and nothing of this machine's:
 *   package.path   TASK/?.lua;TASK/?/init.lua;
 * TREE/share/lua/5.4/?.lua;TREE/share/lua/5.4/?/init.lua; /opt/lua/?.lua;/opt/lua/?/init.lua;
 * LIB/?.lua;LIB/?/init.lua package.cpath  TASK/?.so; TREE/lib/lua/5.4/?.so; /opt/lua/?.so where
 * TASK is the task root, TREE the project's rocks tree (the nearest lua_modules/ folder in the task
 * root or above it, made by `luarocks --tree lua_modules`; left out when there is none) and LIB
 * moonrun's own library (left out when it is /opt/lua). LUA_PATH and LUA_CPATH are not used: they
 * are this machine's. A last searcher looks the module up in this machine's paths
 * (LUA_PATH/LUA_CPATH or Lua's built-in default, such as /usr/share/lua/5.4 and
 * /usr/lib/x86_64-linux-gnu/lua/5.4) and, when it is there, raises "module 'NAME' is installed on
 * this machine (FILE) but a Lambda function would not see it: ..." instead of "not found".
 * machine_modules (NULL-terminated, may be NULL) names top-level modules that this searcher loads
 * from the machine's paths instead (a name covers its sub-modules: "busted" covers
 * "busted.core"): a test runner's own modules, for example, while the handlers it loads still
 * get the error. A module already in package.loaded is returned by require whatever its origin.
 *
 * LUA_HOST_SCRIPT_PATHS (`moonrun run`, and moonrun's own tools: event, dev's orchestrator) is
 * lua's paths (LUA_PATH/LUA_CPATH or the default) with TASK and LIB in front, and no error. */
enum lua_host_paths { LUA_HOST_LAMBDA_PATHS, LUA_HOST_SCRIPT_PATHS };

struct lua_host_options {
    enum lua_host_paths paths;
    const char *const *machine_modules; /* LUA_HOST_LAMBDA_PATHS only */
};

/* task_root: where handlers and their modules are found; options NULL is a handler's
 * (LUA_HOST_LAMBDA_PATHS, no machine module). Logs and returns false on failure. */
bool lua_host_open_with(struct lua_host *host, const char *task_root,
                        const struct lua_host_options *options);
/* lua_host_open_with(host, task_root, NULL): a handler's state. */
bool lua_host_open(struct lua_host *host, const char *task_root);
void lua_host_close(struct lua_host *host);

/* The message handler for scripts (run, repl): any error value as text, with the traceback. */
int lua_host_traceback(lua_State *L);

#endif
