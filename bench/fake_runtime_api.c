/* fake_runtime_api: a fast, single-threaded stand-in for the Lambda Runtime API that is also
 * the timing harness. It spawns the runtime under test, serves it the same event N times and
 * prints one machine-readable line: cold start, throughput, resident size and error counts.
 * With --concurrency C it hands out up to C invocations at once, one per waiting GET /next
 * (each on its own connection, served by a thread of its own), as Lambda Managed Instances do,
 * and sets AWS_LAMBDA_MAX_CONCURRENCY=C for the runtime.
 *
 * --spread K pins those threads to CPUs 0 to K-1 in turn.
 *
 * Every invocation carries the headers Lambda sends, each new as Lambda makes it: a request id,
 * a deadline, a trace id (Root, Parent, Sampled), and on one invocation in eight a client
 * context and a Cognito identity of a few KB of JSON, so that whatever the runtime keeps per
 * distinct header value shows up as growth.
 *
 *   fake_runtime_api --event FILE --count N [--warmup W] [--cpu K] [--timeout S] [--log FILE]
 *                    [--concurrency C [--spread K]] -- COMMAND [ARGS...]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define API "/2018-06-01/runtime/"
#define MAX_CONNS 80
#define MAX_CONCURRENCY 64
#define MAX_REQUEST (256u << 20)
#define FUNCTION_ARN "arn:aws:lambda:us-east-1:123456789012:function:bench"
/* One invocation in this many carries a client context and an identity, as mobile SDK calls do. */
#define CONTEXT_EVERY 8
#define HEAD_MAX 16384

extern char **environ;

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    bool sent_continue; /* "100 Continue" already sent for the request being read */
};

struct request {
    const char *method, *path;
    size_t method_len, path_len;
    size_t head_len, body_len;
    bool expect_continue, close;
};

static pid_t child = -1;
/* With --concurrency above 1, each connection has a thread; the run state below is theirs to
 * share under this lock. (One thread multiplexing every connection would make each worker's
 * round trip wait for the others' and wake a thread on another core every time.) */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static int spread_cpus; /* --spread: pin the connections' threads to CPUs 0..K-1 in turn */
static int next_cpu;    /* the CPU the next connection's thread is pinned to */

/* Run state and results. */
static char *event;
static size_t event_len;
static long count, warmup;
static long issued, done, errors, bad_requests;
static unsigned long long bytes_out;
static long concurrency = 1;
/* Events handed out whose results have not come back yet, by request id ("" is a free slot). */
static char outstanding_ids[MAX_CONCURRENCY][40];
static long outstanding;
/* GET /next that came once every event had been handed out: left waiting, as Lambda would. */
static long parked;
static double t_spawn, t_first_get = -1, t_start = -1, t_end;
static double cpu_start, cpu_end; /* the runtime's CPU time (all its threads) at t_start, t_end */
static long rss_warm = -1;
static long rss_mid =
    -1; /* half-way through the timed invocations: growth that stops is not a leak */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fake_runtime_api: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (child > 0) kill(child, SIGKILL);
    exit(1);
}

/* Safety net so a runtime that hangs cannot stall the benchmark forever. */
static void on_alarm(int sig)
{
    static const char msg[] = "fake_runtime_api: safety timeout reached, killing the runtime\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more can be done */
    }
    if (child > 0) kill(child, SIGKILL);
    _exit(2);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) die("cannot open %s: %s", path, strerror(errno));
    char *data = malloc((size_t)st.st_size + 1);
    if (!data || fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        die("cannot read %s", path);
    fclose(f);
    *len = (size_t)st.st_size;
    return data;
}

/* A "VmRSS:"-style field of /proc/PID/status, in kB, or -1. */
static long proc_status_kb(const char *key)
{
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)child);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = '\0';
    const char *p = strstr(text, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* The runtime's user + system CPU seconds so far, over all its threads (/proc/PID/stat). */
static double proc_cpu_seconds(void)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return 0;
    text[n] = '\0';
    const char *p = strrchr(text, ')'); /* the command name may hold spaces */
    unsigned long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static bool write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        /* Skip what went out, possibly stopping inside one iovec. */
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return true;
}

static bool send_str(int fd, const char *s)
{
    struct iovec iov = {(void *)s, strlen(s)};
    return write_all(fd, &iov, 1);
}

