/* The `moonrun.append_file` module: an append-only file that only ever ends on a whole write,
 * for the embedded SQS's journal.
 *
 *   append_file.open(path) -> file | nil, message        created 0600 if missing
 *   file:append(data [, sync]) -> true | nil, message    all of data, or none of it (with sync,
 *                                                         on the disk itself before it returns)
 *   file:stage(value)                                    value's JSON line, kept to be committed
 *   file:staged() -> lines, bytes                        what is staged
 *   file:commit([sync]) -> true | nil, message           appends the staged lines as append
 *                                                         does, and forgets them either way
 *   file:discard()                                       forgets the staged lines
 *   file:sync() -> true | nil, message                   fdatasync: what was appended survives
 *                                                         an OS crash
 *   file:size() -> bytes      file:close()
 *   append_file.private_dir(path) -> true | nil, message  path and its missing parents, 0700
 *
 * Lua's io library cannot give "none of it": when a buffered write fails half-way (a full disk),
 * part of a record stays at the end of the file and the next record is appended to it, so a
 * record that was acknowledged is unreadable at replay. Here a failed append truncates the file
 * back to where it ended before, so the journal always ends on a whole record, and appends work
 * again once the disk has room.
 *
 * Why stage: a journal line made a Lua string (json.encode), then joined with the others of a
 * request (table.concat), left two copies of each message's body as garbage per send; with
 * 100,000 messages queued the collector let some 500 bytes a message of it pile up in the
 * resident size. Staged lines are encoded straight into a buffer of the file's own, reused. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buffer.h"
#include "json.h"
#include "modules.h"

#define APPEND_FILE "moonrun.append_file"

struct append_file {
    int fd;
    off_t size;           /* where the last whole append ended */
    struct buffer staged; /* lines to commit; past staged_bytes, what a failed stage left */
    size_t staged_bytes;  /* the whole lines staged */
    lua_Integer staged_lines;
};

static struct append_file *check_open(lua_State *L)
{
    struct append_file *f = luaL_checkudata(L, 1, APPEND_FILE);
    if (f->fd < 0) luaL_error(L, "the file is closed");
    return f;
}

static int fail(lua_State *L, const char *what, int err)
{
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", what, strerror(err));
    return 2;
}

static int l_private_dir(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    char *copy = malloc(len + 1);
    if (!copy) return luaL_error(L, "out of memory");
    memcpy(copy, path, len + 1);
    /* each parent in turn, then the folder itself: mkdir -p, without a shell */
    for (char *slash = strchr(copy + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash) *slash = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            int err = errno;
            lua_pushfstring(L, "%s", copy);
            free(copy);
            return fail(L, lua_tostring(L, -1), err);
        }
        if (!slash) break;
        *slash = '/';
        while (slash[1] == '/')
            slash++;
    }
    free(copy);
    struct stat st;
    if (stat(path, &st) != 0) return fail(L, path, errno);
    if (!S_ISDIR(st.st_mode)) return fail(L, path, ENOTDIR);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct append_file *f = lua_newuserdatauv(L, sizeof *f, 0);
    *f = (struct append_file){.fd = -1};
    luaL_setmetatable(L, APPEND_FILE);
    f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (f->fd < 0) return fail(L, path, errno);
    struct stat st;
    if (fstat(f->fd, &st) != 0) return fail(L, path, errno);
    f->size = st.st_size;
    return 1;
}

/* Cuts what a failed append left; false when even that fails (the next append tries again). */
static bool truncate_to_whole(struct append_file *f)
{
    struct stat st;
    if (fstat(f->fd, &st) == 0 && st.st_size == f->size) return true;
    return ftruncate(f->fd, f->size) == 0;
}

/* Appends data whole or not at all; pushes the results of file:append. */
static int append_whole(lua_State *L, struct append_file *f, const char *data, size_t len,
                        bool sync)
{
    if (!truncate_to_whole(f)) return fail(L, "cannot cut a partial write", errno);
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(f->fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : ENOSPC;
            truncate_to_whole(f);
            return fail(L, "write", err);
        }
        done += (size_t)n;
    }
    if (sync && fdatasync(f->fd) != 0) {
        int err = errno;
        truncate_to_whole(f);
        return fail(L, "fdatasync", err);
    }
    f->size += (off_t)len;
    lua_pushboolean(L, 1);
    return 1;
}

static int l_append(lua_State *L)
{
    struct append_file *f = check_open(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    return append_whole(L, f, data, len, lua_toboolean(L, 3));
}

static int l_stage(lua_State *L)
{
    struct append_file *f = check_open(L);
    luaL_checkany(L, 2);
    f->staged.len = f->staged_bytes; /* drops what a stage that raised an error left */
    json_encode(L, 2, &f->staged, "record");
    if (!buffer_append(&f->staged, "\n", 1)) return luaL_error(L, "out of memory");
    f->staged_bytes = f->staged.len;
    f->staged_lines++;
    return 0;
}

static int l_staged(lua_State *L)
{
    struct append_file *f = check_open(L);
    lua_pushinteger(L, f->staged_lines);
    lua_pushinteger(L, (lua_Integer)f->staged_bytes);
    return 2;
}

static void forget_staged(struct append_file *f)
{
    buffer_clear(&f->staged);
    buffer_shrink(&f->staged, 64 * 1024); /* a compaction's big slices do not stay resident */
    f->staged_bytes = 0;
    f->staged_lines = 0;
}

static int l_discard(lua_State *L)
{
    forget_staged(check_open(L));
    return 0;
}

static int l_commit(lua_State *L)
{
    struct append_file *f = check_open(L);
    int results = 1;
    if (f->staged_bytes > 0) {
        results = append_whole(L, f, f->staged.data, f->staged_bytes, lua_toboolean(L, 2));
    } else {
        lua_pushboolean(L, 1);
    }
    forget_staged(f);
    return results;
}
static int l_sync(lua_State *L)
{
    struct append_file *f = check_open(L);
    if (fdatasync(f->fd) != 0) return fail(L, "fdatasync", errno);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_size(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_open(L)->size);
    return 1;
}

static int l_close(lua_State *L)
{
    struct append_file *f = luaL_checkudata(L, 1, APPEND_FILE);
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    buffer_free(&f->staged);
    f->staged_bytes = 0;
    f->staged_lines = 0;
    return 0;
}

int luaopen_moonrun_append_file(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"append", l_append},   {"stage", l_stage}, {"staged", l_staged}, {"commit", l_commit},
        {"discard", l_discard}, {"sync", l_sync},   {"size", l_size},     {"close", l_close},
        {"__gc", l_close},      {NULL, NULL}};
    static const luaL_Reg functions[] = {
        {"open", l_open}, {"private_dir", l_private_dir}, {NULL, NULL}};
    luaL_newmetatable(L, APPEND_FILE);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
