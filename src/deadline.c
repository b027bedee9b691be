#include "deadline.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* The hook looks at the clock every this many Lua instructions: about 50 µs of Lua code, so the
 * clock costs under 0.1% of a busy loop while a runaway handler is stopped within a millisecond. */
#define CHECK_EVERY 10000
/* The longest margin accepted: a minute, beyond any sensible share of a 15-minute timeout. */
#define MAX_MARGIN_MS 60000

struct deadline {
    struct timespec stop_at; /* monotonic: a wall-clock step must not move the deadline */
    bool armed, expired;
    lua_State *main;   /* the thread the handler runs on */
    char message[512]; /* what, then where the code was stopped (once expired) */
};

static const char deadline_key = 0, error_meta_key = 0;

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

static bool passed(const struct deadline *d)
{
    struct timespec now = monotonic_now();
    return now.tv_sec > d->stop_at.tv_sec ||
           (now.tv_sec == d->stop_at.tv_sec && now.tv_nsec >= d->stop_at.tv_nsec);
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

/* The first time the deadline is met: say where, and from now on check at every instruction,
 * so that code which caught the error (pcall, coroutine.resume) is stopped at once too. */
static void expire(lua_State *L, struct deadline *d, int level)
{
    d->expired = true;
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
        if (!passed(d)) return;
        expire(L, d, 0); /* level 0: in a hook, the function that was running */
    }
    push_timeout_error(L, d);
    lua_error(L);
}

static int make_state(lua_State *L)
{
    struct deadline *d = lua_newuserdatauv(L, sizeof *d, 0);
    *d = (struct deadline){0};
    lua_rawsetp(L, LUA_REGISTRYINDEX, &deadline_key);
    return 0;
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
    d->armed = true;
    d->expired = false;
    d->main = L;
    snprintf(d->message, sizeof d->message, "%s", what);
    lua_sethook(L, on_count, LUA_MASKCOUNT, CHECK_EVERY);
    return true;
}

void deadline_arm_invocation(lua_State *L, int context_index)
{
    lua_pushliteral(L, "deadline_ms");
    lua_rawget(L, context_index);
    long long deadline_ms = lua_isinteger(L, -1) ? (long long)lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    if (deadline_ms <= 0) return;
    long long margin = deadline_margin_ms();
    char what[160];
    snprintf(
        what, sizeof what,
        "Task timed out: the handler was still running %lld ms before the invocation's deadline",
        margin);
    deadline_arm(L, deadline_ms - margin, what);
}

void deadline_disarm(lua_State *L)
{
    struct deadline *d = find(L);
    if (!d || !d->armed) return;
    d->armed = false;
    lua_sethook(d->main, NULL, 0, 0);
}

long long deadline_remaining_ms(lua_State *L)
{
    const struct deadline *d = find(L);
    if (!d || !d->armed) return DEADLINE_NONE;
    if (d->expired) return 0;
    long long left = ms_until(d->stop_at);
    return left > 0 ? left : 0;
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
long long deadline_margin_ms(void)
{
    static long long margin = -1;
    if (margin >= 0) return margin;
    margin = DEADLINE_DEFAULT_MARGIN_MS;
    const char *text = getenv("MOONRUN_DEADLINE_MARGIN_MS");
    if (!text || !*text) return margin;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (*end || end == text || value < 0 || value > MAX_MARGIN_MS)
        log_error(
            "ignoring MOONRUN_DEADLINE_MARGIN_MS=%s: expected whole milliseconds from 0 to %d",
            text, MAX_MARGIN_MS);
    else
        margin = value;
    return margin;
}
