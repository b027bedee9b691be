/* The Lambda Runtime API (2018-06-01) over the lean HTTP client: next invocation, response,
 * error, init error, with the retry policy each of them needs. */
#ifndef MOONRUN_RUNTIME_API_H
#define MOONRUN_RUNTIME_API_H

#include "context.h"
#include "error_report.h"
#include "http_client.h"

struct runtime_api {
    struct http_conn conn;
    char address[256];
};

struct next_invocation {
    char request_id[256];
    const char *event;
    size_t event_len;
    struct header_view headers[HTTP_MAX_HEADERS];
    size_t header_count;
    const char *trace_id; /* NULL when the invocation has none */
    size_t trace_id_len;
};

/* The largest buffered response Lambda's Runtime API takes (its 413 names this figure: 6 MiB and
 * 100 bytes); above it Lambda answers the caller Function.ResponseSizeTooLarge itself and takes
 * no other post for the invocation. */
#define RUNTIME_API_MAX_RESPONSE 6291556

enum next_result { NEXT_OK, NEXT_STOP /* SIGTERM */, NEXT_FATAL /* logged; exit non-zero */ };
enum post_result { POST_OK, POST_TOO_LARGE, POST_FAILED /* logged */ };

/* stop_fd becomes readable when moonrun must stop waiting for invocations (-1: never). */
bool runtime_api_init(struct runtime_api *api, const char *address, int stop_fd);
void runtime_api_free(struct runtime_api *api);

/* Waits (for as long as it takes) for the next invocation. */
enum next_result runtime_api_next(struct runtime_api *api, struct next_invocation *next);

enum post_result runtime_api_post_response(struct runtime_api *api, const char *request_id,
                                           const char *body, size_t len);
enum post_result runtime_api_post_error(struct runtime_api *api, const char *request_id,
                                        const struct error_report *report, const char *body,
                                        size_t len);
/* A streamed response (Lambda-Runtime-Function-Response-Mode: streaming): begin sends the
 * head, each chunk goes to the caller at once, end sends the last chunk with trailers ("" or
 * the Lambda-Runtime-Function-Error-* lines) and reads the answer. Never retried: the chunks
 * already went out. Failures are logged (begin and chunk: the caller logs, with error set). */
bool runtime_api_stream_begin(struct runtime_api *api, const char *request_id,
                              const char *content_type);
bool runtime_api_stream_chunk(struct runtime_api *api, const char *bytes, size_t len);
enum post_result runtime_api_stream_end(struct runtime_api *api, const char *request_id,
                                        const char *trailers);

enum post_result runtime_api_post_init_error(struct runtime_api *api,
                                             const struct error_report *report, const char *body,
                                             size_t len);

#endif
