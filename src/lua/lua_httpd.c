/* The `moonrun.httpd` module: HTTP servers for `moonrun dev`, on libmicrohttpd in external-epoll
 * mode, driven from one thread by the event loop (moonrun.event_loop, lua_event_loop.c) that its
 * servers register with through event_loop.h.
 *
 *   server = httpd.listen{host = "127.0.0.1", port = 0, handler = fn, max_body = bytes,
 *                         idle_timeout = s, request_timeout = s, max_connections = n,
 *                         body_limit = fn, body_sink = fn}
 *     body_sink(req) (req without its body) -> nil, or a function sink(bytes) that takes the
 *     body piece by piece as it arrives instead of req.body (a streamed upload relayed on at
 *     once); the handler is then called at the end, with req.body empty and the trailers.
 *     body_limit(req) (req without its body) -> bytes[, status, headers, body]: this request's
 *     limit under max_body, and the answer to a larger body (413 "Request Entity Too Large" by
 *     default). A body declared larger, or growing past it, is read and dropped as it comes,
 *     never kept, and then answered.
 *     (the last three default to MOONRUN_DEV_IDLE_TIMEOUT, 60; MOONRUN_DEV_REQUEST_TIMEOUT, 30;
 *     MOONRUN_DEV_MAX_CONNECTIONS, else a share of the open-files limit; see httpd_conns.h)
 *   server:port(), server:close()
 *   httpd.respond(id, status, headers, body) -> true, or false when the client has gone
 *   httpd.respond_stream(id, status, headers) -> true or false, as respond, for an answer whose
 *     body follows: httpd.stream_write(id, bytes) -> false when the client has gone, and
 *     httpd.stream_end(id[, failed]) (failed: the connection is closed without the terminating
 *     chunk, so the client sees the answer cut). See httpd_stream.h.
 *
 * handler(req) is called once a request has arrived whole, with req = {id, method, path, query,
 * headers, header_list, trailers, body, remote, remote_port}. It may answer at once or later (long
 * polls): a request not answered when the handler returns is suspended, and resumed by its
 * httpd.respond. */
#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buffer.h"
#include "event_loop.h"
#include "httpd_conns.h"
#include "httpd_lib.h"
#include "httpd_stream.h"
#include "modules.h"

#define SERVER_TYPE "moonrun.httpd.server"
#define MAX_SERVERS 64

struct server;

struct request {
    struct request *next_pending;   /* in its server's list while it waits for an answer */
    struct request *next_streaming; /* in httpd.streaming while its streamed answer is open */
    struct httpd_stream *stream;    /* its streamed answer, if it has one */
    int sink_ref;                   /* its body_sink's function, or LUA_NOREF */
    struct server *server;
    struct MHD_Connection *connection;
    lua_Integer id;
    char *target; /* the request target as sent: path and query, still %-encoded */
    struct buffer body;
    size_t max_body; /* the server's, or less when its body_limit says so for this request */
    bool started, too_large, refused, dispatched, suspended;
    struct MHD_Response *response; /* the answer, until MHD takes it */
    unsigned int status;
};

struct server {
    struct MHD_Daemon *daemon;
    int listen_fd, handler_ref, limit_ref, sink_ref, port;
    size_t max_body;
    struct httpd_conns conns;
    struct request *pending; /* dispatched, not answered yet */
};

static struct {
    const struct httpd_lib *mhd;
    struct server *servers[MAX_SERVERS];
    int server_count;
    lua_State *L;                /* the state running the event loop, which handlers run in */
    struct request *dispatching; /* the request whose handler is running */
    struct request *streaming;   /* the requests answered with a stream still open */
    lua_Integer next_id;
    bool resumed; /* a connection was resumed: MHD must run now, its wakeup is not reliable */
} httpd;

/* ---- the request's life, as libmicrohttpd reports it ---- */

static struct httpd_conn *conn_of(struct MHD_Connection *connection);

