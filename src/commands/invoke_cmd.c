/* `moonrun invoke HANDLER [--event FILE|-] [--timeout S] [--env K=V ...] [--watch]`: one local
 * invocation through the same handler host as the Lambda loop, or one per edit with --watch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "json.h"
#include "json_pretty.h"
#include "local_function.h"
#include "log.h"
#include "template_function.h"

#define USAGE                                                                                      \
    "usage: moonrun invoke HANDLER [--event FILE|-] [--timeout S] [--env K=V]... [--watch]\n"      \
    "       moonrun invoke --template FILE FUNCTION [--env-file FILE] [same options]\n"
#define MAX_WATCHED 256

static const char help[] = USAGE
    "\n"
    "Runs HANDLER (path/module.function under LAMBDA_TASK_ROOT, default the current directory)\n"
    "once, the way Lambda would, and prints the response JSON (indented on a terminal, compact\n"
    "otherwise) after whatever the handler printed. When the handler fails, prints the Lambda\n"
    "error JSON and exits 1.\n\n"
    "  --event FILE   the event: a JSON file, '-' for stdin; default {}\n"
    "  --timeout S    the function's timeout in seconds (default AWS_LAMBDA_FUNCTION_TIMEOUT or "
    "3):\n"
    "                 context:get_remaining_time_in_millis() counts down from it\n"
    "  --env K=V      sets an environment variable before the handler loads (repeatable)\n"
    "  --template FILE  FUNCTION is a logical id in this SAM template: its Handler, CodeUri (the\n"
    "                 task root), Timeout, MemorySize and Environment.Variables are used, read\n"
    "                 as moonrun dev reads them\n"
    "  --env-file FILE  SAM's env-vars JSON ({\"Parameters\": {...}, \"FUNCTION\": {...}}): its "
    "values\n"
    "                 replace the template's variables of the same names (needs --template)\n"
    "  --watch        invokes again whenever the handler, a module it loaded from the task\n"
    "                 root, or the event file changes, after reloading them; Ctrl-C stops\n"
    "\nIn a project (a folder with a *.rockspec, here or above), the rockspec's dependencies are\n"
    "installed into lua_modules/ first when it changed since the last install (moonrun deps).\n"
    "\nExit status: 0 success, 1 the handler failed, 2 bad arguments, unreadable event, or\n"
    "dependencies that cannot be installed.\n";

struct invoke_options {
    const char *spec, *event_source, *template_path, *env_file;
    long long timeout_ms;
    bool watch, timeout_given;
    int env_count;
    char **env; /* the --env NAME=VALUE words, set after the template's environment */
};

static struct template_function template_fn;

static bool read_stream(FILE *f, struct buffer *into)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (!buffer_append(into, chunk, n)) return false;
    return !ferror(f);
}

static bool read_event(const char *source, struct buffer *event)
{
    buffer_clear(event);
    if (!source) return buffer_append_str(event, "{}");
    if (strcmp(source, "-") == 0) return read_stream(stdin, event);
    FILE *f = fopen(source, "rb");
    if (!f) {
        log_error("cannot read the event file '%s': %s", source, strerror(errno));
        return false;
    }
    bool ok = read_stream(f, event);
    fclose(f);
    if (!ok) log_error("cannot read the event file '%s'", source);
    return ok;
}

static int decode_event(lua_State *L)
{
    const struct buffer *event = lua_touserdata(L, 1);
    json_decode(L, event->data, event->len);
    return 0;
}

/* An event that is not JSON is a mistake in the command line, not the handler's failure: it
 * is named here (exit status 2) rather than reported as the handler's Runtime.UnmarshalError.
 * An empty event is left to the invocation, which takes it as {} as Lambda does. */
static bool event_is_json(lua_State *L, const struct buffer *event, const char *source)
{
    if (event->len == 0) return true;
    lua_pushcfunction(L, decode_event);
    lua_pushlightuserdata(L, (void *)event);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK) return true;
    bool from_file = source && strcmp(source, "-") != 0;
    log_error("the event %s%s%s is not JSON: %s", from_file ? "file '" : "on stdin",
              from_file ? source : "", from_file ? "'" : "", lua_tostring(L, -1));
    lua_pop(L, 1);
    return false;
}

static bool parse_timeout(const char *text, long long *ms)
{
    char *end;
    double seconds = strtod(text, &end);
    if (end == text || *end || !(seconds > 0) || seconds > 900) return false;
    *ms = (long long)(seconds * 1000);
    return true;
}

