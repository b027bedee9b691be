#include "template_function.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lua_host.h"

struct request {
    const char *template_path, *id, *env_file;
    struct template_function *out;
};

static void set_field_env(lua_State *L, int table, const char *field, const char *variable)
{
    lua_getfield(L, table, field);
    if (lua_isstring(L, -1)) setenv(variable, lua_tostring(L, -1), 1);
    lua_pop(L, 1);
}

/* In a protected call: [1] the request. */
static int resolve(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonrun.template_function");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "resolve");
    lua_pushstring(L, r->template_path);
    lua_pushstring(L, r->id);
    if (r->env_file)
        lua_pushstring(L, r->env_file);
    else
        lua_pushnil(L);
    const char *region = getenv("AWS_REGION");
    if (region && *region)
        lua_pushstring(L, region);
    else
        lua_pushnil(L);
    lua_call(L, 4, 1);
    int fn = lua_gettop(L);
    lua_getfield(L, fn, "handler");
    snprintf(r->out->handler, sizeof r->out->handler, "%s", luaL_checkstring(L, -1));
    lua_getfield(L, fn, "timeout");
    r->out->timeout_ms = (long long)luaL_checkinteger(L, -1) * 1000;
    set_field_env(L, fn, "code_dir", "LAMBDA_TASK_ROOT");
    set_field_env(L, fn, "name", "AWS_LAMBDA_FUNCTION_NAME");
    set_field_env(L, fn, "memory", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    lua_getfield(L, fn, "environment");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1))
            setenv(lua_tostring(L, -2), lua_tostring(L, -1), 1);
        lua_pop(L, 1);
    }
    return 0;
}

bool template_function_apply(const char *template_path, const char *id, const char *env_file,
                             struct template_function *out)
{
    struct lua_host host;
    if (!lua_host_open(&host, ".")) return false;
    struct request r = {template_path, id, env_file, out};
    lua_pushcfunction(host.L, resolve);
    lua_pushlightuserdata(host.L, &r);
    bool ok = lua_pcall(host.L, 1, 0, 0) == LUA_OK;
    if (!ok) {
        const char *message = lua_tostring(host.L, -1);
        log_error("%s",
                  message ? message : "cannot read the template (an error that is not a string)");
    }
    lua_host_close(&host);
    return ok;
}
