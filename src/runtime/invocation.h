/* One invocation through the handler host: event JSON -> Lua table -> handler(event, context)
 * -> result JSON, or the error JSON of whatever went wrong on the way. Shared by the Lambda
 * loop and the local commands, so local behaviour is production behaviour. */
#ifndef MOONRUN_INVOCATION_H
#define MOONRUN_INVOCATION_H

#include <lua.h>

#include "buffer.h"
#include "context.h"
#include "error_report.h"

/* Returns true with the result JSON in out, or false with the error JSON in out and the error
 * described in report. */
bool invocation_run(lua_State *L, int function_ref, const char *event, size_t event_len,
                    const struct header_view *headers, size_t header_count, struct buffer *out,
                    struct error_report *report);

#endif
