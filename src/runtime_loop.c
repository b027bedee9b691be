#include "runtime_loop.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "exit_request.h"
#include "handler.h"
#include "invocation.h"
#include "log.h"
#include "lua_host.h"
#include "modules.h"
#include "runtime_api.h"
#include "runtime_stream.h"
#include "shutdown_hook.h"
#include "trace_env.h"
#include "wake_pipe.h"
#include "workers.h"

/* Above this, an invocation's buffers and garbage are given back at once instead of waiting
 * for the collector, so a 6 MB payload does not leave the process 6 MB larger. */
#define LARGE_PAYLOAD (1024 * 1024)

/* Atomic (and lock-free, so a signal handler may set it): every worker thread reads it. */
static atomic_bool stop_requested;
/* The self-pipe: SIGTERM writes a byte, the wait for the next invocation polls for it. A flag
 * alone would miss a signal that lands just before the wait starts. The byte is never read, so
 * every worker's wait sees it. */
static int stop_pipe[2] = {-1, -1};
/* False with several workers: the environment is the process's, it cannot hold the trace ids
 * of several invocations at once (and changing it is not thread-safe). Set before workers start. */
static bool trace_env_per_invocation = true;

void runtime_loop_stop(void)
{
    atomic_store(&stop_requested, true);
    wake_pipe_signal(stop_pipe[1]);
}

/* When SIGTERM came (monotonic ms; 0: not yet), for the shutdown function's share of the
 * ~500 ms Lambda gives after it. */
static _Atomic long long sigterm_at_ms;

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lambda ends the sandbox ~500 ms after SIGTERM: the handlers running are stopped as their
 * deadline would stop them, so that their errors are posted and `shutdown` runs in time. */
static void on_sigterm(int sig)
{
    (void)sig;
    int saved = errno;
    long long none = 0;
    atomic_compare_exchange_strong(&sigterm_at_ms, &none, monotonic_ms());
    runtime_loop_stop();
    deadline_stop_invocations();
    errno = saved;
}

long long runtime_loop_shutdown_limit_ms(void)
{
    long long at = atomic_load(&sigterm_at_ms);
    long long left = at ? SHUTDOWN_HOOK_LIMIT_MS - (monotonic_ms() - at) : SHUTDOWN_HOOK_LIMIT_MS;
    return left < SHUTDOWN_HOOK_MIN_MS ? SHUTDOWN_HOOK_MIN_MS : left;
}

static bool install_signals(void)
{
    if (!wake_pipe_open(stop_pipe)) {
        log_error("cannot create the shutdown pipe: %s", strerror(errno));
        return false;
    }
    struct sigaction sa = {.sa_handler = on_sigterm, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return true;
}

void runtime_loop_report_init_error(struct runtime_api *api, const struct error_report *report,
                                    const struct buffer *body)
{
    log_error("%s: %.*s", report->type, (int)body->len, body->data);
    runtime_api_post_init_error(api, report, body->data, body->len);
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
static void post_result(struct runtime_api *api, lua_State *L, const char *request_id, struct buffer *out,
                        struct error_report *report)
{
    if (out->len <= RUNTIME_API_MAX_RESPONSE) {
        runtime_api_post_response(api, request_id, out->data, out->len); /* a 413 is logged there */
        return;
    }
    char message[200];
    snprintf(message, sizeof message, "the response is %zu bytes, more than the %d bytes Lambda accepts", out->len,
             RUNTIME_API_MAX_RESPONSE);
    log_error("invocation %s: %s; posting the error Function.ResponseSizeTooLarge instead", request_id, message);
    error_report_new(L, "Function.ResponseSizeTooLarge", message, out, report);
    runtime_api_post_error(api, request_id, report, out->data, out->len);
}

int runtime_loop_serve(struct runtime_api *api, lua_State *L, const struct handler *h, struct buffer *out)
{
    struct next_invocation next;
    struct error_report report;
    enum next_result got = NEXT_OK;
    int exit_status = 0;
    bool exiting = false;
    struct runtime_stream stream;
    runtime_stream_init(&stream, api, L);
    while (!atomic_load(&stop_requested) && (got = runtime_api_next(api, &next)) == NEXT_OK) {
        if (trace_env_per_invocation) trace_env_set(next.trace_id, next.trace_id_len);
        log_set_request_id(next.request_id);
        size_t event_len = next.event_len;
        runtime_stream_expect(&stream, next.request_id);
        bool ok = invocation_run(L, h->function_ref, next.event, next.event_len, next.headers, next.header_count,
                                 out, &report);
        /* A streamed response has already carried the outcome, an error in its trailers. */
        bool streamed = stream.sink.started;
        size_t result_len = out->len; /* before an over-large one is replaced by its error */
        if (!streamed && ok) post_result(api, L, next.request_id, out, &report);
        else if (!streamed) post_failure(api, next.request_id, out, &report);
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
        runtime_loop_stop(); /* the process ends: the other workers finish what they serve */
        return exit_status;
    }
    return !atomic_load(&stop_requested) && got == NEXT_FATAL ? 1 : 0;
}

bool runtime_loop_stopping(void)
{
    return atomic_load(&stop_requested);
}

/* Under moonrun dev (MOONRUN_DEV_INSTANCE set, and this process leading its own process group),
 * what a handler started in the background ends with the instance, as it would with a Lambda
 * sandbox, even when dev itself was killed outright and cannot clean up (its death reaches this
 * process as SIGTERM, see lua_process.c). */
static void end_own_process_group(void)
{
    if (getpgrp() != getpid()) return;
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);
}

int runtime_loop_main(const char *api_address)
{
    if (getenv("MOONRUN_DEV_INSTANCE")) atexit(end_own_process_group);
    /* Lambda's stdout is a pipe, which stdio would buffer in blocks: each line must reach
     * CloudWatch when it is written, not when a block fills. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    lua_print_keep_records_whole();
    if (!install_signals()) return 1;
    int workers = workers_from_env();
    if (workers > 1) {
        trace_env_per_invocation = false;
        int exit_code = workers_run(api_address, workers, stop_pipe[0]);
        close(stop_pipe[0]);
        close(stop_pipe[1]);
        return exit_code;
    }
    struct runtime_api api;
    if (!runtime_api_init(&api, api_address, stop_pipe[0])) return 1;
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    struct lua_host host;
    if (!lua_host_open(&host, task_root && *task_root ? task_root : ".")) {
        runtime_api_free(&api);
        return 1;
    }
    struct buffer out = {0};
    struct handler h;
    struct error_report report;
    int exit_code = 0;
    exit_request_install(host.L);
    if (handler_load(host.L, getenv("_HANDLER"), host.task_root, &h, &out, &report)) {
        int shutdown_ref = shutdown_hook_find(host.L, &h);
        struct http_conn extension = {.fd = -1};
        if (shutdown_ref != LUA_NOREF) shutdown_hook_register(&extension, api_address);
        exit_code = runtime_loop_serve(&api, host.L, &h, &out);
        if (shutdown_ref != LUA_NOREF && runtime_loop_stopping())
            shutdown_hook_run(host.L, shutdown_ref, runtime_loop_shutdown_limit_ms());
        http_conn_free(&extension);
    } else {
        runtime_loop_report_init_error(&api, &report, &out);
        if (!exit_request_pending(host.L, &exit_code)) exit_code = 1;
    }
    buffer_free(&out);
    lua_host_close(&host);
    trace_env_free();
    runtime_api_free(&api);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return exit_code;
}