static bool reply(int fd, const char *status, const char *body)
{
    char head[256];
    snprintf(head, sizeof head,
             "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", status,
             strlen(body));
    struct iovec iov[2] = {{head, strlen(head)}, {(void *)body, strlen(body)}};
    return write_all(fd, iov, 2);
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* The value of a header line: leading blanks skipped; its length is left in *vlen. */
static const char *header_value(const char *line, size_t len, size_t *vlen)
{
    const char *v = (const char *)memchr(line, ':', len) + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

/* 1 when c->buf holds a whole request (described in *r), 0 when more bytes are needed. */
static int parse_request(const struct conn *c, struct request *r)
{
    const char *buf = c->buf;
    const char *end = memmem(buf, c->len, "\r\n\r\n", 4);
    if (!end) {
        if (c->len > 65536) die("request head larger than 64 KiB");
        return 0;
    }
    memset(r, 0, sizeof *r);
    r->head_len = (size_t)(end - buf) + 4;

    /* Request line: METHOD SP PATH SP VERSION */
    const char *eol = memmem(buf, r->head_len, "\r\n", 2);
    const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp2) die("malformed request line: %.*s", (int)(eol - buf), buf);
    r->method = buf;
    r->method_len = (size_t)(sp1 - buf);
    r->path = sp1 + 1;
    r->path_len = (size_t)(sp2 - sp1 - 1);

    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        size_t len = (size_t)(eol - line), vlen;
        if (!memchr(line, ':', len)) die("malformed header line: %.*s", (int)len, line);
        const char *v = header_value(line, len, &vlen);
        if (header_is(line, len, "Content-Length"))
            r->body_len = strtoul(v, NULL, 10);
        else if (header_is(line, len, "Transfer-Encoding"))
            die("Transfer-Encoding is not supported here; send Content-Length");
        else if (header_is(line, len, "Expect"))
            r->expect_continue = vlen == 12 && strncasecmp(v, "100-continue", 12) == 0;
        else if (header_is(line, len, "Connection"))
            r->close = vlen == 5 && strncasecmp(v, "close", 5) == 0;
    }
    if (r->body_len > MAX_REQUEST) die("request body of %zu bytes is too large", r->body_len);
    return c->len - r->head_len >= r->body_len ? 1 : 0;
}

static bool path_is(const struct request *r, const char *path)
{
    return r->path_len == strlen(path) && memcmp(r->path, path, r->path_len) == 0;
}

static bool method_is(const struct request *r, const char *m)
{
    return r->method_len == strlen(m) && memcmp(r->method, m, r->method_len) == 0;
}

static char *free_slot(void)
{
    for (int k = 0; k < MAX_CONCURRENCY; k++)
        if (!outstanding_ids[k][0]) return outstanding_ids[k];
    return NULL;
}

