/* Connection bookkeeping for moonrun.httpd: limits, the request timeout, closing the oldest
 * idle connections first (see httpd_conns.h). */
#include "httpd_conns.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define RESERVED_FILES 256 /* pipes to children, the journal, libcurl, dlopen'd libraries */
#define SERVERS_SHARING 4  /* the front, the SQS endpoint and a few Runtime APIs at once */
#define MIN_LIMIT 32
#define MAX_LIMIT 4096
#define SWEEP_INTERVAL_S 0.25 /* the request timeout is checked this often */

double httpd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

size_t httpd_conns_default_limit(void)
{
    static size_t limit;
    if (limit) return limit;
    struct rlimit rl;
    rlim_t files = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        /* Many shells start with a soft limit of 1,024 and a hard one far above it: a local
         * server under load needs the room, and children inherit the raised limit harmlessly. */
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        files = rl.rlim_cur;
    }
    size_t spare = files > RESERVED_FILES ? (size_t)(files - RESERVED_FILES) : 0;
    limit = spare / SERVERS_SHARING;
    if (limit < MIN_LIMIT) limit = MIN_LIMIT;
    if (limit > MAX_LIMIT) limit = MAX_LIMIT;
    return limit;
}

void httpd_conns_init(struct httpd_conns *conns, size_t limit, double request_timeout_s)
{
    *conns = (struct httpd_conns){.limit = limit, .request_timeout_s = request_timeout_s};
    /* Room above the watermark absorbs a burst of accepts between two sweeps, so that
     * libmicrohttpd itself never reaches its limit and stops accepting. */
    size_t headroom = limit / 8 > 8 ? limit / 8 : 8;
    conns->watermark = limit > headroom ? limit - headroom : limit / 2;
}

struct httpd_conn *httpd_conns_add(struct httpd_conns *conns, int fd)
{
    struct httpd_conn *conn = calloc(1, sizeof *conn);
    if (!conn) return NULL;
    conn->fd = fd;
    conn->since = httpd_now();
    conn->prev = conns->newest;
    if (conns->newest)
        conns->newest->next = conn;
    else
        conns->oldest = conn;
    conns->newest = conn;
    conns->count++;
    if (conns->count > conns->watermark) conns->next_sweep = 0; /* sweep on the next run */
    return conn;
}

void httpd_conns_remove(struct httpd_conns *conns, struct httpd_conn *conn)
{
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        conns->oldest = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    else
        conns->newest = conn->prev;
    conns->count--;
    free(conn);
}

void httpd_conn_set_busy(struct httpd_conn *conn, bool busy)
{
    conn->busy = busy;
    if (!busy) conn->since = httpd_now();
}

/* shutdown, not close: the descriptor stays libmicrohttpd's, which sees the end of the stream
 * on its next run and closes the connection through its own path. */
static void evict(struct httpd_conn *conn)
{
    shutdown(conn->fd, SHUT_RDWR);
    conn->evicted = true;
}

size_t httpd_conns_sweep(struct httpd_conns *conns)
{
    double now = httpd_now();
    if (now < conns->next_sweep) return 0;
    conns->next_sweep = now + SWEEP_INTERVAL_S;
    size_t live = 0, evicted = 0;
    for (struct httpd_conn *c = conns->oldest; c; c = c->next)
        if (!c->evicted) live++;
    for (struct httpd_conn *c = conns->oldest; c; c = c->next) {
        if (c->evicted || c->busy) continue;
        bool too_many = live > conns->watermark;
        bool too_slow = conns->request_timeout_s > 0 && now - c->since > conns->request_timeout_s;
        if (!too_many && !too_slow) continue;
        evict(c);
        live--;
        evicted++;
    }
    return evicted;
}

int httpd_conns_next_ms(const struct httpd_conns *conns)
{
    if (!conns->oldest) return -1;
    double wait = conns->next_sweep - httpd_now();
    return wait <= 0 ? 0 : (int)(wait * 1000) + 1;
}
