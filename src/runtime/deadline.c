#define _GNU_SOURCE /* SIGEV_THREAD_ID, gettid */
#include "deadline.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h> /* LUA_COLIBNAME */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Any hook makes Lua take its slow path at every instruction (about a third more time for a busy
 * loop), so none is set until the deadline: a timer's signal sets it then, as lua.c's Ctrl-C
 * handler does. Only without a timer is the clock checked every this many instructions. */
#define CHECK_EVERY 10000
#define TIMER_SIGNAL SIGRTMIN
/* Sent by deadline_stop_invocations to each worker thread, so that each stops its own handler. */
#define STOP_SIGNAL (SIGRTMIN + 1)
/* The most threads whose handlers a SIGTERM stops (workers.h allows 1024). */
#define MAX_THREADS 1100
/* The longest margin accepted: a minute, beyond any sensible share of a 15-minute timeout. */
#define MAX_MARGIN_MS 60000

struct deadline {
    struct timespec stop_at;   /* monotonic: a wall-clock step must not move the deadline */
    _Atomic long long stop_ns; /* stop_at in nanoseconds, whole, for the timer's signal handler */
    /* When the timer goes off (monotonic ns), 0 when it is not set. The timer is not stopped
     * or set again per invocation: one set for an earlier deadline goes off early, and its
     * handler sets it for the current one. Written by the handler too, hence atomic. */
    _Atomic long long timer_ns;
    struct timespec due; /* an invocation's own deadline (stop_at is before it, by the margin) */
    volatile sig_atomic_t armed;
    volatile sig_atomic_t shutdown; /* SIGTERM came while an invocation ran: stop it now */
    bool invocation;                /* armed for an invocation (SIGTERM stops only those) */
    bool unbounded;                 /* an invocation without a usable deadline: no timer */
    bool expired;
    lua_State *main;             /* the thread the handler runs on */
    lua_State *volatile running; /* the coroutine resumed last, which the signal must reach */
    bool has_timer;
    timer_t timer;
    pid_t timer_thread; /* the thread the timer's signal goes to */
    char message[512];  /* what, then where the code was stopped (once expired) */
};

static const char deadline_key = 0, error_meta_key = 0;

/* Set once SIGTERM came: an invocation that starts afterwards is stopped at once too. */
static atomic_bool shutting_down; /* written on the thread SIGTERM reached, read by workers */
/* The state the calling thread armed last, for the stop signal's handler. */
static _Thread_local struct deadline *volatile thread_deadline;
/* The threads that run Lua states, for deadline_stop_invocations to signal. */
static _Atomic pid_t lua_threads[MAX_THREADS];
static atomic_int lua_thread_count;

static struct deadline *find(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &deadline_key);
    struct deadline *d = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return d;
}

static struct timespec monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

static long long ms_until(struct timespec t)
{
    struct timespec now = monotonic_now();
    return (long long)(t.tv_sec - now.tv_sec) * 1000 + (t.tv_nsec - now.tv_nsec) / 1000000;
}

static long long ns_of(struct timespec t)
{
    return (long long)t.tv_sec * 1000000000 + t.tv_nsec;
}

static bool passed(const struct deadline *d)
{
    return ns_of(monotonic_now()) >= atomic_load(&d->stop_ns);
}

/* Sets the timer to go off at ns (monotonic); async-signal-safe, on_timer calls it. */
static bool set_timer(struct deadline *d, long long ns)
{
    struct itimerspec at = {
        .it_value = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)}};
    if (at.it_value.tv_sec == 0 && at.it_value.tv_nsec == 0)
        at.it_value.tv_nsec = 1; /* 0 disarms */
    if (timer_settime(d->timer, TIMER_ABSTIME, &at, NULL) != 0) return false;
    atomic_store(&d->timer_ns, ns);
    return true;
}

static int error_tostring(lua_State *L)
{
    lua_getfield(L, 1, "errorMessage");
    return 1;
}

/* The error value: {errorType = "Timeout", errorMessage = ...}, with a __tostring so that
 * tostring(err) and moonrun run's traceback show the message. */