/* splitmix64: ids and padding that differ on every invocation, reproducible from the seed. */
static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static unsigned long long next_random(void)
{
    unsigned long long z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n random lower-case hex digits at out (no NUL). */
static void random_hex(char *out, int n)
{
    static const char digits[] = "0123456789abcdef";
    unsigned long long bits = 0;
    for (int i = 0; i < n; i++) {
        if (i % 16 == 0) bits = next_random();
        out[i] = digits[bits & 15];
        bits >>= 4;
    }
}

/* Appends "Name: value\r\n" lines for a client context and an identity, JSON shaped as the
 * mobile SDKs send them, with a padding field of 1 to 4 KB so no two have the same size. */
static int context_headers(char *out, size_t size)
{
    char install[33], identity[33], pad[4097];
    random_hex(install, 32), install[32] = '\0';
    random_hex(identity, 32), identity[32] = '\0';
    int pad_len = 1024 + (int)(next_random() % 3072);
    random_hex(pad, pad_len), pad[pad_len] = '\0';
    return snprintf(
        out, size,
        "Lambda-Runtime-Client-Context: {\"client\":{\"installation_id\":\"%s\","
        "\"app_title\":\"bench\",\"app_version_name\":\"1.0\",\"app_version_code\":\"1\","
        "\"app_package_name\":\"com.example.bench\"},\"custom\":{\"pad\":\"%s\"},"
        "\"env\":{\"platform\":\"Android\",\"model\":\"Pixel\",\"make\":\"Google\","
        "\"platform_version\":\"14\",\"locale\":\"en_US\"}}\r\n"
        "Lambda-Runtime-Cognito-Identity: {\"cognitoIdentityId\":\"us-east-1:%s\","
        "\"cognitoIdentityPoolId\":\"us-east-1:%.16s\"}\r\n",
        install, pad, identity, install);
}

static bool serve_next(int fd)
{
    if (t_first_get < 0) t_first_get = now();
    if (t_start < 0 && warmup == 0) {
        rss_warm = proc_status_kb("VmRSS:");
        cpu_start = proc_cpu_seconds();
        t_start = now();
    }
    if (issued == warmup + count) {
        parked++;
        return true;
    }
    /* More events asked for than the concurrency allows: a new next before a result. */
    if (outstanding >= concurrency) bad_requests++;
    char *current_id = free_slot();
    if (!current_id) die("more than %d invocations outstanding", MAX_CONCURRENCY);
    outstanding++;
    issued++;
    /* A uuid v4 that changes with every invocation. */
    char hex[32];
    random_hex(hex, 32);
    snprintf(current_id, 40, "%.8s-%.4s-4%.3s-8%.3s-%.12s", hex, hex + 8, hex + 12, hex + 15,
             hex + 18);
    /* X-Ray's format: Root=1-<epoch seconds, 8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0|1. */
    char root[24], parent[16];
    random_hex(root, 24);
    random_hex(parent, 16);
    char head[HEAD_MAX];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: application/json\r\n"
                     "Lambda-Runtime-Aws-Request-Id: %s\r\n"
                     "Lambda-Runtime-Deadline-Ms: %lld\r\n"
                     "Lambda-Runtime-Invoked-Function-Arn: " FUNCTION_ARN "\r\n"
                     "Lambda-Runtime-Trace-Id: Root=1-%08llx-%.24s;Parent=%.16s;Sampled=%d\r\n",
                     current_id, epoch_ms() + 60000, (unsigned long long)(epoch_ms() / 1000), root,
                     parent, (int)(next_random() & 1));
    if (next_random() % CONTEXT_EVERY == 0) n += context_headers(head + n, sizeof head - (size_t)n);
    n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n\r\n", event_len);
    if ((size_t)n >= sizeof head) die("response head over %d bytes", HEAD_MAX);
    struct iovec iov[2] = {{head, (size_t)n}, {event, event_len}};
    return write_all(fd, iov, 2);
}

/* POST .../invocation/<id>/response or .../error. Returns false if the connection broke. */
static bool serve_result(int fd, const struct request *r, const char *id, size_t id_len,
                         bool is_error)
{
    char *slot = NULL;
    for (int k = 0; k < MAX_CONCURRENCY && !slot; k++)
        if (id_len == strlen(outstanding_ids[k]) && memcmp(id, outstanding_ids[k], id_len) == 0)
            slot = outstanding_ids[k];
    if (!slot || id_len == 0) {
        bad_requests++;
        return reply(fd, "400 Bad Request", "{\"errorType\":\"InvalidRequestID\"}");
    }
    slot[0] = '\0';
    outstanding--;
    done++;
    if (is_error)
        errors++;
    else
        bytes_out += r->body_len;
    if (done == warmup + count) {
        t_end = now();
        cpu_end = proc_cpu_seconds();
    }
    bool ok = reply(fd, "202 Accepted", "{\"status\":\"OK\"}");
    if (done == warmup + count / 2) rss_mid = proc_status_kb("VmRSS:");
    if (done == warmup) {
        rss_warm = proc_status_kb("VmRSS:");
        cpu_start = proc_cpu_seconds();
        t_start = now();
    }
    return ok;
}

/* Handles one complete request. Returns false if the connection should be closed. */
static bool handle(int fd, const struct request *r)
{
    static const char inv[] = API "invocation/";
    if (method_is(r, "GET") && path_is(r, API "invocation/next")) return serve_next(fd);

    if (method_is(r, "POST") && r->path_len > sizeof inv - 1 &&
        memcmp(r->path, inv, sizeof inv - 1) == 0) {
        const char *id = r->path + sizeof inv - 1, *end = r->path + r->path_len;
        const char *slash = memchr(id, '/', (size_t)(end - id));
        if (slash) {
            size_t rest = (size_t)(end - slash);
            if (rest == 9 && memcmp(slash, "/response", 9) == 0)
                return serve_result(fd, r, id, (size_t)(slash - id), false);
            if (rest == 6 && memcmp(slash, "/error", 6) == 0)
                return serve_result(fd, r, id, (size_t)(slash - id), true);
        }
    }
    if (method_is(r, "POST") && path_is(r, API "init/error"))
        die("the runtime reported an init error: %.*s", (int)r->body_len, r->method + r->head_len);
    bad_requests++;
    fprintf(stderr, "fake_runtime_api: unexpected request %.*s %.*s\n", (int)r->method_len,
            r->method, (int)r->path_len, r->path);
    return reply(fd, "404 Not Found", "{\"errorType\":\"NotFound\"}");
}