static void *on_request_start(void *cls, const char *uri, struct MHD_Connection *connection)
{
    struct request *req = calloc(1, sizeof *req);
    if (!req) return NULL;
    req->server = cls;
    req->connection = connection;
    req->id = ++httpd.next_id;
    req->sink_ref = LUA_NOREF;
    req->target = strdup(uri ? uri : "/");
    /* The request timeout runs from the request line, or from the connection's last idle start
     * when that is later: a request dribbled byte by byte cannot hold its connection. */
    struct httpd_conn *conn = conn_of(connection);
    if (conn) conn->since = httpd_now();
    return req;
}

static void unlink_pending(struct request *req)
{
    for (struct request **p = &req->server->pending; *p; p = &(*p)->next_pending) {
        if (*p == req) {
            *p = req->next_pending;
            return;
        }
    }
}

static void on_request_done(void *cls, struct MHD_Connection *connection, void **con_cls,
                            enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)code;
    struct request *req = *con_cls;
    if (!req) return;
    struct httpd_conn *conn = conn_of(connection);
    if (conn) httpd_conn_set_busy(conn, false); /* answered or abandoned: idle from now */
    unlink_pending(req);
    if (req->stream) {
        for (struct request **p = &httpd.streaming; *p; p = &(*p)->next_streaming) {
            if (*p == req) {
                *p = req->next_streaming;
                break;
            }
        }
        httpd_stream_release(req->stream);
    }
    if (req->sink_ref != LUA_NOREF && httpd.L)
        luaL_unref(httpd.L, LUA_REGISTRYINDEX, req->sink_ref);
    if (httpd.dispatching == req) httpd.dispatching = NULL;
    if (req->response) httpd.mhd->destroy_response(req->response);
    buffer_free(&req->body);
    free(req->target);
    free(req);
    *con_cls = NULL;
}

