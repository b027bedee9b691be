/* os.exit inside the Lambda loop. The C library's exit would end the process with the
 * invocation unanswered: Lambda would then report a bare "Runtime exited" with none of the
 * handler's context. Instead os.exit raises a Runtime.ExitError that is posted as the
 * invocation's error, and the loop then exits with the status asked for. The request is kept
 * even if the handler catches the error with pcall, so the process still exits after
 * answering. */
#include "exit_request.h"

#include <lauxlib.h>
#include <stdlib.h>

static const char pending_key = 0;

static int status_of(lua_State *L)
{
    if (lua_isboolean(L, 1)) return lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
    return (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
}

static int exit_instead(lua_State *L)
{
    int status = status_of(L);
    lua_pushinteger(L, status);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_key);
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "Runtime.ExitError");
    lua_setfield(L, -2, "errorType");
    lua_pushfstring(
        L,
        "the handler called os.exit(%d): moonrun answers this invocation with this error "
        "and then exits with status %d",
        status, status);
    lua_setfield(L, -2, "errorMessage");
    return lua_error(L);
}

void exit_request_install(lua_State *L)
{
    lua_getglobal(L, "os");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, exit_instead);
        lua_setfield(L, -2, "exit");
    }
    lua_pop(L, 1);
}

bool exit_request_pending(lua_State *L, int *status)
{
    bool pending = lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_key) == LUA_TNUMBER;
    if (pending) *status = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return pending;
}
