#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log_record.h"

static _Thread_local const char *current_request_id;

void log_set_request_id(const char *request_id)
{
    current_request_id = request_id;
}

/* Writes a JSON diagnostic: the record's head, the message, then extra members (already JSON,
 * beginning with ','), in one write so that records from concurrent writers never interleave. */
static void write_json_diagnostic(const char *request_id, const char *message, const char *members,
                                  size_t len)
{
    struct buffer record = {0};
    log_record_open(&record, LOG_ERROR, request_id, request_id ? strlen(request_id) : 0);
    buffer_append_str(&record, ",\"message\":");
    log_append_json_string(&record, message, strlen(message));
    buffer_append_str(&record, ",\"logger\":\"moonrun\"");
    buffer_append(&record, members, len);
    buffer_append(&record, "}\n", 2);
    if (record.data) fwrite(record.data, 1, record.len, stderr);
    buffer_free(&record);
}

void log_error(const char *fmt, ...)
{
    char line[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    if (log_config()->json) {
        write_json_diagnostic(current_request_id, line, "", 0);
        return;
    }
    /* One write per line, so lines from concurrent writers never interleave. */
    fprintf(stderr, "moonrun: %s\n", line);
}

void log_invocation_failure(const char *request_id, const char *error_json, size_t len)
{
    if (!log_config()->json) {
        log_error("invocation %s failed: %.*s", request_id, (int)len, error_json);
        return;
    }
    char message[256];
    snprintf(message, sizeof message, "invocation %s failed", request_id);
    /* The error JSON is an object the runtime wrote itself: its members join the record. */
    if (len >= 2 && error_json[0] == '{' && error_json[len - 1] == '}') {
        char comma = ',';
        struct buffer members = {0};
        buffer_append(&members, &comma, len > 2 ? 1 : 0);
        buffer_append(&members, error_json + 1, len - 2);
        write_json_diagnostic(request_id, message, members.data ? members.data : "", members.len);
        buffer_free(&members);
    } else {
        write_json_diagnostic(request_id, message, "", 0);
    }
}
