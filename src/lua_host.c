#include "lua_host.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deadline.h"
#include "json.h"
#include "log.h"
#include "log_record.h"
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
        if (strcmp(message, "@on") == 0) *state = 1;
        else if (strcmp(message, "@off") == 0) *state = 0;
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

static bool is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* moonrun's Lua library sits next to the executable: <dir>/lua in a deployment (/opt/lua in
 * a layer), <dir>/../lua in a build tree, <dir>/../share/moonrun/lua when installed. */
static bool find_library_dir(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return false;
    *slash = '\0';
    static const char *const candidates[] = {"%s/lua", "%s/../lua", "%s/../share/moonrun/lua"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof probe, candidates[i], exe);
        char moonrun_dir[PATH_MAX + 48];
        snprintf(moonrun_dir, sizeof moonrun_dir, "%s/moonrun", probe);
        if (is_directory(moonrun_dir) && realpath(probe, out) && strlen(out) < size) return true;
    }
    return false;
}

static void prepend_search_path(lua_State *L, const char *field, const char *prefix)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, field);
    lua_pushfstring(L, "%s;%s", prefix, lua_tostring(L, -1));
    lua_setfield(L, -3, field);
    lua_pop(L, 2);
}

static int open_libraries(lua_State *L)
{
    const char *task_root = lua_touserdata(L, 1);
    luaL_openlibs(L);
    deadline_install(L);
    lua_print_install(L);
    static const luaL_Reg c_modules[] = {{"moonrun.json", luaopen_moonrun_json},
                                         {"moonrun.uuid", luaopen_moonrun_uuid},
                                         {"moonrun.time", luaopen_moonrun_time},
                                         {"moonrun.digest", luaopen_moonrun_digest},
                                         {"moonrun.http", luaopen_moonrun_http},
                                         {"moonrun.sigv4", luaopen_moonrun_sigv4},
                                         {"moonrun.textcheck", luaopen_moonrun_textcheck},
                                         {"moonrun.invocation", luaopen_moonrun_invocation},
                                         {"moonrun.stream", luaopen_moonrun_stream},
                                         {"moonrun.log", luaopen_moonrun_log},
                                         {"moonrun.httpd", luaopen_moonrun_httpd},
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

    char library[PATH_MAX];
    luaL_Buffer path;
    luaL_buffinit(L, &path);
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", task_root, task_root);
    luaL_addvalue(&path);
    if (find_library_dir(library, sizeof library)) {
        lua_pushfstring(L, ";%s/?.lua;%s/?/init.lua", library, library);
        luaL_addvalue(&path);
    }
    luaL_pushresult(&path);
    prepend_search_path(L, "path", lua_tostring(L, -1));
    lua_pushfstring(L, "%s/?.so", task_root);
    prepend_search_path(L, "cpath", lua_tostring(L, -1));
    return 0;
}

static size_t memory_limit_from_env(void)
{
    const char *text = getenv("MOONRUN_MEMORY_LIMIT_MB");
    if (!text || !*text) return 0;
    char *end;
    unsigned long long mb = strtoull(text, &end, 10);
    if (*end || mb == 0 || mb > (1ULL << 30)) {
        log_error("ignoring MOONRUN_MEMORY_LIMIT_MB=%s: expected a whole number of megabytes", text);
        return 0;
    }
    return (size_t)mb << 20;
}

bool lua_host_open(struct lua_host *host, const char *task_root)
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
    if (lua_pcall(host->L, 1, 0, 0) != LUA_OK) {
        log_error("cannot open the Lua libraries: %s", lua_tostring(host->L, -1));
        lua_close(host->L);
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
