/* The `moonrun.process` module: the child processes of `moonrun dev` (one per function, one per
 * SQS trigger), whose output arrives line by line through the event loop (moonrun.event_loop,
 * lua_event_loop.c), which the children take part in through event_loop.h.
 *
 *   child = process.spawn{argv = {...}, env = {NAME = value}, cwd = dir,
 *                         on_output = function(stream, line) end,  -- "stdout" or "stderr"
 *                         on_exit = function(code, signal) end}    -- once; signal is a name
 *   child:pid(), child:kill([signal]) ("TERM" by default, "KILL", "INT"), child:running() */
#define _GNU_SOURCE /* pipe2, sigabbrev_np */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buffer.h"
#include "event_loop.h"
#include "modules.h"

#define CHILD_TYPE "moonrun.process.child"
#define MAX_CHILDREN 127     /* two pipes each: within the event loop's room (EVENT_LOOP_MAX_FDS) */
#define MAX_LINE (64 * 1024) /* a longer line is passed on in pieces of this size */

enum { STREAM_STDOUT, STREAM_STDERR, STREAM_COUNT };
static const char *const stream_names[STREAM_COUNT] = {"stdout", "stderr"};

struct child {
    pid_t pid;
    bool exited;
    int fds[STREAM_COUNT]; /* -1 once closed */
    struct buffer partial[STREAM_COUNT];
    int output_ref, exit_ref;
};

extern char **environ;

static struct child *children[MAX_CHILDREN];

static void report_callback_error(lua_State *L, const char *what)
{
    const char *message = lua_tostring(L, -1);
    fprintf(stderr, "moonrun dev: a child process's %s callback failed: %s\n", what,
            message ? message : "(error object is not a string)");
    lua_pop(L, 1);
}

static void emit_line(lua_State *L, struct child *c, int stream, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r') len--;
    if (c->output_ref == LUA_NOREF) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->output_ref);
    lua_pushstring(L, stream_names[stream]);
    lua_pushlstring(L, line, len);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) report_callback_error(L, "on_output");
}

static void close_stream(lua_State *L, struct child *c, int stream)
{
    struct buffer *partial = &c->partial[stream];
    if (partial->len > 0) emit_line(L, c, stream, partial->data, partial->len);
    buffer_free(partial);
    close(c->fds[stream]);
    c->fds[stream] = -1;
}

/* Whole lines go to on_output; the rest waits for the next read. Returns false when there is
 * nothing more to read now. */
static bool read_chunk(lua_State *L, struct child *c, int stream)
{
    char chunk[16384];
    ssize_t got = read(c->fds[stream], chunk, sizeof chunk);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    if (got <= 0) {
        close_stream(L, c, stream);
        return false;
    }
    struct buffer *partial = &c->partial[stream];
    const char *p = chunk, *end = chunk + got;
    while (p < end) {
        const char *newline = memchr(p, '\n', (size_t)(end - p));
        size_t n = newline ? (size_t)(newline - p) : (size_t)(end - p);
        if (newline || partial->len + n >= MAX_LINE) {
            if (partial->len > 0) {
                buffer_append(partial, p, n);
                emit_line(L, c, stream, partial->data, partial->len);
                buffer_clear(partial);
            } else {
                emit_line(L, c, stream, p, n);
            }
        } else {
            buffer_append(partial, p, n);
        }
        p += n + (newline ? 1 : 0);
        if (c->fds[stream] < 0) return false; /* the callback killed and reaped it */
    }
    return true;
}

/* What the pipe holds now is read whole (up to 1 MiB a turn), so the lines a child wrote before
 * it answered an invocation are all seen in the same turn as the answer. */
static void read_stream(lua_State *L, struct child *c, int stream)
{
    for (int i = 0; i < 64 && c->fds[stream] >= 0 && read_chunk(L, c, stream); i++) {
    }
}

static void release(lua_State *L, struct child *c)
{
    luaL_unref(L, LUA_REGISTRYINDEX, c->output_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, c->exit_ref);
    c->output_ref = c->exit_ref = LUA_NOREF;
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == c) children[i] = NULL;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, c); /* from now on only Lua's references keep it */
}

