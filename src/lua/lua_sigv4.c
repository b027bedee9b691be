/* The `moonrun.sigv4` module: sigv4.sign{...} signs a request with AWS Signature Version 4 (see
 * sigv4.h) and returns the headers or URL to send. One signer lives in the module (an upvalue
 * userdata), so its buffers and derived keys are reused from one request to the next. */
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modules.h"
#include "sigv4.h"

#define ERR_SIZE 640

struct sigv4_module {
    struct sigv4_signer signer;
    struct sigv4_header *headers; /* the request's headers, gathered from the Lua table */
    size_t header_cap;
};

static const char *const known_fields[] = {"method",
                                           "url",
                                           "headers",
                                           "body",
                                           "payload_hash",
                                           "access_key_id",
                                           "secret_access_key",
                                           "session_token",
                                           "region",
                                           "service",
                                           "time",
                                           "normalize_path",
                                           "content_sha256_header",
                                           "presign",
                                           "omit_session_token"};

/* A misspelt optional field would otherwise be ignored, and sign something else. The known
 * names are a set (upvalue 2): one hash lookup per field. */
static void check_field_names(lua_State *L)
{
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "sigv4: fields are named by strings, got a %s key", luaL_typename(L, -1));
        lua_pushvalue(L, -1);
        bool known = lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL;
        lua_pop(L, 1);
        if (!known) luaL_error(L, "sigv4: unknown field '%s'", lua_tostring(L, -1));
    }
}

/* The string in field, or NULL when it is absent. Strings stay alive in the argument table. */
static const char *string_field(lua_State *L, const char *field, bool required, size_t *len)
{
    int type = lua_getfield(L, 1, field);
    const char *value = NULL;
    if (type == LUA_TNIL && required) luaL_error(L, "sigv4: '%s' is required", field);
    if (type != LUA_TNIL && type != LUA_TSTRING)
        luaL_error(L, "sigv4: '%s' must be a string, got %s", field, luaL_typename(L, -1));
    size_t n = 0;
    if (type == LUA_TSTRING) value = lua_tolstring(L, -1, &n);
    if (value && !len && strlen(value) != n)
        luaL_error(L, "sigv4: '%s' must not contain NUL bytes", field);
    if (len) *len = n;
    lua_pop(L, 1);
    return value;
}

static bool boolean_field(lua_State *L, const char *field, bool default_value)
{
    int type = lua_getfield(L, 1, field);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        luaL_error(L, "sigv4: '%s' must be a boolean, got %s", field, luaL_typename(L, -1));
    bool value = type == LUA_TNIL ? default_value : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return value;
}

static int64_t time_field(lua_State *L)
{
    int type = lua_getfield(L, 1, "time");
    int64_t t;
    if (type == LUA_TNIL) {
        t = (int64_t)time(NULL);
    } else if (type != LUA_TNUMBER) {
        return luaL_error(L, "sigv4: 'time' must be a number of seconds since the epoch, got %s",
                          luaL_typename(L, -1));
    } else if (lua_isinteger(L, -1)) {
        t = (int64_t)lua_tointeger(L, -1);
    } else {
        double seconds = floor(lua_tonumber(L, -1));
        t = seconds >= 0 && seconds < 1e15 ? (int64_t)seconds : -1; /* the core names the range */
    }
    lua_pop(L, 1);
    return t;
}

static long presign_field(lua_State *L)
{
    int type = lua_getfield(L, 1, "presign");
    int is_integer = 0;
    lua_Integer seconds = lua_tointegerx(L, -1, &is_integer);
    if (type != LUA_TNIL && (type != LUA_TNUMBER || !is_integer || seconds < 1 || seconds > 604800))
        luaL_error(L, "sigv4: 'presign' must be a whole number of seconds from 1 to 604800, got %s",
                   type == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    lua_pop(L, 1);
    return type == LUA_TNIL ? 0 : (long)seconds;
}

static void add_header(lua_State *L, struct sigv4_module *m, size_t *count, int name_at,
                       int value_at)
{
    const char *name = lua_tostring(L, name_at);
    if (lua_type(L, value_at) != LUA_TSTRING)
        luaL_error(L, "sigv4: header '%s' must have a string value, got %s", name,
                   luaL_typename(L, value_at));
    size_t n;
    const char *value = lua_tolstring(L, value_at, &n);
    if (strlen(value) != n) luaL_error(L, "sigv4: header '%s' must not contain NUL bytes", name);
    if (*count == m->header_cap) {
        size_t cap = m->header_cap ? 2 * m->header_cap : 16;
        struct sigv4_header *grown = realloc(m->headers, cap * sizeof *grown);
        if (!grown) luaL_error(L, "sigv4: out of memory for the headers");
        m->headers = grown;
        m->header_cap = cap;
    }
    m->headers[(*count)++] = (struct sigv4_header){name, value};
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const struct sigv4_header *)a)->name, ((const struct sigv4_header *)b)->name);
}

/* headers is a map name -> value, or an array of {name, value} pairs (repeats allowed, order
 * kept), or both; the array part comes first. */
