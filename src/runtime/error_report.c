#include "error_report.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "json_text.h"

/* Error messages carry user bytes, and the report must still be valid JSON: invalid UTF-8
 * becomes U+FFFD instead of losing the whole report. */
static void push_valid_utf8(lua_State *L, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    while (p < end) {
        size_t len = *p < 0x80 ? 1 : utf8_sequence_length(p, end);
        if (len)
            luaL_addlstring(&b, (const char *)p, len), p += len;
        else
            luaL_addstring(&b, "\xEF\xBF\xBD"), p++;
    }
    luaL_pushresult(&b);
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* tostring(value) that cannot raise: a __tostring that fails is reported, not propagated. */
static int tostring_unprotected(lua_State *L)
{
    luaL_tolstring(L, 1, NULL);
    return 1;
}

static void push_safe_tostring(lua_State *L, int idx)
{
    lua_pushcfunction(L, tostring_unprotected);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) return;
    const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "a non-string value";
    lua_pushfstring(L, "(a %s error value whose __tostring failed: %s)", luaL_typename(L, idx),
                    why);
    lua_remove(L, -2);
}

/* A string field of the error table, or NULL. */
static const char *string_field(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    const char *value = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* the table still holds the string */
    return value;
}

static void push_message(lua_State *L, int err)
{
    if (lua_type(L, err) == LUA_TTABLE) {
        const char *message = string_field(L, err, "errorMessage");
        if (message) return (void)lua_pushstring(L, message);
        if (luaL_getmetafield(L, err, "__tostring") != LUA_TNIL) {
            lua_pop(L, 1);
            return push_safe_tostring(L, err);
        }
        if ((message = string_field(L, err, "message"))) return (void)lua_pushstring(L, message);
    }
    push_safe_tostring(L, err);
}

static const char *error_type(lua_State *L, int err, const char *message, size_t message_len)
{
    if (lua_type(L, err) == LUA_TTABLE) {
        const char *type = string_field(L, err, "errorType");
        if (!type) type = string_field(L, err, "code");
        if (type) return type;
    }
    /* Lua's own words for a Lua or C stack overflow. */
    if (lua_type(L, err) == LUA_TSTRING && ends_with(message, message_len, "stack overflow"))
        return "StackOverflow";
    return "Error";
}

/* The traceback as an array of lines, without its header and Lua's "[C]: in ?" filler. */
static void push_trace_lines(lua_State *L)
{
    luaL_traceback(L, L, NULL, 1);
    const char *trace = lua_tostring(L, -1);
    lua_newtable(L);
    json_push_array_marker(L);
    lua_setmetatable(L, -2);
    lua_Integer n = 0;
    for (const char *line = trace; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *text = line;
        while (len && (*text == '\t' || *text == ' '))
            text++, len--;
        bool skip = (len == 16 && memcmp(text, "stack traceback:", 16) == 0) ||
                    (len == 9 && memcmp(text, "[C]: in ?", 9) == 0);
        if (!skip && len) {
            push_valid_utf8(L, text, len);
            lua_rawseti(L, -2, ++n);
        }
        line = eol ? eol + 1 : line + strlen(line);
    }
    lua_remove(L, -2);
}

static void push_report(lua_State *L, const char *type, int message_idx, bool with_trace)
{
    message_idx = lua_absindex(L, message_idx);
    lua_createtable(L, 0, 3);
    size_t len;
    const char *message = lua_tolstring(L, message_idx, &len);
    push_valid_utf8(L, message, len);
    lua_setfield(L, -2, "errorMessage");
    push_valid_utf8(L, type, strlen(type));
    lua_setfield(L, -2, "errorType");
    if (with_trace) {
        push_trace_lines(L);
    } else {
        lua_newtable(L);
        json_push_array_marker(L);
        lua_setmetatable(L, -2);
    }
    lua_setfield(L, -2, "stackTrace");
}

int error_report_handler(lua_State *L)
{
    lua_settop(L, 1);
    push_message(L, 1);
    size_t len;
    const char *message = lua_tolstring(L, 2, &len);
    push_report(L, error_type(L, 1, message, len), 2, true);
    return 1;
}

