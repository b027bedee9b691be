#define _GNU_SOURCE /* memmem */
#include "http_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (1024 * 1024)
#define KEEP_BUFFER_BYTES (256 * 1024)
/* Lambda's payloads are at most a few MB; a larger announced body is a broken server. */
#define MAX_BODY_BYTES (1024LL * 1024 * 1024)
/* Room made at once for an announced body: every real payload fits, and a bogus length costs
 * no more than this before its bytes actually arrive. */
#define RESERVE_AHEAD_BYTES (8 * 1024 * 1024)

static enum http_result failed(struct http_conn *c, const char *what)
{
    snprintf(c->error, sizeof c->error, "%s", what);
    http_conn_close(c);
    return HTTP_FAILED;
}

static enum http_result failed_errno(struct http_conn *c, const char *what)
{
    snprintf(c->error, sizeof c->error, "%s: %s", what, strerror(errno));
    http_conn_close(c);
    return HTTP_FAILED;
}

bool http_conn_init(struct http_conn *c, const char *address)
{
    *c = (struct http_conn){.fd = -1, .interrupt_fd = -1};
    const char *host = address, *port;
    size_t host_len;
    if (address[0] == '[') {
        const char *bracket = strchr(address, ']');
        if (!bracket || bracket[1] != ':') goto malformed;
        host = address + 1;
        host_len = (size_t)(bracket - host);
        port = bracket + 2;
    } else {
        const char *colon = strrchr(address, ':');
        if (!colon) goto malformed;
        host_len = (size_t)(colon - address);
        port = colon + 1;
    }
    if (host_len == 0 || host_len >= sizeof c->host || *port == '\0' ||
        strlen(port) >= sizeof c->port)
        goto malformed;
    memcpy(c->host, host, host_len);
    c->host[host_len] = '\0';
    strcpy(c->port, port);
    snprintf(c->host_header, sizeof c->host_header, "Host: %s\r\n", address);
    return true;
malformed:
    snprintf(c->error, sizeof c->error, "'%s' is not a host:port address", address);
    return false;
}

void http_conn_close(struct http_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    buffer_clear(&c->in);
    c->consumed = 0;
}

void http_conn_free(struct http_conn *c)
{
    http_conn_close(c);
    buffer_free(&c->in);
    buffer_free(&c->chunked);
}

static enum http_result connect_to_server(struct http_conn *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found;
    int rc = getaddrinfo(c->host, c->port, &hints, &found);
    if (rc != 0) {
        snprintf(c->error, sizeof c->error, "cannot resolve %.200s: %s", c->host, gai_strerror(rc));
        return HTTP_FAILED;
    }
    int saved_errno = 0;
    for (struct addrinfo *a = found; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c->fd = fd;
            break;
        }
        saved_errno = errno;
        close(fd);
    }
    freeaddrinfo(found);
    if (c->fd < 0) {
        errno = saved_errno;
        return failed_errno(c, "cannot connect");
    }
    return HTTP_OK;
}

static enum http_result send_all(struct http_conn *c, struct iovec *parts, int count)
{
    while (count > 0) {
        struct msghdr msg = {.msg_iov = parts, .msg_iovlen = (size_t)count};
        ssize_t sent = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return failed_errno(c, "cannot send the request");
        }
        while (count > 0 && (size_t)sent >= parts->iov_len) {
            sent -= (ssize_t)parts->iov_len;
            parts++, count--;
        }
        if (count > 0) {
            parts->iov_base = (char *)parts->iov_base + sent;
            parts->iov_len -= (size_t)sent;
        }
    }
    return HTTP_OK;
}

/* Waits until the socket is readable, or until interrupt_fd is: a signal that arrived at any
 * moment before (even just before the wait began) leaves a byte there, so it is never lost. */
static enum http_result wait_readable(struct http_conn *c)
{
    if (c->interrupt_fd < 0) return HTTP_OK;
    struct pollfd fds[2] = {{.fd = c->fd, .events = POLLIN},
                            {.fd = c->interrupt_fd, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return failed_errno(c, "cannot wait for the response");
        }
        if (fds[1].revents) {
            snprintf(c->error, sizeof c->error, "interrupted by a signal");
            http_conn_close(c);
            return HTTP_INTERRUPTED;
        }
        if (fds[0].revents) return HTTP_OK;
    }
}

