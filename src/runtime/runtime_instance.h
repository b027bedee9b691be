/* One runtime instance: a Runtime API connection, a Lua state, the handler loaded in it and its
 * shutdown function. The single loop runs one on the main thread; each worker runs its own.
 * Open, then serve (or report the init error), then close. */
#ifndef MOONRUN_RUNTIME_INSTANCE_H
#define MOONRUN_RUNTIME_INSTANCE_H

#include <lua.h>
#include <stdbool.h>

#include "buffer.h"
#include "error_report.h"
#include "handler.h"
#include "http_client.h"
#include "lua_host.h"
#include "runtime_api.h"

struct runtime_instance_role {
    /* Alone in the process: sets _X_AMZN_TRACE_ID for each invocation (the environment is the
     * process's, it cannot hold several invocations' ids at once). */
    bool owns_environment;
    /* Registers the shutdown extension when the module has a shutdown function (one
     * registration is enough for Lambda to send SIGTERM to the process). */
    bool registers_extension;
};

enum runtime_instance_state {
    INSTANCE_READY,        /* the handler is loaded: serve */
    INSTANCE_INIT_ERROR,   /* the handler did not load: its error is in the instance, to post */
    INSTANCE_SETUP_FAILED, /* no Runtime API connection or no Lua state (logged): nothing to post */
};

struct runtime_instance {
    struct runtime_instance_role role;
    const char *api_address;
    struct runtime_api api;
    bool api_open;
    struct lua_host host;
    struct handler h;
    struct buffer out; /* the handler's result, or the init error's body */
    struct error_report report;
    int shutdown_ref;           /* LUA_NOREF: the module has no shutdown function */
    struct http_conn extension; /* the shutdown extension's connection, when registered */
    enum runtime_instance_state state;
};

/* Connects to the Runtime API at api_address (stop_fd readable: give up waiting), opens a Lua
 * state in LAMBDA_TASK_ROOT (default: the current folder) and loads _HANDLER in it. Returns the
 * state reached; close the instance whatever it is. */
enum runtime_instance_state runtime_instance_open(struct runtime_instance *in,
                                                  const char *api_address, int stop_fd,
                                                  struct runtime_instance_role role);

/* Logs the init error and posts it to /runtime/init/error (INSTANCE_INIT_ERROR only). */
void runtime_instance_report_init_error(struct runtime_instance *in);

/* The process's exit status after an instance did not start: the status the module gave
 * os.exit while loading, 1 otherwise. */
int runtime_instance_init_exit_code(struct runtime_instance *in);

/* Serves invocations until a stop, then runs the module's shutdown function if the stop came
 * from outside (SIGTERM). Returns the exit status: 0 after a stop, 1 when the Runtime API is
 * gone, the status the handler gave os.exit (which also stops the other workers). */
int runtime_instance_serve(struct runtime_instance *in);

void runtime_instance_close(struct runtime_instance *in);

/* The status a process exiting with status has, as the system reports it: exit keeps its low
 * 8 bits (os.exit(-1) is 255, os.exit(256) is 0). */
int runtime_instance_exit_status(int status);

#endif
