/* `moonrun repl [HANDLER]`: interactive Lua 5.4 with moonrun's modules as globals, line
 * editing and history on a terminal, and invoke()/reload() for a handler. Piped input works
 * too (no prompts, no line editing), so sessions can be scripted and tested. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "json.h"
#include "line_editor.h"
#include "local_function.h"
#include "log.h"
#include "template_function.h"
#include "version.h"

#define USAGE                                                                                      \
    "usage: moonrun repl [HANDLER | --template FILE FUNCTION [--env-file FILE]] [--env "           \
    "NAME=VALUE]...\n"

static const char help_text[] =
    "Type Lua statements or expressions; an expression's values are printed. An unfinished\n"
    "statement continues on the next line (prompt >>).\n"
    "  json, uuid, time           moonrun's modules (and sqs, aws when installed)\n"
    "  invoke(event)              with a HANDLER: invokes it as Lambda would; returns the result,\n"
    "                             or nil and the Lambda error table\n"
    "  reload()                   with a HANDLER: loads the edited handler and its modules afresh\n"
    "  help() or .help            this text;  .exit, Ctrl-D  leave\n";

struct repl {
    lua_State *L;
    struct local_function function; /* when a handler was given */
    bool has_handler, interactive, edited;
    struct buffer event;
};

static int help(lua_State *L)
{
    (void)L;
    fputs(help_text, stdout);
    return 0;
}

static int invoke(lua_State *L)
{
    struct repl *r = lua_touserdata(L, lua_upvalueindex(1));
    lua_settop(L, 1);
    buffer_clear(&r->event);
    if (lua_isnil(L, 1))
        buffer_append_str(&r->event, "{}");
    else
        json_encode(L, 1, &r->event, "event");
    bool ok = local_function_invoke(&r->function, r->event.data, r->event.len);
    if (ok && r->function.streamed) return lua_pushboolean(L, 1), 1; /* the body went to stdout */
    json_decode(L, r->function.out.data, r->function.out.len);
    if (ok) return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int reload(lua_State *L)
{
    struct repl *r = lua_touserdata(L, lua_upvalueindex(1));
    bool ok = local_function_reload(&r->function);
    if (!ok) fprintf(stderr, "%.*s\n", (int)r->function.out.len, r->function.out.data);
    lua_pushboolean(L, ok);
    return 1;
}

/* Globals for every module moonrun has: a missing one (not yet installed) is skipped. */
static void preload_globals(lua_State *L)
{
    static const char *names[] = {"json", "uuid", "time", "sqs", "aws"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        lua_getglobal(L, "require");
        lua_pushfstring(L, "moonrun.%s", names[i]);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK)
            lua_setglobal(L, names[i]);
        else
            lua_pop(L, 1);
    }
}

static void register_helpers(struct repl *r)
{
    lua_pushcfunction(r->L, help);
    lua_setglobal(r->L, "help");
    if (!r->has_handler) return;
    lua_pushlightuserdata(r->L, r);
    lua_pushcclosure(r->L, invoke, 1);
    lua_setglobal(r->L, "invoke");
    lua_pushlightuserdata(r->L, r);
    lua_pushcclosure(r->L, reload, 1);
    lua_setglobal(r->L, "reload");
}

/* The Lua state completion looks names up in: the REPL's (one REPL per process). */
static lua_State *completion_state;

/* Tab: moonrun.repl_complete's candidates for word, as line_editor_complete_with wants them.
 * A failure completes nothing: Tab must never end the session. */
static char **complete_word(const char *word)
{
    lua_State *L = completion_state;
    int top = lua_gettop(L);
    char **out = NULL;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonrun.repl_complete");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        lua_getfield(L, -1, "complete");
        lua_pushstring(L, word);
        lua_pushglobaltable(L);
        if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_istable(L, -1)) {
            lua_Integer n = luaL_len(L, -1);
            out = calloc((size_t)n + 1, sizeof *out);
            for (lua_Integer i = 1; out && i <= n; i++) {
                lua_rawgeti(L, -1, i);
                const char *candidate = lua_tostring(L, -1);
                out[i - 1] = strdup(candidate ? candidate : "");
                lua_pop(L, 1);
            }
        }
    }
    lua_settop(L, top);
    return out;
}

