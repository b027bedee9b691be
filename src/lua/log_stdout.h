/* Where a Lua state's log lines go: the per-state buffers, and, with AWS_LAMBDA_LOG_FORMAT=JSON,
 * print and io.write (to stdout) turned into JSON records: one per print, one per finished
 * io.write line. Used by moonrun.log (lua_log.c) so that its records keep their order with them. */
#ifndef MOONRUN_LOG_STDOUT_H
#define MOONRUN_LOG_STDOUT_H

#include <lua.h>

#include "buffer.h"
#include "log_record.h"

/* Per Lua state (each worker has its own), in a userdata kept in the registry. */
struct log_output {
    struct buffer pending; /* JSON mode: what io.write wrote after the last newline */
    struct buffer record;  /* the record being built */
};

struct log_output *log_output(lua_State *L);

/* Appends a JSON record's head with the requestId of the invocation L serves (none if L is
 * NULL or outside an invocation). */
void log_output_open_record(lua_State *L, struct buffer *out, enum log_level level);

/* JSON mode: writes the unfinished io.write line as a record of its own. */
void log_output_flush_pending(lua_State *L, struct log_output *o);

/* Appends or raises a Lua memory error. */
void log_output_append(lua_State *L, struct buffer *b, const char *s, size_t len);

#endif
