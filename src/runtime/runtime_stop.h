/* How the Lambda runtime stops: the stop request every worker reads, the self-pipe that wakes
 * their waits for /next, and the SIGTERM/SIGINT handlers that ask for it. */
#ifndef MOONRUN_RUNTIME_STOP_H
#define MOONRUN_RUNTIME_STOP_H

#include <stdbool.h>

/* Opens the self-pipe and installs the signal handlers (SIGTERM, SIGINT; SIGPIPE ignored).
 * False (logged) when the pipe cannot be made. */
bool runtime_stop_install(void);

/* Closes the self-pipe (after every worker has ended). */
void runtime_stop_close(void);

/* The read end of the self-pipe: readable once a stop was asked for. */
int runtime_stop_fd(void);

/* Every worker stops after its current invocation (async-signal-safe). SIGTERM does this and
 * also stops the invocations running (deadline_stop_invocations). */
void runtime_stop(void);

/* Whether a stop was asked for (SIGTERM, or a handler's os.exit). */
bool runtime_stop_requested(void);

/* The time the shutdown function may take: what is left of its share since SIGTERM. */
long long runtime_stop_shutdown_limit_ms(void);

#endif
