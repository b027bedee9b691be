/* os.exit in the Lambda loop: answered as an error, then honoured (see exit_request.c). */
#ifndef MOONRUN_EXIT_REQUEST_H
#define MOONRUN_EXIT_REQUEST_H

#include <lua.h>
#include <stdbool.h>

/* Replaces os.exit in L with one that raises Runtime.ExitError and records the status. */
void exit_request_install(lua_State *L);

/* Whether os.exit was called since L was made, and with which status. */
bool exit_request_pending(lua_State *L, int *status);

#endif
