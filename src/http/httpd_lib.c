#include "httpd_lib.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>

#include "dynamic_lib.h"

#define LIBMICROHTTPD "libmicrohttpd.so.12"

/* Each field of struct httpd_lib and the function it holds (see curl_lib.c for the pattern). */
#define HTTPD_FUNCTIONS(X)                                                                         \
    X(start_daemon, MHD_start_daemon)                                                              \
    X(stop_daemon, MHD_stop_daemon)                                                                \
    X(run, MHD_run)                                                                                \
    X(get_timeout, MHD_get_timeout)                                                                \
    X(get_daemon_info, MHD_get_daemon_info)                                                        \
    X(get_connection_values, MHD_get_connection_values)                                            \
    X(get_connection_info, MHD_get_connection_info)                                                \
    X(suspend_connection, MHD_suspend_connection)                                                  \
    X(resume_connection, MHD_resume_connection)                                                    \
    X(create_response_from_buffer, MHD_create_response_from_buffer)                                \
    X(create_response_from_callback, MHD_create_response_from_callback)                            \
    X(add_response_header, MHD_add_response_header)                                                \
    X(queue_response, MHD_queue_response)                                                          \
    X(destroy_response, MHD_destroy_response)

#define CHECK_PROTOTYPE(field, function)                                                           \
    _Static_assert(                                                                                \
        _Generic(&function, __typeof__(((struct httpd_lib *)0)->field) : 1, default : 0),          \
        #function " prototype");
HTTPD_FUNCTIONS(CHECK_PROTOTYPE)

/* `moonrun dev` serves from one thread, so loading needs no lock. */
static struct {
    bool tried, ok;
    char failure[512];
    struct httpd_lib functions;
} lib;

static bool resolve(void *handle, const char *name, void *fn_ptr, size_t size)
{
    return dynamic_lib_resolve(handle, name, fn_ptr, size, lib.failure, sizeof lib.failure);
}

#define RESOLVE(field, function)                                                                   \
    &&resolve(handle, #function, &lib.functions.field, sizeof lib.functions.field)

static bool load_library(void)
{
    void *handle = dynamic_lib_open(LIBMICROHTTPD, lib.failure, sizeof lib.failure);
    if (!handle) return false;
    bool ok = true HTTPD_FUNCTIONS(RESOLVE);
    if (!ok) dlclose(handle);
    return ok;
}

const struct httpd_lib *httpd_lib_load(char *err, size_t errlen)
{
    if (!lib.tried) {
        lib.tried = true;
        lib.ok = load_library();
    }
    if (lib.ok) return &lib.functions;
    snprintf(err, errlen,
             "moonrun dev needs " LIBMICROHTTPD
             " (Debian package libmicrohttpd12) to serve HTTP: %s",
             lib.failure);
    return NULL;
}
