#include "context.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json.h"
#include "log.h"

#define PREFIX "Lambda-Runtime-"
#define PREFIX_LEN (sizeof PREFIX - 1)

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_time(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "deadline_ms");
    long long remaining = (long long)lua_tointeger(L, -1) - now_ms();
    lua_pushinteger(L, remaining > 0 ? remaining : 0);
    return 1;
}

/* The metatable shared by every context (methods), made once per state. */
static void push_metatable(lua_State *L)
{
    static const char key = 0;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key) != LUA_TNIL) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, remaining_time);
    lua_setfield(L, -2, "get_remaining_time_in_millis");
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "LambdaContext");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key);
}

/* The function's settings, read from the environment once per state and kept as a table whose
 * fields each new context copies: getenv on every invocation would cost more than the copy. */
static const char env_fields_key = 0;

static void push_env_fields(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &env_fields_key) != LUA_TNIL) return;
    lua_pop(L, 1);
    static const char *const fields[][2] = {{"function_name", "AWS_LAMBDA_FUNCTION_NAME"},
                                            {"function_version", "AWS_LAMBDA_FUNCTION_VERSION"},
                                            {"log_group_name", "AWS_LAMBDA_LOG_GROUP_NAME"},
                                            {"log_stream_name", "AWS_LAMBDA_LOG_STREAM_NAME"}};
    lua_createtable(L, 0, 5);
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const char *value = getenv(fields[i][1]);
        if (!value) continue;
        lua_pushstring(L, value);
        lua_setfield(L, -2, fields[i][0]);
    }
    const char *memory = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    if (memory) {
        lua_pushinteger(L, strtoll(memory, NULL, 10));
        lua_setfield(L, -2, "memory_limit_in_mb");
    }
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &env_fields_key);
}

void context_forget_settings(lua_State *L)
{
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &env_fields_key);
}

static int decode_protected(lua_State *L)
{
    json_decode(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
    return 1;
}

/* client_context and identity arrive as JSON; a malformed one is kept as its text. */
static void push_json_or_text(lua_State *L, const struct header_view *h)
{
    lua_pushcfunction(L, decode_protected);
    lua_pushlightuserdata(L, (void *)h->value);
    lua_pushinteger(L, (lua_Integer)h->value_len);
    if (lua_pcall(L, 2, 1, 0) == LUA_OK) return;
    log_error("the %.*s header is not valid JSON (%s); context keeps it as a string",
              (int)h->name_len, h->name, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushlstring(L, h->value, h->value_len);
}

/* Lambda-Runtime-Foo-Bar -> foo_bar, for headers this runtime does not know by name. */
static void push_field_name(lua_State *L, const char *suffix, size_t len)
{
    char name[128];
    if (len >= sizeof name) len = sizeof name - 1;
    for (size_t i = 0; i < len; i++) {
        char c = suffix[i];
        name[i] = c == '-' ? '_' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    lua_pushlstring(L, name, len);
}

static bool suffix_is(const char *suffix, size_t len, const char *known)
{
    return len == strlen(known) && strncasecmp(suffix, known, len) == 0;
}

static void set_header_field(lua_State *L, const struct header_view *h)
{
    const char *suffix = h->name + PREFIX_LEN;
    size_t len = h->name_len - PREFIX_LEN;
    if (suffix_is(suffix, len, "Aws-Request-Id")) {
        lua_pushlstring(L, h->value, h->value_len);
        lua_setfield(L, -2, "aws_request_id");
    } else if (suffix_is(suffix, len, "Deadline-Ms")) {
        lua_pushinteger(L, strtoll(h->value, NULL, 10));
        lua_setfield(L, -2, "deadline_ms");
    } else if (suffix_is(suffix, len, "Invoked-Function-Arn")) {
        lua_pushlstring(L, h->value, h->value_len);
        lua_setfield(L, -2, "invoked_function_arn");
    } else if (suffix_is(suffix, len, "Client-Context")) {
        push_json_or_text(L, h);
        lua_setfield(L, -2, "client_context");
    } else if (suffix_is(suffix, len, "Cognito-Identity")) {
        push_json_or_text(L, h);
        lua_setfield(L, -2, "identity");
    } else {
        push_field_name(L, suffix, len);
        lua_pushlstring(L, h->value, h->value_len);
        lua_rawset(L, -3);
    }
}

void context_push(lua_State *L, const struct header_view *headers, size_t count)
{
    luaL_checkstack(L, 8, "context");
    lua_createtable(L, 0, 16);
    push_metatable(L);
    lua_setmetatable(L, -2);
    push_env_fields(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
    for (size_t i = 0; i < count; i++) {
        const struct header_view *h = &headers[i];
        /* Lambda Managed Instances send Client-Context, Cognito-Identity and Trace-Id empty when
         * there is none: an empty header is an absent one (nil, not a truthy ""). */
        if (h->value_len == 0) continue;
        if (h->name_len > PREFIX_LEN && strncasecmp(h->name, PREFIX, PREFIX_LEN) == 0)
            set_header_field(L, h);
    }
}
