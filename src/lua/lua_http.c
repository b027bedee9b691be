/* The `moonrun.http` module: http.request{...} for one request, http.request_many{...} for
 * several at once, over the pooled libcurl client in http_pool.h (libcurl is loaded on the
 * first request). A complete HTTP response, whatever its status, is a result; only a transfer
 * that got no complete response is an error value ({kind, message, curl_code, sent}), so the AWS
 * layer decides what a 4xx or 5xx means. Bad arguments raise errors beginning "http:". */
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "deadline.h"
#include "http_failure.h"
#include "http_pool.h"
#include "modules.h"

#define POOL_KEY "moonrun.http.pool"
#define ERR_SIZE 1024
#define AUTHORITY_SIZE 300
#define MAX_SECONDS 86400.0 /* longer than any Lambda invocation can wait */

/* Raises the message without luaL_error's "file:line:" prefix: the caller is usually the AWS
 * layer's Lua code, whose file and line would tell the user nothing; the message names the
 * field instead. */
static int raise_error(lua_State *L, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    lua_pushvfstring(L, format, args);
    va_end(args);
    return lua_error(L);
}

/* A bad value as an error message shows it: a string quoted, a number as written, else its type. */
static const char *shown(lua_State *L, int index)
{
    switch (lua_type(L, index)) {
    case LUA_TSTRING:
        return lua_pushfstring(L, "'%s'", lua_tostring(L, index));
    case LUA_TNUMBER:
        return luaL_tolstring(L, index, NULL);
    default:
        return lua_pushfstring(L, "a %s", luaL_typename(L, index));
    }
}

static const char *const request_fields[] = {"method", "url",     "headers",
                                             "body",   "timeout", "connect_timeout"};

/* A request table may hold only the fields above: a misspelt one would otherwise be ignored. */
static void check_fields(lua_State *L, int t, const char *where)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (size_t i = 0; i < sizeof request_fields / sizeof *request_fields; i++)
                known = known || strcmp(lua_tostring(L, -1), request_fields[i]) == 0;
        if (!known)
            raise_error(L,
                        "http: %sunknown field %s in the request (the fields are method, url, "
                        "headers, body, timeout and connect_timeout)",
                        where, shown(L, -1));
    }
}

/* The URL's "host:port", with the scheme's default port when it has none: what a failure's
 * message names. False when url is not http:// or https:// with a host. */
static bool url_authority(const char *url, char *out, size_t size)
{
    bool https = strncasecmp(url, "https://", 8) == 0;
    if (!https && strncasecmp(url, "http://", 7) != 0) return false;
    const char *start = url + (https ? 8 : 7);
    size_t len = strcspn(start, "/?#");
    for (size_t i = len; i > 0; i--) { /* skip user:password@ */
        if (start[i - 1] != '@') continue;
        start += i;
        len -= i;
        break;
    }
    const char *bracket = memchr(start, ']', len); /* an IPv6 address: [::1]:8080 */
    const char *after_host = bracket ? bracket + 1 : start;
    bool has_port = memchr(after_host, ':', len - (size_t)(after_host - start)) != NULL;
    if (len == 0 || start[0] == ':') return false;
    snprintf(out, size, "%.*s%s", (int)len, start, has_port ? "" : https ? ":443" : ":80");
    return true;
}

static const char *check_url(lua_State *L, int t, const char *where)
{
    lua_getfield(L, t, "url");
    if (lua_isnil(L, -1)) raise_error(L, "http: %s'url' is required (an http or https URL)", where);
    if (lua_type(L, -1) != LUA_TSTRING)
        raise_error(L, "http: %s'url' must be an http or https URL, got %s", where, shown(L, -1));
    const char *url = lua_tostring(L, -1);
    char authority[AUTHORITY_SIZE];
    if (!url_authority(url, authority, sizeof authority))
        raise_error(L, "http: %s'url' must be an http or https URL, got '%s'", where, url);
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= ' ' || *c == 0x7F)
            raise_error(L, "http: %s'url' must not contain spaces or control characters, got '%s'",
                        where, url);
    if (strlen(url) != lua_rawlen(L, -1))
        raise_error(L, "http: %s'url' must not contain a zero byte", where);
    lua_pop(L, 1); /* the string stays alive in the request table */
    return url;
}

/* An HTTP token (RFC 9110): what a method and a header name are made of. */
static bool is_token(const char *s, size_t n)
{
    static const char others[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') &&
            !(c && strchr(others, c)))
            return false;
    }
    return n > 0;
}

