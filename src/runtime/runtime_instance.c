/* One runtime instance's life: open its Runtime API connection, Lua state and handler, serve
 * invocations (poll /next, run the handler, post the outcome), run the shutdown function, close.
 * The single loop and every worker go through here, so they start and stop alike. */
#include "runtime_instance.h"

#include <lauxlib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "exit_request.h"
#include "invocation.h"
#include "log.h"
#include "runtime_stop.h"
#include "runtime_stream.h"
#include "shutdown_hook.h"
#include "trace_env.h"

/* Above this, an invocation's buffers and garbage are given back at once instead of waiting
 * for the collector, so a 6 MB payload does not leave the process 6 MB larger. */
#define LARGE_PAYLOAD (1024 * 1024)

int runtime_instance_exit_status(int status)
{
    return status & 0xff;
}

enum runtime_instance_state runtime_instance_open(struct runtime_instance *in,
                                                  const char *api_address, int stop_fd,
                                                  struct runtime_instance_role role)
{
    *in = (struct runtime_instance){.role = role,
                                    .api_address = api_address,
                                    .shutdown_ref = LUA_NOREF,
                                    .extension = {.fd = -1}};
    in->state = INSTANCE_SETUP_FAILED;
    in->api_open = runtime_api_init(&in->api, api_address, stop_fd);
    if (!in->api_open) return in->state;
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    if (!lua_host_open(&in->host, task_root && *task_root ? task_root : ".")) return in->state;
    exit_request_install(in->host.L);
    if (!handler_load(in->host.L, getenv("_HANDLER"), in->host.task_root, &in->h, &in->out,
                      &in->report)) {
        in->state = INSTANCE_INIT_ERROR;
        return in->state;
    }
    /* Lambda wants every extension registered before init ends, so before the first /next. */
    in->shutdown_ref = shutdown_hook_find(in->host.L, &in->h);
    if (in->shutdown_ref != LUA_NOREF && role.registers_extension)
        shutdown_hook_register(&in->extension, api_address);
    in->state = INSTANCE_READY;
    return in->state;
}

void runtime_instance_report_init_error(struct runtime_instance *in)
{
    log_error("%s: %.*s", in->report.type, (int)in->out.len, in->out.data);
    runtime_api_post_init_error(&in->api, &in->report, in->out.data, in->out.len);
}

int runtime_instance_init_exit_code(struct runtime_instance *in)
{
    int status = 1;
    if (in->state == INSTANCE_INIT_ERROR) exit_request_pending(in->host.L, &status);
    return runtime_instance_exit_status(status);
}

static void post_failure(struct runtime_api *api, const char *request_id, const struct buffer *out,
                         const struct error_report *report)
{
    log_invocation_failure(request_id, out->data, out->len);
    runtime_api_post_error(api, request_id, report, out->data, out->len);
}

/* Posts a handler's result. One Lambda would refuse is not sent: its error is posted instead,
 * as Lambda would report it, since after a 413 Lambda takes no error post (it answers 403).
 * Either way the log has one line saying what happened. */
static void post_result(struct runtime_api *api, lua_State *L, const char *request_id,
                        struct buffer *out, struct error_report *report)
{
    if (out->len <= RUNTIME_API_MAX_RESPONSE) {
        runtime_api_post_response(api, request_id, out->data, out->len); /* a 413 is logged there */
        return;
    }
    char message[200];
    snprintf(message, sizeof message,
             "the response is %zu bytes, more than the %d bytes Lambda accepts", out->len,
             RUNTIME_API_MAX_RESPONSE);
    log_error("invocation %s: %s; posting the error Function.ResponseSizeTooLarge instead",
              request_id, message);
    error_report_new(L, "Function.ResponseSizeTooLarge", message, out, report);
    runtime_api_post_error(api, request_id, report, out->data, out->len);
}

/* Polls /next and answers each invocation until a stop; returns the exit status (see
 * runtime_instance_serve). */
static int serve_invocations(struct runtime_instance *in)
{
    struct runtime_api *api = &in->api;
    lua_State *L = in->host.L;
    struct buffer *out = &in->out;
    struct next_invocation next;
    struct error_report report;
    enum next_result got = NEXT_OK;
    int exit_status = 0;
    bool exiting = false;
    struct runtime_stream stream;
    runtime_stream_init(&stream, api, L);
    while (!runtime_stop_requested() && (got = runtime_api_next(api, &next)) == NEXT_OK) {
        if (in->role.owns_environment) trace_env_set(next.trace_id, next.trace_id_len);
        log_set_request_id(next.request_id);
        size_t event_len = next.event_len;
        runtime_stream_expect(&stream, next.request_id);
        bool ok = invocation_run(L, in->h.function_ref, next.event, next.event_len, next.headers,
                                 next.header_count, out, &report);
        /* A streamed response has already carried the outcome, an error in its trailers. */
        bool streamed = stream.sink.started;
        size_t result_len = out->len; /* before an over-large one is replaced by its error */
        if (!streamed && ok)
            post_result(api, L, next.request_id, out, &report);
        else if (!streamed)
            post_failure(api, next.request_id, out, &report);
        log_set_request_id(NULL);
        if (event_len > LARGE_PAYLOAD || result_len > LARGE_PAYLOAD ||
            (streamed && stream.sink.sent > LARGE_PAYLOAD)) {
            lua_gc(L, LUA_GCCOLLECT);
            buffer_clear(out);
            buffer_shrink(out, 64 * 1024);
            http_conn_trim(&api->conn);
            malloc_trim(0);
        }
        if ((exiting = exit_request_pending(L, &exit_status))) break;
    }
    runtime_stream_free(&stream);
    if (exiting) {
        runtime_stop(); /* the process ends: the other workers finish what they serve */
        return runtime_instance_exit_status(exit_status);
    }
    return !runtime_stop_requested() && got == NEXT_FATAL ? 1 : 0;
}

int runtime_instance_serve(struct runtime_instance *in)
{
    int exit_code = serve_invocations(in);
    /* After a stop (SIGTERM, or os.exit in this worker or another), not when the API is gone. */
    if (in->shutdown_ref != LUA_NOREF && runtime_stop_requested())
        shutdown_hook_run(in->host.L, in->shutdown_ref, runtime_stop_shutdown_limit_ms());
    return exit_code;
}

void runtime_instance_close(struct runtime_instance *in)
{
    http_conn_free(&in->extension);
    buffer_free(&in->out);
    lua_host_close(&in->host);
    if (in->api_open) runtime_api_free(&in->api);
    in->api_open = false;
}
