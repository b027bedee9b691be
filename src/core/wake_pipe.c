#define _GNU_SOURCE /* pipe2 */
#include "wake_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

bool wake_pipe_open(int fds[2])
{
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0;
}

void wake_pipe_signal(int write_fd)
{
    int saved = errno;
    if (write(write_fd, "x", 1) < 0) { /* full: a wakeup is pending anyway */
    }
    errno = saved;
}

void wake_pipe_drain(int read_fd)
{
    char bytes[64];
    while (read(read_fd, bytes, sizeof bytes) > 0) {
    }
}
