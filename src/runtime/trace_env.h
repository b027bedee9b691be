/* _X_AMZN_TRACE_ID, the one environment variable that changes with every invocation (one
 * worker only: with several, the process's environment cannot hold several invocations' ids). */
#ifndef MOONRUN_TRACE_ENV_H
#define MOONRUN_TRACE_ENV_H

#include <stddef.h>

/* Sets _X_AMZN_TRACE_ID to the len bytes of value, or removes it when value is NULL or empty.
 * Not thread-safe (no environment change is): call it from the only thread that runs Lua. */
void trace_env_set(const char *value, size_t len);

/* Removes it and gives its buffer back (at exit, so leak checkers see a clean heap). */
void trace_env_free(void);

#endif