/* Returns 0 to go on, or the exit status for a bad command line. */
static int parse_options(int argc, char **argv, struct invoke_options *o)
{
    const char *env_timeout = getenv("AWS_LAMBDA_FUNCTION_TIMEOUT");
    static char *env_words[256];
    *o = (struct invoke_options){.timeout_ms = 3000,
                                 .env = env_words}; /* Lambda's default timeout */
    if (env_timeout && !parse_timeout(env_timeout, &o->timeout_ms))
        log_error("ignoring AWS_LAMBDA_FUNCTION_TIMEOUT=%s: expected seconds", env_timeout);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help, stdout);
            return -1;
        } else if (strcmp(a, "--watch") == 0) {
            o->watch = true;
        } else if (strcmp(a, "--event") == 0 && has_value) {
            o->event_source = argv[++i];
        } else if (strcmp(a, "--timeout") == 0 && has_value) {
            if (!parse_timeout(argv[++i], &o->timeout_ms))
                return log_error("--timeout wants seconds between 0 and 900, not '%s'", argv[i]), 2;
            o->timeout_given = true;
        } else if (strcmp(a, "--env") == 0 && has_value) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i])
                return log_error("--env wants NAME=VALUE, not '%s'", argv[i]), 2;
            if (o->env_count == 256) return log_error("invoke: more than 256 --env options"), 2;
            o->env[o->env_count++] = argv[i];
        } else if (strcmp(a, "--template") == 0 && has_value) {
            o->template_path = argv[++i];
        } else if (strcmp(a, "--env-file") == 0 && has_value) {
            o->env_file = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            bool known = !strcmp(a, "--event") || !strcmp(a, "--timeout") || !strcmp(a, "--env") ||
                         !strcmp(a, "--template") || !strcmp(a, "--env-file");
            log_error(known ? "invoke: %s needs a value" : "invoke: unknown option '%s'", a);
            return fputs(USAGE, stderr), 2;
        } else if (o->spec) {
            return log_error("invoke: unexpected argument '%s' (the handler is already '%s')", a,
                             o->spec),
                   2;
        } else {
            o->spec = a;
        }
    }
    if (!o->spec && o->template_path)
        return log_error("invoke: which function of %s? (its logical id, e.g. Consumer)",
                         o->template_path),
               2;
    if (!o->spec)
        return log_error("invoke: which handler? (e.g. handlers/hello.handler)"),
               fputs(USAGE, stderr), 2;
    if (o->env_file && !o->template_path)
        return log_error("invoke: --env-file needs --template: its entries are keyed by the "
                         "template's logical ids"),
               2;
    if (o->template_path) {
        if (!template_function_apply(o->template_path, o->spec, o->env_file, &template_fn))
            return 2;
        o->spec = template_fn.handler;
        if (!o->timeout_given) o->timeout_ms = template_fn.timeout_ms;
    }
    for (int i = 0; i < o->env_count; i++) { /* the command line's over the template's */
        char *eq = strchr(o->env[i], '=');
        *eq = '\0';
        setenv(o->env[i], eq + 1, 1);
        *eq = '=';
    }
    if (o->watch && o->event_source && strcmp(o->event_source, "-") == 0)
        log_error("--watch with --event -: the event read once from stdin is reused");
    return 0;
}

static bool print_outcome(struct local_function *f, bool ok)
{
    if (!ok) log_error("the handler failed with %s", f->report.type);
    /* A streamed body has been printed as it came; an error after it goes on a line of its own. */
    if (f->streamed && ok) return ok;
    if (f->streamed && !f->stream_ended_line) fputc('\n', stdout);
    if (isatty(STDOUT_FILENO))
        json_pretty_print(stdout, f->out.data, f->out.len);
    else
        fwrite(f->out.data, 1, f->out.len, stdout), fputc('\n', stdout);
    fflush(stdout);
    return ok;
}

static int check_batch_answer(lua_State *L)
{
    const struct buffer *event = lua_touserdata(L, 1), *answer = lua_touserdata(L, 2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonrun.events");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "batch_answer_problem");
    json_decode(L, event->data, event->len);
    lua_pushlstring(L, answer->data, answer->len);
    lua_call(L, 2, 1);
    return 1;
}

/* An answer to an SQS batch that Lambda could not read (an empty Lua table as batchItemFailures
 * is written {}, an object) fails the whole batch when the trigger reports item failures: said
 * here, before it is met on Lambda. The invocation itself succeeded: a warning, not an error. */
static void warn_about_batch_answer(struct local_function *f, const struct buffer *event)
{
    lua_State *L = f->host.L;
    lua_pushcfunction(L, check_batch_answer);
    lua_pushlightuserdata(L, (void *)event);
    lua_pushlightuserdata(L, &f->out);
    if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isstring(L, -1))
        log_error("warning: %s: with ReportBatchItemFailures, Lambda would take the whole batch as "
                  "failed "
                  "(an empty list is json.array{} or events.batch_response{})",
                  lua_tostring(L, -1));
    lua_pop(L, 1);
}

