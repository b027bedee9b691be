/* A function run locally (invoke, repl, and the local server later): the same handler host,
 * JSON bridge and context as on Lambda, with the request headers made up the way Lambda
 * would send them, and a hot reload that picks up edited handler code. */
#ifndef MOONRUN_LOCAL_FUNCTION_H
#define MOONRUN_LOCAL_FUNCTION_H

#include "buffer.h"
#include "context.h"
#include "error_report.h"
#include "handler.h"
#include "lua_host.h"
#include "response_stream.h"

struct local_function {
    struct lua_host host;
    struct handler handler;
    const char *spec;     /* _HANDLER-style name */
    long long timeout_ms; /* for the deadline the handler sees */
    bool loaded;          /* false: out holds the init error */
    struct buffer out;    /* the last response or error JSON */
    struct error_report report;
    struct stream_sink sink; /* a streamed response goes to stdout as it is written */
    bool streamed;           /* the last invocation streamed (out is empty, or its error) */
    bool stream_ended_line;  /* the streamed bytes ended with a newline (or there were none) */
};

/* Opens a Lua state under LAMBDA_TASK_ROOT (default ".") and loads the handler. Returns false
 * only when the state itself cannot be made; a handler that fails to load leaves loaded false
 * and its init error JSON in out. */
bool local_function_open(struct local_function *f, const char *spec, long long timeout_ms);
void local_function_close(struct local_function *f);

/* Hot reload: forgets every module loaded from the task root (package.loaded), then loads the
 * handler again, so edited code and its module-level state start afresh. Returns loaded. */
bool local_function_reload(struct local_function *f);

/* One invocation; true with the response JSON in out, false with the error JSON in out. A
 * streamed response is written to stdout as it comes (its HTTP prelude, if any, is described
 * on stderr) and sets streamed. */
bool local_function_invoke(struct local_function *f, const char *event, size_t event_len);

/* The headers Lambda's Runtime API sends with an invocation, made up locally: a fresh request
 * id, the deadline timeout_ms from now, the function's ARN. Sets the function's name, version
 * and memory in the environment when they are unset, as Lambda always sets them. */
#define LOCAL_HEADER_COUNT 3
struct local_headers {
    char request_id[37], deadline[24], arn[320];
    struct header_view list[LOCAL_HEADER_COUNT];
};
void local_invocation_headers(struct local_headers *h, long long timeout_ms);

/* The files of the modules loaded from the task root (the handler's among them), for watching.
 * Returns how many were written (at most max). */
size_t local_function_files(struct local_function *f, char (*paths)[PATH_MAX], size_t max);

#endif
