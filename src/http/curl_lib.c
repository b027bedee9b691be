#include "curl_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dynamic_lib.h"

#define LIBCURL "libcurl.so.4"

/* Each field of struct curl_lib and the libcurl function it holds. The list is used twice: to
 * check every field's type against the header's prototype, and to resolve every symbol. */
#define CURL_FUNCTIONS(X)                                                                          \
    X(global_init, curl_global_init)                                                               \
    X(global_cleanup, curl_global_cleanup)                                                         \
    X(easy_init, curl_easy_init)                                                                   \
    X(easy_cleanup, curl_easy_cleanup)                                                             \
    X(easy_reset, curl_easy_reset)                                                                 \
    X(easy_setopt, curl_easy_setopt)                                                               \
    X(easy_getinfo, curl_easy_getinfo)                                                             \
    X(easy_strerror, curl_easy_strerror)                                                           \
    X(multi_init, curl_multi_init)                                                                 \
    X(multi_cleanup, curl_multi_cleanup)                                                           \
    X(multi_add_handle, curl_multi_add_handle)                                                     \
    X(multi_remove_handle, curl_multi_remove_handle)                                               \
    X(multi_perform, curl_multi_perform)                                                           \
    X(multi_poll, curl_multi_poll)                                                                 \
    X(multi_info_read, curl_multi_info_read)                                                       \
    X(multi_strerror, curl_multi_strerror)                                                         \
    X(share_init, curl_share_init)                                                                 \
    X(share_setopt, curl_share_setopt)                                                             \
    X(share_cleanup, curl_share_cleanup)

/* _Generic does not evaluate its operand, so naming the function here references no symbol and
 * the executable does not link libcurl. (&curl_easy_setopt is not followed by a parenthesis, so
 * curl's type-checking macro of the same name is not expanded.) */
#define CHECK_PROTOTYPE(field, function)                                                           \
    _Static_assert(                                                                                \
        _Generic(&function, __typeof__(((struct curl_lib *)0)->field) : 1, default : 0),           \
        #function " prototype");
CURL_FUNCTIONS(CHECK_PROTOTYPE)

/* Written once, under pthread_once, then only read: every worker thread may use it. */
static struct {
    pthread_once_t once; /* dlopen is attempted once; a failure is remembered with its reason */
    bool ok;
    char failure[512]; /* dlerror's text: it can be read only once, so it is kept */
    struct curl_lib functions;
} lib = {.once = PTHREAD_ONCE_INIT};

/* libcurl counts global init and cleanup calls, but only builds with CURL_VERSION_THREADSAFE
 * (7.84 and later, where atomics exist) allow two threads in them at once. */
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;

static bool resolve(void *handle, const char *name, void *fn_ptr, size_t size)
{
    return dynamic_lib_resolve(handle, name, fn_ptr, size, lib.failure, sizeof lib.failure);
}

#define RESOLVE(field, function)                                                                   \
    &&resolve(handle, #function, &lib.functions.field, sizeof lib.functions.field)

static bool load_library(void)
{
    void *handle = dynamic_lib_open(LIBCURL, lib.failure, sizeof lib.failure);
    if (!handle) return false;
    bool ok = true CURL_FUNCTIONS(RESOLVE);
    if (!ok) dlclose(handle); /* a libcurl without these functions (older than 7.66) won't do */
    return ok;
}

static void load_once(void)
{
    lib.ok = load_library();
}

const struct curl_lib *curl_lib_load(char *err, size_t errlen)
{
    pthread_once(&lib.once, load_once);
    if (lib.ok) return &lib.functions;
    snprintf(err, errlen, "moonrun needs " LIBCURL " for HTTP requests: %s", lib.failure);
    return NULL;
}

CURLcode curl_lib_global_init(const struct curl_lib *curl, long flags)
{
    pthread_mutex_lock(&global_lock);
    CURLcode rc = curl->global_init(flags);
    pthread_mutex_unlock(&global_lock);
    return rc;
}

void curl_lib_global_cleanup(const struct curl_lib *curl)
{
    pthread_mutex_lock(&global_lock);
    curl->global_cleanup();
    pthread_mutex_unlock(&global_lock);
}
