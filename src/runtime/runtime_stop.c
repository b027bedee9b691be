/* The runtime's stop: a flag, a self-pipe and the signal handlers that set them. Kept apart
 * from the loop and the workers so that both read it without including each other. */
#include "runtime_stop.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "log.h"
#include "shutdown_hook.h"
#include "wake_pipe.h"

/* Atomic (and lock-free, so a signal handler may set it): every worker thread reads it. */
static atomic_bool stop_requested;
/* The self-pipe: SIGTERM writes a byte, the wait for the next invocation polls for it. A flag
 * alone would miss a signal that lands just before the wait starts. The byte is never read, so
 * every worker's wait sees it. */
static int stop_pipe[2] = {-1, -1};
/* When SIGTERM came (monotonic ms; 0: not yet), for the shutdown function's share of the
 * ~500 ms Lambda gives after it. */
static _Atomic long long sigterm_at_ms;

void runtime_stop(void)
{
    atomic_store(&stop_requested, true);
    wake_pipe_signal(stop_pipe[1]);
}

bool runtime_stop_requested(void)
{
    return atomic_load(&stop_requested);
}

int runtime_stop_fd(void)
{
    return stop_pipe[0];
}

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
    runtime_stop();
    deadline_stop_invocations();
    errno = saved;
}

long long runtime_stop_shutdown_limit_ms(void)
{
    long long at = atomic_load(&sigterm_at_ms);
    long long left = at ? SHUTDOWN_HOOK_LIMIT_MS - (monotonic_ms() - at) : SHUTDOWN_HOOK_LIMIT_MS;
    return left < SHUTDOWN_HOOK_MIN_MS ? SHUTDOWN_HOOK_MIN_MS : left;
}

bool runtime_stop_install(void)
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

void runtime_stop_close(void)
{
    close(stop_pipe[0]);
    close(stop_pipe[1]);
}
