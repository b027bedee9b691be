/* The deadline of what a Lua state runs now (a handler, the shutdown function). Lambda kills
 * the sandbox at an invocation's deadline, so moonrun stops the handler a little before it and
 * posts a Timeout error in the time left: a timer sets a count hook that stops Lua code, and
 * moonrun's own blocking calls (time.sleep, moonrun.http) wait no longer than the deadline allows.
 * Kept per Lua state, in its registry, so each worker's state has its own. */
#ifndef MOONRUN_DEADLINE_H
#define MOONRUN_DEADLINE_H

#include <lua.h>
#include <stdbool.h>

#define DEADLINE_NONE (-1LL)
/* The default margin before an invocation's deadline (see deadline.c for the reason). */
#define DEADLINE_DEFAULT_MARGIN_MS 200

/* Makes the state's deadline (a timer; none is running until armed) and has coroutine.resume
 * and coroutine.wrap tell it which coroutine runs, so that the timer reaches that one too. For
 * lua_host_open, after the standard libraries. */
void deadline_install(lua_State *L);

/* From stop_at_ms (epoch milliseconds) on, Lua code running in L, or in a coroutine created
 * after this call, raises a Timeout error whose message begins with what; once raised it is
 * raised again at every Lua instruction until deadline_disarm, so no pcall can swallow it.
 * Returns false (nothing armed) only when the state has no memory left. */
bool deadline_arm(lua_State *L, long long stop_at_ms, const char *what);
void deadline_disarm(lua_State *L);

/* Arms the deadline of the invocation whose context table is at context_index: its deadline_ms
 * less the margin. An invocation without a valid deadline, or whose deadline has passed, runs
 * unbounded (but a SIGTERM still stops it). */
void deadline_arm_invocation(lua_State *L, int context_index);

/* SIGTERM: every invocation running (each worker's) is stopped as its deadline would stop it,
 * with a Runtime.Shutdown error, and one that starts afterwards is stopped at once. Safe in a
 * signal handler (it sets hooks and signals the workers' threads). */
void deadline_stop_invocations(void);

/* Milliseconds left before the armed deadline (0 once it has passed), or DEADLINE_NONE. */
long long deadline_remaining_ms(lua_State *L);

/* Waits seconds (0 to 1e9) in the calling thread, or until the deadline or a SIGTERM stops the
 * code of L, and raises the Timeout error in that case (naming the Lua caller of the C function
 * that called this). Unlike a check followed by nanosleep, a signal that comes between the two
 * is not slept through. Another signal does not cut the wait short. */
void deadline_sleep(lua_State *L, double seconds);

/* For C functions that waited until the deadline: raises the Timeout error, naming the Lua
 * code at stack level `level` (1: the caller of the C function) as where it was stopped. */
int deadline_raise(lua_State *L, int level);

/* MOONRUN_DEADLINE_MARGIN_MS, or the default when unset or malformed (which is logged once). */
long long deadline_margin_ms(void);

#endif
