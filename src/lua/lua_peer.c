/* The `moonrun.peer` module: which process is at the other end of a loopback TCP connection, so
 * that a function's Runtime API under `moonrun dev` serves that function's own process and no
 * other (a Runtime API cannot be a Unix socket, and any process of the machine can connect to a
 * loopback port).
 *
 *   peer.socket_inode(client_port, server_port) -> inode | nil
 *       the inode of the client's end of an established 127.0.0.1/::1 connection, from
 *       /proc/net/tcp and /proc/net/tcp6
 *   peer.group_holds(pgid, inode) -> boolean
 *       whether a process of the process group pgid has that socket open
 *
 * Linux only, as moonrun dev is. */
#include <ctype.h>
#include <dirent.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modules.h"

#define TCP_ESTABLISHED 1

/* Finds the inode of the socket whose local port is client_port and remote port server_port. */
static unsigned long find_inode(const char *table, unsigned client_port, unsigned server_port)
{
    FILE *f = fopen(table, "r");
    if (!f) return 0;
    char line[512];
    unsigned long found = 0;
    if (!fgets(line, sizeof line, f)) line[0] = '\0'; /* the header */
    while (!found && fgets(line, sizeof line, f)) {
        unsigned local_port, remote_port, state;
        unsigned long inode;
        if (sscanf(line,
                   " %*u: %*[0-9A-Fa-f]:%X %*[0-9A-Fa-f]:%X %X %*X:%*X %*X:%*X %*X %*u %*u %lu",
                   &local_port, &remote_port, &state, &inode) == 4 &&
            local_port == client_port && remote_port == server_port && state == TCP_ESTABLISHED)
            found = inode;
    }
    fclose(f);
    return found;
}

static int l_socket_inode(lua_State *L)
{
    lua_Integer client_port = luaL_checkinteger(L, 1), server_port = luaL_checkinteger(L, 2);
    luaL_argcheck(L, client_port > 0 && client_port < 65536, 1, "a port number");
    luaL_argcheck(L, server_port > 0 && server_port < 65536, 2, "a port number");
    unsigned long inode = find_inode("/proc/net/tcp", (unsigned)client_port, (unsigned)server_port);
    if (!inode) inode = find_inode("/proc/net/tcp6", (unsigned)client_port, (unsigned)server_port);
    if (!inode) return luaL_pushfail(L), 1;
    lua_pushinteger(L, (lua_Integer)inode);
    return 1;
}

/* The process group of pid, from /proc/PID/stat (after the command name, which may hold spaces
 * and parentheses: the last ')' ends it); -1 when it cannot be read. */
static long process_group(const char *pid)
{
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *end = strrchr(text, ')');
    long pgrp;
    if (!end || sscanf(end + 1, " %*c %*d %ld", &pgrp) != 1) return -1;
    return pgrp;
}

static bool process_holds(const char *pid, const char *wanted)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/fd", pid);
    DIR *fds = opendir(path);
    if (!fds) return false;
    bool held = false;
    struct dirent *e;
    while (!held && (e = readdir(fds))) {
        char link[80], target[64];
        if (e->d_name[0] == '.') continue;
        snprintf(link, sizeof link, "/proc/%s/fd/%s", pid, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        held = strcmp(target, wanted) == 0;
    }
    closedir(fds);
    return held;
}

static int l_group_holds(lua_State *L)
{
    lua_Integer pgid = luaL_checkinteger(L, 1), inode = luaL_checkinteger(L, 2);
    char wanted[48];
    snprintf(wanted, sizeof wanted, "socket:[%lld]", (long long)inode);
    DIR *proc = opendir("/proc");
    bool held = false;
    struct dirent *e;
    while (proc && !held && (e = readdir(proc))) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        held = process_group(e->d_name) == (long)pgid && process_holds(e->d_name, wanted);
    }
    if (proc) closedir(proc);
    lua_pushboolean(L, held);
    return 1;
}

int luaopen_moonrun_peer(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"socket_inode", l_socket_inode}, {"group_holds", l_group_holds}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
