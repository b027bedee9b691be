/* Finds and loads the function that _HANDLER names ("path/module.function"). */
#ifndef MOONRUN_HANDLER_H
#define MOONRUN_HANDLER_H

#include <limits.h>
#include <lua.h>

#include "buffer.h"
#include "error_report.h"

struct handler {
    char module[256]; /* dotted, as require would name it: handlers.app */
    char function[128];
    char file[PATH_MAX];
    int function_ref; /* the function, kept in the registry */
};

/* Loads the module under task_root and finds the function. On failure writes the init error
 * JSON into error_json and returns false; report->type is one of Runtime.MalformedHandlerName,
 * Runtime.ImportModuleError, Runtime.UserCodeSyntaxError, Runtime.ModuleInitError,
 * Runtime.HandlerNotFound. */
bool handler_load(lua_State *L, const char *spec, const char *task_root, struct handler *h,
                  struct buffer *error_json, struct error_report *report);

/* Drops the function reference (for reload). */
void handler_release(lua_State *L, struct handler *h);

#endif