static void push_timeout_error(lua_State *L, const struct deadline *d)
{
    lua_createtable(L, 0, 2);
    if (d->shutdown && d->invocation)
        lua_pushliteral(L, "Runtime.Shutdown");
    else
        lua_pushliteral(L, "Timeout");
    lua_setfield(L, -2, "errorType");
    lua_pushstring(L, d->message);
    lua_setfield(L, -2, "errorMessage");
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &error_meta_key) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 2);
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "moonrun.Timeout");
        lua_setfield(L, -2, "__name");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &error_meta_key);
    }
    lua_setmetatable(L, -2);
}

static void on_count(lua_State *L, lua_Debug *ar);

/* Milliseconds from t to now (negative: t is ahead). */
static long long ms_since(struct timespec t)
{
    return -ms_until(t);
}

/* What stopped the handler, said as it happened: a SIGTERM, or the deadline met late (a C
 * function that returned after it, say), is not "200 ms before the deadline". */
static void describe_stop(struct deadline *d)
{
    if (!d->invocation) return; /* the message given to deadline_arm stands */
    long long late = d->unbounded ? 0 : ms_since(d->due);
    const char *side = late > 0 ? "after" : "before";
    long long distance = late > 0 ? late : -late;
    if (d->shutdown && d->unbounded)
        snprintf(d->message, sizeof d->message,
                 "the execution environment is shutting down (SIGTERM): the handler was stopped");
    else if (d->shutdown)
        snprintf(
            d->message, sizeof d->message,
            "the execution environment is shutting down (SIGTERM): the handler was stopped %lld ms "
            "%s the invocation's deadline",
            distance, side);
    else if (late > 0)
        snprintf(
            d->message, sizeof d->message,
            "Task timed out: the handler was still running %lld ms after the invocation's deadline",
            late);
}

/* The first time the deadline is met: say where, and from now on check at every instruction,
 * so that code which caught the error (pcall, coroutine.resume) is stopped at once too. */
static void expire(lua_State *L, struct deadline *d, int level)
{
    d->expired = true;
    describe_stop(d);
    luaL_where(L, level);
    const char *where = lua_tostring(L, -1);
    size_t len = strlen(d->message);
    if (*where)
        snprintf(d->message + len, sizeof d->message - len, "; it was stopped at %.*s",
                 (int)strlen(where) - 2, where);
    lua_pop(L, 1);
    lua_sethook(d->main, on_count, LUA_MASKCOUNT, 1);
    if (L != d->main) lua_sethook(L, on_count, LUA_MASKCOUNT, 1);
}

static void on_count(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct deadline *d = find(L);
    if (!d || !d->armed) { /* a coroutine that outlived its invocation */
        lua_sethook(L, NULL, 0, 0);
        return;
    }
    if (!d->expired) {
        if (!(d->shutdown && d->invocation) && (d->unbounded || !passed(d))) return;
        expire(L, d, 0); /* level 0: in a hook, the function that was running */
    }
    push_timeout_error(L, d);
    lua_error(L);
}

/* The timer's signal: from now on every Lua instruction goes through the hook. A timer set for
 * an earlier deadline (see timer_ns) is set again for the current one instead. */
static void on_timer(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)context;
    if (info->si_code != SI_TIMER) return; /* a stray kill(): no deadline behind it */
    struct deadline *d = info->si_value.sival_ptr;
    if (!d) return;
    atomic_store(&d->timer_ns, 0);
    if (!d->armed || d->unbounded) return; /* the next arm sets it */
    if (!passed(d)) {
        int saved = errno;
        set_timer(d, atomic_load(&d->stop_ns));
        errno = saved;
        return;
    }
    lua_sethook(d->main, on_count, LUA_MASKCOUNT, 1);
    lua_State *running = d->running;
    if (running) lua_sethook(running, on_count, LUA_MASKCOUNT, 1);
}

/* Stops the invocation the calling thread runs, if any: from a signal handler, as on_timer. */
static void stop_own_invocation(void)
{
    struct deadline *d = thread_deadline;
    if (!d || !d->armed || !d->invocation) return;
    d->shutdown = 1;
    lua_sethook(d->main, on_count, LUA_MASKCOUNT, 1);
    lua_State *running = d->running;
    if (running) lua_sethook(running, on_count, LUA_MASKCOUNT, 1);
}

