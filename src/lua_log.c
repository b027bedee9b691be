/* moonrun.log (leveled records with fields) and, with AWS_LAMBDA_LOG_FORMAT=JSON, the JSON
 * form of print and io.write. In C rather than Lua because print runs on every log line of
 * every function: a record is built in one kept buffer and written with one call. In text
 * mode print and io.write are left exactly as Lua has them, so their cost does not change. */
#define _GNU_SOURCE /* __fpending, __flbf */
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <unistd.h>

#include "current_invocation.h"
#include "json.h"
#include "log_record.h"
#include "modules.h"

/* Per Lua state (each worker has its own), in a userdata kept in the registry. */
struct log_output {
    struct buffer pending; /* JSON mode: what io.write wrote after the last newline */
    struct buffer record;  /* the record being built */
};

static const char output_key = 0;

static const char *const reserved_fields[] = {"timestamp", "level", "requestId", "message"};

static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* a closed stdout: nowhere left to say so */
        data += n, len -= (size_t)n;
    }
}

/* The request id of the invocation L serves, copied into out as a JSON record's member. */
static void open_record(lua_State *L, struct buffer *out, enum log_level level)
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
    open_record(L, &o->record, level);
    buffer_append_str(&o->record, ",\"message\":");
    log_append_json_string(&o->record, message, len);
    buffer_append(&o->record, "}\n", 2);
    if (o->record.data) fwrite(o->record.data, 1, o->record.len, stdout);
    buffer_clear(&o->record);
    buffer_shrink(&o->record, 64 * 1024); /* one huge line must not stay resident */
}

/* The unfinished io.write line, as a record of its own. */
static void flush_pending(lua_State *L, struct log_output *o)
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
    flush_pending(NULL, o); /* the state is closing: no invocation, and no Lua calls now */
    buffer_free(&o->pending);
    buffer_free(&o->record);
    return 0;
}

static struct log_output *output(lua_State *L)
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

static void append_or_fail(lua_State *L, struct buffer *b, const char *s, size_t len)
{
    if (!buffer_append(b, s, len)) luaL_error(L, "not enough memory for a log line");
}

/* JSON mode's print: one record (INFO) for the whole line, inner newlines included; an
 * unfinished io.write line is its beginning, as it would be on a text stdout. */
static int json_print(lua_State *L)
{
    struct log_output *o = output(L);
    if (log_config()->minimum > LOG_INFO) return buffer_clear(&o->pending), 0;
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) append_or_fail(L, &o->pending, "\t", 1);
        append_or_fail(L, &o->pending, s, len);
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
    struct log_output *o = output(L);
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
        append_or_fail(L, &o->pending, s, len);
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
    flush_pending(L, output(L));
    return 0;
}

void lua_log_install_json_output(lua_State *L)
{
    output(L);
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

/* ---- moonrun.log ------------------------------------------------------------------------ */

static bool is_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof reserved_fields / sizeof *reserved_fields; i++)
        if (strcmp(name, reserved_fields[i]) == 0) return true;
    return false;
}

/* A bare word in text mode; anything a reader could misparse is quoted as JSON. */
static bool is_bare_word(const char *s, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7F) return false;
    }
    return true;
}

/* The field at the top of the stack (key below it) as JSON, or bare in text mode. */
static void append_field_value(lua_State *L, struct buffer *out, const char *key, bool json)
{
    size_t len;
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, -1, &len);
        if (!json && is_bare_word(s, len))
            append_or_fail(L, out, s, len);
        else
            log_append_json_string(out, s, len);
        return;
    }
    if (lua_isinteger(L, -1)) { /* the usual field (an id, a count): no JSON writer needed */
        char number[32];
        int n = snprintf(number, sizeof number, LUA_INTEGER_FMT, lua_tointeger(L, -1));
        append_or_fail(L, out, number, (size_t)n);
        return;
    }
    char root[160];
    snprintf(root, sizeof root, "fields.%s", key);
    json_encode(L, lua_gettop(L), out, root);
}

/* Checks fields (a table at idx, or nil) and appends them: ,"k":v in JSON, " k=v" in text. */
static void append_fields(lua_State *L, int idx, struct buffer *out, bool json)
{
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "log: field names must be strings, got a %s", luaL_typename(L, -2));
        size_t key_len;
        const char *key = lua_tolstring(L, -2, &key_len);
        if (is_reserved(key))
            luaL_error(L,
                       "log: field '%s' is reserved: moonrun writes timestamp, level, requestId "
                       "and message itself",
                       key);
        if (json) {
            append_or_fail(L, out, ",", 1);
            log_append_json_string(out, key, key_len);
            append_or_fail(L, out, ":", 1);
        } else {
            append_or_fail(L, out, " ", 1);
            append_or_fail(L, out, key, key_len);
            append_or_fail(L, out, "=", 1);
        }
        append_field_value(L, out, key, json);
        lua_pop(L, 1);
    }
}

