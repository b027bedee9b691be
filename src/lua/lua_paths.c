/* Where `require` looks. Handlers get the paths a Lambda function has (the task root, the
 * project's lua_modules/ tree, the /opt/lua of layers, moonrun's own library) and a last
 * searcher that turns a module found only on this machine's Lua paths into an error naming it;
 * scripts (`moonrun run`) keep lua's own paths with the task root and moonrun's library first. */
#include "lua_paths.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LUA_DIR LUA_VERSION_MAJOR "." LUA_VERSION_MINOR

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

/* The project's rocks tree (`luarocks --tree lua_modules`): the nearest lua_modules/ in the
 * task root or a folder above it, as node_modules is found, so a function whose code is in a
 * sub-folder of the project (a template's CodeUri) sees the project's dependencies. */
static bool find_project_tree(const char *task_root, char *out, size_t size)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", task_root) >= (int)sizeof dir) return false;
    for (;;) {
        int n = snprintf(out, size, "%s/lua_modules", strcmp(dir, "/") == 0 ? "" : dir);
        if (n > 0 && (size_t)n < size && is_directory(out)) return true;
        char *slash = strrchr(dir, '/');
        if (!slash || strcmp(dir, "/") == 0) return false;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
}

static void add_lua_dir(luaL_Buffer *b, lua_State *L, const char *dir)
{
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
    luaL_addvalue(b);
}

static void set_field_from_buffer(lua_State *L, luaL_Buffer *b, int package, const char *field)
{
    luaL_pushresult(b);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    lua_pushlstring(L, text, len ? len - 1 : 0); /* without the last ';' */
    lua_setfield(L, package, field);
    lua_pop(L, 1);
}

/* moonrun dev stands a function's own layers in for /opt: MOONRUN_LAYER_DIRS lists their folders
 * (':'-separated) in the function's order. Each folder's lua/ is searched, the last layer's
 * first, since on Lambda a later layer's file overwrites an earlier one's in /opt. pattern
 * takes the folder twice. */
static void add_layer_dirs(luaL_Buffer *b, lua_State *L, const char *pattern)
{
    const char *dirs = getenv("MOONRUN_LAYER_DIRS");
    if (!dirs || !*dirs) return;
    const char *end = dirs + strlen(dirs);
    while (end > dirs) {
        const char *start = end;
        while (start > dirs && start[-1] != ':')
            start--;
        size_t len = (size_t)(end - start);
        if (len > 0 && len < PATH_MAX) {
            char dir[PATH_MAX]; /* a C string: the buffer owns the top of the stack */
            memcpy(dir, start, len);
            dir[len] = '\0';
            lua_pushfstring(L, pattern, dir, dir);
            luaL_addvalue(b);
        }
        end = start > dirs ? start - 1 : dirs;
    }
}

/* What a Lambda function's `require` searches, in this order: its code, its declared
 * dependencies, its layers, moonrun. A layer is unpacked in /opt; moonrun's layer keeps its
 * library in /opt/lua, and so does a dependencies layer (lua_modules mapped to /opt/lua). */
static void set_lambda_paths(lua_State *L, int package, const char *task_root, const char *library)
{
    char tree[PATH_MAX];
    bool has_tree = find_project_tree(task_root, tree, sizeof tree);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    add_lua_dir(&b, L, task_root);
    if (has_tree) {
        char share[PATH_MAX + 32]; /* a C string: the buffer owns the top of the stack */
        snprintf(share, sizeof share, "%s/share/lua/" LUA_DIR, tree);
        add_lua_dir(&b, L, share);
    }
    add_layer_dirs(&b, L, "%s/lua/?.lua;%s/lua/?/init.lua;");
    add_lua_dir(&b, L, LUA_PATHS_LAYER_DIR);
    if (library && strcmp(library, LUA_PATHS_LAYER_DIR) != 0) add_lua_dir(&b, L, library);
    set_field_from_buffer(L, &b, package, "path");

    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s/?.so;", task_root);
    luaL_addvalue(&b);
    if (has_tree) {
        lua_pushfstring(L, "%s/lib/lua/" LUA_DIR "/?.so;", tree);
        luaL_addvalue(&b);
    }
    add_layer_dirs(&b, L, "%s/lua/?.so;");
    luaL_addstring(&b, LUA_PATHS_LAYER_DIR "/?.so;");
    set_field_from_buffer(L, &b, package, "cpath");
}

/* lua's own paths (LUA_PATH or the built-in default) after the task root and moonrun's
 * library, as `moonrun run` has always had them. */
static void set_script_paths(lua_State *L, int package, const char *task_root, const char *library)
{
    lua_getfield(L, package, "path");
    if (library)
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s/?/init.lua;%s", task_root, task_root,
                        library, library, lua_tostring(L, -1));
    else
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", task_root, task_root, lua_tostring(L, -1));
    lua_setfield(L, package, "path");
    lua_pop(L, 1);
    lua_getfield(L, package, "cpath");
    lua_pushfstring(L, "%s/?.so;%s", task_root, lua_tostring(L, -1));
    lua_setfield(L, package, "cpath");
    lua_pop(L, 1);
}

