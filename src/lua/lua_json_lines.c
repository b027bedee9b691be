/* json.open_lines(path): a file of JSON lines (the embedded SQS's journal), read a line at a
 * time and decoded in place.
 *
 *   json.open_lines(path) -> lines | nil, message, errno   (as io.open)
 *   lines:next() -> number, true, value      the next line that is not empty, decoded
 *                -> number, false, message   a line that is not JSON (the message says why)
 *                -> nil                      the end of the file (an error if a read failed)
 *   lines:ends_whole() -> boolean            after the end: whether the file ended on "\n"
 *   lines:close()
 *
 * Why not io.lines and json.decode: Lua reads a line a byte at a time and makes a string of
 * each, which json.decode then copies from; a journal of 100,000 messages of 1 KB spent more
 * time in that than in everything else. Here the file is read in 1 MiB blocks into one buffer
 * kept for the whole file, a line is decoded where it lies, and the only garbage a line leaves
 * is what its value holds. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

#define JSON_LINES "moonrun.json_lines"
#define BLOCK_BYTES (1u << 20)

struct json_lines {
    int fd;
    char *data; /* data[start, len) is read and not consumed yet */
    size_t start, len, cap;
    lua_Integer number; /* of the last line returned */
    int eof;
    int ends_whole; /* the last byte of the file was a newline (or it was empty) */
};

static struct json_lines *check_lines(lua_State *L)
{
    return luaL_checkudata(L, 1, JSON_LINES);
}

static void release(struct json_lines *r)
{
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    free(r->data);
    r->data = NULL;
    r->start = r->len = r->cap = 0;
}

/* As io.open fails: nil, a message naming the file, the errno (ENOENT tells a missing file). */
static int fail(lua_State *L, const char *path, int err)
{
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(err));
    lua_pushinteger(L, err);
    return 3;
}

static int l_open_lines(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct json_lines *r = lua_newuserdatauv(L, sizeof *r, 0);
    *r = (struct json_lines){.fd = -1, .ends_whole = 1};
    luaL_setmetatable(L, JSON_LINES);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) return fail(L, path, errno);
    return 1;
}

/* Reads one more block after what is unconsumed (moved to the front first); 0 at the end of
 * the file. Raises an error when the read fails or memory runs out. */
static size_t read_block(lua_State *L, struct json_lines *r)
{
    if (r->start > 0) {
        memmove(r->data, r->data + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    if (r->cap - r->len < BLOCK_BYTES) {
        size_t cap = r->cap ? r->cap : BLOCK_BYTES;
        while (cap - r->len < BLOCK_BYTES)
            cap *= 2; /* a line longer than a block: the buffer grows to hold it whole */
        char *grown = realloc(r->data, cap);
        if (!grown) luaL_error(L, "out of memory reading JSON lines");
        r->data = grown, r->cap = cap;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->data + r->len, BLOCK_BYTES);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { /* no "file:line:" of the caller: the cause is the file's, not the code's */
            lua_pushfstring(L, "cannot read JSON lines: %s", strerror(errno));
            lua_error(L);
        }
        if (n > 0) r->ends_whole = r->data[r->len + (size_t)n - 1] == '\n';
        r->len += (size_t)n;
        return (size_t)n;
    }
}

/* In a protected call: [1] the text (light userdata), [2] its length. */
static int decode_line(lua_State *L)
{
    const char *text = lua_touserdata(L, 1);
    json_decode(L, text, (size_t)lua_tointeger(L, 2));
    return 1;
}

static int l_next(lua_State *L)
{
    struct json_lines *r = check_lines(L);
    if (r->fd < 0) return luaL_error(L, "the JSON lines are closed");
    for (;;) {
        if (r->eof && r->start == r->len) return 0;
        char *line = r->start < r->len ? r->data + r->start : NULL;
        char *newline = line ? memchr(line, '\n', r->len - r->start) : NULL;
        if (!newline && !r->eof) {
            if (read_block(L, r) == 0) r->eof = 1;
            continue;
        }
        size_t len = newline ? (size_t)(newline - line) : r->len - r->start;
        r->start += len + (newline ? 1 : 0); /* consumed before decoding: a bad line is passed */
        r->number++;
        if (len == 0) continue;
        lua_pushinteger(L, r->number);
        lua_pushcfunction(L, decode_line);
        lua_pushlightuserdata(L, line);
        lua_pushinteger(L, (lua_Integer)len);
        int status = lua_pcall(L, 2, 1, 0);
        if (status != LUA_OK && status != LUA_ERRRUN) return lua_error(L); /* out of memory */
        lua_pushboolean(L, status == LUA_OK);
        lua_insert(L, -2);
        return 3;
    }
}

static int l_ends_whole(lua_State *L)
{
    lua_pushboolean(L, check_lines(L)->ends_whole);
    return 1;
}

static int l_close(lua_State *L)
{
    release(check_lines(L));
    return 0;
}

int json_lines_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", l_next}, {"ends_whole", l_ends_whole}, {"close", l_close}, {NULL, NULL}};
    if (luaL_newmetatable(L, JSON_LINES)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_open_lines);
    return 1;
}