static struct httpd_conn *conn_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        httpd.mhd->get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* Every connection is tracked from accept to close, so the sweep can find the oldest idle. */
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct server *server = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            httpd.mhd->get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = info ? httpd_conns_add(&server->conns, info->connect_fd) : NULL;
    } else if (*socket_context) {
        httpd_conns_remove(&server->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* ---- the request as a Lua table ---- */

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    lua_State *L = cls;
    size_t n = strlen(key);
    char lower[256];
    if (n >= sizeof lower) return MHD_YES; /* no header of interest is that long */
    for (size_t i = 0; i <= n; i++) {
        char c = key[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    if (lua_getfield(L, -1, lower) == LUA_TSTRING) { /* repeated: joined as HTTP allows */
        lua_pushliteral(L, ",");
        lua_pushstring(L, value ? value : "");
        lua_concat(L, 3);
    } else {
        lua_pop(L, 1);
        lua_pushstring(L, value ? value : "");
    }
    lua_setfield(L, -2, lower);
    return MHD_YES;
}

/* The headers again, in the order received and as the client spelled them: API Gateway's REST
 * events keep both (multiValueHeaders). */
static enum MHD_Result add_header_pair(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    lua_State *L = cls;
    lua_createtable(L, 2, 0);
    lua_pushstring(L, key);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, value ? value : "");
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return MHD_YES;
}

static void push_remote(lua_State *L, struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        httpd.mhd->get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char text[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (info && info->client_addr) {
        const struct sockaddr *sa = info->client_addr;
        if (sa->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
            port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text);
            port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        }
    }
    lua_pushinteger(L, port);
    lua_setfield(L, -2, "remote_port");
    lua_pushstring(L, text);
}

static void push_request(lua_State *L, struct request *req, const char *method)
{
    lua_createtable(L, 0, 10);
    lua_pushinteger(L, req->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
    const char *question = strchr(req->target, '?');
    size_t path_len = question ? (size_t)(question - req->target) : strlen(req->target);
    lua_pushlstring(L, req->target, path_len);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, question ? question + 1 : "");
    lua_setfield(L, -2, "query");
    lua_newtable(L);
    httpd.mhd->get_connection_values(req->connection, MHD_HEADER_KIND, add_header, L);
    lua_setfield(L, -2, "headers");
    lua_newtable(L);
    httpd.mhd->get_connection_values(req->connection, MHD_HEADER_KIND, add_header_pair, L);
    lua_setfield(L, -2, "header_list");
    lua_newtable(L);
    httpd.mhd->get_connection_values(req->connection, MHD_FOOTER_KIND, add_header, L);
    lua_setfield(L, -2, "trailers");
    lua_pushlstring(L, req->body.data ? req->body.data : "", req->body.len);
    lua_setfield(L, -2, "body");
    push_remote(L, req->connection);
    lua_setfield(L, -2, "remote");
}

/* An error in a handler is the handler's bug: it is reported, and the client gets a 500. */
static void call_handler(struct request *req, const char *method)
{
    lua_State *L = httpd.L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, req->server->handler_ref);
    push_request(L, req, method);
    httpd.dispatching = req;
    int status = lua_pcall(L, 1, 0, 0);
    if (httpd.dispatching != req) return; /* the connection ended inside the handler */
    httpd.dispatching = NULL;
    if (status != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        fprintf(stderr, "moonrun dev: a request handler failed: %s\n",
                message ? message : "(error object is not a string)");
        lua_pop(L, 1);
        if (!req->response) {
            static char text[] = "{\"message\":\"Internal Server Error\"}";
            req->response = httpd.mhd->create_response_from_buffer(sizeof text - 1, text,
                                                                   MHD_RESPMEM_PERSISTENT);
            req->status = 500;
        }
    }
}

static enum MHD_Result queue_answer(struct request *req)
{
    enum MHD_Result ok = httpd.mhd->queue_response(req->connection, req->status, req->response);
    httpd.mhd->destroy_response(req->response);
    req->response = NULL;
    return ok;
}

static enum MHD_Result answer_too_large(struct request *req)
{
    if (req->refused) return MHD_YES; /* answered already, from the headers */
    req->refused = true;
    if (!req->response) {
        static char text[] = "{\"message\":\"Request Entity Too Large\"}";
        req->response =
            httpd.mhd->create_response_from_buffer(sizeof text - 1, text, MHD_RESPMEM_PERSISTENT);
        req->status = 413;
    }
    return req->response ? queue_answer(req) : MHD_NO;
}

static void add_response_headers(lua_State *L, struct MHD_Response *response, int index);

/* The server's body_limit(req) decides, from the headers alone, how large this request's body
 * may be and what answers a larger one: it returns bytes[, status, headers, body]. */
static void apply_body_limit(struct request *req, const char *method)
{
    req->max_body = req->server->max_body;
    if (req->server->limit_ref == LUA_NOREF) return;
    lua_State *L = httpd.L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, req->server->limit_ref);
    push_request(L, req, method);
    if (lua_pcall(L, 1, 4, 0) != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        fprintf(stderr, "moonrun dev: a body_limit function failed: %s\n",
                message ? message : "(error object is not a string)");
    } else if (lua_isinteger(L, top + 1) && lua_tointeger(L, top + 1) >= 0) {
        size_t limit = (size_t)lua_tointeger(L, top + 1);
        if (limit < req->max_body) req->max_body = limit;
        if (lua_isinteger(L, top + 2)) {
            size_t len = 0;
            const char *body = lua_tolstring(L, top + 4, &len);
            req->response = httpd.mhd->create_response_from_buffer(
                body ? len : 0, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
            req->status = (unsigned int)lua_tointeger(L, top + 2);
            if (req->response && lua_istable(L, top + 3))
                add_response_headers(L, req->response, top + 3);
        }
    }
    lua_settop(L, top);
}

/* The server's body_sink(req) may take this request's body as it arrives, for a sink function. */
static void apply_body_sink(struct request *req, const char *method)
{
    if (req->server->sink_ref == LUA_NOREF || req->too_large || req->response) return;
    lua_State *L = httpd.L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, req->server->sink_ref);
    push_request(L, req, method);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        fprintf(stderr, "moonrun dev: a body_sink function failed: %s\n",
                message ? message : "(error object is not a string)");
        lua_pop(L, 1);
    } else if (lua_isfunction(L, -1)) {
        req->sink_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        /* A body taken as it comes (a function's streamed response) lasts as long as its sender
         * takes, which is its own business: the request timeout is for bodies nobody awaits. */
        struct httpd_conn *conn = conn_of(req->connection);
        if (conn) httpd_conn_set_busy(conn, true);
    } else {
        lua_pop(L, 1);
    }
}

