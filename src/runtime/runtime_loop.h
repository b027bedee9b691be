/* moonrun as Lambda's bootstrap: load the handler, then serve invocations until SIGTERM. */
#ifndef MOONRUN_RUNTIME_LOOP_H
#define MOONRUN_RUNTIME_LOOP_H

/* Installs the stop signals, then runs one runtime instance on this thread, or as many
 * workers as AWS_LAMBDA_MAX_CONCURRENCY asks for. Returns the process exit code. */
int runtime_loop_main(const char *api_address);

#endif
