/* moonrun as Lambda's bootstrap: load the handler, then serve invocations until SIGTERM. */
#ifndef MOONRUN_RUNTIME_LOOP_H
#define MOONRUN_RUNTIME_LOOP_H

#include <lua.h>
#include <stdbool.h>

#include "handler.h"
#include "runtime_api.h"

/* Returns the process exit code. */
int runtime_loop_main(const char *api_address);

/* One worker's loop (the main thread's, or each worker thread's): serves invocations until a
 * stop; returns the exit code: 0 after a stop, 1 when the Runtime API is gone, the status the
 * handler gave os.exit (which also stops the other workers). */
int runtime_loop_serve(struct runtime_api *api, lua_State *L, const struct handler *h,
                       struct buffer *out);

/* Logs the init error and posts it to /runtime/init/error. */
void runtime_loop_report_init_error(struct runtime_api *api, const struct error_report *report,
                                    const struct buffer *body);

/* Every worker stops after its current invocation (async-signal-safe). SIGTERM does this and
 * also stops the invocations running (deadline_stop_invocations). */
void runtime_loop_stop(void);

/* The time the shutdown function may take: what is left of its share since SIGTERM. */
long long runtime_loop_shutdown_limit_ms(void);

/* Whether a stop was asked for (SIGTERM, or a handler's os.exit). */
bool runtime_loop_stopping(void);

#endif