/* A sink that fails is reported; the rest of the body still goes to it (the next piece may be
 * the one that matters, such as the end of a stream). */
static void feed_sink(struct request *req, const char *data, size_t len)
{
    lua_State *L = httpd.L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, req->sink_ref);
    lua_pushlstring(L, data, len);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        fprintf(stderr, "moonrun dev: a body sink failed: %s\n",
                message ? message : "(error object is not a string)");
        lua_pop(L, 1);
    }
}

static enum MHD_Result find_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    (void)kind;
    if (strcasecmp(key, "Content-Length") != 0 || !value) return MHD_YES;
    char *end = NULL;
    unsigned long long n = strtoull(value, &end, 10);
    if (end != value && *end == '\0') *(unsigned long long *)cls = n;
    return MHD_NO;
}

/* The declared Content-Length, or 0 when there is none (chunked: counted as it arrives). */
static unsigned long long declared_length(struct MHD_Connection *connection)
{
    unsigned long long length = 0;
    httpd.mhd->get_connection_values(connection, MHD_HEADER_KIND, find_content_length, &length);
    return length;
}

static enum MHD_Result on_request_data(void *cls, struct MHD_Connection *connection,
                                       const char *url, const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    (void)cls, (void)url, (void)version;
    struct request *req = *con_cls;
    if (!req) return MHD_NO; /* out of memory when it started */
    req->connection = connection;
    if (!req->started) { /* the first call has the headers only; the body comes next */
        req->started = true;
        apply_body_limit(req, method);
        apply_body_sink(req, method);
        /* A body declared too large is not kept from its first byte. It is still read (and
         * dropped) before the answer: a client still sending when the server closes gets a
         * reset, not the 413 (urllib and others report a broken pipe). The request timeout
         * bounds how long that can take. */
        if (declared_length(connection) > req->max_body) req->too_large = true;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (req->sink_ref != LUA_NOREF) {
            feed_sink(req, upload_data, *upload_data_size);
        } else if (!req->too_large) {
            if (req->body.len + *upload_data_size > req->max_body) {
                /* what was kept is freed now: the rest is read and dropped, never stored */
                req->too_large = true;
                buffer_free(&req->body);
            } else if (!buffer_append(&req->body, upload_data, *upload_data_size)) {
                return MHD_NO;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_large) return answer_too_large(req);
    if (req->response && !req->dispatched) { /* a body_limit answer the body did not need */
        httpd.mhd->destroy_response(req->response);
        req->response = NULL;
    }
    if (!req->dispatched) {
        req->dispatched = true;
        struct httpd_conn *conn = conn_of(connection);
        if (conn) httpd_conn_set_busy(conn, true); /* held on purpose until answered */
        call_handler(req, method);
        if (*con_cls != req) return MHD_NO;
    }
    if (req->response) return queue_answer(req);
    if (!req->suspended) { /* answered later, by httpd.respond */
        req->suspended = true;
        req->next_pending = req->server->pending;
        req->server->pending = req;
        httpd.mhd->suspend_connection(connection);
    }
    return MHD_YES;
}

/* ---- answering ---- */

static struct request *find_request(lua_Integer id)
{
    if (httpd.dispatching && httpd.dispatching->id == id) return httpd.dispatching;
    for (int i = 0; i < httpd.server_count; i++) {
        for (struct request *r = httpd.servers[i]->pending; r; r = r->next_pending)
            if (r->id == id) return r;
    }
    return NULL;
}

static void add_response_headers(lua_State *L, struct MHD_Response *response, int index)
{
    if (lua_isnoneornil(L, index)) return;
    luaL_checktype(L, index, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, index)) {
        const char *name = luaL_checkstring(L, -2);
        if (lua_istable(L, -1)) {
            lua_Integer n = luaL_len(L, -1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                httpd.mhd->add_response_header(response, name, luaL_checkstring(L, -1));
                lua_pop(L, 1);
            }
        } else {
            httpd.mhd->add_response_header(response, name, luaL_checkstring(L, -1));
        }
        lua_pop(L, 1);
    }
}

static int l_respond(lua_State *L)
{
    lua_Integer id = luaL_checkinteger(L, 1);
    lua_Integer status = luaL_checkinteger(L, 2);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 4, "", &body_len);
    luaL_argcheck(L, status >= 100 && status <= 599, 2, "an HTTP status is between 100 and 599");
    struct request *req = find_request(id);
    if (!req || req->response) {
        lua_pushboolean(L, 0);
        return 1;
    }
    struct MHD_Response *response =
        httpd.mhd->create_response_from_buffer(body_len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!response) return luaL_error(L, "out of memory for an HTTP response");
    req->response = response;
    req->status = (unsigned int)status;
    add_response_headers(L, response, 3); /* after storing it, so an error here cannot leak it */
    if (req->suspended) {
        unlink_pending(req);
        req->suspended = false;
        httpd.mhd->resume_connection(req->connection);
        httpd.resumed = true;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static struct request *find_streaming(lua_Integer id)
{
    for (struct request *r = httpd.streaming; r; r = r->next_streaming)
        if (r->id == id) return r;
    return NULL;
}

static int l_respond_stream(lua_State *L)
{
    lua_Integer id = luaL_checkinteger(L, 1);
    lua_Integer status = luaL_checkinteger(L, 2);
    luaL_argcheck(L, status >= 100 && status <= 599, 2, "an HTTP status is between 100 and 599");
    struct request *req = find_request(id);
    if (!req || req->response) {
        lua_pushboolean(L, 0);
        return 1;
    }
    struct MHD_Response *response = NULL;
    struct httpd_stream *stream = httpd_stream_new(httpd.mhd, req->connection, &response);
    if (!stream) return luaL_error(L, "out of memory for an HTTP response");
    req->response = response;
    req->stream = stream;
    req->status = (unsigned int)status;
    req->next_streaming = httpd.streaming;
    httpd.streaming = req;
    add_response_headers(L, response, 3);
    if (req->suspended) {
        unlink_pending(req);
        req->suspended = false;
        httpd.mhd->resume_connection(req->connection);
        httpd.resumed = true;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_stream_write(lua_State *L)
{
    lua_Integer id = luaL_checkinteger(L, 1);
    size_t len = 0;
    const char *data = luaL_checklstring(L, 2, &len);
    struct request *req = find_streaming(id);
    bool ok = false;
    if (req && httpd_stream_write(req->stream, data, len, &ok)) httpd.resumed = true;
    lua_pushboolean(L, ok);
    return 1;
}

static int l_stream_end(lua_State *L)
{
    lua_Integer id = luaL_checkinteger(L, 1);
    bool failed = lua_toboolean(L, 2);
    struct request *req = find_streaming(id);
    if (req && httpd_stream_end(req->stream, failed)) httpd.resumed = true;
    lua_pushboolean(L, req != NULL);
    return 1;
}

/* ---- servers ---- */

static int open_listen_socket(lua_State *L, const char *host, int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    const char *numeric = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, numeric, &addr.sin_addr) != 1)
        return luaL_error(L, "cannot listen on %s: give an IPv4 address such as 127.0.0.1", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return luaL_error(L, "cannot open a socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, SOMAXCONN) != 0) {
        int err = errno;
        close(fd);
        return luaL_error(L, "cannot listen on %s:%d: %s", host, port, strerror(err));
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return -1;
    return ntohs(addr.sin_port);
}

static const struct httpd_lib *load_mhd(lua_State *L)
{
    if (!httpd.mhd) {
        char err[640];
        httpd.mhd = httpd_lib_load(err, sizeof err);
        if (!httpd.mhd) luaL_error(L, "%s", err);
    }
    return httpd.mhd;
}

static const struct event_loop_source servers_source;

/* A number of seconds (or connections) from the listen table, else from the environment
 * variable env, else fallback; anything else is an error naming where it came from. */
static lua_Integer listen_setting(lua_State *L, const char *field, const char *env,
                                  lua_Integer fallback, lua_Integer max)
{
    lua_Integer value = fallback;
    const char *from = NULL;
    if (lua_getfield(L, 1, field) != LUA_TNIL) {
        int is_integer = 0;
        value = lua_tointegerx(L, -1, &is_integer);
        if (!is_integer) value = -1;
        from = field;
    } else if (getenv(env) && *getenv(env)) {
        char *end = NULL;
        long long parsed = strtoll(getenv(env), &end, 10);
        value = *end ? -1 : (lua_Integer)parsed;
        from = env;
    }
    lua_pop(L, 1);
    if (from && (value < 0 || value > max))
        luaL_error(L, "%s must be a whole number from 0 to %lld (0: no limit), got %s", from,
                   (long long)max, from == env ? getenv(env) : luaL_tolstring(L, -1, NULL));
    return value;
}

static int l_listen(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    load_mhd(L);
    /* from the first server on, SIGTERM stops the loop rather than the process */
    if (!event_loop_catch_stop_signals())
        return luaL_error(L, "cannot create a pipe: %s", strerror(errno));
    event_loop_set_source(EVENT_LOOP_SERVERS, &servers_source);
    if (httpd.server_count == MAX_SERVERS) return luaL_error(L, "too many HTTP servers (64)");
    lua_getfield(L, 1, "host");
    const char *host = luaL_optstring(L, -1, "127.0.0.1");
    lua_getfield(L, 1, "port");
    lua_Integer port = luaL_optinteger(L, -1, 0);
    lua_getfield(L, 1, "max_body");
    lua_Integer max_body = luaL_optinteger(L, -1, 16 * 1024 * 1024);
    lua_Integer idle_timeout =
        listen_setting(L, "idle_timeout", "MOONRUN_DEV_IDLE_TIMEOUT", 60, 86400);
    lua_Integer request_timeout =
        listen_setting(L, "request_timeout", "MOONRUN_DEV_REQUEST_TIMEOUT", 30, 86400);
    lua_Integer max_connections =
        listen_setting(L, "max_connections", "MOONRUN_DEV_MAX_CONNECTIONS", 0, 1000000);
    lua_getfield(L, 1, "handler");
    luaL_argcheck(L, lua_isfunction(L, -1), 1, "handler must be a function");
    luaL_argcheck(L, port >= 0 && port <= 65535, 1, "port must be between 0 and 65535");

    struct server *server = lua_newuserdatauv(L, sizeof *server, 0);
    memset(server, 0, sizeof *server);
    server->listen_fd = -1;
    server->handler_ref = server->limit_ref = server->sink_ref = LUA_NOREF;
    luaL_setmetatable(L, SERVER_TYPE);
    server->listen_fd = open_listen_socket(L, host, (int)port);
    server->port = bound_port(server->listen_fd);
    server->max_body = max_body > 0 ? (size_t)max_body : 0;
    size_t limit = (size_t)max_connections;
    if (limit == 0) limit = httpd_conns_default_limit();
    httpd_conns_init(&server->conns, limit, (double)request_timeout);
    /* MHD's idle timeout skips suspended connections: a long poll is never cut by it. */
    server->daemon = httpd.mhd->start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request_data, server,
        MHD_OPTION_LISTEN_SOCKET, server->listen_fd, MHD_OPTION_URI_LOG_CALLBACK, on_request_start,
        server, MHD_OPTION_NOTIFY_COMPLETED, on_request_done, server, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, server, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)idle_timeout, MHD_OPTION_END);
    if (!server->daemon) {
        close(server->listen_fd);
        server->listen_fd = -1;
        return luaL_error(L, "libmicrohttpd could not serve %s:%d", host, server->port);
    }
    lua_pushvalue(L, -2); /* the handler */
    server->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, 1, "body_limit");
    server->limit_ref = lua_isfunction(L, -1) ? luaL_ref(L, LUA_REGISTRYINDEX) : LUA_NOREF;
    if (server->limit_ref == LUA_NOREF) lua_pop(L, 1);
    lua_getfield(L, 1, "body_sink");
    server->sink_ref = lua_isfunction(L, -1) ? luaL_ref(L, LUA_REGISTRYINDEX) : LUA_NOREF;
    if (server->sink_ref == LUA_NOREF) lua_pop(L, 1);
    httpd.servers[httpd.server_count++] = server;
    return 1;
}

static struct server *check_server(lua_State *L)
{
    return luaL_checkudata(L, 1, SERVER_TYPE);
}

static int l_server_port(lua_State *L)
{
    lua_pushinteger(L, check_server(L)->port);
    return 1;
}

/* A client still waiting when its server stops is told so, rather than left hanging. */
static void answer_pending_unavailable(struct server *server)
{
    static char text[] = "{\"message\":\"moonrun dev is stopping\"}";
    /* A stream waiting for bytes holds its connection suspended too: it is cut. */
    for (struct request *r = httpd.streaming; r; r = r->next_streaming)
        if (r->server == server) httpd_stream_end(r->stream, true);
    /* A request MHD reads during the run below (one a child sent just before it exited) is
     * dispatched and suspended in turn: MHD_stop_daemon aborts on a suspended connection. */
    for (int round = 0; round < 100 && (round == 0 || server->pending); round++) {
        while (server->pending) {
            struct request *req = server->pending;
            server->pending = req->next_pending;
            req->suspended = false;
            req->response = httpd.mhd->create_response_from_buffer(sizeof text - 1, text,
                                                                   MHD_RESPMEM_PERSISTENT);
            req->status = 503;
            httpd.mhd->resume_connection(req->connection);
        }
        httpd.mhd->run(server->daemon);
    }
}

static int l_server_close(lua_State *L)
{
    struct server *server = check_server(L);
    if (!server->daemon) return 0;
    answer_pending_unavailable(server);
    httpd.mhd->stop_daemon(server->daemon);
    server->daemon = NULL;
    close(server->listen_fd);
    server->listen_fd = -1;
    luaL_unref(L, LUA_REGISTRYINDEX, server->handler_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, server->limit_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, server->sink_ref);
    server->handler_ref = server->limit_ref = server->sink_ref = LUA_NOREF;
    for (int i = 0; i < httpd.server_count; i++) {
        if (httpd.servers[i] == server) {
            httpd.servers[i] = httpd.servers[--httpd.server_count];
            break;
        }
    }
    return 0;
}

/* ---- the servers' part in the event loop ---- */

static int servers_fill(struct pollfd *fds, int max, int *timeout_ms)
{
    int n = 0;
    for (int i = 0; i < httpd.server_count; i++) {
        struct server *server = httpd.servers[i];
        const union MHD_DaemonInfo *info =
            httpd.mhd->get_daemon_info(server->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (info && n < max) fds[n++] = (struct pollfd){.fd = info->epoll_fd, .events = POLLIN};
        MHD_UNSIGNED_LONG_LONG mhd_timeout;
        if (httpd.mhd->get_timeout(server->daemon, &mhd_timeout) == MHD_YES &&
            mhd_timeout < (MHD_UNSIGNED_LONG_LONG)*timeout_ms)
            *timeout_ms = (int)mhd_timeout;
    }
    for (int i = 0; i < httpd.server_count; i++) {
        int sweep_ms = httpd_conns_next_ms(&httpd.servers[i]->conns);
        if (sweep_ms >= 0 && sweep_ms < *timeout_ms) *timeout_ms = sweep_ms;
    }
    if (httpd.resumed) *timeout_ms = 0;
    httpd.resumed = false;
    return n;
}

static void servers_dispatch(lua_State *L, const struct pollfd *fds, int count)
{
    (void)fds, (void)count;
    httpd.L = L;
    /* Each server is run whatever the wait said: MHD also has timeouts and resumed connections. */
    for (int i = 0; i < httpd.server_count; i++) {
        /* what the sweep shuts down, MHD closes in the same run */
        httpd_conns_sweep(&httpd.servers[i]->conns);
        httpd.mhd->run(httpd.servers[i]->daemon);
    }
}

static const struct event_loop_source servers_source = {servers_fill, servers_dispatch};

int luaopen_moonrun_httpd(lua_State *L)
{
    static const luaL_Reg server_methods[] = {
        {"port", l_server_port}, {"close", l_server_close}, {NULL, NULL}};
    static const luaL_Reg functions[] = {{"listen", l_listen},
                                         {"respond", l_respond},
                                         {"respond_stream", l_respond_stream},
                                         {"stream_write", l_stream_write},
                                         {"stream_end", l_stream_end},
                                         {NULL, NULL}};
    if (luaL_newmetatable(L, SERVER_TYPE)) {
        luaL_newlib(L, server_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_server_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
