/* print, as Lua's own (each value through tostring, tabs between, a newline, a flush), but the
 * whole line is written under stdout's lock: with several workers printing at once, one
 * print's line is never mixed with another's. */
#include <lauxlib.h>
#include <stdio.h>

#include "modules.h"

static int print_line(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checkstack(L, n, "too many values to print");
    /* The texts first: a __tostring that raises must not leave stdout locked. */
    for (int i = 1; i <= n; i++)
        luaL_tolstring(L, i, NULL);
    flockfile(stdout);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *text = lua_tolstring(L, n + i, &len);
        if (i > 1) fputc('\t', stdout);
        fwrite(text, 1, len, stdout);
    }
    fputc('\n', stdout);
    funlockfile(stdout);
    fflush(stdout);
    return 0;
}

void lua_print_install(lua_State *L)
{
    lua_pushcfunction(L, print_line);
    lua_setglobal(L, "print");
}
