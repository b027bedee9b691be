#include "log.h"

#include <stdarg.h>
#include <stdio.h>

void log_error(const char *fmt, ...)
{
    char line[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    /* One write per line, so lines from concurrent writers never interleave. */
    fprintf(stderr, "moonrun: %s\n", line);
}