static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    stop_own_invocation();
    errno = saved;
}

static bool signal_installed;

static void install_signal_once(void)
{
    struct sigaction sa = {.sa_sigaction = on_timer, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    signal_installed = sigaction(TIMER_SIGNAL, &sa, NULL) == 0;
    /* Not SA_RESTART: a handler's time.sleep must wake up to be stopped. */
    struct sigaction stop = {.sa_handler = on_stop_signal};
    sigemptyset(&stop.sa_mask);
    sigaction(STOP_SIGNAL, &stop, NULL);
}

/* Once per process, whichever worker thread makes its Lua state first. */
static bool install_signal(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_signal_once);
    return signal_installed;
}

static int free_state(lua_State *L)
{
    struct deadline *d = lua_touserdata(L, 1);
    if (thread_deadline == d)
        thread_deadline = NULL; /* the stop signal must not reach freed memory */
    if (d->has_timer) timer_delete(d->timer);
    d->has_timer = false;
    return 0;
}

/* The signal goes to the thread that serves this state, so that with one state per worker
 * thread each timer interrupts its own; a state served by another thread than before gets a
 * new timer. */
static pid_t this_thread(void)
{
    static _Thread_local pid_t tid; /* gettid is a system call: once per thread */
    if (!tid) tid = gettid();
    return tid;
}

static void create_timer(struct deadline *d)
{
    if (d->has_timer && d->timer_thread == this_thread()) return;
    if (d->has_timer) timer_delete(d->timer);
    d->has_timer = false;
    atomic_store(&d->timer_ns, 0);
    if (!install_signal()) return;
    d->timer_thread = this_thread();
    struct sigevent event = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = TIMER_SIGNAL};
    event.sigev_value.sival_ptr = d;
    event._sigev_un._tid = this_thread();
    d->has_timer = timer_create(CLOCK_MONOTONIC, &event, &d->timer) == 0;
}

/* Each thread once, so that a SIGTERM can reach the handler it runs. */
static void register_thread(void)
{
    static _Thread_local bool registered;
    if (registered) return;
    registered = true;
    int slot = atomic_fetch_add(&lua_thread_count, 1);
    if (slot < MAX_THREADS) atomic_store(&lua_threads[slot], this_thread());
}

static int make_state(lua_State *L)
{
    struct deadline *d = lua_newuserdatauv(L, sizeof *d, 0);
    *d = (struct deadline){0};
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, free_state);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &deadline_key);
    create_timer(d);
    return 0;
}

/* Calls upvalue 1 (coroutine.resume, or a coroutine.wrap function) with the arguments while
 * co is marked as the running coroutine; when the deadline expired meanwhile, the resumer's
 * own next instruction raises it too. */
static int call_tracked(lua_State *L, lua_State *co, bool add_where)
{
    struct deadline *d = find(L);
    lua_State *outer = d ? d->running : NULL;
    if (d && co) d->running = co;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    if (d) {
        d->running = outer;
        if (d->armed && d->expired) lua_sethook(L, on_count, LUA_MASKCOUNT, 1);
    }
    if (status == LUA_OK) return lua_gettop(L);
    if (add_where && status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1); /* as coroutine.wrap itself would name its caller */
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

/* The argument checks are made here too, so that their messages name coroutine.resume and
 * coroutine.wrap, as Lua's own do. */
static int tracked_resume(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTHREAD);
    return call_tracked(L, lua_tothread(L, 1), false);
}

static int tracked_wrapped(lua_State *L)
{
    return call_tracked(L, lua_tothread(L, lua_upvalueindex(2)), true);
}

static int tracked_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    if (!lua_getupvalue(L, -1, 1) || !lua_isthread(L, -1)) { /* not Lua 5.4's auxwrap */
        lua_settop(L, 1);
        return 1;
    }
    lua_pushcclosure(L, tracked_wrapped, 2);
    return 1;
}

static void replace(lua_State *L, int table, const char *name, lua_CFunction f)
{
    lua_getfield(L, table, name);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, table, name);
}

void deadline_install(lua_State *L)
{
    make_state(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, LUA_COLIBNAME) == LUA_TTABLE) {
        replace(L, lua_gettop(L), "resume", tracked_resume);
        replace(L, lua_gettop(L), "wrap", tracked_wrap);
    }
    lua_pop(L, 2);
}

