/* Test helper for tests/test_modules.py, preloaded (LD_PRELOAD) into moonrun: the wall clock
 * stands still at FROZEN_CLOCK_MS (epoch milliseconds), so tests can make many uuid v7 ids in
 * one millisecond and check times exactly. Other clocks run as usual. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_gettime(clockid_t clock, struct timespec *ts)
{
    const char *frozen = getenv("FROZEN_CLOCK_MS");
    if (clock == CLOCK_REALTIME && frozen) {
        long long ms = atoll(frozen);
        ts->tv_sec = (time_t)(ms / 1000);
        ts->tv_nsec = (long)(ms % 1000) * 1000000;
        return 0;
    }
    return (int)syscall(SYS_clock_gettime, clock, ts);
}
