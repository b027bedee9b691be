#include "local_function.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "invocation.h"
#include "log.h"

static bool open_stdout_stream(struct stream_sink *sink, const char *content_type,
                               const char *prelude, size_t prelude_len)
{
    (void)sink;
    if (prelude)
        log_error("streaming response (%s) with HTTP prelude %.*s: a function URL makes it the "
                  "status, headers and cookies; the body follows on stdout",
                  content_type, (int)prelude_len, prelude);
    fflush(stdout);
    return true;
}

static bool write_stdout_stream(struct stream_sink *sink, const char *bytes, size_t len)
{
    struct local_function *f =
        (struct local_function *)((char *)sink - offsetof(struct local_function, sink));
    f->stream_ended_line = bytes[len - 1] == '\n';
    if (fwrite(bytes, 1, len, stdout) == len && fflush(stdout) == 0) return true;
    snprintf(sink->error, sizeof sink->error, "cannot write to stdout");
    return false;
}

static void close_stdout_stream(struct stream_sink *sink, const struct error_report *report,
                                const char *error_json, size_t len)
{
    (void)sink, (void)report, (void)error_json, (void)len; /* the caller prints an error */
    fflush(stdout);
}

bool local_function_open(struct local_function *f, const char *spec, long long timeout_ms)
{
    *f = (struct local_function){.spec = spec,
                                 .timeout_ms = timeout_ms,
                                 .sink = {.open = open_stdout_stream,
                                          .write = write_stdout_stream,
                                          .close = close_stdout_stream}};
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    if (!lua_host_open(&f->host, task_root && *task_root ? task_root : ".")) return false;
    response_stream_set_sink(f->host.L, &f->sink);
    f->loaded = handler_load(f->host.L, spec, f->host.task_root, &f->handler, &f->out, &f->report);
    return true;
}

void local_function_close(struct local_function *f)
{
    lua_host_close(&f->host);
    buffer_free(&f->out);
}

/* Calls visit(file) for each loaded module whose file package.searchpath finds under the task
 * root: those are the user's modules; moonrun's and the system's stay loaded. */
static size_t for_each_user_module(lua_State *L, const char *task_root, bool forget,
                                   char (*paths)[PATH_MAX], size_t max)
{
    size_t root_len = strlen(task_root), found = 0;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    int loaded = lua_gettop(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_getfield(L, -2, "path");
    lua_newtable(L); /* names to forget, collected first: a table must not change while traversed */
    int doomed = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, loaded)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) continue;
        lua_pushvalue(L, doomed - 2); /* searchpath */
        lua_pushvalue(L, -2);
        lua_pushvalue(L, doomed - 1); /* path */
        if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
            const char *file = lua_tostring(L, -1);
            if (strncmp(file, task_root, root_len) == 0 && file[root_len] == '/') {
                if (paths && found < max) snprintf(paths[found], PATH_MAX, "%s", file);
                found++;
                lua_pushvalue(L, -2);
                lua_rawseti(L, doomed, (lua_Integer)lua_rawlen(L, doomed) + 1);
            }
        }
        lua_pop(L, 1);
    }
    for (lua_Integer i = 1; forget && i <= (lua_Integer)lua_rawlen(L, doomed); i++) {
        lua_rawgeti(L, doomed, i);
        lua_pushnil(L);
        lua_rawset(L, loaded);
    }
    lua_settop(L, loaded - 1);
    return found < max ? found : max;
}

bool local_function_reload(struct local_function *f)
{
    lua_State *L = f->host.L;
    if (f->loaded) handler_release(L, &f->handler);
    for_each_user_module(L, f->host.task_root, true, NULL, 0);
    lua_gc(L, LUA_GCCOLLECT);
    f->loaded = handler_load(L, f->spec, f->host.task_root, &f->handler, &f->out, &f->report);
    return f->loaded;
}

size_t local_function_files(struct local_function *f, char (*paths)[PATH_MAX], size_t max)
{
    size_t n = for_each_user_module(f->host.L, f->host.task_root, false, paths, max);
    /* The handler's own file, even when it failed to load (it is what the user will edit). */
    if (f->handler.file[0] && n < max) {
        bool listed = false;
        for (size_t i = 0; i < n; i++)
            listed |= strcmp(paths[i], f->handler.file) == 0;
        if (!listed) snprintf(paths[n++], PATH_MAX, "%s", f->handler.file);
    }
    return n;
}

static void make_request_id(char out[37])
{
    unsigned char b[16] = {0};
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) memset(b, 0x5a, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void local_invocation_headers(struct local_headers *h, long long timeout_ms)
{
    if (!getenv("AWS_LAMBDA_FUNCTION_NAME")) setenv("AWS_LAMBDA_FUNCTION_NAME", "moonrun-local", 1);
    if (!getenv("AWS_LAMBDA_FUNCTION_VERSION")) setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST", 1);
    if (!getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
        setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128", 1);
    const char *region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1";
    make_request_id(h->request_id);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(h->deadline, sizeof h->deadline, "%lld",
             (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + timeout_ms);
    snprintf(h->arn, sizeof h->arn, "arn:aws:lambda:%s:000000000000:function:%s", region,
             getenv("AWS_LAMBDA_FUNCTION_NAME"));
    static const char *names[] = {"Lambda-Runtime-Aws-Request-Id", "Lambda-Runtime-Deadline-Ms",
                                  "Lambda-Runtime-Invoked-Function-Arn"};
    const char *values[] = {h->request_id, h->deadline, h->arn};
    for (size_t i = 0; i < LOCAL_HEADER_COUNT; i++)
        h->list[i] = (struct header_view){names[i], values[i], strlen(names[i]), strlen(values[i])};
}

bool local_function_invoke(struct local_function *f, const char *event, size_t event_len)
{
    if (!f->loaded) return false;
    struct local_headers headers;
    local_invocation_headers(&headers, f->timeout_ms);
    f->sink.started = false;
    f->stream_ended_line = true;
    bool ok = invocation_run(f->host.L, f->handler.function_ref, event, event_len, headers.list,
                             LOCAL_HEADER_COUNT, &f->out, &f->report);
    f->streamed = f->sink.started;
    return ok;
}
