/* Fuzzes the lean HTTP client's reading of the Runtime API's answers (src/http/http_client.c): the
 * input is what the server sends, through a socketpair, closed after it; the client sends up to
 * eight requests on the one connection (keep-alive, so the input may hold several responses).
 *
 * Each call must end (a response, or a failure with a reason: the end of the input ends every
 * wait) without a crash; a response must have a three-digit status, at most HTTP_MAX_HEADERS
 * headers and a body inside the client's buffers; the receive buffer must hold the input's
 * bytes from where the previous response ended, and a Content-Length body must be the input's
 * bytes just before the response's end. The buffers are trimmed after each response, as the
 * runtime trims them after a large invocation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_client.h"

#define MAX_INPUT (256 * 1024) /* fits in the socket's buffer, so one write never blocks */
#define MAX_REQUESTS 8

static void broken(const char *what)
{
    fprintf(stderr, "http_response_fuzz: %s\n", what);
    abort();
}

static bool inside(const char *p, size_t n, const char *start, size_t len)
{
    return p >= start && n <= len && (size_t)(p - start) <= len - n;
}

static void check_response(const struct http_conn *c, const struct http_response *r,
                           const uint8_t *data, size_t size, size_t base)
{
    if (r->status < 100 || r->status > 999) broken("a status that is not three digits");
    if (r->header_count > HTTP_MAX_HEADERS) broken("more headers than there is room for");
    if (c->consumed > c->in.len || c->in.len > size - base)
        broken("the receive buffer runs past what was sent");
    if (memcmp(c->in.data, data + base, c->in.len) != 0)
        broken("the receive buffer is not the bytes that were sent");
    for (size_t i = 0; i < r->header_count; i++) {
        const struct http_header *h = &r->headers[i];
        if (!inside(c->in.data + h->name_at, h->name_len, c->in.data, c->consumed) ||
            !inside(c->in.data + h->value_at, h->value_len, c->in.data, c->consumed))
            broken("a header outside the response");
    }
    size_t id_len;
    const char *id = http_header_value(c, r, "lambda-runtime-aws-request-id", &id_len);
    if (id && !inside(id, id_len, c->in.data, c->consumed))
        broken("a header value outside the response");
    if (r->body == c->chunked.data ||
        (r->body_len == 0 && !inside(r->body, 0, c->in.data, c->in.len))) {
        if (r->body_len != c->chunked.len) broken("a chunked body of the wrong length");
        return;
    }
    if (!inside(r->body, r->body_len, c->in.data, c->consumed))
        broken("a body outside the response");
    if (r->body + r->body_len != c->in.data + c->consumed)
        broken("a Content-Length body that does not end the response");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT) return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) broken("no socketpair");
    int room = 2 * MAX_INPUT;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
    for (size_t sent = 0; sent < size;) {
        ssize_t n = write(sv[1], data + sent, size - sent);
        if (n <= 0) broken("cannot write the input to the socketpair");
        sent += (size_t)n;
    }
    shutdown(sv[1], SHUT_WR); /* the end of the input: every read after it sees end of stream */

    struct http_conn c;
    if (!http_conn_init(&c, "127.0.0.1:9001")) broken(c.error);
    c.fd = sv[0];
    size_t base = 0; /* where in the input the receive buffer starts */
    for (int i = 0; i < MAX_REQUESTS; i++) {
        struct http_response r;
        enum http_result rc =
            http_request(&c, i % 2 ? "POST" : "GET", "/2018-06-01/runtime/invocation/next", "",
                         i % 2 ? "{}" : NULL, 2, &r);
        if (rc != HTTP_OK) {
            if (!c.error[0]) broken("a failure without a reason");
            if (c.fd >= 0) broken("a failed connection left open");
            break;
        }
        check_response(&c, &r, data, size, base);
        /* After Connection: close the client would connect anew; there is nothing to reach. */
        if (c.close_after_response) break;
        base += c.consumed;
        http_conn_trim(&c); /* as the runtime does after a large invocation */
    }
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    http_conn_free(&c);
    close(sv[1]);
    return 0;
}
