/* canned_sqs: a fast, single-threaded stand-in for SQS's SendMessage, so that a client
 * benchmark measures the client and not the server. Every POST with
 * X-Amz-Target: AmazonSQS.SendMessage gets the same AWS JSON 1.0 answer (the body's MD5, given
 * on the command line because the benchmark always sends the same body, and a fixed MessageId);
 * any other request gets a 400 AWS error and is counted as bad.
 *
 *   canned_sqs --md5 HEX [--port N]
 *
 * Listens on 127.0.0.1 (a free port unless --port), prints "port=N" once listening, and on
 * SIGTERM or SIGINT prints "requests=N bad=M connections=C" (C: connections accepted) and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MESSAGE_ID "5fea7756-0ea4-451a-a703-a558b933e274"
#define REQUEST_ID "c2a8f7d1-3b5e-5a4c-9d2f-6e1b0a7c8d9e"
#define MAX_HEAD 65536
#define MAX_BODY (8u << 20) /* SQS itself refuses more than 1 MiB */
#define MAX_EVENTS 64

struct conn {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out; /* answers the socket did not take yet */
    size_t out_len, out_cap, out_sent;
    bool sent_continue, closing, want_write;
};

static char answer_ok[512], answer_bad[512];
static size_t answer_ok_len, answer_bad_len;
static unsigned long long requests, bad_requests, connections;
static volatile sig_atomic_t stop;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("canned_sqs: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static void build_answers(const char *md5)
{
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"MD5OfMessageBody\":\"%s\",\"MessageId\":\"" MESSAGE_ID "\"}", md5);
    answer_ok_len = (size_t)snprintf(answer_ok, sizeof answer_ok,
                                     "HTTP/1.1 200 OK\r\n"
                                     "Content-Type: application/x-amz-json-1.0\r\n"
                                     "x-amzn-RequestId: " REQUEST_ID "\r\n"
                                     "Content-Length: %d\r\n\r\n%s",
                                     n, body);
    static const char bad[] = "{\"__type\":\"com.amazonaws.sqs#InvalidAction\","
                              "\"message\":\"canned_sqs answers SendMessage only\"}";
    answer_bad_len = (size_t)snprintf(answer_bad, sizeof answer_bad,
                                      "HTTP/1.1 400 Bad Request\r\n"
                                      "Content-Type: application/x-amz-json-1.0\r\n"
                                      "x-amzn-RequestId: " REQUEST_ID "\r\n"
                                      "x-amzn-query-error: AWS.InvalidAction;Sender\r\n"
                                      "Content-Length: %zu\r\n\r\n%s",
                                      sizeof bad - 1, bad);
}

static bool grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 4096;
    while (cap2 < need)
        cap2 *= 2;
    char *grown = realloc(*buf, cap2);
    if (!grown) return false;
    *buf = grown;
    *cap = cap2;
    return true;
}

static bool queue_out(struct conn *c, const char *data, size_t len)
{
    if (!grow(&c->out, &c->out_cap, c->out_len + len)) return false;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return true;
}

/* Writes what is queued; false if the connection broke. */
static bool flush_out(struct conn *c)
{
    while (c->out_sent < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            return false;
        }
        c->out_sent += (size_t)w;
    }
    c->out_sent = c->out_len = 0;
    return true;
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static bool value_is(const char *line, size_t len, const char *value)
{
    const char *v = (const char *)memchr(line, ':', len) + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return (size_t)(end - v) == strlen(value) && strncasecmp(v, value, (size_t)(end - v)) == 0;
}

struct request {
    size_t head_len, body_len;
    bool is_post, is_send_message, expect_continue, close;
};

/* 1 when buf starts with a whole request head (described in *r), 0 when more bytes are
 * needed, -1 when the bytes are not HTTP. */
