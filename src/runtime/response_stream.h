/* Response streaming: a handler returns stream(function(write) ... end) (or stream.http{...})
 * and each write(chunk) goes to the caller at once. The Lua side (the moonrun.stream module,
 * the write function, the size limit) is shared; where the bytes go is a sink: the Runtime
 * API on Lambda, stdout for the local commands. */
#ifndef MOONRUN_RESPONSE_STREAM_H
#define MOONRUN_RESPONSE_STREAM_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"
#include "error_report.h"

/* Lambda accepts streamed responses up to 200 MB (buffered ones: 6 MB). */
#define STREAM_MAX_BYTES ((size_t)200 * 1024 * 1024)
#define STREAM_MAX_TEXT "200 MiB (209,715,200 bytes)"
#define STREAM_DEFAULT_TYPE "application/octet-stream"
#define STREAM_HTTP_TYPE "application/vnd.awslambda.http-integration-response"

struct stream_sink {
    /* Starts the response. prelude (NULL for a plain stream) is the HTTP-integration JSON,
     * which goes first, followed by 8 NUL bytes. False: error says why. */
    bool (*open)(struct stream_sink *s, const char *content_type, const char *prelude,
                 size_t prelude_len);
    /* Sends one chunk at once (len > 0). False: error says why; the stream is broken. */
    bool (*write)(struct stream_sink *s, const char *bytes, size_t len);
    /* Ends the response: error_json is NULL on success, else the error to report after the
     * bytes already sent, described by report. */
    void (*close)(struct stream_sink *s, const struct error_report *report, const char *error_json,
                  size_t len);
    bool started;    /* set once open succeeded: the stream carries the invocation's outcome */
    size_t sent;     /* body bytes written so far */
    char error[512]; /* why open or write failed */
};

/* Where the streams of this Lua state go (NULL: nowhere; a stream is then an error). */
void response_stream_set_sink(lua_State *L, struct stream_sink *sink);

/* Whether the value at idx is a stream a handler returned. */
bool response_stream_is(lua_State *L, int idx);

/* Runs the stream at idx through the sink: open, the function with write, close. Needs
 * error_report_handler at stack index 1. True when it completed; false with the error JSON in
 * out (sent as the stream's trailers when sink->started, else not sent at all). */
bool response_stream_run(lua_State *L, int idx, struct buffer *out, struct error_report *report);

#endif
