#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "exit_request.h"
#include "handler.h"
#include "log.h"
#include "lua_host.h"
#include "runtime_api.h"
#include "runtime_loop.h"
#include "shutdown_hook.h"

int workers_from_env(void)
{
    const char *text = getenv("AWS_LAMBDA_MAX_CONCURRENCY");
    if (!text || !*text) return 1;
    char *end;
    errno = 0;
    long long wanted = strtoll(text, &end, 10);
    if (*end || end == text || text[0] == ' ' || errno == ERANGE || wanted < 1) {
        log_error("ignoring AWS_LAMBDA_MAX_CONCURRENCY=%s: expected a whole number of concurrent "
                  "invocations from 1 up; serving one invocation at a time",
                  text);
        return 1;
    }
    if (wanted > WORKERS_MAX) {
        log_error("AWS_LAMBDA_MAX_CONCURRENCY=%s is more than moonrun runs in one process; "
                  "serving %d invocations at a time",
                  text, WORKERS_MAX);
        return WORKERS_MAX;
    }
    return (int)wanted;
}

/* What the workers share: where to connect, and the gate that holds every worker after its
 * handler load until all have loaded, so an init error is posted once, before any /next. */
struct pool {
    const char *api_address;
    int stop_fd;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int started;          /* threads created; set by the main thread */
    int loaded;           /* workers past their handler load, failed or not */
    bool failed;          /* some worker could not start or load its handler */
    int first_failure;    /* the lowest index whose handler failed to load; -1: none */
    bool decided;         /* every started worker has loaded: serve, or stop */
    atomic_int exit_code; /* the highest of the workers' */
};

struct worker {
    pthread_t thread;
    int index;
    struct pool *pool;
};

enum start { STARTED, HANDLER_FAILED, SETUP_FAILED /* logged; nothing to post */ };

/* Reports how this worker started and waits until every worker has; returns whether this
 * worker posts the pool's init error (true for one worker at most). */
static bool pass_gate(struct pool *pool, int index, enum start how)
{
    pthread_mutex_lock(&pool->lock);
    if (how != STARTED) pool->failed = true;
    if (how == HANDLER_FAILED && (pool->first_failure < 0 || index < pool->first_failure))
        pool->first_failure = index;
    pool->loaded++;
    pthread_cond_broadcast(&pool->changed);
    while (!pool->decided)
        pthread_cond_wait(&pool->changed, &pool->lock);
    bool posts = pool->first_failure == index;
    pthread_mutex_unlock(&pool->lock);
    return posts;
}

static void end_with(struct pool *pool, int exit_code)
{
    int seen = atomic_load(&pool->exit_code);
    while (exit_code > seen && !atomic_compare_exchange_weak(&pool->exit_code, &seen, exit_code)) {
    }
    /* A worker that lost the Runtime API stops the others: the process exits and Lambda
     * starts a new one, rather than running on with fewer workers than it was asked for. */
    if (exit_code != 0) runtime_loop_stop();
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *pool = w->pool;
    struct runtime_api api;
    struct lua_host host = {0};
    struct buffer out = {0};
    struct handler h;
    struct error_report report;
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    bool api_ok = runtime_api_init(&api, pool->api_address, pool->stop_fd);
    bool host_ok = api_ok && lua_host_open(&host, task_root && *task_root ? task_root : ".");
    if (host_ok) exit_request_install(host.L);
    bool loaded =
        host_ok && handler_load(host.L, getenv("_HANDLER"), host.task_root, &h, &out, &report);
    /* Every worker runs its own module's shutdown function; one extension registered (by the
     * first worker, before any /next) is enough for Lambda to send SIGTERM. */
    int shutdown_ref = loaded ? shutdown_hook_find(host.L, &h) : LUA_NOREF;
    struct http_conn extension = {.fd = -1};
    if (shutdown_ref != LUA_NOREF && w->index == 0) shutdown_hook_register(&extension, pool->api_address);
    enum start how = loaded ? STARTED : host_ok ? HANDLER_FAILED : SETUP_FAILED;
    if (pass_gate(pool, w->index, how)) runtime_loop_report_init_error(&api, &report, &out);
    if (pool->failed) { /* read after the gate, which is past every write */
        /* os.exit(n) while loading: the process exits with n, as with one worker. A worker
         * that loaded adds nothing; the pool's code is the highest of the others'. */
        int code = how == STARTED ? 0 : 1;
        if (how == HANDLER_FAILED) exit_request_pending(host.L, &code);
        end_with(pool, code);
    } else {
        end_with(pool, runtime_loop_serve(&api, host.L, &h, &out));
        if (shutdown_ref != LUA_NOREF && runtime_loop_stopping())
            shutdown_hook_run(host.L, shutdown_ref, runtime_loop_shutdown_limit_ms());
    }
    http_conn_free(&extension);
    buffer_free(&out);
    lua_host_close(&host);
    if (api_ok) runtime_api_free(&api);
    return NULL;
}

/* Workers do not take SIGTERM: it goes to the main thread, so it interrupts no handler's
 * system call, and the self-pipe it writes wakes every worker's wait for /next. */
static void block_stop_signals(sigset_t *saved)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, saved);
}

int workers_run(const char *api_address, int count, int stop_fd)
{
    struct worker *workers = calloc((size_t)count, sizeof *workers);
    if (!workers) {
        log_error("cannot start %d workers: out of memory", count);
        return 1;
    }
    /* One environment cannot hold several invocations' trace ids: none is set, and one
     * inherited from whoever started moonrun would be stale. (No thread runs yet.) */
    unsetenv("_X_AMZN_TRACE_ID");
    struct pool pool = {.api_address = api_address, .stop_fd = stop_fd, .first_failure = -1};
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.changed, NULL);
    sigset_t saved;
    block_stop_signals(&saved);
    int started = 0;
    for (; started < count; started++) {
        workers[started] = (struct worker){.index = started, .pool = &pool};
        int rc = pthread_create(&workers[started].thread, NULL, worker_main, &workers[started]);
        if (rc != 0) {
            log_error("cannot start worker %d of %d (%s); serving %d invocations at a time",
                      started + 1, count, strerror(rc), started);
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_mutex_lock(&pool.lock);
    pool.started = started;
    while (pool.loaded < pool.started)
        pthread_cond_wait(&pool.changed, &pool.lock);
    pool.decided = true;
    pthread_cond_broadcast(&pool.changed);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < started; i++)
        pthread_join(workers[i].thread, NULL);
    free(workers);
    pthread_cond_destroy(&pool.changed);
    pthread_mutex_destroy(&pool.lock);
    return started == 0 ? 1 : atomic_load(&pool.exit_code);
}
