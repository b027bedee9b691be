/* `moonrun run [OPTIONS] [SCRIPT [ARGS...]]`: runs a Lua script the way the standalone `lua` 5.4
 * interpreter does (same options, same `arg` table, same LUA_INIT, same exit statuses), but in a
 * state with moonrun's modules and search path, so Lua tools (busted, scripts) run under it. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "commands.h"
#include "log.h"
#include "lua_host.h"
#include "version.h"

#define USAGE "usage: moonrun run [OPTIONS] [SCRIPT [ARGS...]]\n"

static const char help[] = USAGE
    "\n"
    "Runs SCRIPT with ARGS as the standalone lua 5.4 interpreter would, with moonrun's modules\n"
    "(moonrun.json, moonrun.uuid, ...) and LAMBDA_TASK_ROOT (default: the current directory) on\n"
    "the module path. The script sees its arguments in `...` and in the global table `arg`.\n"
    "Options are handled in order, before the script:\n\n"
    "  -e STAT   runs the statement STAT (repeatable)\n"
    "  -l NAME   requires module NAME into the global NAME; -l G=NAME names the global G\n"
    "  -v        prints the version of moonrun and of Lua\n"
    "  -W        turns warnings on\n"
    "  -E        ignores LUA_INIT and LUA_PATH/LUA_CPATH (and their _5_4 forms)\n"
    "  --        stops handling options\n"
    "  -         reads the script from stdin\n"
    "  -h, --help  prints this text\n\n"
    "Unless -E is given, LUA_INIT_5_4 (or else LUA_INIT) runs first: Lua code, or @FILE.\n"
    "For an interactive session use `moonrun repl`.\n\n"
    "Exit status: 0 when the script ends, 1 on an error (message and traceback on stderr),\n"
    "the status given to os.exit, 2 for a bad command line.\n";

struct run_options {
    int argc;
    char **argv;  /* the words after `run` */
    int script;   /* index in argv of the script, argc when there is none */
    bool version; /* -v */
    bool no_env;  /* -E */
    bool execute; /* at least one -e */
};

/* lua.c's convention: prefix every message with the program's name, on stderr. Not log_error,
 * whose fixed buffer would cut long tracebacks. */
static void report_message(const char *message)
{
    fprintf(stderr, "moonrun: %s\n", message);
    fflush(stderr);
}

/* Reports the error on top of the stack (if status says there is one) and pops it. */
static int report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        report_message(message ? message : "(error object is not a string)");
        lua_pop(L, 1);
    }
    return status;
}

/* ---- command line ---- */

static void print_version(void)
{
    printf("moonrun %s (%s)\n", MOONRUN_VERSION, LUA_RELEASE);
    fflush(stdout);
}

static int bad_usage(const char *format, const char *option)
{
    fputs("moonrun: ", stderr);
    fprintf(stderr, format, option);
    fputs("\n" USAGE "(moonrun run --help lists the options)\n", stderr);
    return 2;
}

/* -e and -l take their argument glued on (-eSTAT) or as the next word; as in lua, that word
 * may not look like an option. Returns the index of the last word consumed, or -1. */
static int option_argument(const struct run_options *o, int i, const char **value)
{
    if (o->argv[i][2] != '\0') {
        *value = o->argv[i] + 2;
        return i;
    }
    if (i + 1 >= o->argc || o->argv[i + 1][0] == '-') return -1;
    *value = o->argv[i + 1];
    return i + 1;
}

/* Finds where the script is and checks every option. Returns -1 to go on, else the exit
 * status (0 after --help, 2 for a bad command line). */