/* Reads more bytes into c->in; HTTP_FAILED with "connection closed" at end of stream. */
static enum http_result receive_more(struct http_conn *c)
{
    if (!buffer_reserve(&c->in, 64 * 1024)) return failed(c, "out of memory reading the response");
    if (c->interrupt_fd >= 0) {
        /* What is already there is read without the poll: with invocations queued, the answer
         * to GET /next is usually in by now, and a poll costs a system call (about 2 us on a
         * virtual machine). When nothing is there, this one is the extra call, made before a
         * wait anyway. An invocation that arrived with a SIGTERM is then taken: the deadline
         * code stops its handler at once (Runtime.Shutdown). */
        ssize_t got = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, MSG_DONTWAIT);
        if (got > 0) {
            c->in.len += (size_t)got;
            c->in.data[c->in.len] = '\0';
            return HTTP_OK;
        }
        if (got == 0) return failed(c, "the server closed the connection");
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return failed_errno(c, "cannot read the response");
    }
    enum http_result waited = wait_readable(c);
    if (waited != HTTP_OK) return waited;
    for (;;) {
        ssize_t got = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (got > 0) {
            c->in.len += (size_t)got;
            c->in.data[c->in.len] = '\0';
            return HTTP_OK;
        }
        if (got == 0) return failed(c, "the server closed the connection");
        if (errno != EINTR) return failed_errno(c, "cannot read the response");
    }
}

/* Makes sure c->in holds at least `want` bytes. */
static enum http_result receive_at_least(struct http_conn *c, size_t want)
{
    size_t ahead = want > c->in.len ? want - c->in.len : 0;
    if (ahead > RESERVE_AHEAD_BYTES) ahead = RESERVE_AHEAD_BYTES;
    if (ahead && !buffer_reserve(&c->in, ahead + 1))
        return failed(c, "out of memory reading the response body");
    while (c->in.len < want) {
        enum http_result rc = receive_more(c);
        if (rc != HTTP_OK) return rc;
    }
    return HTTP_OK;
}

static bool value_is(const struct http_conn *c, const struct http_header *h, const char *word)
{
    return h->value_len == strlen(word) &&
           strncasecmp(c->in.data + h->value_at, word, h->value_len) == 0;
}

static bool name_is(const struct http_conn *c, const struct http_header *h, const char *name)
{
    return h->name_len == strlen(name) &&
           strncasecmp(c->in.data + h->name_at, name, h->name_len) == 0;
}

