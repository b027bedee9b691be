#include "shutdown_hook.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "log.h"
#include "lua_host.h"
#include "version.h"

#define EXTENSION_PREFIX "/2020-01-01/extension"

int shutdown_hook_find(lua_State *L, const struct handler *h)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    int ref = LUA_NOREF;
    if (lua_getfield(L, -1, h->module) == LUA_TTABLE &&
        lua_getfield(L, -1, "shutdown") == LUA_TFUNCTION)
        ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
    return ref;
}

void shutdown_hook_register(struct http_conn *conn, const char *api_address)
{
    if (!http_conn_init(conn, api_address)) return; /* the runtime loop reports a bad address */
    static const char headers[] = "User-Agent: moonrun/" MOONRUN_VERSION "\r\n"
                                  "Content-Type: application/json\r\n"
                                  "Lambda-Extension-Name: " SHUTDOWN_EXTENSION_NAME "\r\n";
    static const char body[] = "{\"events\":[]}";
    struct http_response r;
    if (http_request(conn, "POST", EXTENSION_PREFIX "/register", headers, body, sizeof body - 1,
                     &r) != HTTP_OK) {
        log_error("cannot register the shutdown extension at %s (%s): the shutdown function will "
                  "run only "
                  "if SIGTERM comes anyway",
                  api_address, conn->error);
        return;
    }
    size_t id_len = 0;
    const char *id = http_header_value(conn, &r, "Lambda-Extension-Identifier", &id_len);
    if (r.status != 200 || !id || id_len == 0 || id_len > 200) {
        log_error("the Extensions API at %s refused the shutdown extension (status %d): %.*s",
                  api_address, r.status, (int)(r.body_len > 200 ? 200 : r.body_len), r.body);
        return;
    }
    char next_headers[300];
    snprintf(next_headers, sizeof next_headers,
             "User-Agent: moonrun/" MOONRUN_VERSION "\r\n"
             "Lambda-Extension-Identifier: %.*s\r\n",
             (int)id_len, id);
    /* Registered for no events, the answer never comes: the request only tells Lambda this
     * extension is ready, and stays open until moonrun exits. */
    if (http_send_request(conn, "GET", EXTENSION_PREFIX "/event/next", next_headers, NULL, 0) !=
        HTTP_OK)
        log_error("the shutdown extension cannot wait for events at %s: %s", api_address,
                  conn->error);
}

void shutdown_hook_run(lua_State *L, int ref, long long limit_ms)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long stop_at = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + limit_ms;
    lua_settop(L, 0);
    lua_pushcfunction(L, lua_host_traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    char what[96];
    snprintf(what, sizeof what, "the shutdown function ran for longer than its %lld ms", limit_ms);
    deadline_arm(L, stop_at, what);
    int status = lua_pcall(L, 0, 0, 1);
    deadline_disarm(L);
    if (status != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        log_error("the shutdown function failed: %s",
                  message ? message : "(an error without a message)");
    }
    fflush(stdout);
    lua_settop(L, 0);
}
