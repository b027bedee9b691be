/* Turns Lua errors into the JSON Lambda expects ({errorMessage, errorType, stackTrace}) and
 * into the Lambda-Runtime-Function-Error-Type header. */
#ifndef MOONRUN_ERROR_REPORT_H
#define MOONRUN_ERROR_REPORT_H

#include <lua.h>

#include "buffer.h"

struct error_report {
    char type[128];        /* errorType in the body */
    char header_type[128]; /* always matches (Runtime|Function)\.[A-Z][a-zA-Z]+ */
};

/* The message handler to give lua_pcall: turns any error value into a report table, with the
 * traceback taken where the error happened. */
int error_report_handler(lua_State *L);

/* After lua_pcall failed with status: pops the error and writes its JSON into out. type_override
 * (or NULL) replaces the errorType, as init errors do. */
void error_report_from_pcall(lua_State *L, int status, const char *type_override,
                             struct buffer *out, struct error_report *report);

/* For errors moonrun detects itself. message may hold any bytes. */
void error_report_new(lua_State *L, const char *type, const char *message, struct buffer *out,
                      struct error_report *report);

#endif
