/* The child processes of `moonrun dev` (lua_process.c) take part in httpd.poll (lua_httpd.c):
 * their output pipes are polled with the servers' sockets, in one wait. */
#ifndef MOONRUN_PROCESS_POLL_H
#define MOONRUN_PROCESS_POLL_H

#include <lua.h>
#include <poll.h>

#define PROCESS_POLL_MAX_FDS 256

/* Adds the children's open pipes to fds (at most max) and returns how many; lowers *timeout_ms
 * while a child that closed its pipes has not been seen to exit yet. */
int process_poll_fill(struct pollfd *fds, int max, int *timeout_ms);

/* After poll: reads what the children wrote, and reaps those that exited, calling their Lua
 * callbacks (on_output for each whole line, on_exit once). */
void process_poll_dispatch(lua_State *L, const struct pollfd *fds, int count);

#endif
