/* The `moonrun.time` module: wall-clock and monotonic clocks, formatting with microseconds (%f,
 * as Python's datetime prints them), ISO 8601, and sleep. Times are seconds since the epoch as
 * floats, like os.time's but with a fraction. Formatting is in UTC, Lambda's zone, whatever TZ
 * says, unless the caller asks for local time. */
#include <lauxlib.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "modules.h"

#define DEFAULT_PATTERN "%Y-%m-%d %H:%M:%S.%f"
/* Beyond this, a time cannot be a date (the year overflows struct tm's int) nor a time_t. */
#define MAX_ABS_SECONDS 1e15

static struct timespec clock_now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts;
}

static int time_now(lua_State *L)
{
    struct timespec ts = clock_now(CLOCK_REALTIME);
    /* whole microseconds, so that format's %f shows what now() returned */
    lua_pushnumber(L, (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6);
    return 1;
}

static int time_now_ms(lua_State *L)
{
    struct timespec ts = clock_now(CLOCK_REALTIME);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    return 1;
}

static int time_monotonic(lua_State *L)
{
    struct timespec ts = clock_now(CLOCK_MONOTONIC);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return 1;
}

/* A point in time split for formatting: whole seconds and the microseconds after them. */
struct split_time {
    time_t seconds;
    long micros;
};

/* Argument arg (seconds since the epoch, default now), rounded to the nearest microsecond. */
static struct split_time check_time(lua_State *L, int arg)
{
    if (lua_isnoneornil(L, arg)) {
        struct timespec ts = clock_now(CLOCK_REALTIME);
        return (struct split_time){ts.tv_sec, ts.tv_nsec / 1000};
    }
    double t = luaL_checknumber(L, arg);
    luaL_argcheck(L, isfinite(t) && fabs(t) < MAX_ABS_SECONDS, arg,
                  "not a time (seconds since the epoch)");
    double whole = floor(t);
    struct split_time out = {(time_t)whole, lround((t - whole) * 1e6)};
    if (out.micros >= 1000000) { /* .9999996 rounds up into the next second */
        out.seconds++;
        out.micros -= 1000000;
    }
    return out;
}

static struct tm broken_down(lua_State *L, time_t seconds, bool local)
{
    struct tm tm;
    if (!(local ? localtime_r(&seconds, &tm) : gmtime_r(&seconds, &tm)))
        luaL_error(L, "time %I cannot be shown as a date", (lua_Integer)seconds);
    return tm;
}

/* Length of the conversion at p (just after a '%') if strftime knows it, else 0: glibc's flags
 * (_-0^#), a width, the E and O modifiers, then the conversion letter. */
static size_t conversion_length(const char *p)
{
    static const char known[] = "aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ+%";
    size_t n = strspn(p, "_-0^#");
    n += strspn(p + n, "0123456789");
    if (p[n] == 'E' || p[n] == 'O') n++;
    return p[n] && strchr(known, p[n]) ? n + 1 : 0;
}

/* Rewrites pattern for strftime: %f becomes the microsecond digits, unknown conversions are an
 * argument error naming them. A trailing space is added so that strftime's result is never
 * empty, since 0 is also how it reports a full buffer. */
static void prepare_pattern(lua_State *L, const char *pattern, long micros, luaL_Buffer *out)
{
    char digits[8];
    snprintf(digits, sizeof digits, "%06ld", micros);
    for (const char *p = pattern; *p; p++) {
        if (*p != '%') {
            luaL_addchar(out, *p);
        } else if (p[1] == 'f') {
            luaL_addstring(out, digits);
            p++;
        } else {
            size_t n = conversion_length(p + 1);
            if (n == 0) {
                lua_pushfstring(L, "unknown conversion '%%%c' in the pattern (%%%% writes a %%)",
                                p[1] ? p[1] : ' ');
                luaL_argerror(L, 2, lua_tostring(L, -1));
            }
            luaL_addlstring(out, p, n + 1);
            p += n;
        }
    }
    luaL_addchar(out, ' ');
}

/* format([t [, pattern [, local]]]): strftime's conversions plus %f (microseconds, 6 digits). */
static int time_format(lua_State *L)
{
    struct split_time t = check_time(L, 1);
    const char *pattern = luaL_optstring(L, 2, DEFAULT_PATTERN);
    struct tm tm = broken_down(L, t.seconds, lua_toboolean(L, 3));
    luaL_Buffer prepared;
    luaL_buffinit(L, &prepared);
    prepare_pattern(L, pattern, t.micros, &prepared);
    luaL_pushresult(&prepared);
    const char *format = lua_tostring(L, -1);
    for (size_t size = 256; size <= 1024 * 1024; size *= 4) {
        luaL_Buffer b;
        char *text = luaL_buffinitsize(L, &b, size);
        size_t n = strftime(text, size, format, &tm);
        if (n > 0) {
            luaL_pushresultsize(&b, n - 1); /* without the added space */
            return 1;
        }
        lua_pop(L, 1); /* the buffer's box; try a larger one */
    }
    return luaL_argerror(L, 2, "the pattern makes text longer than 1 MB");
}

/* iso8601([t]): "2024-06-01T12:00:00.123Z", milliseconds, UTC. */
static int time_iso8601(lua_State *L)
{
    struct split_time t = check_time(L, 1);
    struct tm tm = broken_down(L, t.seconds, false);
    char text[64];
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%03ldZ", t.micros / 1000);
    lua_pushstring(L, text);
    return 1;
}

/* sleep(seconds): another signal does not cut it short (the rest is slept); the deadline of the
 * invocation does: a sleep that would outlast it ends there with the Timeout error, since a
 * hook cannot interrupt a C function. So does a SIGTERM that stops the invocation. */
static int time_sleep(lua_State *L)
{
    double seconds = luaL_checknumber(L, 1);
    luaL_argcheck(L, seconds >= 0 && seconds <= 1e9, 1, "seconds must be a number from 0 to 1e9");
    deadline_sleep(L, seconds);
    return 0;
}

int luaopen_moonrun_time(lua_State *L)
{
    static const luaL_Reg functions[] = {{"now", time_now},
                                         {"now_ms", time_now_ms},
                                         {"monotonic", time_monotonic},
                                         {"format", time_format},
                                         {"iso8601", time_iso8601},
                                         {"sleep", time_sleep},
                                         {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
