/* The `moonrun.time` module: wall-clock and monotonic time, formatting with microseconds (as
 * the seed's Python prints them), ISO 8601, and sleep. Times are seconds since the epoch as
 * floats, like os.time but with a fraction. Formatting is in UTC (Lambda's zone) unless asked. */
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "modules.h"

static double seconds_of(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static int time_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, seconds_of(&ts));
    return 1;
}

static int time_now_ms(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    return 1;
}

static int time_monotonic(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, seconds_of(&ts));
    return 1;
}

/* Argument arg as whole seconds and microseconds (default: now). */
static void split_time(lua_State *L, int arg, time_t *seconds, long *micros)
{
    double t;
    if (lua_isnoneornil(L, arg)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *seconds = ts.tv_sec;
        *micros = ts.tv_nsec / 1000;
        return;
    }
    t = luaL_checknumber(L, arg);
    luaL_argcheck(L, isfinite(t) && fabs(t) < 1e15, arg, "not a time (seconds since the epoch)");
    double whole = floor(t);
    *seconds = (time_t)whole;
    *micros = (long)((t - whole) * 1e6 + 0.5);
    if (*micros >= 1000000) *seconds += 1, *micros -= 1000000;
}

static void broken_down(lua_State *L, time_t seconds, bool local, struct tm *out)
{
    if (!(local ? localtime_r(&seconds, out) : gmtime_r(&seconds, out)))
        luaL_error(L, "time %f cannot be represented as a date", (double)seconds);
}

/* format(t, pattern, local): strftime's patterns plus %f, the microseconds as 6 digits. */
static int time_format(lua_State *L)
{
    time_t seconds;
    long micros;
    split_time(L, 1, &seconds, &micros);
    const char *pattern = luaL_optstring(L, 2, "%Y-%m-%d %H:%M:%S.%f");
    struct tm tm;
    broken_down(L, seconds, lua_toboolean(L, 3), &tm);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char micro_text[8];
    snprintf(micro_text, sizeof micro_text, "%06ld", micros);
    for (const char *p = pattern; *p; p++) {
        if (p[0] != '%' || p[1] == '\0') {
            luaL_addchar(&b, *p);
            continue;
        }
        char spec[3] = {'%', p[1], '\0'}, piece[128];
        p++;
        if (*p == 'f') {
            luaL_addstring(&b, micro_text);
            continue;
        }
        /* One conversion at a time, so %f never reaches strftime and errors name the culprit. */
        size_t n = strftime(piece, sizeof piece, spec, &tm);
        if (n == 0 && *p != 'p' && *p != 'Z') return luaL_error(L, "time.format: unknown conversion '%s'", spec);
        luaL_addlstring(&b, piece, n);
    }
    luaL_pushresult(&b);
    return 1;
}

static int time_iso8601(lua_State *L)
{
    time_t seconds;
    long micros;
    split_time(L, 1, &seconds, &micros);
    struct tm tm;
    broken_down(L, seconds, false, &tm);
    char text[64];
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%03ldZ", micros / 1000);
    lua_pushstring(L, text);
    return 1;
}

static int time_sleep(lua_State *L)
{
    double seconds = luaL_checknumber(L, 1);
    luaL_argcheck(L, seconds >= 0 && seconds < 1e9, 1, "seconds must be between 0 and 1e9");
    struct timespec left = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
    return 0;
}

int luaopen_moonrun_time(lua_State *L)
{
    static const luaL_Reg functions[] = {{"now", time_now},         {"now_ms", time_now_ms},
                                         {"monotonic", time_monotonic}, {"format", time_format},
                                         {"iso8601", time_iso8601}, {"sleep", time_sleep},
                                         {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