bool deadline_arm(lua_State *L, long long stop_at_ms, const char *what)
{
    struct deadline *d = find(L);
    if (!d) {
        lua_pushcfunction(L, make_state);
        if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
            lua_pop(L, 1);
            return false;
        }
        d = find(L);
    }
    struct timespec real;
    clock_gettime(CLOCK_REALTIME, &real);
    long long left_ms = stop_at_ms - ((long long)real.tv_sec * 1000 + real.tv_nsec / 1000000);
    if (left_ms < 0) left_ms = 0;
    d->stop_at = monotonic_now();
    d->stop_at.tv_sec += (time_t)(left_ms / 1000);
    d->stop_at.tv_nsec += (long)(left_ms % 1000) * 1000000;
    if (d->stop_at.tv_nsec >= 1000000000) d->stop_at.tv_sec++, d->stop_at.tv_nsec -= 1000000000;
    d->expired = false;
    d->shutdown = 0;
    d->invocation = false;
    d->unbounded = false;
    d->main = L;
    d->running = NULL;
    snprintf(d->message, sizeof d->message, "%s", what);
    create_timer(d);
    register_thread();
    thread_deadline = d;
    long long stop_ns = ns_of(d->stop_at);
    atomic_store(&d->stop_ns, stop_ns);
    d->armed = true;
    /* A timer that goes off before this deadline is kept (its handler sets it again, for this
     * one): with deadlines that move forward invocation after invocation, as Lambda's do, that
     * saves a system call (about 2 us on a virtual machine) on nearly every invocation. A timer
     * that goes off later, or none, is set now. */
    long long timer_at = atomic_load(&d->timer_ns);
    bool timed = d->has_timer && ((timer_at != 0 && timer_at <= stop_ns) || set_timer(d, stop_ns));
    if (!timed)
        lua_sethook(L, on_count, LUA_MASKCOUNT, CHECK_EVERY);
    else if (passed(d))
        lua_sethook(L, on_count, LUA_MASKCOUNT, 1); /* due already */
    return true;
}

void deadline_arm_invocation(lua_State *L, int context_index)
{
    lua_pushliteral(L, "deadline_ms");
    lua_rawget(L, context_index);
    long long deadline_ms = lua_isinteger(L, -1) ? (long long)lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    struct timespec real;
    clock_gettime(CLOCK_REALTIME, &real);
    long long now_ms = (long long)real.tv_sec * 1000 + real.tv_nsec / 1000000;
    long long margin = deadline_margin_ms();
    char what[160];
    snprintf(
        what, sizeof what,
        "Task timed out: the handler was still running %lld ms before the invocation's deadline",
        margin);
    /* Past already (a clock set apart from Lambda's): stopping at once would help nobody, so
     * it runs unbounded, as does one without a deadline; a SIGTERM still stops it. */
    bool unbounded = deadline_ms <= now_ms;
    if (!deadline_arm(L, unbounded ? now_ms + 1000 : deadline_ms - margin, what)) return;
    struct deadline *d = find(L);
    d->invocation = true;
    if (unbounded) {
        d->unbounded = true; /* the timer may go off: on_timer then does nothing */
        lua_sethook(L, NULL, 0, 0);
    } else {
        d->due = monotonic_now();
        d->due.tv_sec += (time_t)((deadline_ms - now_ms) / 1000);
        d->due.tv_nsec += (long)((deadline_ms - now_ms) % 1000) * 1000000;
        if (d->due.tv_nsec >= 1000000000) d->due.tv_sec++, d->due.tv_nsec -= 1000000000;
    }
    /* A SIGTERM that came between GET next and here finds the handler not yet armed. */
    if (atomic_load(&shutting_down)) stop_own_invocation();
}

void deadline_stop_invocations(void)
{
    atomic_store(&shutting_down, true);
    stop_own_invocation(); /* one worker: the handler runs on this very thread */
    int count = atomic_load(&lua_thread_count);
    pid_t self = this_thread(), process = getpid();
    for (int i = 0; i < count && i < MAX_THREADS; i++) {
        pid_t tid = atomic_load(&lua_threads[i]);
        /* A thread that has ended makes this fail (ESRCH): nothing to stop there. */
        if (tid && tid != self) syscall(SYS_tgkill, process, tid, STOP_SIGNAL);
    }
}

