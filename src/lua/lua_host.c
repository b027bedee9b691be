/* A Lua state for moonrun: its allocator, panic and warning handlers, the standard libraries
 * and moonrun's modules; where require looks is lua_paths.c's. */
#include "lua_host.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "json.h"
#include "log.h"
#include "log_record.h"
#include "lua_paths.h"
#include "modules.h"

/* Counts the heap so MOONRUN_MEMORY_LIMIT_MB can stop a runaway handler with a Lua memory
 * error (which the loop survives) before Lambda kills the whole sandbox. */
static void *heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lua_heap *heap = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize tells the object's kind */
    if (nsize == 0) {
        free(ptr);
        heap->used -= old;
        return NULL;
    }
    if (heap->limit && nsize > old && heap->used - old + nsize > heap->limit) return NULL;
    void *grown = realloc(ptr, nsize);
    if (grown) heap->used = heap->used - old + nsize;
    return grown;
}

static int panic(lua_State *L)
{
    const char *message = lua_tostring(L, -1);
    log_error("unprotected Lua error: %s", message ? message : "(not a string)");
    return 0; /* Lua aborts */
}

/* Lua 5.4's warn(): off until "@on", as in the standalone interpreter. */
static void warn_to_stderr(void *ud, const char *message, int to_continue)
{
    int *state = ud; /* 0 off, 1 on, 2 in the middle of a message */
    if (*state != 2 && message[0] == '@') {
        if (strcmp(message, "@on") == 0)
            *state = 1;
        else if (strcmp(message, "@off") == 0)
            *state = 0;
        return;
    }
    if (*state == 0) return;
    if (*state == 1) fputs("Lua warning: ", stderr);
    fputs(message, stderr);
    if (to_continue) {
        *state = 2;
    } else {
        fputc('\n', stderr);
        *state = 1;
    }
}

static int open_libraries(lua_State *L)
{
    const char *task_root = lua_touserdata(L, 1);
    const struct lua_host_options *options = lua_touserdata(L, 2);
    luaL_openlibs(L);
    deadline_install(L);
    lua_print_install(L);
    static const luaL_Reg c_modules[] = {{"moonrun.json", luaopen_moonrun_json},
                                         {"moonrun.uuid", luaopen_moonrun_uuid},
                                         {"moonrun.time", luaopen_moonrun_time},
                                         {"moonrun.digest", luaopen_moonrun_digest},
                                         {"moonrun.signature", luaopen_moonrun_signature},
                                         {"moonrun.http", luaopen_moonrun_http},
                                         {"moonrun.sigv4", luaopen_moonrun_sigv4},
                                         {"moonrun.textcheck", luaopen_moonrun_textcheck},
                                         {"moonrun.invocation", luaopen_moonrun_invocation},
                                         {"moonrun.stream", luaopen_moonrun_stream},
                                         {"moonrun.log", luaopen_moonrun_log},
                                         {"moonrun.httpd", luaopen_moonrun_httpd},
                                         {"moonrun.event_loop", luaopen_moonrun_event_loop},
                                         {"moonrun.process", luaopen_moonrun_process},
                                         {"moonrun.files", luaopen_moonrun_files},
                                         {"moonrun.append_file", luaopen_moonrun_append_file},
                                         {"moonrun.peer", luaopen_moonrun_peer},
                                         {"moonrun.yaml", luaopen_moonrun_yaml},
                                         {"moonrun.local_invoke", luaopen_moonrun_local_invoke},
                                         {NULL, NULL}};
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    luaL_setfuncs(L, c_modules, 0);
    lua_pop(L, 1);
    if (log_config()->json) lua_log_install_json_output(L);

    lua_paths_set(L, task_root, options);
    return 0;
}

static size_t memory_limit_from_env(void)
{
    const char *text = getenv("MOONRUN_MEMORY_LIMIT_MB");
    if (!text || !*text) return 0;
    char *end;
    unsigned long long mb = strtoull(text, &end, 10);
    if (*end || mb == 0 || mb > (1ULL << 30)) {
        log_error("ignoring MOONRUN_MEMORY_LIMIT_MB=%s: expected a whole number of megabytes",
                  text);
        return 0;
    }
    return (size_t)mb << 20;
}

bool lua_host_open(struct lua_host *host, const char *task_root)
{
    return lua_host_open_with(host, task_root, NULL);
}

bool lua_host_open_with(struct lua_host *host, const char *task_root,
                        const struct lua_host_options *options)
{
    host->heap = (struct lua_heap){.limit = memory_limit_from_env()};
    host->warn_state = 0;
    if (!realpath(task_root, host->task_root)) {
        log_error("the task root '%s' cannot be used: %m", task_root);
        return false;
    }
    host->L = lua_newstate(heap_alloc, &host->heap);
    if (!host->L) {
        log_error("cannot create the Lua state: not enough memory");
        return false;
    }
    lua_atpanic(host->L, panic);
    lua_setwarnf(host->L, warn_to_stderr, &host->warn_state);
    lua_pushcfunction(host->L, open_libraries);
    lua_pushlightuserdata(host->L, host->task_root);
    lua_pushlightuserdata(host->L, (void *)options);
    if (lua_pcall(host->L, 2, 0, 0) != LUA_OK) {
        log_error("cannot open the Lua libraries: %s", lua_tostring(host->L, -1));
        lua_close(host->L);
        host->L = NULL; /* so that lua_host_close after a failed open does not close it again */
        return false;
    }
    return true;
}

void lua_host_close(struct lua_host *host)
{
    if (host->L) lua_close(host->L);
    host->L = NULL;
}

int lua_host_traceback(lua_State *L)
{
    const char *message = lua_tostring(L, 1);
    if (!message && luaL_callmeta(L, 1, "__tostring")) message = lua_tostring(L, -1);
    if (!message) message = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, message, 1);
    return 1;
}
