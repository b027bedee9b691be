/* The moonrun.stream module and the running of a returned stream. A stream is a userdata
 * holding the function, the content type and the encoded HTTP prelude: everything a handler
 * could get wrong (a bad status code, a header that is not a string) is refused when the
 * stream is made, inside the handler, before a byte goes out. */
#include "response_stream.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "modules.h"

#define STREAM_TYPE "moonrun.stream"
#define WRITER_TYPE "moonrun.stream.writer"
#define PRELUDE_FIELDS "statusCode, headers, cookies"
#define MAX_CONTENT_TYPE 256

static const char sink_key = 0, prelude_scratch_key = 0;

/* The state behind one write function. It is a userdata because write may outlive its stream
 * (a handler can keep it in a global): once ended, the sink is never touched again. */
struct writer {
    struct stream_sink *sink;
    bool ended, broken;
};

void response_stream_set_sink(lua_State *L, struct stream_sink *sink)
{
    lua_pushlightuserdata(L, sink);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sink_key);
}

bool response_stream_is(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TUSERDATA && luaL_testudata(L, idx, STREAM_TYPE) != NULL;
}

/* Pushes a new stream object for fn (at fn_idx) with the given type and prelude (at top, or
 * none). */
static void push_stream(lua_State *L, int fn_idx, const char *content_type, bool has_prelude)
{
    int prelude = has_prelude ? lua_gettop(L) : 0;
    lua_newuserdatauv(L, 0, 3);
    lua_pushvalue(L, fn_idx);
    lua_setiuservalue(L, -2, 1);
    lua_pushstring(L, content_type);
    lua_setiuservalue(L, -2, 2);
    if (prelude) {
        lua_pushvalue(L, prelude);
        lua_setiuservalue(L, -2, 3);
    }
    luaL_setmetatable(L, STREAM_TYPE);
}

static void check_function(lua_State *L, int idx, const char *who)
{
    if (lua_isfunction(L, idx)) return;
    luaL_error(L, "%s expects a function that writes the response, got %s", who,
               luaL_typename(L, idx));
}

/* stream(fn [, {content_type = "text/plain"}]), called through the module's __call. */
static int new_stream(lua_State *L)
{
    check_function(L, 2, "stream");
    const char *content_type = STREAM_DEFAULT_TYPE;
    if (!lua_isnoneornil(L, 3)) {
        if (!lua_istable(L, 3))
            return luaL_error(L, "stream: options must be a table, got %s", luaL_typename(L, 3));
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -1), "content_type") != 0)
                return luaL_error(L, "stream: unknown option %s (the option is content_type)",
                                  luaL_tolstring(L, -1, NULL));
        }
        lua_getfield(L, 3, "content_type");
        /* It becomes a header line: no line breaks, and it must fit the request head. */
        size_t len = lua_rawlen(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || len == 0 || len > MAX_CONTENT_TYPE ||
            strlen(lua_tostring(L, -1)) != len || strpbrk(lua_tostring(L, -1), "\r\n"))
            return luaL_error(L,
                              "stream: content_type must be a string of 1 to %d bytes on one line",
                              MAX_CONTENT_TYPE);
        content_type = lua_tostring(L, -1);
    }
    push_stream(L, 2, content_type, false);
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends "headers":{...} with the names sorted, so the prelude's bytes are predictable. */
static void add_headers(lua_State *L, int headers, struct buffer *out)
{
    if (!lua_istable(L, headers))
        luaL_error(L, "stream.http: headers must be a table of name = value, got %s",
                   luaL_typename(L, headers));
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, headers)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "stream.http: header names must be strings");
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "stream.http: header '%s' must be a string, got %s", lua_tostring(L, -2),
                       luaL_typename(L, -1));
        lua_pop(L, 1);
        count++;
    }
    const char **names = lua_newuserdatauv(L, (count ? count : 1) * sizeof *names, 0);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, headers)) {
        lua_pop(L, 1);
        names[n++] = lua_tostring(L, -1); /* kept alive by the headers table */
    }
    qsort(names, count, sizeof *names, compare_names);
    buffer_append_str(out, ",\"headers\":{");
    for (size_t i = 0; i < count; i++) {
        if (i) buffer_append_str(out, ",");
        lua_pushstring(L, names[i]);
        json_encode(L, -1, out, "headers");
        buffer_append_str(out, ":");
        lua_rawget(L, headers);
        json_encode(L, -1, out, "headers");
        lua_pop(L, 1);
    }
    buffer_append_str(out, "}");
    lua_pop(L, 1);
}

static void add_cookies(lua_State *L, int cookies, struct buffer *out)
{
    if (!lua_istable(L, cookies))
        luaL_error(L, "stream.http: cookies must be an array of strings, got %s",
                   luaL_typename(L, cookies));
    buffer_append_str(out, ",\"cookies\":[");
    lua_Integer n = (lua_Integer)lua_rawlen(L, cookies);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, cookies, i) != LUA_TSTRING)
            luaL_error(L, "stream.http: cookie %d must be a string, got %s", (int)i,
                       luaL_typename(L, -1));
        if (i > 1) buffer_append_str(out, ",");
        json_encode(L, -1, out, "cookies");
        lua_pop(L, 1);
    }
    buffer_append_str(out, "]");
}

