/* The `moonrun.event_loop` module: the one wait of `moonrun dev`, over the HTTP servers' sockets
 * and the child processes' output pipes (the sources registered through event_loop.h), with
 * their own timeouts, and over the signals dev handles itself: SIGINT and SIGTERM, which stop it
 * in order, and SIGCHLD, which reports a child's exit. Each signal wakes the wait through a
 * self-pipe (wake_pipe.h).
 *
 *   event_loop.poll(timeout_s) -> false when SIGINT or SIGTERM arrived (once per signal), true
 *     otherwise: waits up to timeout_s (at most an hour) for any source, then lets every source
 *     handle what is ready, which runs their Lua callbacks (request handlers, on_output, on_exit).
 *
 * The timers of dev's tasks are Lua's (lua/moonrun/dev/loop.lua): it passes the time to its
 * next one as timeout_s. */
#include <errno.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include "event_loop.h"
#include "modules.h"
#include "wake_pipe.h"

static struct {
    const struct event_loop_source *sources[EVENT_LOOP_SOURCES];
    int stop_pipe[2];  /* SIGINT, SIGTERM */
    int child_pipe[2]; /* SIGCHLD */
    volatile sig_atomic_t stop_requested;
} loop = {.stop_pipe = {-1, -1}, .child_pipe = {-1, -1}};

void event_loop_set_source(enum event_loop_source_id id, const struct event_loop_source *source)
{
    loop.sources[id] = source;
}

/* ---- signals ---- */

static void on_stop_signal(int sig)
{
    (void)sig;
    loop.stop_requested = 1;
    wake_pipe_signal(loop.stop_pipe[1]);
}

static void on_child_exit(int sig)
{
    (void)sig;
    wake_pipe_signal(loop.child_pipe[1]);
}

bool event_loop_catch_stop_signals(void)
{
    if (loop.stop_pipe[0] >= 0) return true;
    if (!wake_pipe_open(loop.stop_pipe)) return false;
    struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that went away is an error return, not a signal */
    return true;
}

bool event_loop_watch_child_exits(void)
{
    if (loop.child_pipe[0] >= 0) return true;
    if (!wake_pipe_open(loop.child_pipe)) return false;
    struct sigaction sa = {.sa_handler = on_child_exit, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    return true;
}

/* ---- the wait ---- */

static int timeout_ms_of(double timeout_s)
{
    if (timeout_s <= 0) return 0;
    if (timeout_s > 3600) return 3600000;
    return (int)(timeout_s * 1000 + 0.5);
}

static int l_poll(lua_State *L)
{
    double timeout_s = luaL_optnumber(L, 1, 0);
    if (!event_loop_catch_stop_signals())
        return luaL_error(L, "cannot create a pipe: %s", strerror(errno));
    if (loop.stop_requested) {
        wake_pipe_drain(loop.stop_pipe[0]);
        loop.stop_requested = 0;
        lua_pushboolean(L, 0);
        return 1;
    }
    struct pollfd fds[EVENT_LOOP_MAX_FDS];
    int timeout_ms = timeout_ms_of(timeout_s);
    int n = 0;
    fds[n++] = (struct pollfd){.fd = loop.stop_pipe[0], .events = POLLIN};
    if (loop.child_pipe[0] >= 0)
        fds[n++] = (struct pollfd){.fd = loop.child_pipe[0], .events = POLLIN};
    int first[EVENT_LOOP_SOURCES] = {0}, count[EVENT_LOOP_SOURCES] = {0};
    for (int s = 0; s < EVENT_LOOP_SOURCES; s++) {
        first[s] = n;
        if (loop.sources[s])
            count[s] = loop.sources[s]->fill(fds + n, EVENT_LOOP_MAX_FDS - n, &timeout_ms);
        n += count[s];
    }
    if (poll(fds, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
        return luaL_error(L, "poll failed: %s", strerror(errno));
    /* Drained before the sources run: an exit signalled while they run wakes the next wait. */
    if (loop.child_pipe[0] >= 0) wake_pipe_drain(loop.child_pipe[0]);
    for (int s = 0; s < EVENT_LOOP_SOURCES; s++)
        if (loop.sources[s]) loop.sources[s]->dispatch(L, fds + first[s], count[s]);
    lua_pushboolean(L, 1); /* a signal that came during this call is reported by the next one */
    return 1;
}

int luaopen_moonrun_event_loop(lua_State *L)
{
    static const luaL_Reg functions[] = {{"poll", l_poll}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
