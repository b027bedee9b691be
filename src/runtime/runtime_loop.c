/* The runtime's start: the process-wide settings, the stop signals, and the choice between one
 * instance on the main thread and a pool of workers (each instance: runtime_instance.c). */
#include "runtime_loop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "modules.h"
#include "runtime_instance.h"
#include "runtime_stop.h"
#include "trace_env.h"
#include "workers.h"

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

/* One instance on the main thread, which alone runs Lua: it may set the process's
 * environment, and it registers the shutdown extension. */
static int run_alone(const char *api_address)
{
    struct runtime_instance in;
    struct runtime_instance_role role = {.owns_environment = true, .registers_extension = true};
    int exit_code;
    switch (runtime_instance_open(&in, api_address, runtime_stop_fd(), role)) {
    case INSTANCE_READY:
        exit_code = runtime_instance_serve(&in);
        break;
    case INSTANCE_INIT_ERROR:
        runtime_instance_report_init_error(&in);
        exit_code = runtime_instance_init_exit_code(&in);
        break;
    default: /* logged */
        exit_code = 1;
        break;
    }
    runtime_instance_close(&in);
    trace_env_free();
    return exit_code;
}

int runtime_loop_main(const char *api_address)
{
    if (getenv("MOONRUN_DEV_INSTANCE")) atexit(end_own_process_group);
    /* Lambda's stdout is a pipe, which stdio would buffer in blocks: each line must reach
     * CloudWatch when it is written, not when a block fills. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    lua_print_keep_records_whole();
    if (!runtime_stop_install()) return 1;
    int workers = workers_from_env();
    int exit_code = workers > 1 ? workers_run(api_address, workers) : run_alone(api_address);
    runtime_stop_close();
    return exit_code;
}
