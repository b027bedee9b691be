/* moonrun.log: leveled records with fields, as JSON records or text lines (log_record.h has the
 * format). In C rather than Lua because it runs on every log line of every function: a record is
 * built in one kept buffer and written with one call. */
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
#include "log_stdout.h"
#include "modules.h"

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
            log_output_append(L, out, s, len);
        else
            log_append_json_string(out, s, len);
        return;
    }
    if (lua_isinteger(L, -1)) { /* the usual field (an id, a count): no JSON writer needed */
        char number[32];
        int n = snprintf(number, sizeof number, LUA_INTEGER_FMT, lua_tointeger(L, -1));
        log_output_append(L, out, number, (size_t)n);
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
            log_output_append(L, out, ",", 1);
            log_append_json_string(out, key, key_len);
            log_output_append(L, out, ":", 1);
        } else {
            log_output_append(L, out, " ", 1);
            log_output_append(L, out, key, key_len);
            log_output_append(L, out, "=", 1);
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
    log_output_append(L, out, "[", 1);
    log_output_append(L, out, log_level_name(level), strlen(log_level_name(level)));
    log_output_append(L, out, "]\t", 2);
    log_output_append(L, out, timestamp, 24);
    log_output_append(L, out, "\t", 1);
    current_invocation_push(L);
    if (lua_istable(L, -1) && lua_getfield(L, -1, "aws_request_id") == LUA_TSTRING) {
        size_t id_len;
        const char *id = lua_tolstring(L, -1, &id_len);
        log_output_append(L, out, id, id_len);
        log_output_append(L, out, "\t", 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    log_output_append(L, out, message, len);
}

static int log_at(lua_State *L, enum log_level level)
{
    const struct log_config *config = log_config();
    if (level < config->minimum) return 0;
    size_t len;
    const char *message = luaL_tolstring(L, 1, &len); /* any value, as print takes */
    struct log_output *o = log_output(L);
    if (config->json) log_output_flush_pending(L, o); /* what io.write began comes first */
    struct buffer *out = &o->record;
    buffer_clear(out);
    if (config->json) {
        log_output_open_record(L, out, level);
        log_output_append(L, out, ",\"message\":", 11);
        log_append_json_string(out, message, len);
        append_fields(L, 2, out, true);
        log_output_append(L, out, "}\n", 2);
    } else {
        /* A record starts a line: one io.write left unfinished is ended first (a line-buffered
         * stdout holds nothing else). */
        if (__fpending(stdout) > 0 && __flbf(stdout)) fputc('\n', stdout);
        build_text_record(L, out, level, message, len);
        append_fields(L, 2, out, false);
        for (size_t i = 0; i < out->len; i++)
            if (out->data[i] == '\n') out->data[i] = '\r';
        log_output_append(L, out, "\n", 1);
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
    struct log_output *o = log_output(L);
    if (log_config()->json) log_output_flush_pending(L, o);
    if (__fpending(stdout) > 0 && !__flbf(stdout)) fflush(stdout); /* a block-buffered stdout */
    struct buffer *out = &o->record;
    buffer_clear(out);
    log_output_append(L, out, text, len);
    log_output_append(L, out, "\n", 1);
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
