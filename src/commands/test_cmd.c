/* `moonrun test [--watch] [PATH...] [BUSTED OPTIONS]`: the project's busted specs, run by busted
 * inside moonrun (as `moonrun run BUSTED ...` would), so that specs and the handlers they test
 * get moonrun's modules and moonrun.testing, and see the modules a Lambda function sees (the
 * project, its lua_modules tree, /opt/lua, moonrun's library): of the machine's Lua modules,
 * only busted's own load. Without --watch, output and exit status are busted's own. With
 * --watch, busted runs again (a new process each time) whenever a file of the project changes. */
#define _GNU_SOURCE /* nftw with FTW_ACTIONRETVAL */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "log.h"
#include "lua_host.h"

#define USAGE "usage: moonrun test [--watch] [PATH...] [BUSTED OPTIONS]\n"
#define DEFAULT_BUSTED "/usr/bin/busted"

static const char help[] = USAGE
    "\n"
    "Runs the project's busted specs (spec/ by default, or the PATHs) inside moonrun, from the\n"
    "project's folder, with moonrun's modules and moonrun.testing (invoke a handler as Lambda\n"
    "would, build events, an embedded SQS, a template function's environment; see man moonrun\n"
    "and docs/testing.md).\n"
    "Every option but --watch is busted's (moonrun test -- --help lists them); the output and\n"
    "the exit status are busted's.\n\n"
    "  --watch   runs the specs again whenever a file of the project (.lua, .yaml, .json,\n"
    "            .rockspec, .busted) changes; Ctrl-C stops\n\n"
    "The rockspec's dependencies are installed into lua_modules/ first when it changed since the\n"
    "last install (moonrun deps).\n\n"
    "Environment: MOONRUN_BUSTED, the busted script to run (default " DEFAULT_BUSTED ", from\n"
    "Debian's lua-busted).\n";

/* The one place busted is found: the system's busted script and, through `moonrun run`, the
 * system's Lua paths for busted's own modules (penlight, say, luassert). */
static const char *busted_script(void)
{
    const char *path = getenv("MOONRUN_BUSTED");
    if (!path || !*path) path = DEFAULT_BUSTED;
    if (access(path, R_OK) != 0) {
        log_error(
            "test: cannot read busted at %s (%s): install Debian's lua-busted (apt-get install "
            "lua-busted), or set MOONRUN_BUSTED to a busted script",
            path, strerror(errno));
        return NULL;
    }
    return path;
}

/* What busted needs of the machine's Lua modules (Debian's lua-busted and what it depends on);
 * a spec's handler that requires anything else found only on the machine gets the error it
 * would get on Lambda. */
static const char *const busted_modules[] = {"busted",  "luassert", "say",  "pl",
                                             "lfs",     "system",   "term", "mediator",
                                             "cliargs", "dkjson",   NULL};

/* ---- watching ---- */

struct project_stamp {
    long long newest_ns;
    size_t files;
};

static struct project_stamp scanning;

static bool watched_name(const char *name)
{
    static const char *const endings[] = {".lua", ".yaml", ".yml", ".json", ".rockspec", ".busted"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof endings / sizeof *endings; i++) {
        size_t n = strlen(endings[i]);
        if (len >= n && strcmp(name + len - n, endings[i]) == 0) return true;
    }
    return false;
}

static int visit(const char *path, const struct stat *st, int kind, struct FTW *where)
{
    const char *name = path + where->base;
    if (kind == FTW_D && where->level > 0 &&
        (name[0] == '.' || !strcmp(name, "lua_modules") || !strcmp(name, "dist") ||
         !strcmp(name, "node_modules")))
        return FTW_SKIP_SUBTREE; /* state (.moonrun, .git), dependencies and builds: not edited */
    if (kind != FTW_F || !watched_name(name)) return FTW_CONTINUE;
    long long ns = (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    if (ns > scanning.newest_ns) scanning.newest_ns = ns;
    scanning.files++;
    return FTW_CONTINUE;
}

static struct project_stamp stamp_project(void)
{
    scanning = (struct project_stamp){0};
    nftw(".", visit, 32, FTW_PHYS | FTW_ACTIONRETVAL);
    return scanning;
}

static int run_once(char **argv)
{
    pid_t pid = fork();
    if (pid < 0) return log_error("test: cannot start busted: %s", strerror(errno)), 1;
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

_Noreturn static void watch(char **argv)
{
    for (;;) {
        struct project_stamp before = stamp_project();
        int status = run_once(argv);
        log_error("busted exited with status %d; watching %zu files for changes (Ctrl-C stops)",
                  status, before.files);
        struct project_stamp now;
        do {
            nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
            now = stamp_project();
        } while (now.newest_ns == before.newest_ns && now.files == before.files);
        /* let the editor finish writing before the specs read the file */
        nanosleep(&(struct timespec){0, 150 * 1000000}, NULL);
        log_error("a file changed: running the specs again");
    }
}

int test_cmd_main(int argc, char **argv)
{
    bool watching = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return fputs(help, stdout), 0;
        if (strcmp(argv[i], "--watch") == 0) watching = true;
    }
    const char *busted = busted_script();
    if (!busted) return 2;
    static char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return log_error("test: cannot find moonrun's own executable (/proc/self/exe)"), 1;
    exe[n] = '\0';
    char **child = calloc((size_t)argc + 4, sizeof *child);
    if (!child) return log_error("test: out of memory"), 1;
    int count = 0;
    child[count++] = exe;
    child[count++] = "run";
    child[count++] = (char *)busted;
    bool after_dashes = false;
    for (int i = 0; i < argc; i++) {
        if (!after_dashes && strcmp(argv[i], "--") == 0) {
            after_dashes = true; /* what follows is busted's, --watch included */
            continue;
        }
        if (after_dashes || strcmp(argv[i], "--watch") != 0) child[count++] = argv[i];
    }
    child[count] = NULL;
    /* the specs and moonrun.testing find the project here (and a handler's relative paths) */
    if (!getenv("LAMBDA_TASK_ROOT")) {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) setenv("LAMBDA_TASK_ROOT", cwd, 1);
    }
    if (!watching && !deps_ensure("test", getenv("LAMBDA_TASK_ROOT"))) return free(child), 2;
    fflush(stdout);
    if (watching) {
        child[1] = "test"; /* each run: this command again, without --watch */
        for (int i = 2; child[i]; i++)
            child[i] = child[i + 1];
        watch(child); /* until Ctrl-C */
    }
    static const struct lua_host_options paths = {.paths = LUA_HOST_LAMBDA_PATHS,
                                                  .machine_modules = busted_modules};
    int status = run_cmd_with_paths(count - 2, child + 2, &paths);
    free(child);
    return status;
}