static bool invoke_once(struct local_function *f, const struct buffer *event)
{
    if (!f->loaded) return print_outcome(f, false);
    bool ok = local_function_invoke(f, event->data, event->len);
    if (ok && !f->streamed) warn_about_batch_answer(f, event);
    return print_outcome(f, ok);
}

/* The time as file systems stamp it (the kernel's coarse clock), so that comparing it with a
 * file's modification time cannot miss a write made just after it was read. */
static struct timespec file_clock_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    return now;
}

/* Whether any watched file was written at or after `since` (the moment loading began): an edit
 * made while the handler was loading or running is not missed. */
static bool changed_since(char (*files)[PATH_MAX], size_t count, struct timespec since)
{
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (stat(files[i], &st) != 0) continue; /* being replaced: its successor will be newer */
        if (st.st_mtim.tv_sec > since.tv_sec ||
            (st.st_mtim.tv_sec == since.tv_sec && st.st_mtim.tv_nsec >= since.tv_nsec))
            return true;
    }
    return false;
}

/* Adds the files the function has loaded to the watch list. Files are never dropped from it:
 * a module that fails to load after an edit is still watched, so fixing it is noticed. */
static size_t add_watched(struct local_function *f, char (*files)[PATH_MAX], size_t count)
{
    static char loaded[MAX_WATCHED][PATH_MAX];
    size_t n = local_function_files(f, loaded, MAX_WATCHED);
    for (size_t i = 0; i < n && count < MAX_WATCHED; i++) {
        bool known = false;
        for (size_t j = 0; j < count && !known; j++)
            known = strcmp(files[j], loaded[i]) == 0;
        if (!known) snprintf(files[count++], PATH_MAX, "%s", loaded[i]);
    }
    return count;
}

static void watch_loop(struct local_function *f, const struct invoke_options *o,
                       struct buffer *event, struct timespec loaded_at)
{
    static char files[MAX_WATCHED][PATH_MAX];
    size_t count = 0;
    if (o->event_source && strcmp(o->event_source, "-") != 0)
        snprintf(files[count++], PATH_MAX, "%s", o->event_source);
    for (;;) {
        invoke_once(f, event);
        count = add_watched(f, files, count);
        log_error("watching %zu file%s for changes (Ctrl-C stops)", count, count == 1 ? "" : "s");
        while (!changed_since(files, count, loaded_at))
            nanosleep(&(struct timespec){0, 100 * 1000000}, NULL);
        /* Let the editor finish writing: a file caught half-written would fail to load. */
        nanosleep(&(struct timespec){0, 150 * 1000000}, NULL);
        log_error("a file changed: loading the handler afresh");
        loaded_at = file_clock_now();
        if (o->event_source && strcmp(o->event_source, "-") != 0 &&
            !read_event(o->event_source, event))
            buffer_append_str(event, "{}");
        local_function_reload(f); /* the hot reload the REPL's reload() uses too */
    }
}

int invoke_cmd_main(int argc, char **argv)
{
    struct invoke_options o;
    int bad = parse_options(argc, argv, &o);
    if (bad) return bad < 0 ? 0 : bad;
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    if (!deps_ensure("invoke", task_root && *task_root ? task_root : ".")) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct buffer event = {0};
    if (!read_event(o.event_source, &event)) return buffer_free(&event), 2;
    struct local_function f;
    struct timespec loaded_at = file_clock_now();
    if (!local_function_open(&f, o.spec, o.timeout_ms)) return buffer_free(&event), 1;
    if (!event_is_json(f.host.L, &event, o.event_source)) {
        local_function_close(&f);
        return buffer_free(&event), 2;
    }
    int status = 0;
    if (o.watch)
        watch_loop(&f, &o, &event, loaded_at); /* until Ctrl-C */
    else
        status = invoke_once(&f, &event) ? 0 : 1;
    local_function_close(&f);
    buffer_free(&event);
    return status;
}