static void reap(lua_State *L, struct child *c)
{
    /* Seen exited but not reaped yet, its pid (and so its process group's id) cannot be reused:
     * what it left running in its group goes with it, as when a sandbox ends. */
    siginfo_t info = {0};
    if (waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0)
        return;
    kill(-c->pid, SIGKILL);
    int status;
    if (waitpid(c->pid, &status, 0) != c->pid) return;
    c->exited = true;
    for (int s = 0; s < STREAM_COUNT; s++) {
        if (c->fds[s] < 0) continue;
        read_stream(L, c, s); /* what the child wrote last is already in the pipe */
        if (c->fds[s] >= 0) close_stream(L, c, s);
    }
    int exit_ref = c->exit_ref;
    c->exit_ref = LUA_NOREF;
    release(L, c);
    if (exit_ref == LUA_NOREF) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, exit_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, exit_ref);
    if (WIFEXITED(status)) {
        lua_pushinteger(L, WEXITSTATUS(status));
        lua_pushnil(L);
    } else {
        lua_pushnil(L);
        const char *name = sigabbrev_np(WTERMSIG(status));
        lua_pushstring(L, name ? name : "unknown signal");
    }
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) report_callback_error(L, "on_exit");
}

/* ---- the children's part in the event loop ---- */

static int children_fill(struct pollfd *fds, int max, int *timeout_ms)
{
    int n = 0;
    for (int i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = children[i];
        if (!c) continue;
        bool open = false;
        for (int s = 0; s < STREAM_COUNT; s++) {
            if (c->fds[s] < 0 || n == max) continue;
            fds[n++] = (struct pollfd){.fd = c->fds[s], .events = POLLIN};
            open = true;
        }
        if (!open && *timeout_ms > 20) *timeout_ms = 20; /* closed its pipes: exit is near */
    }
    return n;
}

/* Reads what the children wrote, and reaps those that exited, calling their Lua callbacks
 * (on_output for each whole line, on_exit once). */
static void children_dispatch(lua_State *L, const struct pollfd *fds, int count)
{
    for (int k = 0; k < count; k++) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        for (int i = 0; i < MAX_CHILDREN; i++) {
            struct child *c = children[i];
            for (int s = 0; c && s < STREAM_COUNT; s++)
                if (c->fds[s] == fds[k].fd) read_stream(L, c, s);
        }
    }
    /* every child is asked: an exit is known by SIGCHLD or by its pipes closing */
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i]) reap(L, children[i]);
}

static const struct event_loop_source children_source = {children_fill, children_dispatch};

/* ---- spawning ---- */

static char **string_array(lua_State *L, int index, const char *what, bool pairs_form)
{
    luaL_checktype(L, index, LUA_TTABLE);
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, index))
        count++, lua_pop(L, 1);
    /* a userdata owns the array, so it is freed whatever error comes next */
    char **list = lua_newuserdatauv(L, (count + 1) * sizeof *list, 0);
    luaL_checkstack(L, (int)count + 8, "too many strings");
    size_t n = 0;
    if (pairs_form) {
        lua_pushnil(L);
        while (lua_next(L, index)) {
            if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
                luaL_error(L, "%s: each entry is NAME = string", what);
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
            list[n++] = (char *)lua_tostring(L, -1);
            lua_rotate(L, -3, 1); /* keeps the string alive below the key */
            lua_pop(L, 1);
        }
    } else {
        for (size_t i = 1; i <= count; i++) {
            if (lua_rawgeti(L, index, (lua_Integer)i) != LUA_TSTRING)
                luaL_error(L, "%s[%d] must be a string", what, (int)i);
            list[n++] = (char *)lua_tostring(L, -1); /* stays on the stack, so alive */
        }
    }
    list[n] = NULL;
    return list;
}

static int open_pipe(lua_State *L, int ends[2])
{
    if (pipe2(ends, O_CLOEXEC) != 0)
        return luaL_error(L, "cannot create a pipe: %s", strerror(errno));
    fcntl(ends[0], F_SETFL, O_NONBLOCK);
    return 0;
}