/* Parses the status line and headers that end at header_end; notes the framing. */
static enum http_result parse_head(struct http_conn *c, size_t header_end, struct http_response *r,
                                   long long *content_length, bool *chunked)
{
    const char *data = c->in.data;
    /* "HTTP/1.x NNN ...": fixed positions, cheaper than sscanf on every response. */
    bool well_formed = header_end > 12 && memcmp(data, "HTTP/1.", 7) == 0 && data[8] == ' ';
    for (int i = 9; well_formed && i < 12; i++)
        well_formed = data[i] >= '0' && data[i] <= '9';
    if (!well_formed || data[9] == '0') return failed(c, "the server sent a malformed status line");
    r->status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
    c->close_after_response = data[7] == '0';
    size_t at = (size_t)((const char *)memchr(data, '\n', header_end) - data) + 1;
    r->header_count = 0;
    while (at < header_end - 2) {
        const char *line = data + at, *eol = memchr(line, '\n', header_end - at);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        size_t next = (size_t)(eol - data) + 1;
        if (!colon) return failed(c, "the server sent a malformed header line");
        const char *value = colon + 1, *value_end = eol;
        while (value < value_end && (*value == ' ' || *value == '\t'))
            value++;
        while (value_end > value &&
               (value_end[-1] == '\r' || value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        if (r->header_count == HTTP_MAX_HEADERS)
            return failed(c, "the server sent too many headers");
        struct http_header *h = &r->headers[r->header_count++];
        *h = (struct http_header){(size_t)(line - data), (size_t)(colon - line),
                                  (size_t)(value - data), (size_t)(value_end - value)};
        if (name_is(c, h, "Content-Length")) {
            char *end;
            *content_length = strtoll(data + h->value_at, &end, 10);
            if (end != data + h->value_at + h->value_len || *content_length < 0)
                return failed(c, "the server sent a malformed Content-Length");
            if (*content_length > MAX_BODY_BYTES)
                return failed(c, "the server announced a body of over 1 GB");
        } else if (name_is(c, h, "Transfer-Encoding")) {
            *chunked = value_is(c, h, "chunked");
        } else if (name_is(c, h, "Connection")) {
            c->close_after_response = value_is(c, h, "close");
        }
        at = next;
    }
    return HTTP_OK;
}

/* Decodes a chunked body that starts at c->in.data + at into c->chunked. */
static enum http_result read_chunked(struct http_conn *c, size_t at)
{
    buffer_clear(&c->chunked);
    for (;;) {
        char *line_end;
        while (!(line_end = memmem(c->in.data + at, c->in.len - at, "\r\n", 2))) {
            enum http_result rc = receive_more(c);
            if (rc != HTTP_OK) return rc;
        }
        char *end;
        unsigned long long size = strtoull(c->in.data + at, &end, 16);
        if (end == c->in.data + at) return failed(c, "the server sent a malformed chunk size");
        /* Also keeps at + size + 2 below from wrapping around. */
        if (size > (unsigned long long)MAX_BODY_BYTES - c->chunked.len)
            return failed(c, "the server announced a body of over 1 GB");
        at = (size_t)(line_end - c->in.data) + 2;
        if (size == 0) break;
        enum http_result rc = receive_at_least(c, at + size + 2);
        if (rc != HTTP_OK) return rc;
        if (!buffer_append(&c->chunked, c->in.data + at, size)) return failed(c, "out of memory");
        at += size + 2;
    }
    /* Trailers, if any, end with an empty line. */
    for (;;) {
        char *line_end;
        while (!(line_end = memmem(c->in.data + at, c->in.len - at, "\r\n", 2))) {
            enum http_result rc = receive_more(c);
            if (rc != HTTP_OK) return rc;
        }
        bool empty = line_end == c->in.data + at;
        at = (size_t)(line_end - c->in.data) + 2;
        if (empty) break;
    }
    c->consumed = at;
    return HTTP_OK;
}

static enum http_result read_response(struct http_conn *c, struct http_response *r)
{
    char *head_end;
    size_t searched = 0; /* resume the search where the last one ended */
    while (!(head_end = c->in.len >= 4
                            ? memmem(c->in.data + searched, c->in.len - searched, "\r\n\r\n", 4)
                            : NULL)) {
        if (c->in.len > MAX_HEADER_BYTES) return failed(c, "the server sent over 1 MB of headers");
        searched = c->in.len >= 3 ? c->in.len - 3 : 0;
        enum http_result rc = receive_more(c);
        if (rc != HTTP_OK) return rc;
    }
    size_t header_end = (size_t)(head_end - c->in.data) + 4;
    long long content_length = -1;
    bool chunked = false;
    enum http_result rc = parse_head(c, header_end, r, &content_length, &chunked);
    if (rc != HTTP_OK) return rc;
    if (chunked) {
        if ((rc = read_chunked(c, header_end)) != HTTP_OK) return rc;
        r->body = c->chunked.data ? c->chunked.data : "";
        r->body_len = c->chunked.len;
        return HTTP_OK;
    }
    if (content_length < 0) {
        bool no_body = r->status == 204 || r->status == 304 || r->status < 200;
        if (!no_body) return failed(c, "the server sent a response without Content-Length");
        content_length = 0;
    }
    if ((rc = receive_at_least(c, header_end + (size_t)content_length)) != HTTP_OK) return rc;
    r->body = c->in.data + header_end;
    r->body_len = (size_t)content_length;
    c->consumed = header_end + (size_t)content_length;
    return HTTP_OK;
}

/* Drops the previous response from the receive buffer, keeping any bytes that follow it. */
static void discard_previous(struct http_conn *c)
{
    if (c->consumed == 0) return;
    size_t rest = c->in.len - c->consumed;
    memmove(c->in.data, c->in.data + c->consumed, rest);
    c->in.data[rest] = '\0';
    c->in.len = rest;
    c->consumed = 0;
}

/* Readies the connection for a new request: drops what the last one left, (re)connects. */
static enum http_result start_request(struct http_conn *c)
{
    if (c->close_after_response) http_conn_close(c);
    c->close_after_response = false;
    discard_previous(c);
    if (c->fd < 0) return connect_to_server(c);
    return HTTP_OK;
}

/* Writes the request line and headers into head, leaving room for the framing header and the
 * empty line; returns their length, or 0 when they do not fit. */
static size_t build_head(struct http_conn *c, char *head, size_t size, const char *method,
                         const char *path, const char *extra_headers)
{
    size_t n = 0;
    const char *pieces[] = {method, " ", path, " HTTP/1.1\r\n", c->host_header, extra_headers};
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) {
        size_t len = strlen(pieces[i]);
        if (n + len + 48 > size) return 0;
        memcpy(head + n, pieces[i], len);
        n += len;
    }
    return n;
}

enum http_result http_send_request(struct http_conn *c, const char *method, const char *path,
                                   const char *extra_headers, const char *body, size_t body_len)
{
    enum http_result rc = start_request(c);
    if (rc != HTTP_OK) return rc;
    char head[1024];
    size_t n = build_head(c, head, sizeof head, method, path, extra_headers);
    if (n == 0) return failed(c, "request line and headers too long");
    if (body) n += (size_t)sprintf(head + n, "Content-Length: %zu\r\n", body_len);
    memcpy(head + n, "\r\n", 2);
    n += 2;
    struct iovec parts[2] = {{head, n}, {(void *)body, body ? body_len : 0}};
    return send_all(c, parts, body && body_len ? 2 : 1);
}

enum http_result http_request(struct http_conn *c, const char *method, const char *path,
                              const char *extra_headers, const char *body, size_t body_len,
                              struct http_response *response)
{
    enum http_result rc = http_send_request(c, method, path, extra_headers, body, body_len);
    if (rc != HTTP_OK) return rc;
    return read_response(c, response);
}

enum http_result http_stream_begin(struct http_conn *c, const char *method, const char *path,
                                   const char *extra_headers)
{
    enum http_result rc = start_request(c);
    if (rc != HTTP_OK) return rc;
    char head[1024];
    size_t n = build_head(c, head, sizeof head, method, path, extra_headers);
    if (n == 0) return failed(c, "request line and headers too long");
    static const char framing[] = "Transfer-Encoding: chunked\r\n\r\n";
    memcpy(head + n, framing, sizeof framing - 1);
    struct iovec part = {head, n + sizeof framing - 1};
    return send_all(c, &part, 1);
}

enum http_result http_stream_chunk(struct http_conn *c, const char *bytes, size_t len)
{
    if (c->fd < 0) return failed(c, "the connection is closed");
    if (len == 0) return HTTP_OK; /* a zero-size chunk would end the body */
    char size_line[24];
    int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
    /* One sendmsg per chunk: with TCP_NODELAY the chunk leaves now, in as few segments as fit. */
    struct iovec parts[3] = {{size_line, (size_t)n}, {(void *)bytes, len}, {"\r\n", 2}};
    return send_all(c, parts, 3);
}

enum http_result http_stream_end(struct http_conn *c, const char *trailers,
                                 struct http_response *response)
{
    if (c->fd < 0) return failed(c, "the connection is closed");
    struct iovec parts[3] = {
        {"0\r\n", 3}, {(void *)trailers, trailers ? strlen(trailers) : 0}, {"\r\n", 2}};
    enum http_result rc = send_all(c, parts, 3);
    if (rc != HTTP_OK) return rc;
    return read_response(c, response);
}

const char *http_header_value(const struct http_conn *c, const struct http_response *r,
                              const char *name, size_t *value_len)
{
    for (size_t i = 0; i < r->header_count; i++) {
        if (name_is(c, &r->headers[i], name)) {
            if (value_len) *value_len = r->headers[i].value_len;
            return c->in.data + r->headers[i].value_at;
        }
    }
    return NULL;
}

const char *http_header_name(const struct http_conn *c, const struct http_header *h)
{
    return c->in.data + h->name_at;
}

const char *http_header_value_at(const struct http_conn *c, const struct http_header *h)
{
    return c->in.data + h->value_at;
}

void http_conn_trim(struct http_conn *c)
{
    if (c->consumed == c->in.len) {
        c->in.len = 0;
        c->consumed = 0;
        buffer_shrink(&c->in, KEEP_BUFFER_BYTES);
    }
    buffer_shrink(&c->chunked, KEEP_BUFFER_BYTES);
}
