/* The connections of one moonrun.httpd server, oldest first, so that no sequence of client
 * behaviour can starve it: a connection that is not being answered (idle between requests, or
 * still sending its request) is closed when it has waited longer than the request timeout, and
 * the oldest of them are closed first when the server nears its connection limit. Connections
 * the server holds on purpose (a long poll, a Runtime API GET /next) are busy and never closed
 * here. */
#ifndef MOONRUN_HTTPD_CONNS_H
#define MOONRUN_HTTPD_CONNS_H

#include <stdbool.h>
#include <stddef.h>

struct httpd_conn {
    struct httpd_conn *prev, *next; /* in accept order */
    int fd;
    bool busy;    /* a request of it is with the handler or being answered */
    bool evicted; /* shut down here; libmicrohttpd closes it on its next run */
    double since; /* when it last became idle (accepted, or its last answer sent), seconds */
};

struct httpd_conns {
    struct httpd_conn *oldest, *newest;
    size_t count;
    size_t limit;     /* libmicrohttpd's MHD_OPTION_CONNECTION_LIMIT for the server */
    size_t watermark; /* above this many, the oldest idle connections are closed */
    double request_timeout_s;
    double next_sweep;
};

/* Seconds on a monotonic clock. */
double httpd_now(void);
/* The connection limit for each server: raises the soft RLIMIT_NOFILE to the hard one (once),
 * then leaves room under it for the process's other files. */
size_t httpd_conns_default_limit(void);
void httpd_conns_init(struct httpd_conns *conns, size_t limit, double request_timeout_s);
/* NULL when memory runs out (the connection is then not tracked, only timed out by MHD). */
struct httpd_conn *httpd_conns_add(struct httpd_conns *conns, int fd);
void httpd_conns_remove(struct httpd_conns *conns, struct httpd_conn *conn);
void httpd_conn_set_busy(struct httpd_conn *conn, bool busy);
/* Shuts down what must go; returns how many. Cheap when there is nothing to do. */
size_t httpd_conns_sweep(struct httpd_conns *conns);
/* Milliseconds until a sweep may have something to do, for the loop's poll; -1: none. */
int httpd_conns_next_ms(const struct httpd_conns *conns);

#endif
