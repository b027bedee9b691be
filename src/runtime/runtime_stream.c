#include "runtime_stream.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Trailers are header lines, which HTTP servers cap (often at a few kilobytes to a megabyte),
 * and a cut-off trailer would lose the whole error: a report larger than this is replaced by a
 * short one in the trailer (the log has it in full). */
#define MAX_TRAILER_JSON (32 * 1024)

static bool append_base64(struct buffer *out, const unsigned char *in, size_t len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!buffer_reserve(out, (len + 2) / 3 * 4 + 1)) return false;
    char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = digits[v >> 18], *o++ = digits[(v >> 12) & 63], *o++ = digits[(v >> 6) & 63],
        *o++ = digits[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
        *o++ = digits[v >> 18], *o++ = digits[(v >> 12) & 63];
        *o++ = i + 1 < len ? digits[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return true;
}

static bool open_stream(struct stream_sink *sink, const char *content_type, const char *prelude,
                        size_t prelude_len)
{
    struct runtime_stream *s = (struct runtime_stream *)sink;
    bool ok = runtime_api_stream_begin(s->api, s->request_id, content_type);
    if (ok && prelude) {
        /* The prelude and its 8-NUL separator go as one chunk, so the status and headers reach
         * the client before the body starts. */
        buffer_clear(&s->trailers);
        ok = buffer_append(&s->trailers, prelude, prelude_len) &&
             buffer_append(&s->trailers, "\0\0\0\0\0\0\0\0", 8);
        if (!ok)
            snprintf(s->api->conn.error, sizeof s->api->conn.error,
                     "out of memory for the prelude");
        else
            ok = runtime_api_stream_chunk(s->api, s->trailers.data, s->trailers.len);
    }
    if (!ok) {
        snprintf(sink->error, sizeof sink->error, "cannot start the streamed response: %s",
                 s->api->conn.error);
        log_error("invocation %s: %s", s->request_id, sink->error);
    }
    return ok;
}

static bool write_stream(struct stream_sink *sink, const char *bytes, size_t len)
{
    struct runtime_stream *s = (struct runtime_stream *)sink;
    if (runtime_api_stream_chunk(s->api, bytes, len)) return true;
    snprintf(sink->error, sizeof sink->error, "%s (after %zu bytes)", s->api->conn.error,
             sink->sent);
    log_error("the streamed response to invocation %s broke: %s", s->request_id, sink->error);
    return false;
}

static void close_stream(struct stream_sink *sink, const struct error_report *report,
                         const char *error_json, size_t len)
{
    struct runtime_stream *s = (struct runtime_stream *)sink;
    const char *trailers = "";
    if (report) {
        /* The whole report, past log_error's line limit: the trailer may carry only a summary. */
        fprintf(stderr, "moonrun: invocation %s failed after %zu streamed bytes: %.*s\n",
                s->request_id, sink->sent, (int)len, error_json);
        char short_json[512];
        if (len > MAX_TRAILER_JSON) {
            /* header_type holds only letters and a dot: safe inside a JSON string. */
            len = (size_t)snprintf(
                short_json, sizeof short_json,
                "{\"errorMessage\":\"the error report (%zu bytes) is too large for a trailer; "
                "the function's log has it\",\"errorType\":\"%s\",\"stackTrace\":[]}",
                len, report->header_type);
            error_json = short_json;
        }
        buffer_clear(&s->trailers);
        bool ok = buffer_printf(&s->trailers, "Lambda-Runtime-Function-Error-Type: %s\r\n",
                                report->header_type) &&
                  buffer_append_str(&s->trailers, "Lambda-Runtime-Function-Error-Body: ") &&
                  append_base64(&s->trailers, (const unsigned char *)error_json, len) &&
                  buffer_printf(&s->trailers, "\r\n");
        if (ok)
            trailers = s->trailers.data; /* buffer_printf left it NUL-terminated */
        else
            log_error("not enough memory for the error trailers of invocation %s", s->request_id);
    }
    runtime_api_stream_end(s->api, s->request_id, trailers);
}

void runtime_stream_init(struct runtime_stream *s, struct runtime_api *api, lua_State *L)
{
    *s = (struct runtime_stream){
        .sink = {.open = open_stream, .write = write_stream, .close = close_stream}, .api = api};
    response_stream_set_sink(L, &s->sink);
}

void runtime_stream_free(struct runtime_stream *s)
{
    buffer_free(&s->trailers);
}

void runtime_stream_expect(struct runtime_stream *s, const char *request_id)
{
    s->request_id = request_id;
    s->sink.started = false;
}
