#include "lua_target.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lua_host.h"

#define CHECK_KEY "moonrun_fuzz.check"

/* libFuzzer reads counters in this section as coverage, beside the compiler's own. */
static uint8_t lua_line_counters[8192] __attribute__((section("__libfuzzer_extra_counters")));

static struct lua_host host;
static const char *target_name;

static void count_line(lua_State *L, lua_Debug *ar)
{
    if (!lua_getinfo(L, "S", ar)) return;
    uintptr_t where = (uintptr_t)ar->source * 31u + (uintptr_t)ar->currentline;
    where ^= where >> 13;
    lua_line_counters[(where * 0x9E3779B1u) % sizeof lua_line_counters]++;
}

lua_State *lua_target_open(const char *name, const char *checker, size_t checker_len)
{
    target_name = name;
    if (!lua_host_open(&host, ".")) abort();
    lua_State *L = host.L;
    /* The library in this source tree, whatever lies next to the executable. */
    lua_getglobal(L, "package");
    lua_pushstring(L, MOONRUN_LUA_DIR "/?.lua;" MOONRUN_LUA_DIR "/?/init.lua");
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    const char *chunk_name = lua_pushfstring(L, "=%s_check", name);
    if (luaL_loadbuffer(L, checker, checker_len, chunk_name) != LUA_OK ||
        lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "%s_fuzz: %s\n", name, lua_tostring(L, -1));
        abort();
    }
    lua_setfield(L, LUA_REGISTRYINDEX, CHECK_KEY);
    lua_pop(L, 1); /* the chunk's name */
    lua_sethook(L, count_line, LUA_MASKLINE, 0);
    return L;
}

void lua_target_push_check(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, CHECK_KEY);
}

void lua_target_call_check(lua_State *L, int nargs)
{
    if (lua_pcall(L, nargs, 0, 0) != LUA_OK) {
        fprintf(stderr, "%s_fuzz: %s\n", target_name, luaL_tolstring(L, -1, NULL));
        abort();
    }
}

void lua_target_check_input(lua_State *L, const unsigned char *data, size_t size, unsigned gc_every)
{
    static unsigned inputs;
    lua_target_push_check(L);
    lua_pushlstring(L, (const char *)data, size);
    lua_target_call_check(L, 1);
    if (++inputs % gc_every == 0) lua_gc(L, LUA_GCCOLLECT);
}
