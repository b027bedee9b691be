/* How the parts of `moonrun dev` that wait on descriptors take part in its one wait, the
 * moonrun.event_loop module (lua_event_loop.c): the HTTP servers (lua_httpd.c) and the child
 * processes (lua_process.c) each register a source, which the loop polls together with its own
 * signal pipes and then lets handle what is ready. No source knows about another. */
#ifndef MOONRUN_EVENT_LOOP_H
#define MOONRUN_EVENT_LOOP_H

#include <lua.h>
#include <poll.h>
#include <stdbool.h>

/* Room for every descriptor of one wait: the two signal pipes, 64 servers, 127 children with
 * two pipes each, and spare. A source is handed what is left and takes no more. */
#define EVENT_LOOP_MAX_FDS 512

/* The sources, in the order they run after each wait: a child's last request (an init error
 * posted just before os.exit) is served before its exit is reported. */
enum event_loop_source_id { EVENT_LOOP_SERVERS, EVENT_LOOP_CHILDREN, EVENT_LOOP_SOURCES };

struct event_loop_source {
    /* Adds the source's descriptors to fds (at most max) and returns how many; lowers
     * *timeout_ms to when the source must run again even if none of them becomes ready. */
    int (*fill)(struct pollfd *fds, int max, int *timeout_ms);
    /* Runs after every wait, whatever woke it: fds are those fill added, with their revents.
     * The source's Lua callbacks run in L. */
    void (*dispatch)(lua_State *L, const struct pollfd *fds, int count);
};

/* The source takes part in every wait from now on; registering it again changes nothing. */
void event_loop_set_source(enum event_loop_source_id id, const struct event_loop_source *source);

/* From the first call on, SIGINT and SIGTERM end the wait (event_loop.poll returns false, once
 * per signal) instead of the process, and SIGPIPE is ignored (a client that went away is an
 * error return). False with errno set when the signal pipe cannot be made. */
bool event_loop_catch_stop_signals(void);

/* From the first call on, SIGCHLD wakes the wait, so a child's exit is seen at once even while
 * something it started still holds its output pipes open. False with errno set as above. */
bool event_loop_watch_child_exits(void);

#endif