static char *read_line(struct repl *r, const char *prompt)
{
    if (r->edited) return line_editor_read(prompt);
    if (r->interactive) fputs(prompt, stdout), fflush(stdout);
    size_t cap = 0;
    char *line = NULL;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) return free(line), NULL;
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
    return line;
}

/* Compiles source as an expression ("return ..."), else as statements. Returns LUA_OK, or the
 * error with its message on the stack; *incomplete tells an unfinished statement. */
static int compile(lua_State *L, const char *source, bool *incomplete)
{
    lua_pushfstring(L, "return %s;", source);
    int status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
    lua_remove(L, -2);
    if (status == LUA_OK) return LUA_OK;
    lua_pop(L, 1);
    status = luaL_loadbuffer(L, source, strlen(source), "=stdin");
    size_t len;
    const char *message = status == LUA_ERRSYNTAX ? lua_tolstring(L, -1, &len) : NULL;
    *incomplete = message && len >= 5 && strcmp(message + len - 5, "<eof>") == 0;
    return status;
}

static void print_results(lua_State *L, int first)
{
    int count = lua_gettop(L) - first + 1;
    if (count <= 0) return;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonrun.pretty");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "moonrun: cannot print results: %s\n", lua_tostring(L, -1));
        return;
    }
    lua_getfield(L, -1, "format");
    for (int i = 0; i < count; i++) {
        lua_pushvalue(L, -1);
        lua_pushvalue(L, first + i);
        const char *text =
            lua_pcall(L, 1, 1, 0) == LUA_OK ? lua_tostring(L, -1) : "(cannot print this value)";
        fputs(text ? text : "", stdout);
        fputc(i + 1 < count ? '\t' : '\n', stdout);
        lua_pop(L, 1);
    }
}

static void run_chunk(lua_State *L)
{
    int base = lua_gettop(L); /* the chunk */
    lua_pushcfunction(L, lua_host_traceback);
    lua_insert(L, base);
    if (lua_pcall(L, 0, LUA_MULTRET, base) == LUA_OK)
        print_results(L, base + 1);
    else
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_settop(L, base - 1);
    fflush(stdout);
}

/* Reads one whole input (continuing unfinished statements) and runs it; false at end. */
static bool read_eval_print(struct repl *r)
{
    char *line = read_line(r, "> ");
    if (!line) return false;
    if (strcmp(line, ".exit") == 0 || strcmp(line, ".quit") == 0) return free(line), false;
    if (strcmp(line, ".help") == 0) return help(r->L), free(line), true;
    luaL_Buffer b;
    lua_State *L = r->L;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, line[0] == '=' ? line + 1 : line); /* "=expr" as lua 5.1 had it */
    free(line);
    luaL_pushresult(&b);
    bool incomplete = false;
    while (compile(L, lua_tostring(L, -1), &incomplete) != LUA_OK && incomplete) {
        lua_pop(L, 1);
        char *more = read_line(r, ">> ");
        if (!more) break;
        lua_pushfstring(L, "%s\n%s", lua_tostring(L, -1), more);
        lua_remove(L, -2);
        free(more);
    }
    line_editor_remember(lua_tostring(L, -2));
    lua_remove(L, -2); /* the source */
    if (lua_type(L, -1) == LUA_TFUNCTION)
        run_chunk(L);
    else
        fprintf(stderr, "%s\n", lua_tostring(L, -1)), lua_pop(L, 1);
    return true;
}

static void history_path(char *out, size_t size)
{
    const char *explicit_path = getenv("MOONRUN_HISTORY"), *home = getenv("HOME");
    if (explicit_path)
        snprintf(out, size, "%s", explicit_path);
    else if (home)
        snprintf(out, size, "%s/.moonrun_history", home);
    else
        out[0] = '\0';
}

