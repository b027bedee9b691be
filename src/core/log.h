/* The runtime's own diagnostics: one line each on stderr, so the handler's stdout stays its own.
 * With AWS_LAMBDA_LOG_FORMAT=JSON each is a JSON record (level ERROR, logger "moonrun"). */
#ifndef MOONRUN_LOG_H
#define MOONRUN_LOG_H

#include <stddef.h>

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The invocation the calling thread is serving (NULL: none), for the requestId of its
 * diagnostics; the string must live until it is replaced. */
void log_set_request_id(const char *request_id);

/* "invocation <id> failed: <error JSON>"; in JSON mode a record whose members include the
 * error's own (errorType, errorMessage, stackTrace). */
void log_invocation_failure(const char *request_id, const char *error_json, size_t len);

#endif
