/* The stream sink of the Lambda loop: a streamed response posted to the Runtime API, with a
 * failure mid-stream reported in the Lambda-Runtime-Function-Error-* trailers. */
#ifndef MOONRUN_RUNTIME_STREAM_H
#define MOONRUN_RUNTIME_STREAM_H

#include "response_stream.h"
#include "runtime_api.h"

struct runtime_stream {
    struct stream_sink sink;
    struct runtime_api *api;
    const char *request_id;
    struct buffer trailers; /* kept between invocations */
};

/* Makes s the sink of L's streams. */
void runtime_stream_init(struct runtime_stream *s, struct runtime_api *api, lua_State *L);
void runtime_stream_free(struct runtime_stream *s);

/* Before each invocation: streams now answer request_id, and nothing has been streamed yet. */
void runtime_stream_expect(struct runtime_stream *s, const char *request_id);

#endif