void deadline_disarm(lua_State *L)
{
    struct deadline *d = find(L);
    if (!d || !d->armed) return;
    /* The timer is left running (a system call less per invocation): if it goes off before the
     * next arm, on_timer finds armed false and does nothing, and SA_RESTART resumes what it
     * interrupted. */
    d->armed = false;
    d->running = NULL;
    lua_sethook(d->main, NULL, 0, 0);
}

long long deadline_remaining_ms(lua_State *L)
{
    const struct deadline *d = find(L);
    if (!d || !d->armed) return DEADLINE_NONE;
    if (d->expired || (d->shutdown && d->invocation)) return 0;
    if (d->unbounded) return DEADLINE_NONE;
    long long left = ms_until(d->stop_at);
    return left > 0 ? left : 0;
}

void deadline_sleep(lua_State *L, double seconds)
{
    /* The signals that stop code (SIGTERM and SIGINT, whose handler stops this thread's
     * invocation; the timer's; the stop signal other threads send) are blocked from the check to
     * the wait, and ppoll lets them in atomically as it starts waiting: one that comes in
     * between is pending then and ends the wait at once, instead of being handled just before
     * it and slept through. */
    sigset_t stoppers, waiting_mask;
    sigemptyset(&stoppers);
    sigaddset(&stoppers, SIGTERM);
    sigaddset(&stoppers, SIGINT);
    sigaddset(&stoppers, TIMER_SIGNAL);
    sigaddset(&stoppers, STOP_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &stoppers, &waiting_mask);
    long long left_ms = deadline_remaining_ms(L);
    bool stopped = left_ms != DEADLINE_NONE && seconds * 1000 >= (double)left_ms;
    if (stopped) seconds = (double)left_ms / 1000;
    long long end_ns = ns_of(monotonic_now()) + (long long)(seconds * 1e9);
    int error = 0;
    for (long long rest_ns; (rest_ns = end_ns - ns_of(monotonic_now())) > 0;) {
        struct timespec rest = {(time_t)(rest_ns / 1000000000), (long)(rest_ns % 1000000000)};
        if (ppoll(NULL, 0, &rest, &waiting_mask) == 0) break;
        if (errno != EINTR) {
            error = errno;
            break;
        }
        if (deadline_remaining_ms(L) == 0) {
            stopped = true;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &waiting_mask, NULL); /* before an error leaves this function */
    if (error) luaL_error(L, "cannot sleep: %s", strerror(error));
    if (stopped) deadline_raise(L, 1);
}

int deadline_raise(lua_State *L, int level)
{
    struct deadline *d = find(L);
    if (!d || !d->armed)
        return luaL_error(L, "deadline_raise without a deadline (a bug in moonrun)");
    if (!d->expired) expire(L, d, level);
    push_timeout_error(L, d);
    return lua_error(L);
}

/* Why 200 ms: Lambda kills the sandbox at the deadline, so the error post must be made before
 * it. Unwinding, the report and the post take about 2 ms of CPU, but at 128 MB a function gets
 * about a fourteenth of a vCPU, which stretches that to ~30 ms of wall time, and a throttled
 * process can wait a scheduling period more before it runs at all. 200 ms covers both with
 * room, and is under 7% of the default 3 s timeout. */
static long long margin_ms;

static void read_margin_once(void)
{
    margin_ms = DEADLINE_DEFAULT_MARGIN_MS;
    const char *text = getenv("MOONRUN_DEADLINE_MARGIN_MS");
    if (!text || !*text) return;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (*end || end == text || value < 0 || value > MAX_MARGIN_MS)
        log_error(
            "ignoring MOONRUN_DEADLINE_MARGIN_MS=%s: expected whole milliseconds from 0 to %d",
            text, MAX_MARGIN_MS);
    else
        margin_ms = value;
}

/* Read once per process, whichever worker thread asks first. */
long long deadline_margin_ms(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_margin_once);
    return margin_ms;
}
