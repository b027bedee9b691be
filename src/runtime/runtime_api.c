#include "runtime_api.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "version.h"

#define API_PREFIX "/2018-06-01/runtime"
#define USER_AGENT "User-Agent: moonrun/" MOONRUN_VERSION "\r\n"
#define JSON_HEADERS USER_AGENT "Content-Type: application/json\r\n"
/* 10 ms doubling to 1 s: about 2.3 s of retries before giving up on /next. */
#define NEXT_ATTEMPTS 8

bool runtime_api_init(struct runtime_api *api, const char *address, int stop_fd)
{
    snprintf(api->address, sizeof api->address, "%s", address);
    if (!http_conn_init(&api->conn, address)) {
        log_error("AWS_LAMBDA_RUNTIME_API: %s", api->conn.error);
        return false;
    }
    api->conn.interrupt_fd = stop_fd;
    return true;
}

void runtime_api_free(struct runtime_api *api)
{
    http_conn_free(&api->conn);
}

/* Sleeps, unless stop_fd says to stop: returns false then. */
static bool sleep_ms(int stop_fd, int ms)
{
    struct pollfd stop = {.fd = stop_fd, .events = POLLIN};
    return poll(&stop, stop_fd >= 0 ? 1 : 0, ms) <= 0;
}

/* Fills next from a 200 answer; false (logged) when the invocation cannot be answered. */
static bool read_invocation(struct runtime_api *api, const struct http_response *r,
                            struct next_invocation *next)
{
    size_t id_len;
    const char *id = http_header_value(&api->conn, r, "Lambda-Runtime-Aws-Request-Id", &id_len);
    if (!id || id_len == 0 || id_len >= sizeof next->request_id) {
        log_error(
            "the Runtime API sent an invocation without a usable Lambda-Runtime-Aws-Request-Id "
            "header; it cannot be answered and is skipped");
        return false;
    }
    memcpy(next->request_id, id, id_len);
    next->request_id[id_len] = '\0';
    next->event = r->body;
    next->event_len = r->body_len;
    next->header_count = r->header_count;
    for (size_t i = 0; i < r->header_count; i++) {
        const struct http_header *h = &r->headers[i];
        next->headers[i] =
            (struct header_view){http_header_name(&api->conn, h),
                                 http_header_value_at(&api->conn, h), h->name_len, h->value_len};
    }
    next->trace_id =
        http_header_value(&api->conn, r, "Lambda-Runtime-Trace-Id", &next->trace_id_len);
    return true;
}

enum next_result runtime_api_next(struct runtime_api *api, struct next_invocation *next)
{
    int backoff_ms = 10;
    for (int attempt = 1;; attempt++) {
        struct http_response r;
        enum http_result rc =
            http_request(&api->conn, "GET", API_PREFIX "/invocation/next", USER_AGENT, NULL, 0, &r);
        if (rc == HTTP_INTERRUPTED) return NEXT_STOP;
        char why[600];
        if (rc == HTTP_OK && r.status == 200) {
            if (read_invocation(api, &r, next)) return NEXT_OK;
            attempt = 0;
            continue;
        }
        if (rc == HTTP_OK && r.status < 500) {
            log_error("the Runtime API at %s answered GET next with status %d: %.*s", api->address,
                      r.status, (int)(r.body_len > 200 ? 200 : r.body_len), r.body);
            return NEXT_FATAL;
        }
        if (rc == HTTP_OK)
            snprintf(why, sizeof why, "status %d", r.status);
        else
            snprintf(why, sizeof why, "%s", api->conn.error);
        if (attempt == NEXT_ATTEMPTS) {
            log_error(
                "cannot get the next invocation from the Runtime API at %s after %d attempts: %s",
                api->address, attempt, why);
            return NEXT_FATAL;
        }
        log_error("GET next from the Runtime API at %s failed (%s); retrying in %d ms",
                  api->address, why, backoff_ms);
        if (!sleep_ms(api->conn.interrupt_fd, backoff_ms)) return NEXT_STOP;
        backoff_ms = backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2;
    }
}

/* Request ids go into the URL path: anything but unreserved characters is percent-encoded. */
static void invocation_path(char *out, size_t size, const char *request_id, const char *leaf)
{
    static const char prefix[] = API_PREFIX "/invocation/", hex[] = "0123456789ABCDEF";
    size_t n = sizeof prefix - 1, leaf_len = strlen(leaf);
    memcpy(out, prefix, n);
    for (const unsigned char *c = (const unsigned char *)request_id; *c && n + leaf_len + 5 < size;
         c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '~';
        if (plain) {
            out[n++] = (char)*c;
        } else {
            out[n++] = '%';
            out[n++] = hex[*c >> 4];
            out[n++] = hex[*c & 15];
        }
    }
    out[n++] = '/';
    memcpy(out + n, leaf, leaf_len + 1);
}