static const char *check_method(lua_State *L, int t, const char *where)
{
    lua_getfield(L, t, "method");
    const char *method = "GET";
    if (!lua_isnil(L, -1)) {
        size_t n;
        method = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
        if (!method || !is_token(method, n))
            raise_error(L,
                        "http: %s'method' must be an HTTP method such as 'GET' or 'POST', got %s",
                        where, shown(L, -1));
    }
    lua_pop(L, 1);
    return method;
}

static const char *check_body(lua_State *L, int t, const char *where, size_t *len)
{
    lua_getfield(L, t, "body");
    const char *body = NULL;
    *len = 0;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            raise_error(L, "http: %s'body' must be a string, got %s", where, luaL_typename(L, -1));
        body = lua_tolstring(L, -1, len);
    }
    lua_pop(L, 1);
    return body;
}

static long check_seconds(lua_State *L, int t, const char *field, const char *where,
                          long default_ms)
{
    lua_getfield(L, t, field);
    long ms = default_ms;
    if (!lua_isnil(L, -1)) {
        double seconds = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : NAN;
        if (!(seconds > 0 && seconds <= MAX_SECONDS))
            raise_error(L,
                        "http: %s'%s' must be a number of seconds above 0 and at most %d, got %s",
                        where, field, (int)MAX_SECONDS, shown(L, -1));
        ms = (long)ceil(seconds * 1000); /* libcurl takes 0 as "no timeout": never round to 0 */
    }
    lua_pop(L, 1);
    return ms;
}

static void add_headers(lua_State *L, int t, const char *where, struct http_slot *slot)
{
    lua_getfield(L, t, "headers");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        raise_error(L, "http: %s'headers' must be a table of name = value strings, got %s", where,
                    luaL_typename(L, -1));
    int headers = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, headers)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            raise_error(L, "http: %s'headers' must map names to strings, got a %s key", where,
                        luaL_typename(L, -2));
        size_t name_len, value_len;
        const char *name = lua_tolstring(L, -2, &name_len);
        if (!is_token(name, name_len))
            raise_error(L, "http: %sheader name '%s' is not a valid HTTP header name", where, name);
        if (lua_type(L, -1) != LUA_TSTRING)
            raise_error(L, "http: %sheader '%s' must be a string, got %s", where, name,
                        luaL_typename(L, -1));
        const char *value = lua_tolstring(L, -1, &value_len);
        if (strcspn(value, "\r\n") != value_len) /* also catches a zero byte */
            raise_error(L, "http: %sheader '%s' must not contain line breaks or zero bytes", where,
                        name);
        if (!http_slot_add_header(slot, name, name_len, value, value_len))
            raise_error(L, "http: out of memory for the request's headers");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* No request waits past the invocation's deadline: a hook cannot interrupt libcurl. The cap is
 * a few milliseconds past it, so that a transfer it cut short finds the deadline passed. */
static void cap_at_deadline(lua_State *L, struct http_request *request)
{
    long long left_ms = deadline_remaining_ms(L);
    if (left_ms == DEADLINE_NONE) return;
    if (left_ms == 0) deadline_raise(L, 1);
    left_ms += 3;
    if (request->timeout_ms > left_ms) request->timeout_ms = (long)left_ms;
    if (request->connect_timeout_ms > left_ms) request->connect_timeout_ms = (long)left_ms;
}

/* Asked while the transfers run: the deadline has passed, or a SIGTERM stopped the invocation
 * (whose signal woke the wait). */
static bool deadline_passed(void *L)
{
    return deadline_remaining_ms(L) == 0;
}

/* After the transfers: when the deadline cut them short, that is the error to raise, not a
 * timeout the caller might retry. */
static void raise_if_deadline_passed(lua_State *L, struct http_pool *pool)
{
    if (deadline_remaining_ms(L) != 0) return;
    http_pool_release(pool);
    deadline_raise(L, 1);
}

/* Checks the request table at index t and sets up the next slot for it. A bad field raises;
 * the slots taken so far are taken back by the next call's http_pool_start. */
static void prepare(lua_State *L, struct http_pool *pool, int t, const char *where)
{
    check_fields(L, t, where);
    struct http_request request = {
        .method = check_method(L, t, where),
        .url = check_url(L, t, where),
        .timeout_ms = check_seconds(L, t, "timeout", where, HTTP_DEFAULT_TIMEOUT_MS),
        .connect_timeout_ms =
            check_seconds(L, t, "connect_timeout", where, HTTP_DEFAULT_CONNECT_TIMEOUT_MS),
    };
    request.body = check_body(L, t, where, &request.body_len);
    cap_at_deadline(L, &request);
    struct http_slot *slot = http_pool_take(pool);
    if (!slot) raise_error(L, "http: out of memory for a new connection handle");
    add_headers(L, t, where, slot);
    char err[ERR_SIZE];
    if (!http_slot_prepare(pool, slot, &request, err, sizeof err)) raise_error(L, "http: %s", err);
}

