/* floor_client: the thinnest possible Lambda runtime. Over one keep-alive connection it
 * fetches the next event and posts the same bytes back as the response, doing no other work.
 * Its rate is the loopback limit that a real runtime cannot beat. */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int sock;
static char *buf;
static size_t len, cap;

/* The server closing the connection is the normal way for a run to end. */
static void gone(void)
{
    exit(0);
}

static void fill(void)
{
    if (len == cap) {
        cap *= 2;
        char *grown = realloc(buf, cap);
        if (!grown) exit(1);
        buf = grown;
    }
    ssize_t n = read(sock, buf + len, cap - len);
    if (n <= 0) gone();
    len += (size_t)n;
}

static void drop(size_t n)
{
    memmove(buf, buf + n, len - n);
    len -= n;
}

/* Reads one whole response; returns its head length, sets the body length and, if id is given,
 * copies the request id into it (64 bytes). */
static size_t read_response(size_t *body_len, char *id)
{
    char *end;
    while (!(end = memmem(buf, len, "\r\n\r\n", 4)))
        fill();
    size_t head = (size_t)(end - buf) + 4;
    if (strncmp(buf, "HTTP/1.1 2", 10) != 0) {
        fprintf(stderr, "floor_client: unexpected response: %.*s\n", (int)head, buf);
        exit(1);
    }
    *body_len = 0;
    for (char *line = strchr(buf, '\n') + 1; line < end; line = strchr(line, '\n') + 1) {
        if (!strncasecmp(line, "Content-Length:", 15))
            *body_len = strtoul(line + 15, NULL, 10);
        else if (id && !strncasecmp(line, "Lambda-Runtime-Aws-Request-Id:", 30))
            sscanf(line + 30, " %63[^\r\n ]", id);
    }
    while (len < head + *body_len)
        fill();
    return head;
}

static void send_all(struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(sock, iov, n);
        if (w < 0) gone();
        for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
            w -= (ssize_t)iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
}

int main(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    char host[256], *colon;
    if (!api || snprintf(host, sizeof host, "%s", api) >= (int)sizeof host ||
        !(colon = strrchr(host, ':'))) {
        fputs("floor_client: AWS_LAMBDA_RUNTIME_API must be host:port\n", stderr);
        return 1;
    }
    *colon = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 ||
        (sock = socket(ai->ai_family, ai->ai_socktype, 0)) < 0 ||
        connect(sock, ai->ai_addr, ai->ai_addrlen) != 0) {
        perror("floor_client: connect");
        return 1;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    signal(SIGPIPE, SIG_IGN);
    if (!(buf = malloc(cap = 65536))) return 1;

    static const char get[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                              "Host: runtime\r\n\r\n";
    for (;;) {
        struct iovec iov[2] = {{(void *)get, sizeof get - 1}};
        send_all(iov, 1);
        char id[64] = "", head[256];
        size_t body_len, head_len = read_response(&body_len, id);

        /* Echo the event body straight out of the receive buffer. */
        int n = snprintf(head, sizeof head,
                         "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\n"
                         "Host: runtime\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         id, body_len);
        iov[0] = (struct iovec){head, (size_t)n};
        iov[1] = (struct iovec){buf + head_len, body_len};
        send_all(iov, 2);
        drop(head_len + body_len);

        size_t ack_body;
        drop(read_response(&ack_body, NULL) + ack_body);
    }
}
