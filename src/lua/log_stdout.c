/* JSON mode's print and io.write, and the per-state output they share with moonrun.log. In text
 * mode none of this is installed: print and io.write stay exactly as Lua has them, so their cost
 * does not change. */
#include "log_stdout.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "current_invocation.h"
#include "modules.h"

static const char output_key = 0;

void log_output_open_record(lua_State *L, struct buffer *out, enum log_level level)
{
    const char *request_id = NULL;
    size_t len = 0;
    if (L) {
        int top = lua_gettop(L);
        current_invocation_push(L);
        if (lua_istable(L, -1) && lua_getfield(L, -1, "aws_request_id") == LUA_TSTRING)
            request_id = lua_tolstring(L, -1, &len);
        log_record_open(out, level, request_id, len);
        lua_settop(L, top);
    } else {
        log_record_open(out, level, NULL, 0);
    }
}

/* Writes message as one JSON record, with nothing but the standard members. */
static void write_message_record(lua_State *L, struct log_output *o, enum log_level level,
                                 const char *message, size_t len)
{
    buffer_clear(&o->record);
    log_output_open_record(L, &o->record, level);
    buffer_append_str(&o->record, ",\"message\":");
    log_append_json_string(&o->record, message, len);
    buffer_append(&o->record, "}\n", 2);
    if (o->record.data) fwrite(o->record.data, 1, o->record.len, stdout);
    buffer_clear(&o->record);
    buffer_shrink(&o->record, 64 * 1024); /* one huge line must not stay resident */
}

/* The unfinished io.write line, as a record of its own. */
void log_output_flush_pending(lua_State *L, struct log_output *o)
{
    if (o->pending.len == 0) return;
    if (log_config()->minimum <= LOG_INFO)
        write_message_record(L, o, LOG_INFO, o->pending.data, o->pending.len);
    buffer_clear(&o->pending);
    buffer_shrink(&o->pending, 64 * 1024);
}

static int output_gc(lua_State *L)
{
    struct log_output *o = lua_touserdata(L, 1);
    /* The state is closing: no invocation, and no Lua calls now. */
    log_output_flush_pending(NULL, o);
    buffer_free(&o->pending);
    buffer_free(&o->record);
    return 0;
}

struct log_output *log_output(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &output_key) == LUA_TNIL) {
        lua_pop(L, 1);
        struct log_output *o = lua_newuserdatauv(L, sizeof *o, 0);
        *o = (struct log_output){0};
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, output_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &output_key);
    }
    struct log_output *o = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return o;
}

void log_output_append(lua_State *L, struct buffer *b, const char *s, size_t len)
{
    if (!buffer_append(b, s, len)) luaL_error(L, "not enough memory for a log line");
}

/* JSON mode's print: one record (INFO) for the whole line, inner newlines included; an
 * unfinished io.write line is its beginning, as it would be on a text stdout. */
static int json_print(lua_State *L)
{
    struct log_output *o = log_output(L);
    if (log_config()->minimum > LOG_INFO) return buffer_clear(&o->pending), 0;
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) log_output_append(L, &o->pending, "\t", 1);
        log_output_append(L, &o->pending, s, len);
        lua_pop(L, 1);
    }
    write_message_record(L, o, LOG_INFO, o->pending.data ? o->pending.data : "", o->pending.len);
    buffer_clear(&o->pending);
    buffer_shrink(&o->pending, 64 * 1024);
    return 0;
}

/* Appends io.write's arguments from index first on, then writes each finished line. */
static void json_write_lines(lua_State *L, int first, int last)
{
    struct log_output *o = log_output(L);
    int n = last;
    for (int i = first; i <= n; i++) {
        char number[64];
        size_t len;
        const char *s;
        if (lua_type(L, i) == LUA_TNUMBER) { /* as io.write writes numbers: 1.0 is "1" there */
            if (lua_isinteger(L, i))
                len = (size_t)snprintf(number, sizeof number, LUA_INTEGER_FMT, lua_tointeger(L, i));
            else
                len = (size_t)snprintf(number, sizeof number, LUA_NUMBER_FMT,
                                       (LUAI_UACNUMBER)lua_tonumber(L, i));
            s = number;
        } else {
            s = luaL_checklstring(L, i, &len);
        }
        log_output_append(L, &o->pending, s, len);
    }
    bool shown = log_config()->minimum <= LOG_INFO;
    char *newline;
    size_t start = 0;
    while ((newline = memchr(o->pending.data + start, '\n', o->pending.len - start))) {
        size_t end = (size_t)(newline - o->pending.data);
        if (shown) write_message_record(L, o, LOG_INFO, o->pending.data + start, end - start);
        start = end + 1;
    }
    if (start) {
        memmove(o->pending.data, o->pending.data + start, o->pending.len - start);
        o->pending.len -= start;
    }
}

static bool is_stdout(lua_State *L, int idx)
{
    luaL_Stream *stream = luaL_testudata(L, idx, LUA_FILEHANDLE);
    return stream && stream->f == stdout;
}

/* io.write, when the default output is stdout; otherwise Lua's own (upvalue 1). */
static int json_io_write(lua_State *L)
{
    int args = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");
    if (!is_stdout(L, -1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }
    json_write_lines(L, 1, args);
    lua_pushvalue(L, args + 1);
    return 1;
}

/* file:write, for io.stdout; for any other file Lua's own (upvalue 1). */
static int json_file_write(lua_State *L)
{
    if (!is_stdout(L, 1)) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }
    json_write_lines(L, 2, lua_gettop(L));
    lua_settop(L, 1);
    return 1;
}

static int flush_pending_at_finish(lua_State *L)
{
    log_output_flush_pending(L, log_output(L));
    return 0;
}

void lua_log_install_json_output(lua_State *L)
{
    log_output(L);
    lua_pushcfunction(L, json_print);
    lua_setglobal(L, "print");
    lua_getglobal(L, "io");
    lua_getfield(L, -1, "write");
    lua_pushcclosure(L, json_io_write, 1);
    lua_setfield(L, -2, "write");
    lua_pop(L, 1);
    luaL_getmetatable(L, LUA_FILEHANDLE);
    lua_getfield(L, -1, "__index");
    lua_getfield(L, -1, "write");
    lua_pushcclosure(L, json_file_write, 1);
    lua_setfield(L, -2, "write");
    lua_pop(L, 2);
    lua_pushcfunction(L, flush_pending_at_finish);
    current_invocation_on_finish(L);
}
