/* Test helper for tests/test_runtime.py, preloaded (LD_PRELOAD) into moonrun: every wait of 10
 * seconds or more (nanosleep, clock_nanosleep, ppoll) starts LATE_WAIT_MS milliseconds
 * late, busy meanwhile. A signal sent as such a wait is about to start then lands in the gap
 * between the code's last check and the wait itself, every time: the window of a lost wake-up,
 * held open. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

static void start_late(const struct timespec *timeout)
{
    const char *late = getenv("LATE_WAIT_MS");
    if (!late || !timeout || timeout->tv_sec < 10) return;
    struct timespec now, until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    long long ns = until.tv_nsec + atoll(late) * 1000000LL;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    do /* busy: a sleep here would itself be woken by the signal */
        clock_gettime(CLOCK_MONOTONIC, &now);
    while (now.tv_sec < until.tv_sec || (now.tv_sec == until.tv_sec && now.tv_nsec < until.tv_nsec));
}

int nanosleep(const struct timespec *request, struct timespec *remaining)
{
    static int (*next)(const struct timespec *, struct timespec *);
    if (!next) next = (int (*)(const struct timespec *, struct timespec *))dlsym(RTLD_NEXT, "nanosleep");
    start_late(request);
    return next(request, remaining);
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                    struct timespec *remaining)
{
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
    if (!next)
        next = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))dlsym(
            RTLD_NEXT, "clock_nanosleep");
    if (!(flags & TIMER_ABSTIME)) start_late(request);
    return next(clock, flags, request, remaining);
}

int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *mask)
{
    static int (*next)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
    if (!next)
        next = (int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *))dlsym(
            RTLD_NEXT, "ppoll");
    start_late(timeout);
    return next(fds, nfds, timeout, mask);
}