/* Pushes the prelude JSON for the table at idx: {"statusCode":N,"headers":{},"cookies":[]}. */
static void push_prelude(lua_State *L, int idx)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        if (strcmp(key, "statusCode") && strcmp(key, "headers") && strcmp(key, "cookies"))
            luaL_error(L, "stream.http: unknown field %s (the fields are " PRELUDE_FIELDS ")",
                       luaL_tolstring(L, -1, NULL));
    }
    struct buffer *out = json_scratch_buffer(L, &prelude_scratch_key);
    buffer_clear(out);
    lua_Integer status = 200;
    if (lua_getfield(L, idx, "statusCode") != LUA_TNIL) {
        int is_integer = 0;
        status = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &is_integer) : 0;
        if (!is_integer || status < 100 || status > 599)
            luaL_error(L, "stream.http: statusCode must be an integer from 100 to 599, got %s",
                       luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
    if (!buffer_printf(out, "{\"statusCode\":%d", (int)status))
        luaL_error(L, "stream.http: not enough memory for the prelude");
    if (lua_getfield(L, idx, "headers") != LUA_TNIL) add_headers(L, lua_gettop(L), out);
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "cookies") != LUA_TNIL) add_cookies(L, lua_gettop(L), out);
    lua_pop(L, 1);
    if (!buffer_append_str(out, "}"))
        luaL_error(L, "stream.http: not enough memory for the prelude");
    lua_pushlstring(L, out->data, out->len);
    buffer_clear(out);
}

/* stream.http({statusCode = 200, headers = {...}, cookies = {...}}, fn): for function URLs. */
static int new_http_stream(lua_State *L)
{
    if (!lua_istable(L, 1))
        return luaL_error(L, "stream.http expects a table {" PRELUDE_FIELDS "} first, got %s",
                          luaL_typename(L, 1));
    check_function(L, 2, "stream.http");
    push_prelude(L, 1);
    push_stream(L, 2, STREAM_HTTP_TYPE, true);
    return 1;
}

static int raise_too_large(lua_State *L, size_t sent, size_t more)
{
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "Function.ResponseSizeTooLarge");
    lua_setfield(L, -2, "errorType");
    lua_pushfstring(
        L,
        "stream: this write (%I bytes) would take the streamed response past " STREAM_MAX_TEXT
        ", the most Lambda accepts (%I bytes were sent)",
        (lua_Integer)more, (lua_Integer)sent);
    lua_setfield(L, -2, "errorMessage");
    return lua_error(L);
}

/* write(chunk): sends the chunk at once. Errors carry the caller's file and line (luaL_error),
 * which is where the handler went wrong. */
static int write_chunk(lua_State *L)
{
    struct writer *w = luaL_checkudata(L, lua_upvalueindex(1), WRITER_TYPE);
    if (w->ended)
        return luaL_error(L, "stream: write after the stream ended (its function had returned)");
    if (w->broken)
        return luaL_error(L, "stream: write after the response stream broke: %s", w->sink->error);
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "stream: write expects a string, got %s", luaL_typename(L, 1));
    size_t len;
    const char *bytes = lua_tolstring(L, 1, &len);
    if (len == 0) return 0; /* an empty chunk would end the chunked body */
    if (len > STREAM_MAX_BYTES - w->sink->sent) return raise_too_large(L, w->sink->sent, len);
    if (!w->sink->write(w->sink, bytes, len)) {
        w->broken = true;
        return luaL_error(L, "stream: the response stream broke: %s", w->sink->error);
    }
    w->sink->sent += len;
    return 0;
}

bool response_stream_run(lua_State *L, int idx, struct buffer *out, struct error_report *report)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sink_key);
    struct stream_sink *sink = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!sink) {
        error_report_new(L, "Runtime.StreamingUnsupported",
                         "this moonrun command cannot stream a response", out, report);
        return false;
    }
    sink->started = false;
    sink->sent = 0;
    lua_getiuservalue(L, idx, 2);
    lua_getiuservalue(L, idx, 3);
    size_t prelude_len = 0;
    const char *prelude = lua_tolstring(L, -1, &prelude_len);
    bool opened = sink->open(sink, lua_tostring(L, -2), prelude, prelude_len);
    lua_pop(L, 2);
    if (!opened) {
        error_report_new(L, "Runtime.StreamError", sink->error, out, report);
        return false;
    }
    sink->started = true;
    lua_getiuservalue(L, idx, 1);
    struct writer *w = lua_newuserdatauv(L, sizeof *w, 0);
    *w = (struct writer){.sink = sink};
    luaL_setmetatable(L, WRITER_TYPE);
    lua_pushcclosure(L, write_chunk, 1);
    int status = lua_pcall(L, 1, 0, 1);
    w->ended = true;
    if (status != LUA_OK) {
        error_report_from_pcall(L, status, NULL, out, report);
        sink->close(sink, report, out->data, out->len);
        return false;
    }
    buffer_clear(out);
    sink->close(sink, NULL, NULL, 0);
    return true;
}

static int stream_tostring(lua_State *L)
{
    lua_getiuservalue(L, 1, 2);
    lua_pushfstring(L, "moonrun.stream (%s)", lua_tostring(L, -1));
    return 1;
}

int luaopen_moonrun_stream(lua_State *L)
{
    luaL_newmetatable(L, STREAM_TYPE);
    lua_pushcfunction(L, stream_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, STREAM_TYPE);
    lua_setfield(L, -2, "__name");
    luaL_newmetatable(L, WRITER_TYPE);
    lua_pop(L, 2);
    static const luaL_Reg functions[] = {{"http", new_http_stream}, {NULL, NULL}};
    luaL_newlib(L, functions);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, new_stream);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    return 1;
}
