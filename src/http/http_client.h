/* A lean HTTP/1.1 client for the Lambda Runtime API on loopback: one keep-alive socket, no
 * timeouts (the sandbox is frozen between invocations, so a wait may last for hours), and
 * buffers kept between requests. libcurl costs milliseconds to load and microseconds per
 * request here, where the whole invocation budget is tens of microseconds. */
#ifndef MOONRUN_HTTP_CLIENT_H
#define MOONRUN_HTTP_CLIENT_H

#include <stddef.h>

#include "buffer.h"

#define HTTP_MAX_HEADERS 64

struct http_header {
    size_t name_at, name_len, value_at, value_len; /* offsets into the receive buffer */
};

struct http_response {
    int status;
    const char *body;
    size_t body_len;
    size_t header_count;
    struct http_header headers[HTTP_MAX_HEADERS];
};

struct http_conn {
    int fd;
    char host[256];
    char port[16];
    char host_header[300];     /* "Host: host:port\r\n", made once */
    struct buffer in;          /* bytes received: the current response, then what follows */
    struct buffer chunked;     /* a chunked body, decoded */
    size_t consumed;           /* bytes of `in` that belong to the last response */
    bool close_after_response; /* the server said Connection: close */
    int interrupt_fd;          /* readable when a wait must stop (SIGTERM); -1: never */
    char error[512];           /* why the last call failed */
};

enum http_result { HTTP_OK = 0, HTTP_FAILED = -1, HTTP_INTERRUPTED = -2 };

/* address is "host:port" as AWS_LAMBDA_RUNTIME_API gives it ("[::1]:9001" for IPv6). */
bool http_conn_init(struct http_conn *c, const char *address);
void http_conn_close(struct http_conn *c);
void http_conn_free(struct http_conn *c);

/* Sends one request and reads the whole response. extra_headers is "" or "Name: value\r\n"
 * lines. The response stays valid until the next request on c. */
enum http_result http_request(struct http_conn *c, const char *method, const char *path,
                              const char *extra_headers, const char *body, size_t body_len,
                              struct http_response *response);

/* Sends one request without waiting for its response (which may never come). */
enum http_result http_send_request(struct http_conn *c, const char *method, const char *path,
                                   const char *extra_headers, const char *body, size_t body_len);

/* A request whose body is sent as it is made (chunked transfer encoding): begin sends the
 * head (extra_headers as for http_request), each chunk goes out at once, and end sends the
 * last chunk with trailers ("" or NULL, else "Name: value\r\n" lines), then reads the
 * response. A failure closes the connection. */
enum http_result http_stream_begin(struct http_conn *c, const char *method, const char *path,
                                   const char *extra_headers);
enum http_result http_stream_chunk(struct http_conn *c, const char *bytes, size_t len);
enum http_result http_stream_end(struct http_conn *c, const char *trailers,
                                 struct http_response *response);

/* The value of a header (case-insensitive name), or NULL. */
const char *http_header_value(const struct http_conn *c, const struct http_response *r,
                              const char *name, size_t *value_len);
const char *http_header_name(const struct http_conn *c, const struct http_header *h);
const char *http_header_value_at(const struct http_conn *c, const struct http_header *h);

/* Lets go of memory a large payload left behind. */
void http_conn_trim(struct http_conn *c);

#endif