/* HANDLER, or --template FILE FUNCTION [--env-file FILE], and --env NAME=VALUE...: sets *spec
 * (NULL: none), the timeout and the environment. Returns 0 to go on, else the exit status. */
static int parse_arguments(int argc, char **argv, const char **spec, long long *timeout_ms)
{
    static struct template_function fn;
    const char *template_path = NULL, *env_file = NULL;
    *spec = NULL;
    *timeout_ms = 3000;
    const char *env[256];
    int env_count = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return fputs(USAGE "\n", stdout), fputs(help_text, stdout), -1;
        if (strcmp(argv[i], "--env") == 0 && i + 1 < argc) {
            const char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i])
                return log_error("--env wants NAME=VALUE, not '%s'", argv[i]), 2;
            if (env_count == 256) return log_error("repl: more than 256 --env options"), 2;
            env[env_count++] = argv[i];
        } else if ((strcmp(argv[i], "--template") == 0 || strcmp(argv[i], "--env-file") == 0) &&
                   i + 1 < argc) {
            *(argv[i][2] == 't' ? &template_path : &env_file) = argv[i + 1];
            i++;
        } else if (argv[i][0] == '-' || *spec) {
            return log_error("repl: unexpected argument '%s'", argv[i]), fputs(USAGE, stderr), 2;
        } else {
            *spec = argv[i];
        }
    }
    if (env_file && !template_path)
        return log_error("repl: --env-file needs --template: its entries are keyed by the "
                         "template's logical ids"),
               2;
    if (template_path) {
        if (!*spec)
            return log_error("repl: which function of %s? (its logical id, e.g. Consumer)",
                             template_path),
                   2;
        if (!template_function_apply(template_path, *spec, env_file, &fn)) return 2;
        *spec = fn.handler;
        *timeout_ms = fn.timeout_ms;
    }
    /* --env last, so it wins over the template's values, as with invoke */
    for (int i = 0; i < env_count; i++) {
        const char *eq = strchr(env[i], '=');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
        setenv(name, eq + 1, 1);
    }
    return 0;
}

int repl_cmd_main(int argc, char **argv)
{
    const char *spec;
    long long timeout_ms;
    int bad = parse_arguments(argc, argv, &spec, &timeout_ms);
    if (bad) return bad < 0 ? 0 : bad;
    struct repl r = {.has_handler = spec != NULL, .interactive = isatty(STDIN_FILENO)};
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    if (!deps_ensure("repl", task_root && *task_root ? task_root : ".")) return 2;
    if (r.has_handler) {
        if (!local_function_open(&r.function, spec, timeout_ms)) return 1;
        if (!r.function.loaded)
            fprintf(stderr, "%.*s\n(fix the handler, then reload())\n", (int)r.function.out.len,
                    r.function.out.data);
        r.L = r.function.host.L;
    } else {
        if (!lua_host_open(&r.function.host, task_root && *task_root ? task_root : ".")) return 1;
        r.L = r.function.host.L;
    }
    preload_globals(r.L);
    register_helpers(&r);
    if (r.interactive) {
        char history[4096], why[256];
        history_path(history, sizeof history);
        r.edited = line_editor_open(history, why, sizeof why);
        if (!r.edited) log_error("%s", why);
        completion_state = r.L;
        line_editor_complete_with(complete_word);
        printf("moonrun %s (%s)%s%s; .help for help\n", MOONRUN_VERSION, LUA_RELEASE,
               r.has_handler ? ", handler " : "", r.has_handler ? spec : "");
    }
    while (read_eval_print(&r)) {
    }
    if (r.interactive) fputc('\n', stdout);
    line_editor_close();
    buffer_free(&r.event);
    if (r.has_handler)
        local_function_close(&r.function);
    else
        lua_host_close(&r.function.host);
    return 0;
}
