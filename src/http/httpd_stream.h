/* A streamed HTTP answer of moonrun.httpd: bytes handed over piece by piece (a function URL
 * relaying a function's streamed response) that libmicrohttpd sends as chunks as they arrive.
 * The reader suspends its connection while nothing is waiting, and a write resumes it, so a
 * quiet stream costs no CPU. */
#ifndef MOONRUN_HTTPD_STREAM_H
#define MOONRUN_HTTPD_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "httpd_lib.h"

struct httpd_stream;

/* A stream for connection and its MHD response (the caller queues it, then destroys its own
 * reference), or NULL when memory runs out. The stream lives until both the response is freed
 * and httpd_stream_release has been called (the request that owns it is done). */
struct httpd_stream *httpd_stream_new(const struct httpd_lib *mhd,
                                      struct MHD_Connection *connection,
                                      struct MHD_Response **response);

/* Each returns whether it resumed the connection (MHD must then run at once), and fails (false
 * in *ok) when the stream has ended or memory runs out. */
bool httpd_stream_write(struct httpd_stream *stream, const char *data, size_t len, bool *ok);

/* Ends the stream: normally (the last chunk, then the terminating one) or, with failed, by
 * closing the connection once what was written is sent, without the terminating chunk, so the
 * client sees a cut response. Returns whether it resumed the connection. */
bool httpd_stream_end(struct httpd_stream *stream, bool failed);

/* The owning request is done: no more writes come. */
void httpd_stream_release(struct httpd_stream *stream);

#endif