static void exec_child(char **argv, char **envp, const char *cwd, int out, int err)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* moonrun dev killed outright takes its children along */
    setpgid(0, 0); /* a Ctrl-C reaches moonrun dev alone, which stops its children in order */
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(out, 1);
    dup2(err, 2);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    if (cwd && chdir(cwd) != 0) {
        dprintf(2, "moonrun dev: cannot enter %s: %s\n", cwd, strerror(errno));
        _exit(127);
    }
    execve(argv[0], argv, envp);
    dprintf(2, "moonrun dev: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int optional_function_ref(lua_State *L, const char *field)
{
    lua_getfield(L, 1, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    luaL_argcheck(L, lua_isfunction(L, -1), 1, "on_output and on_exit must be functions");
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int slot = 0;
    while (slot < MAX_CHILDREN && children[slot])
        slot++;
    if (slot == MAX_CHILDREN) return luaL_error(L, "too many child processes (%d)", MAX_CHILDREN);
    lua_settop(L, 1);
    lua_getfield(L, 1, "argv"); /* 2 */
    char **argv = string_array(L, 2, "argv", false);
    if (!argv[0]) return luaL_error(L, "argv must name the program");
    lua_getfield(L, 1, "env");
    char **envp = lua_isnil(L, -1) ? NULL : string_array(L, lua_gettop(L), "env", true);
    lua_getfield(L, 1, "cwd");
    const char *cwd = luaL_optstring(L, -1, NULL);

    struct child *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    c->fds[0] = c->fds[1] = -1;
    c->output_ref = c->exit_ref = LUA_NOREF;
    c->exited = true; /* until it is running, nothing is to be killed */
    luaL_setmetatable(L, CHILD_TYPE);
    if (!event_loop_watch_child_exits())
        return luaL_error(L, "cannot create a pipe: %s", strerror(errno));
    event_loop_set_source(EVENT_LOOP_CHILDREN, &children_source);
    int out[2], err[2];
    open_pipe(L, out);
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(out[0]), close(out[1]);
        return luaL_error(L, "cannot create a pipe: %s", strerror(errno));
    }
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    pid_t pid = fork();
    if (pid == 0) exec_child(argv, envp ? envp : environ, cwd, out[1], err[1]);
    close(out[1]);
    close(err[1]);
    if (pid < 0) {
        close(out[0]), close(err[0]);
        return luaL_error(L, "cannot start %s: %s", argv[0], strerror(errno));
    }
    c->pid = pid;
    c->exited = false;
    c->fds[STREAM_STDOUT] = out[0];
    c->fds[STREAM_STDERR] = err[0];
    int child_index = lua_gettop(L);
    c->output_ref = optional_function_ref(L, "on_output");
    c->exit_ref = optional_function_ref(L, "on_exit");
    lua_settop(L, child_index);
    children[slot] = c;
    /* the registry keeps the userdata alive while the child runs (released when reaped) */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, c);
    return 1;
}

static struct child *check_child(lua_State *L)
{
    return luaL_checkudata(L, 1, CHILD_TYPE);
}

static int l_pid(lua_State *L)
{
    lua_pushinteger(L, check_child(L)->pid);
    return 1;
}

static int l_running(lua_State *L)
{
    lua_pushboolean(L, !check_child(L)->exited);
    return 1;
}

static int l_kill(lua_State *L)
{
    struct child *c = check_child(L);
    static const char *const names[] = {"TERM", "KILL", "INT", NULL};
    static const int signals[] = {SIGTERM, SIGKILL, SIGINT};
    int sig = signals[luaL_checkoption(L, 2, "TERM", names)];
    lua_pushboolean(L, !c->exited && kill(sig == SIGKILL ? -c->pid : c->pid, sig) ==
                                         0); /* KILL: its group too */
    return 1;
}

static int l_gc(lua_State *L)
{
    struct child *c = check_child(L);
    for (int s = 0; s < STREAM_COUNT; s++) {
        if (c->fds[s] >= 0) close(c->fds[s]);
        buffer_free(&c->partial[s]);
    }
    return 0;
}

int luaopen_moonrun_process(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"pid", l_pid}, {"kill", l_kill}, {"running", l_running}, {NULL, NULL}};
    static const luaL_Reg functions[] = {{"spawn", l_spawn}, {NULL, NULL}};
    if (luaL_newmetatable(L, CHILD_TYPE)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
