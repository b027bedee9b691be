/* The `moonrun.files` module: what `moonrun dev` needs to notice edited handler code, and what
 * finding a project's rockspec needs (plain Lua cannot list a folder).
 *
 *   files.stamp(dir) -> a string that changes whenever a file under dir is added, removed,
 *                       renamed or written (from names, sizes and modification times)
 *   files.list(dir)  -> the names in dir (not . and ..), sorted; or nil and why
 *   files.realpath(path) -> the absolute path, symbolic links resolved; or nil and why
 *
 * Comparing stamps before each event is what makes an edit take effect on the next event. */
#define _GNU_SOURCE /* nftw with FTW_ACTIONRETVAL, to skip hidden folders */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"

static uint64_t stamp_hash;
static unsigned long stamp_count;

/* FNV-1a over each entry's name, size and time: cheap, and any change moves the whole stamp. */
static void mix(const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++)
        stamp_hash = (stamp_hash ^ p[i]) * 0x100000001b3ULL;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F && type != FTW_D) return 0;
    const char *name = path + ftw->base;
    if (name[0] == '.' && ftw->level > 0) return type == FTW_D ? FTW_SKIP_SUBTREE : 0;
    mix(path, strlen(path) + 1);
    if (type == FTW_F) { /* a folder's own time changes with any entry, hidden ones too: its names
                            say enough */
        mix(&st->st_size, sizeof st->st_size);
        mix(&st->st_mtim, sizeof st->st_mtim);
    }
    stamp_count++;
    return 0;
}

static int l_stamp(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    stamp_hash = 0xcbf29ce484222325ULL;
    stamp_count = 0;
    if (nftw(dir, visit, 16, FTW_PHYS | FTW_ACTIONRETVAL) != 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot read %s", dir);
        return 2;
    }
    char text[48];
    snprintf(text, sizeof text, "%lu-%016llx", stamp_count, (unsigned long long)stamp_hash);
    lua_pushstring(L, text);
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The open folder lives in a userdata whose __gc closes it: a memory error while the names
 * are pushed (a capped heap, MOONRUN_MEMORY_LIMIT_MB) does not leak it. */
static int close_dir(lua_State *L)
{
    DIR **box = lua_touserdata(L, 1);
    if (*box) closedir(*box);
    *box = NULL;
    return 0;
}

static int l_list(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    DIR **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, "moonrun.files.dir")) {
        lua_pushcfunction(L, close_dir);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    *box = opendir(dir);
    if (!*box) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot list %s: %s", dir, strerror(errno));
        return 2;
    }
    lua_newtable(L);
    int names_at = lua_gettop(L);
    lua_Integer n = 0;
    for (struct dirent *e; (e = readdir(*box));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, names_at, ++n);
    }
    closedir(*box);
    *box = NULL;
    /* sorted in C (byte order, as Lua compares strings), the table keeping the strings alive */
    const char **names = lua_newuserdatauv(L, (size_t)n * sizeof *names + 1, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, names_at, i);
        names[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    qsort(names, (size_t)n, sizeof *names, compare_names);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_pushstring(L, names[i - 1]);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

/* Without a process: moonrun.deps resolves the folder it starts from before every command. */
static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char resolved[PATH_MAX];
    if (!realpath(path, resolved)) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot resolve %s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushstring(L, resolved);
    return 1;
}

int luaopen_moonrun_files(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"stamp", l_stamp}, {"list", l_list}, {"realpath", l_realpath}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
