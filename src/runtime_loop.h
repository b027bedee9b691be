/* moonrun as Lambda's bootstrap: load the handler, then serve invocations until SIGTERM. */
#ifndef MOONRUN_RUNTIME_LOOP_H
#define MOONRUN_RUNTIME_LOOP_H

/* Returns the process exit code. */
int runtime_loop_main(const char *api_address);

#endif