static void set_header_type(struct error_report *report)
{
    const char *type = report->type;
    bool has_category = strncmp(type, "Runtime.", 8) == 0 || strncmp(type, "Function.", 9) == 0;
    const char *reason = has_category ? strchr(type, '.') + 1 : type;
    bool valid = reason[0] >= 'A' && reason[0] <= 'Z' && reason[1] != '\0';
    for (const char *c = reason; valid && *c; c++)
        valid = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z');
    if (!valid)
        snprintf(report->header_type, sizeof report->header_type, "Function.Error");
    else if (has_category)
        snprintf(report->header_type, sizeof report->header_type, "%s", type);
    else
        snprintf(report->header_type, sizeof report->header_type, "Function.%s", type);
}

struct encode_job {
    struct buffer *out;
    struct error_report *report;
    const char *type_override;
};

/* Runs protected: [1] the job, [2] the report table. */
static int encode_report(lua_State *L)
{
    struct encode_job *job = lua_touserdata(L, 1);
    if (job->type_override) {
        lua_pushstring(L, job->type_override);
        lua_setfield(L, 2, "errorType");
    }
    lua_getfield(L, 2, "errorType");
    snprintf(job->report->type, sizeof job->report->type, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    buffer_clear(job->out);
    json_encode(L, 2, job->out, "error");
    return 0;
}

/* The last resort when even a report cannot be built (the heap is exhausted). */
static void write_fallback(struct buffer *out, struct error_report *report, const char *type)
{
    snprintf(report->type, sizeof report->type, "%s", type);
    buffer_clear(out);
    buffer_printf(out,
                  "{\"errorMessage\":\"not enough memory to describe the error\","
                  "\"errorType\":\"%s\",\"stackTrace\":[]}",
                  type);
}

static void finish(lua_State *L, const char *type_override, struct buffer *out,
                   struct error_report *report)
{
    struct encode_job job = {out, report, type_override};
    lua_pushcfunction(L, encode_report);
    lua_pushlightuserdata(L, &job);
    lua_pushvalue(L, -3);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        lua_pop(L, 1);
        write_fallback(out, report, type_override ? type_override : "OutOfMemory");
    }
    lua_pop(L, 1);
    set_header_type(report);
}

struct new_report {
    const char *type, *message;
};

static int build_new_report(lua_State *L)
{
    struct new_report *r = lua_touserdata(L, 1);
    lua_pushstring(L, r->message);
    push_report(L, r->type, -1, false);
    return 1;
}

void error_report_new(lua_State *L, const char *type, const char *message, struct buffer *out,
                      struct error_report *report)
{
    struct new_report r = {type, message};
    lua_pushcfunction(L, build_new_report);
    lua_pushlightuserdata(L, &r);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        write_fallback(out, report, type);
        set_header_type(report);
        return;
    }
    finish(L, NULL, out, report);
}

static int build_memory_report(lua_State *L)
{
    lua_pushliteral(L,
                    "not enough memory (the Lua heap could not grow; see MOONRUN_MEMORY_LIMIT_MB)");
    push_report(L, "OutOfMemory", -1, false);
    return 1;
}

static int build_handler_failure_report(lua_State *L)
{
    push_safe_tostring(L, 1);
    lua_pushfstring(L, "error while reporting an error: %s", lua_tostring(L, -1));
    push_report(L, "Runtime.ErrorHandlingFailed", -1, false);
    return 1;
}

void error_report_from_pcall(lua_State *L, int status, const char *type_override,
                             struct buffer *out, struct error_report *report)
{
    if (status == LUA_ERRRUN && lua_type(L, -1) == LUA_TTABLE) {
        finish(L, type_override, out, report);
        return;
    }
    /* Memory errors skip the message handler, and a failed handler leaves a raw value. */
    lua_gc(L, LUA_GCCOLLECT);
    lua_pushcfunction(L, status == LUA_ERRMEM ? build_memory_report : build_handler_failure_report);
    lua_rotate(L, -2, 1);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        write_fallback(out, report,
                       status == LUA_ERRMEM ? "OutOfMemory" : "Runtime.ErrorHandlingFailed");
        set_header_type(report);
        return;
    }
    finish(L, type_override, out, report);
}