static int parse_options(struct run_options *o)
{
    int i;
    for (i = 0; i < o->argc; i++) {
        const char *word = o->argv[i];
        if (word[0] != '-' || word[1] == '\0') break; /* the script, or "-" for stdin */
        if (strcmp(word, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) return fputs(help, stdout), 0;
        if (strcmp(word, "-i") == 0)
            return bad_usage("'%s' (interactive mode) is not part of run: use `moonrun repl`",
                             word);
        bool single = word[2] == '\0';
        if (single && word[1] == 'v') {
            o->version = true;
        } else if (single && word[1] == 'E') {
            o->no_env = true;
        } else if (single && word[1] == 'W') {
            /* applied in order with -e and -l, in run_options_in_order */
        } else if (word[1] == 'e' || word[1] == 'l') {
            const char *value;
            char option[3] = {'-', word[1], '\0'};
            i = option_argument(o, i, &value);
            if (i < 0) return bad_usage("'%s' needs an argument", option);
            if (option[1] == 'e') o->execute = true;
        } else {
            return bad_usage("unrecognized option '%s'", word);
        }
    }
    o->script = i;
    if (o->script == o->argc && !o->execute && !o->version)
        return bad_usage("%s", "nothing to run: give a SCRIPT, '-' for stdin, or -e STAT");
    return -1;
}

/* ---- running code ---- */

static lua_State *interrupted_state;

/* Runs inside the Lua state at the next call, return or instruction after a Ctrl-C. */
static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* A signal handler may not touch the state beyond setting a hook (lua_sethook is documented as
 * safe for this). The default action comes back so a second Ctrl-C kills a stuck C function. */
static void on_interrupt(int signo)
{
    signal(signo, SIG_DFL);
    lua_sethook(interrupted_state, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* Calls the function under its nargs arguments, with the traceback handler and Ctrl-C armed. */
static int protected_call(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, lua_host_traceback);
    lua_insert(L, base);
    interrupted_state = L;
    signal(SIGINT, on_interrupt);
    int status = lua_pcall(L, nargs, nresults, base);
    signal(SIGINT, SIG_DFL);
    lua_remove(L, base);
    return status;
}

static int run_chunk(lua_State *L, int load_status)
{
    if (load_status == LUA_OK) load_status = protected_call(L, 0, 0);
    return report(L, load_status);
}

static int run_string(lua_State *L, const char *code, const char *chunk_name)
{
    return run_chunk(L, luaL_loadbuffer(L, code, strlen(code), chunk_name));
}

/* -l NAME, -l G=NAME, and lua 5.4.4's -l NAME-SUFFIX (the global is NAME). */
static int require_into_global(lua_State *L, const char *spec)
{
    const char *equals = strchr(spec, '=');
    const char *module = equals ? equals + 1 : spec;
    size_t global_length = equals ? (size_t)(equals - spec) : strcspn(spec, "-");
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    int status = protected_call(L, 1, 1);
    if (status == LUA_OK) {
        lua_pushlstring(L, spec, global_length);
        lua_insert(L, -2);
        lua_setglobal(L, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return report(L, status);
}

static int run_init(lua_State *L)
{
    const char *name = "=LUA_INIT_5_4";
    const char *init = getenv(name + 1);
    if (!init) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (!init) return LUA_OK;
    if (init[0] == '@') return run_chunk(L, luaL_loadfile(L, init + 1));
    return run_string(L, init, name);
}

/* -e, -l and -W, in the order given. */
static int run_options_in_order(lua_State *L, const struct run_options *o)
{
    for (int i = 0; i < o->script; i++) {
        const char *word = o->argv[i];
        const char *value = NULL; /* parse_options checked that -e and -l have one */
        int status = LUA_OK;
        if (strcmp(word, "--") == 0) break;
        if (word[1] == 'W') {
            lua_warning(L, "@on", 0);
        } else if (word[1] == 'e') {
            i = option_argument(o, i, &value);
            status = run_string(L, value, "=(command line)");
        } else if (word[1] == 'l') {
            i = option_argument(o, i, &value);
            status = require_into_global(L, value);
        }
        if (status != LUA_OK) return status;
    }
    return LUA_OK;
}

/* ---- the arg table ---- */

/* lua puts argv[0] at arg's lowest index, so a tool can find the interpreter to start it
 * again. Ours is the absolute path of the executable, at arg[-(options + 2)], with "run" just
 * above it: the whole command line is then `arg[lowest] .. arg[-1]` (the options, or "run"),
 * the script at arg[0], its arguments from arg[1]. */
static void push_executable_path(lua_State *L)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) {
        lua_pushlstring(L, path, (size_t)n);
    } else {
        lua_pushliteral(L, "moonrun");
    }
}

/* Without a script, as in lua, arg[0] is the interpreter and everything else is positive. */
static void create_arg_table(lua_State *L, const struct run_options *o)
{
    int zero = o->script < o->argc ? o->script + 2 : 0; /* in the full command line */
    int total = o->argc + 2;
    lua_createtable(L, total - zero - 1, zero + 1);
    push_executable_path(L);
    lua_rawseti(L, -2, -zero);
    lua_pushliteral(L, "run");
    lua_rawseti(L, -2, 1 - zero);
    for (int i = 0; i < o->argc; i++) {
        lua_pushstring(L, o->argv[i]);
        lua_rawseti(L, -2, i + 2 - zero);
    }
    lua_setglobal(L, "arg");
}

/* Pushes arg[1..n] for `...`, from the global so LUA_INIT or -e may have changed it. */
static int push_script_args(lua_State *L)
{
    if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++)
        lua_rawgeti(L, -i, i);
    lua_remove(L, -n - 1);
    return n;
}

static int run_script(lua_State *L, const struct run_options *o)
{
    const char *name = o->argv[o->script];
    bool after_dashes = o->script > 0 && strcmp(o->argv[o->script - 1], "--") == 0;
    if (strcmp(name, "-") == 0 && !after_dashes) name = NULL; /* stdin; `-- -` is a file */
    int status = luaL_loadfile(L, name);                      /* skips a #! line, stdin too */
    if (status == LUA_OK) {
        int n = push_script_args(L);
        status = protected_call(L, n, LUA_MULTRET);
    }
    return report(L, status);
}

/* Everything that touches the state runs in here, under lua_pcall, so even a memory error
 * while building `arg` is reported rather than panicking. */
static int protected_main(lua_State *L)
{
    const struct run_options *o = lua_touserdata(L, 1);
    bool *ok = lua_touserdata(L, 2);
    lua_settop(L, 0);
    luaL_checkversion(L);
    if (o->no_env) {
        lua_pushboolean(L, 1); /* what lua sets for -E; read by anything that cares */
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    create_arg_table(L, o);
    lua_gc(L, LUA_GCGEN, 0, 0); /* lua's own collector mode for scripts */
    if (o->version) print_version();
    if (!o->no_env && run_init(L) != LUA_OK) return 0;
    if (run_options_in_order(L, o) != LUA_OK) return 0;
    if (o->script < o->argc && run_script(L, o) != LUA_OK) return 0;
    *ok = true;
    return 0;
}

/* -E must keep LUA_PATH and LUA_CPATH out of package.path and cpath, which lua_host_open fills
 * in; hiding them while it runs (and restoring them after, for os.getenv and child processes)
 * does that without touching the host. */
static const char *const path_variables[] = {"LUA_PATH_5_4", "LUA_PATH", "LUA_CPATH_5_4",
                                             "LUA_CPATH"};
#define PATH_VARIABLES (sizeof path_variables / sizeof *path_variables)

static bool open_host(struct lua_host *host, bool no_env, const struct lua_host_options *paths)
{
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    if (!task_root || !*task_root) task_root = ".";
    if (!no_env) return lua_host_open_with(host, task_root, paths);
    char *saved[PATH_VARIABLES];
    for (size_t i = 0; i < PATH_VARIABLES; i++) {
        const char *value = getenv(path_variables[i]);
        saved[i] = value ? strdup(value) : NULL;
        unsetenv(path_variables[i]);
    }
    bool opened = lua_host_open_with(host, task_root, paths);
    for (size_t i = 0; i < PATH_VARIABLES; i++) {
        if (saved[i]) setenv(path_variables[i], saved[i], 1);
        free(saved[i]);
    }
    return opened;
}

int run_cmd_main(int argc, char **argv)
{
    static const struct lua_host_options script = {.paths = LUA_HOST_SCRIPT_PATHS};
    return run_cmd_with_paths(argc, argv, &script);
}

int run_cmd_with_paths(int argc, char **argv, const struct lua_host_options *paths)
{
    struct run_options options = {.argc = argc, .argv = argv};
    int exit_status = parse_options(&options);
    if (exit_status >= 0) return exit_status;

    struct lua_host host;
    if (!open_host(&host, options.no_env, paths)) return 1;
    lua_State *L = host.L;
    bool ok = false;
    lua_pushcfunction(L, protected_main);
    lua_pushlightuserdata(L, &options);
    lua_pushlightuserdata(L, &ok);
    report(L, lua_pcall(L, 2, 0, 0));
    lua_host_close(&host); /* runs __gc and __close, as lua does at a normal end */
    return ok ? 0 : 1;
}