/* Text mode: [LEVEL]\ttimestamp\trequestId\tmessage key=value..., one line: Lambda makes a
 * record of each line a custom runtime writes, so inner newlines become carriage returns (as
 * Lambda's managed runtimes do). */
static void build_text_record(lua_State *L, struct buffer *out, enum log_level level,
                              const char *message, size_t len)
{
    char timestamp[25];
    log_timestamp(timestamp);
    append_or_fail(L, out, "[", 1);
    append_or_fail(L, out, log_level_name(level), strlen(log_level_name(level)));
    append_or_fail(L, out, "]\t", 2);
    append_or_fail(L, out, timestamp, 24);
    append_or_fail(L, out, "\t", 1);
    current_invocation_push(L);
    if (lua_istable(L, -1) && lua_getfield(L, -1, "aws_request_id") == LUA_TSTRING) {
        size_t id_len;
        const char *id = lua_tolstring(L, -1, &id_len);
        append_or_fail(L, out, id, id_len);
        append_or_fail(L, out, "\t", 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    append_or_fail(L, out, message, len);
}

static int log_at(lua_State *L, enum log_level level)
{
    const struct log_config *config = log_config();
    if (level < config->minimum) return 0;
    size_t len;
    const char *message = luaL_tolstring(L, 1, &len); /* any value, as print takes */
    struct log_output *o = output(L);
    if (config->json) flush_pending(L, o); /* what io.write began comes first */
    struct buffer *out = &o->record;
    buffer_clear(out);
    if (config->json) {
        open_record(L, out, level);
        append_or_fail(L, out, ",\"message\":", 11);
        log_append_json_string(out, message, len);
        append_fields(L, 2, out, true);
        append_or_fail(L, out, "}\n", 2);
    } else {
        /* A record starts a line: one io.write left unfinished is ended first (a line-buffered
         * stdout holds nothing else). */
        if (__fpending(stdout) > 0 && __flbf(stdout)) fputc('\n', stdout);
        build_text_record(L, out, level, message, len);
        append_fields(L, 2, out, false);
        for (size_t i = 0; i < out->len; i++)
            if (out->data[i] == '\n') out->data[i] = '\r';
        append_or_fail(L, out, "\n", 1);
    }
    fwrite(out->data, 1, out->len, stdout);
    buffer_clear(out);
    buffer_shrink(out, 64 * 1024);
    return 0;
}

static int log_trace(lua_State *L)
{
    return log_at(L, LOG_TRACE);
}
static int log_debug(lua_State *L)
{
    return log_at(L, LOG_DEBUG);
}
static int log_info(lua_State *L)
{
    return log_at(L, LOG_INFO);
}
static int log_warn(lua_State *L)
{
    return log_at(L, LOG_WARN);
}
static int log_error_lua(lua_State *L)
{
    return log_at(L, LOG_ERROR);
}
static int log_fatal(lua_State *L)
{
    return log_at(L, LOG_FATAL);
}

/* raw(text): text and a newline on stdout as they are, outside the log format (an EMF record
 * must be a JSON object of its own). One write to the descriptor: a line io.write left
 * unfinished in stdio's line buffer stays there, unbroken, instead of being split by it. */
static int log_raw(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    struct log_output *o = output(L);
    if (log_config()->json) flush_pending(L, o);
    if (__fpending(stdout) > 0 && !__flbf(stdout)) fflush(stdout); /* a block-buffered stdout */
    struct buffer *out = &o->record;
    buffer_clear(out);
    append_or_fail(L, out, text, len);
    append_or_fail(L, out, "\n", 1);
    write_all(STDOUT_FILENO, out->data, out->len);
    buffer_clear(out);
    buffer_shrink(out, 64 * 1024);
    return 0;
}

/* enabled(level): whether records of that level are written, to skip building costly ones. */
static int log_enabled(lua_State *L)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", NULL};
    int level = luaL_checkoption(L, 1, NULL, names);
    lua_pushboolean(L, level >= (int)log_config()->minimum);
    return 1;
}

int luaopen_moonrun_log(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"trace", log_trace}, {"debug", log_debug},     {"info", log_info},
        {"warn", log_warn},   {"error", log_error_lua}, {"fatal", log_fatal},
        {"raw", log_raw},     {"enabled", log_enabled}, {NULL, NULL}};
    luaL_newlib(L, functions);
    const struct log_config *config = log_config();
    lua_pushstring(L, config->json ? "JSON" : "Text");
    lua_setfield(L, -2, "format");
    lua_pushstring(L, log_level_name(config->minimum));
    lua_setfield(L, -2, "level");
    return 1;
}
