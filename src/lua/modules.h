/* moonrun's modules written in C, preloaded into every Lua state (require "moonrun.json"). */
#ifndef MOONRUN_MODULES_H
#define MOONRUN_MODULES_H

#include <lua.h>

int luaopen_moonrun_json(lua_State *L);         /* lua_json.c */
int luaopen_moonrun_uuid(lua_State *L);         /* lua_uuid.c */
int luaopen_moonrun_time(lua_State *L);         /* lua_time.c */
int luaopen_moonrun_digest(lua_State *L);       /* lua_digest.c */
int luaopen_moonrun_signature(lua_State *L);    /* lua_signature.c */
int luaopen_moonrun_http(lua_State *L);         /* lua_http.c */
int luaopen_moonrun_sigv4(lua_State *L);        /* lua_sigv4.c */
int luaopen_moonrun_textcheck(lua_State *L);    /* lua_textcheck.c */
int luaopen_moonrun_invocation(lua_State *L);   /* current_invocation.c */
int luaopen_moonrun_stream(lua_State *L);       /* response_stream.c */
int luaopen_moonrun_log(lua_State *L);          /* lua_log.c */
int luaopen_moonrun_httpd(lua_State *L);        /* lua_httpd.c */
int luaopen_moonrun_event_loop(lua_State *L);   /* lua_event_loop.c */
int luaopen_moonrun_process(lua_State *L);      /* lua_process.c */
int luaopen_moonrun_files(lua_State *L);        /* lua_files.c */
int luaopen_moonrun_append_file(lua_State *L);  /* lua_append_file.c */
int luaopen_moonrun_peer(lua_State *L);         /* lua_peer.c */
int luaopen_moonrun_yaml(lua_State *L);         /* lua_yaml.c */
int luaopen_moonrun_local_invoke(lua_State *L); /* lua_local_invoke.c */

/* AWS_LAMBDA_LOG_FORMAT=JSON: print and io.write (to stdout) write JSON records (log_stdout.c). */
void lua_log_install_json_output(lua_State *L);

/* Replaces the global print with one that writes each line whole (lua_print.c). */
void lua_print_install(lua_State *L);
/* From now on print writes inner newlines as \r (the Lambda loop; see lua_print.c). */
void lua_print_keep_records_whole(void);

#endif
