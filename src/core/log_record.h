/* One log record as Lambda's advanced logging controls define it: the format and level read
 * from AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL, and the JSON object of a record
 * ({"timestamp", "level", "requestId", "message", ...}) built into a buffer. Shared by the
 * runtime's diagnostics (log.c) and the Lua side (lua_log.c). */
#ifndef MOONRUN_LOG_RECORD_H
#define MOONRUN_LOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };

struct log_config {
    bool json;              /* AWS_LAMBDA_LOG_FORMAT=JSON */
    enum log_level minimum; /* AWS_LAMBDA_LOG_LEVEL, INFO by default */
};

/* Read from the environment once, on first use. */
const struct log_config *log_config(void);

const char *log_level_name(enum log_level level);

/* Appends {"timestamp":"...","level":"..." and, when request_id is not NULL, ,"requestId":"..."
 * (no closing brace: the caller adds the message and its own members). */
void log_record_open(struct buffer *out, enum log_level level, const char *request_id,
                     size_t request_id_len);

/* Appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, byte by byte: a log line must
 * never be lost, nor make its record invalid JSON, because of what it quotes. */
void log_append_json_string(struct buffer *out, const char *s, size_t len);

/* The current UTC time as 2024-06-01T12:00:00.123Z (24 characters and a NUL). */
void log_timestamp(char out[25]);

#endif
