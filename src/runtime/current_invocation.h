/* The context of the invocation a Lua state is serving, kept in its registry while the handler
 * runs; Lua reads it with require("moonrun.invocation").current(). Functions registered with
 * invocation.on_finish(fn) run when each invocation ends (moonrun.metrics flushes there). */
#ifndef MOONRUN_CURRENT_INVOCATION_H
#define MOONRUN_CURRENT_INVOCATION_H

#include <lua.h>

void current_invocation_set(lua_State *L, int context_index);
void current_invocation_clear(lua_State *L);

/* Pushes the current context table, or nil. */
void current_invocation_push(lua_State *L);

/* Adds the function on top of the stack (popped) to those run at the end of each invocation,
 * unless it is there already. */
void current_invocation_on_finish(lua_State *L);

/* Runs the on_finish functions (each protected: a failure is logged and the others still run),
 * then clears the current invocation. Called when the handler has returned or failed, before
 * the result is posted, so what they write belongs to the invocation. */
void current_invocation_finish(lua_State *L);

#endif