static size_t gather_headers(lua_State *L, struct sigv4_module *m)
{
    int type = lua_getfield(L, 1, "headers");
    size_t count = 0;
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (type != LUA_TTABLE)
        luaL_error(L, "sigv4: 'headers' must be a table, got %s", luaL_typename(L, -1));
    int headers = lua_gettop(L);
    lua_Integer pairs = (lua_Integer)lua_rawlen(L, headers);
    for (lua_Integer i = 1; i <= pairs; i++) {
        if (lua_rawgeti(L, headers, i) != LUA_TTABLE)
            luaL_error(L, "sigv4: headers[%I] must be a {name, value} pair, got %s", i,
                       luaL_typename(L, -1));
        if (lua_rawgeti(L, -1, 1) != LUA_TSTRING)
            luaL_error(L, "sigv4: headers[%I][1], the header's name, must be a string, got %s", i,
                       luaL_typename(L, -1));
        lua_rawgeti(L, -2, 2);
        add_header(L, m, &count, -2, -1);
        lua_pop(L, 3);
    }
    size_t listed = count;
    lua_pushnil(L);
    while (lua_next(L, headers)) {
        if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && lua_tointeger(L, -2) <= pairs) {
            lua_pop(L, 1);
            continue;
        }
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "sigv4: 'headers' must map names (strings) to values, got a %s key",
                       luaL_typename(L, -2));
        add_header(L, m, &count, -2, -1);
        lua_pop(L, 1);
    }
    /* a map's order is the hash table's: names that differ only in case ("X-Foo", "x-foo")
     * would have their values joined in a different order from run to run */
    if (count - listed > 1)
        qsort(m->headers + listed, count - listed, sizeof *m->headers, compare_names);
    lua_pop(L, 1);
    return count;
}

/* The core never quotes a credential; this makes sure of it whatever the message. */
static int raise(lua_State *L, const char *err, const struct sigv4_request *req)
{
    const char *secrets[] = {req->secret_access_key, req->session_token};
    for (size_t i = 0; i < 2; i++)
        if (secrets[i] && *secrets[i] && strstr(err, secrets[i]))
            return luaL_error(L, "sigv4: the request cannot be signed (the reason would show a "
                                 "credential)");
    return luaL_error(L, "sigv4: %s", err);
}

static void set_string(lua_State *L, const char *key, const char *value, size_t n)
{
    lua_pushlstring(L, value, n);
    lua_setfield(L, -2, key);
}

static void push_result(lua_State *L, const struct sigv4_request *req, const struct sigv4_signer *s)
{
    lua_createtable(L, 0, 6);
    bool header_mode = req->expires == 0;
    lua_createtable(L, 0, header_mode ? 4 : 0);
    if (header_mode) {
        set_string(L, "X-Amz-Date", s->amz_date, 16);
        set_string(L, "Authorization", s->authorization.data, s->authorization.len);
        if (req->session_token) lua_pushstring(L, req->session_token);
        if (req->session_token) lua_setfield(L, -2, "X-Amz-Security-Token");
        if (req->content_sha256_header) lua_pushstring(L, s->payload_hash);
        if (req->content_sha256_header) lua_setfield(L, -2, "x-amz-content-sha256");
    }
    lua_setfield(L, -2, "headers");
    if (header_mode) {
        lua_getfield(L, 1, "url"); /* the caller's string itself, not a copy */
        lua_setfield(L, -2, "url");
    } else {
        set_string(L, "url", s->url.data, s->url.len);
    }
    set_string(L, "signature", s->signature, 2 * CRYPTO_SHA256_SIZE);
    set_string(L, "canonical_request", s->canonical_request.data, s->canonical_request.len);
    set_string(L, "string_to_sign", s->string_to_sign.data, s->string_to_sign.len);
    set_string(L, "amz_date", s->amz_date, 16);
}

static int sigv4_lua_sign(lua_State *L)
{
    struct sigv4_module *m = lua_touserdata(L, lua_upvalueindex(1));
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L, "sigv4: sign expects a table of fields, got %s", luaL_typename(L, 1));
    lua_settop(L, 1);
    check_field_names(L);
    struct sigv4_request req = {0};
    req.method = string_field(L, "method", true, NULL);
    req.url = string_field(L, "url", true, NULL);
    req.body = string_field(L, "body", false, &req.body_len);
    req.payload_hash = string_field(L, "payload_hash", false, NULL);
    req.access_key_id = string_field(L, "access_key_id", true, NULL);
    req.secret_access_key = string_field(L, "secret_access_key", true, NULL);
    req.session_token = string_field(L, "session_token", false, NULL);
    if (req.session_token && !*req.session_token) req.session_token = NULL;
    req.region = string_field(L, "region", true, NULL);
    req.service = string_field(L, "service", true, NULL);
    req.time = time_field(L);
    /* S3 object keys keep their dots and repeated slashes */
    req.normalize_path = boolean_field(L, "normalize_path", strcmp(req.service, "s3") != 0);
    req.content_sha256_header = boolean_field(L, "content_sha256_header", false);
    req.expires = presign_field(L);
    req.omit_session_token = boolean_field(L, "omit_session_token", false);
    req.header_count = gather_headers(L, m);
    req.headers = m->headers;
    char err[ERR_SIZE];
    if (!sigv4_sign(&m->signer, &req, err, sizeof err)) return raise(L, err, &req);
    push_result(L, &req, &m->signer);
    return 1;
}

static int sigv4_module_gc(lua_State *L)
{
    struct sigv4_module *m = lua_touserdata(L, 1);
    sigv4_signer_free(&m->signer);
    free(m->headers);
    m->headers = NULL;
    m->header_cap = 0;
    return 0;
}

int luaopen_moonrun_sigv4(lua_State *L)
{
    static const luaL_Reg functions[] = {{"sign", sigv4_lua_sign}, {NULL, NULL}};
    luaL_newlibtable(L, functions);
    struct sigv4_module *m = lua_newuserdatauv(L, sizeof *m, 0);
    *m = (struct sigv4_module){0};
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, sigv4_module_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    size_t n = sizeof known_fields / sizeof *known_fields;
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, known_fields[i]);
    }
    luaL_setfuncs(L, functions, 2);
    return 1;
}
