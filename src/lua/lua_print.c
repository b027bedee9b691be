/* print, as Lua's own (each value through tostring, tabs between, a newline, a flush), but the
 * whole line is written under stdout's lock: with several workers printing at once, one
 * print's line is never mixed with another's. In the Lambda loop a newline inside the printed
 * text is written as a carriage return, since Lambda cuts a runtime's stdout into CloudWatch
 * records at each newline: a traceback or a multi-line message stays one record. */
#include <lauxlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "modules.h"

static bool records_whole; /* set before any worker thread starts, read only after */

void lua_print_keep_records_whole(void)
{
    records_whole = true;
}

static void write_text(const char *text, size_t len)
{
    if (!records_whole) {
        fwrite(text, 1, len, stdout);
        return;
    }
    const char *end = text + len, *newline;
    while ((newline = memchr(text, '\n', (size_t)(end - text)))) {
        fwrite(text, 1, (size_t)(newline - text), stdout);
        fputc('\r', stdout);
        text = newline + 1;
    }
    fwrite(text, 1, (size_t)(end - text), stdout);
}

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
        write_text(text, len);
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