static void push_response(lua_State *L, const struct http_pool *pool, const struct http_slot *slot)
{
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, http_slot_status(pool, slot));
    lua_setfield(L, -2, "status");
    lua_newtable(L);
    const struct buffer *pairs = &slot->response_headers;
    for (size_t at = 0; at < pairs->len;) {
        const char *name = pairs->data + at;
        const char *value = name + strlen(name) + 1;
        at = (size_t)(value - pairs->data) + strlen(value) + 1;
        if (lua_getfield(L, -1, name) == LUA_TSTRING) { /* a repeated header: join the values */
            lua_pushliteral(L, ", ");
            lua_pushstring(L, value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, value);
        }
        lua_setfield(L, -2, name);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, slot->body.data ? slot->body.data : "", slot->body.len);
    lua_setfield(L, -2, "body");
}

/* request is the index of the request table the slot ran, for its URL. */
static void push_failure(lua_State *L, const struct http_pool *pool, const struct http_slot *slot,
                         int request)
{
    request = lua_absindex(L, request);
    lua_getfield(L, request, "url");
    char authority[AUTHORITY_SIZE];
    if (!url_authority(lua_tostring(L, -1), authority, sizeof authority))
        snprintf(authority, sizeof authority, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    char message[ERR_SIZE];
    enum http_failure_kind kind =
        http_failure_describe(pool, slot, authority, message, sizeof message);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, http_failure_kind_name(kind));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, slot->result);
    lua_setfield(L, -2, "curl_code");
    /* Once the connection was ready the request may have reached the server: a failure after
     * that leaves its outcome unknown, and a resend may repeat what it did. */
    curl_off_t pretransfer_us = 0;
    pool->curl->easy_getinfo(slot->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
    lua_pushboolean(L, pretransfer_us > 0);
    lua_setfield(L, -2, "sent");
}

static struct http_pool *start(lua_State *L)
{
    struct http_pool *pool = lua_touserdata(L, lua_upvalueindex(1));
    char err[ERR_SIZE];
    if (!http_pool_start(pool, err, sizeof err)) raise_error(L, "http: %s", err);
    return pool;
}

static int http_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    struct http_pool *pool = start(L);
    prepare(L, pool, 1, "");
    http_pool_perform(pool, deadline_passed, L);
    raise_if_deadline_passed(L, pool);
    const struct http_slot *slot = pool->slots[0];
    int results = 1;
    if (slot->result == CURLE_OK) {
        push_response(L, pool, slot);
    } else {
        lua_pushnil(L);
        push_failure(L, pool, slot, 1);
        results = 2;
    }
    http_pool_release(pool);
    return results;
}

static int http_request_many(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer count = (lua_Integer)lua_rawlen(L, 1);
    struct http_pool *pool = start(L);
    for (lua_Integer i = 1; i <= count; i++) {
        char where[48];
        snprintf(where, sizeof where, "request %lld: ", (long long)i);
        if (lua_rawgeti(L, 1, i) != LUA_TTABLE)
            raise_error(L, "http: request_many's request %d must be a table, got %s", (int)i,
                        luaL_typename(L, -1));
        prepare(L, pool, lua_gettop(L), where);
        lua_pop(L, 1);
    }
    http_pool_perform(pool, deadline_passed, L);
    raise_if_deadline_passed(L, pool);
    lua_createtable(L, (int)count, 0);
    for (lua_Integer i = 1; i <= count; i++) {
        const struct http_slot *slot = pool->slots[i - 1];
        if (slot->result == CURLE_OK) {
            push_response(L, pool, slot);
        } else {
            lua_rawgeti(L, 1, i);
            lua_createtable(L, 0, 1);
            push_failure(L, pool, slot, -2);
            lua_setfield(L, -2, "error");
            lua_remove(L, -2);
        }
        lua_rawseti(L, -2, i);
    }
    http_pool_release(pool);
    return 1;
}

static int close_pool(lua_State *L)
{
    http_pool_close(lua_touserdata(L, 1));
    return 0;
}

/* One pool per Lua state, kept in the registry, so that every require shares its connections
 * and lua_close frees them (and libcurl's global state) through __gc. */
static void push_pool(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, POOL_KEY) == LUA_TUSERDATA) return;
    lua_pop(L, 1);
    struct http_pool *pool = lua_newuserdatauv(L, sizeof *pool, 0);
    *pool = (struct http_pool){0};
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, close_pool);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, POOL_KEY);
}

int luaopen_moonrun_http(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"request", http_request}, {"request_many", http_request_many}, {NULL, NULL}};
    luaL_newlibtable(L, functions);
    push_pool(L);
    luaL_setfuncs(L, functions, 1);
    return 1;
}
