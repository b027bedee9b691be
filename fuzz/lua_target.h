/* What the fuzz targets whose code under test is Lua share (aws_answer, sqs_api): one Lua state
 * with moonrun's library from this source tree, the target's check function, and Lua's own lines
 * fed to libFuzzer as coverage through a line hook, so the fuzzer is led by the Lua code it
 * reaches and not only by the C under it. */
#ifndef MOONRUN_FUZZ_LUA_TARGET_H
#define MOONRUN_FUZZ_LUA_TARGET_H

#include <lua.h>
#include <stddef.h>

/* Opens the state and runs checker, a chunk that returns the check function, which is kept.
 * Aborts, naming the target, when either fails. */
lua_State *lua_target_open(const char *name, const char *checker, size_t checker_len);

/* Pushes the check function, for the target to push its arguments above it. */
void lua_target_push_check(lua_State *L);

/* Calls the check with the nargs arguments above it; a Lua error aborts (a finding). */
void lua_target_call_check(lua_State *L, int nargs);

/* For the targets whose check takes the whole input as one string: calls it, and collects the
 * garbage every gc_every inputs, so the RSS limit measures the code, not the garbage. */
void lua_target_check_input(lua_State *L, const unsigned char *data, size_t size,
                            unsigned gc_every);

#endif
