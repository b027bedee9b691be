/* The runtime's own diagnostics: one line each on stderr, so the handler's stdout stays its own. */
#ifndef MOONRUN_LOG_H
#define MOONRUN_LOG_H

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
