#include "invocation.h"

#include <lauxlib.h>
#include <stdio.h>

#include "current_invocation.h"
#include "deadline.h"
#include "json.h"
#include "response_stream.h"

struct event_text {
    const char *text;
    size_t len;
};

/* An empty body is the event {}: Lambda passes {} to the handler of a function invoked without
 * a payload, and moonrun dev's invoke endpoint does the same. */
static int decode_event(lua_State *L)
{
    const struct event_text *event = lua_touserdata(L, 1);
    if (event->len == 0)
        json_decode(L, "{}", 2);
    else
        json_decode(L, event->text, event->len);
    return 1;
}

struct context_headers {
    const struct header_view *headers;
    size_t count;
};

static int push_context(lua_State *L)
{
    const struct context_headers *c = lua_touserdata(L, 1);
    context_push(L, c->headers, c->count);
    return 1;
}

/* The message a failed step left: always a string, but never trust that with user data. */
static const char *step_error(lua_State *L)
{
    const char *message = lua_tostring(L, -1);
    return message ? message : "(error without a message)";
}

static int encode_result(lua_State *L)
{
    json_encode(L, 2, lua_touserdata(L, 1), "result");
    return 0;
}

/* Calls a C step with one light userdata argument; on failure leaves its error on the stack. */
static int run_step(lua_State *L, lua_CFunction step, void *arg, int extra_arg, int results)
{
    lua_pushcfunction(L, step);
    lua_pushlightuserdata(L, arg);
    int args = 1;
    if (extra_arg) lua_pushvalue(L, extra_arg), args = 2;
    return lua_pcall(L, args, results, 0);
}

bool invocation_run(lua_State *L, int function_ref, const char *event, size_t event_len,
                    const struct header_view *headers, size_t header_count, struct buffer *out,
                    struct error_report *report)
{
    bool ok = false;
    lua_settop(L, 0);
    lua_pushcfunction(L, error_report_handler); /* 1 */
    struct event_text text = {event, event_len};
    if (run_step(L, decode_event, &text, 0, 1) != LUA_OK) { /* 2: event */
        error_report_new(L, "Runtime.UnmarshalError", step_error(L), out, report);
        goto done;
    }
    struct context_headers context = {headers, header_count};
    int status = run_step(L, push_context, &context, 0, 1); /* 3: context */
    if (status != LUA_OK) {
        error_report_from_pcall(L, status, NULL, out, report);
        goto done;
    }
    current_invocation_set(L, 3);
    deadline_arm_invocation(L, 3);
    lua_rawgeti(L, LUA_REGISTRYINDEX, function_ref);
    lua_insert(L, 2);
    status = lua_pcall(L, 2, 1, 1); /* 2: result */
    deadline_disarm(L);
    if (status != LUA_OK) {
        error_report_from_pcall(L, status, NULL, out, report);
        goto done;
    }
    if (response_stream_is(L, 2)) {
        ok = response_stream_run(L, 2, out, report);
        goto done;
    }
    buffer_clear(out);
    if (run_step(L, encode_result, out, 2, 0) != LUA_OK) {
        error_report_new(L, "Runtime.MarshalError", step_error(L), out, report);
        goto done;
    }
    ok = true;
done:
    current_invocation_finish(L);
    /* Whatever the handler wrote without a newline reaches the log with its invocation. */
    fflush(stdout);
    lua_settop(L, 0);
    return ok;
}
