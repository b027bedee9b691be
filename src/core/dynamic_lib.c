#include "dynamic_lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static void keep_reason(const char *fallback, char *failure, size_t failure_size)
{
    const char *why = dlerror();
    snprintf(failure, failure_size, "%s", why ? why : fallback);
}

void *dynamic_lib_open(const char *soname, char *failure, size_t failure_size)
{
    void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) keep_reason("dlopen failed", failure, failure_size);
    return handle;
}

/* dlsym returns void *; converting that to a function pointer is what POSIX guarantees works,
 * done through memcpy so that strict ISO C has nothing to warn about. */
bool dynamic_lib_resolve(void *handle, const char *name, void *fn_ptr, size_t size, char *failure,
                         size_t failure_size)
{
    void *symbol = dlsym(handle, name);
    if (!symbol) {
        keep_reason(name, failure, failure_size);
        return false;
    }
    memcpy(fn_ptr, &symbol, size);
    return true;
}