/* Reads what is available on c and serves every complete request in it.
 * Returns false when the connection is finished with. */
static bool on_readable(struct conn *c)
{
    if (c->len == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        char *grown = realloc(c->buf, c->cap);
        if (!grown) die("out of memory");
        c->buf = grown;
    }
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    c->len += (size_t)n;

    struct request r = {0};
    int complete;
    while ((complete = parse_request(c, &r)) == 1) {
        pthread_mutex_lock(&state_lock);
        bool keep = handle(c->fd, &r) && !r.close;
        pthread_mutex_unlock(&state_lock);
        size_t used = r.head_len + r.body_len;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        c->sent_continue = false;
        if (!keep) return false;
        if (done == warmup + count) return true;
    }
    /* Head read, body still to come: a client that asked for it waits for "100 Continue". */
    if (complete == 0 && c->len >= 4 && memmem(c->buf, c->len, "\r\n\r\n", 4) &&
        !c->sent_continue) {
        if (r.expect_continue && !send_str(c->fd, "HTTP/1.1 100 Continue\r\n\r\n")) return false;
        c->sent_continue = true;
    }
    return true;
}

/* A connection's thread (--concurrency above 1): serves it until it closes. */
static void *serve_connection(void *arg)
{
    struct conn *c = arg;
    if (spread_cpus > 0) {
        /* A worker is woken by this thread, and the scheduler tends to run it where this one
         * runs: each worker then shares a core with the thread serving it, as one worker
         * shares its core with the whole server under --cpu. */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((unsigned)(__atomic_fetch_add(&next_cpu, 1, __ATOMIC_RELAXED) % spread_cpus), &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) die("cannot pin: %s", strerror(errno));
    }
    while (on_readable(c)) {
    }
    close(c->fd);
    free(c->buf);
    free(c);
    return NULL;
}

static bool finished(void)
{
    pthread_mutex_lock(&state_lock);
    bool all_done = done == warmup + count;
    pthread_mutex_unlock(&state_lock);
    return all_done;
}

/* Dies when the runtime has exited: its pidfd became readable (exited_fd), or, without a
 * pidfd, waitpid says so. */
static void die_if_runtime_exited(bool exited_fd, int pidfd)
{
    int status = 0;
    if (exited_fd || (pidfd < 0 && waitpid(child, &status, WNOHANG) == child)) {
        if (pidfd >= 0) waitpid(child, &status, 0);
        child = -1;
        die("the runtime exited (%s %d) after %ld of %ld invocations",
            WIFSIGNALED(status) ? "signal" : "status",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), done, warmup + count);
    }
}

/* The main loop with a thread per connection: accepts, and watches for a dead runtime. */
static void serve_threaded(int lfd, int pidfd)
{
    while (!finished()) {
        struct pollfd pfd[2] = {{lfd, POLLIN, 0}, {pidfd, POLLIN, 0}};
        if (poll(pfd, 2, 20) < 0 && errno != EINTR) die("poll: %s", strerror(errno));
        die_if_runtime_exited(pfd[1].revents & POLLIN, pidfd);
        if (!(pfd[0].revents & POLLIN)) continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        pthread_t thread;
        if (!c) die("out of memory");
        c->fd = fd;
        if (pthread_create(&thread, NULL, serve_connection, c) != 0) die("cannot start a thread");
        pthread_detach(thread);
    }
}

