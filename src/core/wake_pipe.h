/* The self-pipe that lets a signal wake a poll: the handler writes a byte, the poll watches the
 * read end. A flag alone would miss a signal that lands just before the wait starts. Used by the
 * runtime loop (SIGTERM) and moonrun dev's event loop (SIGINT, SIGTERM, and SIGCHLD for its
 * children). */
#ifndef MOONRUN_WAKE_PIPE_H
#define MOONRUN_WAKE_PIPE_H

#include <stdbool.h>

/* Opens the pipe, both ends non-blocking and close-on-exec; false with errno set. */
bool wake_pipe_open(int fds[2]);

/* Writes one byte to the write end; safe in a signal handler, errno is kept. A full pipe
 * already holds a wakeup. */
void wake_pipe_signal(int write_fd);

/* Reads every byte waiting on the read end. */
void wake_pipe_drain(int read_fd);

#endif
