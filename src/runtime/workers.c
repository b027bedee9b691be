/* The pool of workers: one runtime instance per thread, the gate that lets them serve only
 * once every one has loaded its handler, and the exit code they end with together. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "runtime_instance.h"
#include "runtime_stop.h"

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

/* Reports how this worker started and waits until every worker has; returns whether this
 * worker posts the pool's init error (true for one worker at most). */
static bool pass_gate(struct pool *pool, int index, enum runtime_instance_state how)
{
    pthread_mutex_lock(&pool->lock);
    if (how != INSTANCE_READY) pool->failed = true;
    if (how == INSTANCE_INIT_ERROR && (pool->first_failure < 0 || index < pool->first_failure))
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
    if (exit_code != 0) runtime_stop();
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *pool = w->pool;
    /* Every worker runs its own module's shutdown function; one extension registered (by the
     * first worker, before any /next) is enough for Lambda to send SIGTERM. */
    struct runtime_instance_role role = {.owns_environment = false,
                                         .registers_extension = w->index == 0};
    struct runtime_instance in;
    enum runtime_instance_state state =
        runtime_instance_open(&in, pool->api_address, runtime_stop_fd(), role);
    if (pass_gate(pool, w->index, state)) runtime_instance_report_init_error(&in);
    if (pool->failed) { /* read after the gate, which is past every write */
        /* os.exit(n) while loading: the process exits with n, as with one worker. A worker
         * that loaded adds nothing; the pool's code is the highest of the others'. */
        end_with(pool, state == INSTANCE_READY ? 0 : runtime_instance_init_exit_code(&in));
    } else {
        end_with(pool, runtime_instance_serve(&in));
    }
    runtime_instance_close(&in);
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

int workers_run(const char *api_address, int count)
{
    struct worker *workers = calloc((size_t)count, sizeof *workers);
    if (!workers) {
        log_error("cannot start %d workers: out of memory", count);
        return 1;
    }
    /* One environment cannot hold several invocations' trace ids: none is set, and one
     * inherited from whoever started moonrun would be stale. (No thread runs yet.) */
    unsetenv("_X_AMZN_TRACE_ID");
    struct pool pool = {.api_address = api_address, .first_failure = -1};
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