static int parse_head(const char *buf, size_t len, struct request *r)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return len > MAX_HEAD ? -1 : 0;
    memset(r, 0, sizeof *r);
    r->head_len = (size_t)(end - buf) + 4;
    const char *eol = memmem(buf, r->head_len, "\r\n", 2);
    if (!memchr(buf, ' ', (size_t)(eol - buf))) return -1;
    r->is_post = eol - buf > 5 && memcmp(buf, "POST ", 5) == 0;
    r->close = memmem(buf, (size_t)(eol - buf), "HTTP/1.0", 8) != NULL;

    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        size_t line_len = (size_t)(eol - line);
        if (!memchr(line, ':', line_len)) return -1;
        if (header_is(line, line_len, "Content-Length")) {
            const char *v = memchr(line, ':', line_len) + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (!isdigit((unsigned char)*v)) return -1;
            r->body_len = strtoul(v, NULL, 10);
        } else if (header_is(line, line_len, "Transfer-Encoding")) {
            return -1; /* every client measured here sends Content-Length */
        } else if (header_is(line, line_len, "X-Amz-Target")) {
            r->is_send_message = value_is(line, line_len, "AmazonSQS.SendMessage");
        } else if (header_is(line, line_len, "Expect")) {
            r->expect_continue = value_is(line, line_len, "100-continue");
        } else if (header_is(line, line_len, "Connection")) {
            r->close = value_is(line, line_len, "close");
        }
    }
    return r->body_len > MAX_BODY ? -1 : 1;
}

/* Serves every complete request in c->in. Returns false when the connection is finished. */
static bool serve(struct conn *c)
{
    size_t used = 0;
    bool keep = true;
    struct request r;
    int state = 0;
    while (keep) {
        size_t left = c->in_len - used;
        state = parse_head(c->in + used, left, &r);
        if (state <= 0) break;
        if (left - r.head_len < r.body_len) {
            /* A client that asked for it waits for "100 Continue" before sending the body. */
            if (r.expect_continue && !c->sent_continue) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                if (!queue_out(c, cont, sizeof cont - 1)) return false;
                c->sent_continue = true;
            }
            break;
        }
        requests++;
        if (r.is_post && r.is_send_message) {
            if (!queue_out(c, answer_ok, answer_ok_len)) return false;
        } else {
            bad_requests++;
            if (!queue_out(c, answer_bad, answer_bad_len)) return false;
        }
        used += r.head_len + r.body_len;
        c->sent_continue = false;
        keep = !r.close;
    }
    if (used) {
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    if (state < 0) {
        bad_requests++;
        return false;
    }
    if (!keep) c->closing = true;
    return flush_out(c);
}

/* Reads what is available. Returns false when the connection is finished with. */
static bool on_readable(struct conn *c)
{
    /* One read per wake-up: epoll is level-triggered, so whatever is left wakes us again. */
    if (!grow(&c->in, &c->in_cap, c->in_len + 16384)) return false;
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0) return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;
    c->in_len += (size_t)n;
    return serve(c);
}

static void close_conn(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Asks for EPOLLOUT only while answers wait to be written. */
static void update_interest(int ep, struct conn *c)
{
    bool want = c->out_len > 0;
    if (want == c->want_write) return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = want;
}

static void usage(void)
{
    fputs("usage: canned_sqs --md5 HEX [--port N]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *md5 = NULL;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (!strcmp(argv[i], "--md5"))
            md5 = argv[++i];
        else if (!strcmp(argv[i], "--port"))
            port = atoi(argv[++i]);
        else
            usage();
    }
    if (!md5 || strlen(md5) != 32 || strspn(md5, "0123456789abcdef") != 32 || port < 0 ||
        port > 65535)
        usage();
    build_answers(md5);

    /* SIGTERM stays blocked except inside epoll_pwait, so it cannot slip in between the check
     * of `stop` and the wait. */
    sigset_t block, during_wait;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &during_wait);
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    if (lfd >= 0) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 128) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0)
        die("cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) die("epoll: %s", strerror(errno));
    printf("port=%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    while (!stop) {
        int n = epoll_pwait(ep, events, MAX_EVENTS, -1, &during_wait);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = events[k].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    if (!nc) die("out of memory");
                    nc->fd = fd;
                    connections++;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                        close(fd);
                        free(nc);
                    }
                }
                continue;
            }
            bool alive = true;
            if (events[k].events & EPOLLOUT) alive = flush_out(c);
            if (alive && (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                alive = on_readable(c);
            if (alive && c->closing && c->out_len == 0) alive = false;
            if (alive)
                update_interest(ep, c);
            else
                close_conn(ep, c);
        }
    }
    printf("requests=%llu bad=%llu connections=%llu\n", requests, bad_requests, connections);
    return 0;
}