/* One post, retried once on a transport failure or a 5xx; never silent. */
/* what names the post in log lines, e.g. "the response to invocation %s" with the id. */
static enum post_result post(struct runtime_api *api, const char *path, const char *headers,
                             const char *body, size_t len, const char *what_format,
                             const char *request_id)
{
    char what[320];
    /* A SIGTERM must not cut a result off half-way: posts are not interruptible. */
    int stop_fd = api->conn.interrupt_fd;
    api->conn.interrupt_fd = -1;
    enum post_result result = POST_FAILED;
    for (int attempt = 1; attempt <= 2; attempt++) {
        struct http_response r;
        char why[600];
        if (http_request(&api->conn, "POST", path, headers, body, len, &r) == HTTP_OK) {
            int cut = (int)(r.body_len > 200 ? 200 : r.body_len);
            if (r.status >= 200 && r.status < 300) {
                result = POST_OK;
                break;
            }
            snprintf(what, sizeof what, what_format, request_id);
            if (r.status == 413) {
                log_error(
                    "the Runtime API refused %s as too large (%zu bytes): %.*s; Lambda reports "
                    "Function.ResponseSizeTooLarge to the caller itself",
                    what, len, cut, r.body);
                result = POST_TOO_LARGE;
                break;
            }
            if (r.status < 500) {
                log_error("the Runtime API refused %s with status %d: %.*s", what, r.status, cut,
                          r.body);
                break;
            }
            snprintf(why, sizeof why, "status %d: %.*s", r.status, cut, r.body);
        } else {
            snprintf(why, sizeof why, "%s", api->conn.error);
            snprintf(what, sizeof what, what_format, request_id);
        }
        if (attempt == 1)
            log_error("posting %s failed (%s); retrying once", what, why);
        else
            log_error("posting %s failed again (%s); it was not delivered", what, why);
    }
    api->conn.interrupt_fd = stop_fd;
    return result;
}

enum post_result runtime_api_post_response(struct runtime_api *api, const char *request_id,
                                           const char *body, size_t len)
{
    char path[1024];
    invocation_path(path, sizeof path, request_id, "response");
    return post(api, path, JSON_HEADERS, body, len, "the response to invocation %s", request_id);
}

bool runtime_api_stream_begin(struct runtime_api *api, const char *request_id,
                              const char *content_type)
{
    char path[1024], headers[768];
    invocation_path(path, sizeof path, request_id, "response");
    snprintf(headers, sizeof headers,
             USER_AGENT
             "Content-Type: %s\r\n"
             "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
             "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n",
             content_type);
    return http_stream_begin(&api->conn, "POST", path, headers) == HTTP_OK;
}

bool runtime_api_stream_chunk(struct runtime_api *api, const char *bytes, size_t len)
{
    return http_stream_chunk(&api->conn, bytes, len) == HTTP_OK;
}

enum post_result runtime_api_stream_end(struct runtime_api *api, const char *request_id,
                                        const char *trailers)
{
    /* As with posts, a SIGTERM must not cut the answer off. */
    int stop_fd = api->conn.interrupt_fd;
    api->conn.interrupt_fd = -1;
    struct http_response r;
    enum http_result rc = http_stream_end(&api->conn, trailers, &r);
    api->conn.interrupt_fd = stop_fd;
    if (rc != HTTP_OK) {
        log_error(
            "finishing the streamed response to invocation %s failed (%s); it may be incomplete",
            request_id, api->conn.error);
        return POST_FAILED;
    }
    if (r.status >= 200 && r.status < 300) return POST_OK;
    int cut = (int)(r.body_len > 200 ? 200 : r.body_len);
    log_error("the Runtime API refused the streamed response to invocation %s with status %d: %.*s",
              request_id, r.status, cut, r.body);
    return r.status == 413 ? POST_TOO_LARGE : POST_FAILED;
}

static void error_headers(char *out, size_t size, const struct error_report *report)
{
    snprintf(out, size, JSON_HEADERS "Lambda-Runtime-Function-Error-Type: %s\r\n",
             report->header_type);
}

enum post_result runtime_api_post_error(struct runtime_api *api, const char *request_id,
                                        const struct error_report *report, const char *body,
                                        size_t len)
{
    char path[1024], headers[512];
    invocation_path(path, sizeof path, request_id, "error");
    error_headers(headers, sizeof headers, report);
    return post(api, path, headers, body, len, "the error of invocation %s", request_id);
}

enum post_result runtime_api_post_init_error(struct runtime_api *api,
                                             const struct error_report *report, const char *body,
                                             size_t len)
{
    char headers[512];
    error_headers(headers, sizeof headers, report);
    return post(api, API_PREFIX "/init/error", headers, body, len, "the init error%s", "");
}