/* package.searchpath(name, path): the file's name on the stack and true, or nothing. */
static bool search_path(lua_State *L, int package, const char *name, int path)
{
    lua_getfield(L, package, "searchpath");
    lua_pushstring(L, name);
    lua_pushvalue(L, path);
    lua_call(L, 2, 1);
    if (lua_type(L, -1) == LUA_TSTRING) return true;
    lua_pop(L, 1);
    return false;
}

/* Upvalues of the machine searcher. */
enum { UP_PACKAGE = 1, UP_PATH, UP_CPATH, UP_ALLOWED, UP_SEARCHERS };

/* An allowed module loads with Lua's own searchers over the machine's paths, swapped in for
 * the call and swapped back however it ends. */
static int load_from_machine(lua_State *L)
{
    int package = lua_upvalueindex(UP_PACKAGE);
    lua_getfield(L, package, "path");
    lua_getfield(L, package, "cpath");
    int saved = lua_gettop(L) - 1;
    lua_pushvalue(L, lua_upvalueindex(UP_PATH));
    lua_setfield(L, package, "path");
    lua_pushvalue(L, lua_upvalueindex(UP_CPATH));
    lua_setfield(L, package, "cpath");
    int status = LUA_OK, results = 0;
    for (lua_Integer i = 1; status == LUA_OK && !results; i++) {
        if (lua_geti(L, lua_upvalueindex(UP_SEARCHERS), i) == LUA_TNIL) {
            lua_pop(L, 1);
            break;
        }
        lua_pushvalue(L, 1);
        status = lua_pcall(L, 1, 2, 0);
        if (status == LUA_OK && lua_isfunction(L, -2))
            results = 2;
        else if (status == LUA_OK)
            lua_pop(L, 2);
    }
    lua_pushvalue(L, saved);
    lua_setfield(L, package, "path");
    lua_pushvalue(L, saved + 1);
    lua_setfield(L, package, "cpath");
    if (status != LUA_OK) return lua_error(L);
    return results;
}

static bool is_allowed(lua_State *L, const char *name)
{
    if (lua_isnil(L, lua_upvalueindex(UP_ALLOWED))) return false;
    const char *dot = strchr(name, '.');
    lua_pushlstring(L, name, dot ? (size_t)(dot - name) : strlen(name));
    bool allowed = lua_rawget(L, lua_upvalueindex(UP_ALLOWED)) != LUA_TNIL;
    lua_pop(L, 1);
    return allowed;
}

/* The last searcher: runs only when the Lambda paths have no such module. */
static int search_machine(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    int package = lua_upvalueindex(UP_PACKAGE);
    const char *dot = strchr(name, '.');
    lua_pushlstring(L, name, dot ? (size_t)(dot - name) : strlen(name));
    const char *root = lua_tostring(L, -1); /* a.b may live in a.so (Lua's all-in-one loader) */
    bool found = search_path(L, package, name, lua_upvalueindex(UP_PATH)) ||
                 search_path(L, package, name, lua_upvalueindex(UP_CPATH)) ||
                 (dot && search_path(L, package, root, lua_upvalueindex(UP_CPATH)));
    if (!found) return 0;
    if (is_allowed(L, name)) return load_from_machine(L);
    return luaL_error(
        L,
        "module '%s' is installed on this machine (%s) but a Lambda function would not "
        "see it: declare it in the project's rockspec (its dependencies, which moonrun "
        "installs into the project's lua_modules/; moonrun deps does it now), or put it in the "
        "task root",
        name, lua_tostring(L, -1));
}

/* Appends search_machine to package.searchers, with the machine's paths (what luaL_openlibs
 * made of LUA_PATH, LUA_CPATH or the built-in default) and Lua's own file searchers. */
static void install_machine_searcher(lua_State *L, int package, const char *const *allowed)
{
    lua_getfield(L, package, "searchers");
    int searchers = lua_gettop(L);
    lua_pushvalue(L, package);
    lua_getfield(L, package, "path");
    lua_getfield(L, package, "cpath");
    if (allowed && *allowed) {
        lua_newtable(L);
        for (; *allowed; allowed++) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, *allowed);
        }
    } else {
        lua_pushnil(L);
    }
    lua_createtable(L, 3, 0); /* Lua's file searchers: 2 (Lua), 3 (C), 4 (all-in-one) */
    for (lua_Integer i = 2; i <= 4; i++) {
        lua_geti(L, searchers, i);
        lua_seti(L, -2, i - 1);
    }
    lua_pushcclosure(L, search_machine, UP_SEARCHERS);
    lua_seti(L, searchers, (lua_Integer)lua_rawlen(L, searchers) + 1);
    lua_pop(L, 1);
}

void lua_paths_set(lua_State *L, const char *task_root, const struct lua_host_options *options)
{
    char library_buffer[PATH_MAX];
    const char *library =
        find_library_dir(library_buffer, sizeof library_buffer) ? library_buffer : NULL;
    lua_getglobal(L, "package");
    int package = lua_gettop(L);
    if (options && options->paths == LUA_HOST_SCRIPT_PATHS) {
        set_script_paths(L, package, task_root, library);
    } else {
        install_machine_searcher(L, package, options ? options->machine_modules : NULL);
        set_lambda_paths(L, package, task_root, library);
    }
    lua_pop(L, 1);
}