static void usage(void)
{
    fputs("usage: fake_runtime_api --event FILE --count N [--warmup W] [--cpu K] [--timeout S]\n"
          "                        [--log FILE] [--concurrency C [--spread K]] -- COMMAND "
          "[ARGS...]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *event_path = NULL, *log_path = NULL;
    int cpu = -1, timeout = 120, i;
    count = -1;
    warmup = -1;
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (i + 1 >= argc) usage();
        const char *opt = argv[i], *val = argv[++i];
        if (!strcmp(opt, "--event"))
            event_path = val;
        else if (!strcmp(opt, "--count"))
            count = atol(val);
        else if (!strcmp(opt, "--warmup"))
            warmup = atol(val);
        else if (!strcmp(opt, "--cpu"))
            cpu = atoi(val);
        else if (!strcmp(opt, "--timeout"))
            timeout = atoi(val);
        else if (!strcmp(opt, "--log"))
            log_path = val;
        else if (!strcmp(opt, "--concurrency"))
            concurrency = atol(val);
        else if (!strcmp(opt, "--spread"))
            spread_cpus = atoi(val);
        else
            usage();
    }
    if (!event_path || count < 1 || i + 1 >= argc || concurrency < 1 ||
        concurrency > MAX_CONCURRENCY)
        usage();
    char **command = argv + i + 1;
    if (warmup < 0) warmup = count / 10 < 1000 ? count / 10 : 1000;
    event = read_file(event_path, &event_len);
    rng_state ^= (unsigned long long)epoch_ms();

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)timeout);

    if (cpu >= 0) {
        /* The runtime inherits this mask, so both share one core as on a small Lambda. */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((unsigned)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die("cannot pin to cpu %d: %s", cpu, strerror(errno));
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, MAX_CONNS) != 0 || getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0)
        die("cannot listen on 127.0.0.1: %s", strerror(errno));
    char api[32];
    snprintf(api, sizeof api, "127.0.0.1:%d", ntohs(addr.sin_port));
    setenv("AWS_LAMBDA_RUNTIME_API", api, 1);
    if (concurrency > 1) {
        char value[24];
        snprintf(value, sizeof value, "%ld", concurrency);
        setenv("AWS_LAMBDA_MAX_CONCURRENCY", value, 1);
    }

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (log_path) {
        posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    /* Give the runtime the default SIGPIPE disposition rather than our ignored one. */
    posix_spawnattr_t attr;
    sigset_t sigs;
    posix_spawnattr_init(&attr);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &sigs);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);

    t_spawn = now();
    int err = posix_spawnp(&child, command[0], &fa, &attr, command, environ);
    if (err != 0) die("cannot start %s: %s", command[0], strerror(err));
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);

    /* A pidfd becomes readable when the child exits, so poll() notices a crashed runtime. */
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);

    struct conn conns[MAX_CONNS];
    int nconns = 0;
    if (concurrency > 1) serve_threaded(lfd, pidfd);
    while (done < warmup + count) {
        struct pollfd pfd[MAX_CONNS + 2] = {{lfd, POLLIN, 0}, {pidfd, POLLIN, 0}};
        for (int k = 0; k < nconns; k++)
            pfd[k + 2] = (struct pollfd){conns[k].fd, POLLIN, 0};
        /* Without a pidfd, wake up now and then to look for a dead child. */
        int ready = poll(pfd, (nfds_t)nconns + 2, pidfd >= 0 ? -1 : 200);
        if (ready < 0 && errno != EINTR) die("poll: %s", strerror(errno));

        die_if_runtime_exited(pfd[1].revents & POLLIN, pidfd);
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 && nconns == MAX_CONNS) {
                close(fd);
            } else if (fd >= 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[nconns++] = (struct conn){.fd = fd};
            }
        }
        for (int k = nconns - 1; k >= 0; k--) {
            if (!(pfd[k + 2].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (!on_readable(&conns[k])) {
                close(conns[k].fd);
                free(conns[k].buf);
                conns[k] = conns[--nconns];
            }
            if (done == warmup + count) break;
        }
    }

    pthread_mutex_lock(&state_lock); /* connection threads may still be reading */
    long rss_end = proc_status_kb("VmRSS:"), hwm = proc_status_kb("VmHWM:");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    for (int k = 0; k < nconns; k++) {
        close(conns[k].fd);
        free(conns[k].buf);
    }

    double seconds = t_end - t_start;
    printf("cold_start_ms=%.3f invocations=%ld warmup=%ld seconds=%.3f rate=%.0f "
           "rss_kb_warm=%ld rss_kb_mid=%ld rss_kb_end=%ld rss_growth_kb=%ld hwm_kb=%ld errors=%ld "
           "bad_requests=%ld event_bytes=%zu bytes_out=%llu cpu_seconds=%.2f\n",
           (t_first_get - t_spawn) * 1e3, count, warmup, seconds,
           seconds > 0 ? (double)count / seconds : 0.0, rss_warm, rss_mid, rss_end,
           rss_end - rss_warm, hwm, errors, bad_requests, event_len, bytes_out,
           cpu_end - cpu_start);
    return errors || bad_requests ? 3 : 0;
}
