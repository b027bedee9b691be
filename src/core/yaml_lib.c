#include "yaml_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "dynamic_lib.h"

#define LIBYAML "libyaml-0.so.2"

/* Each field of struct yaml_lib and the libyaml function it holds: used to check every
 * field's type against the header's prototype, and to resolve every symbol. */
#define YAML_FUNCTIONS(X)                                                                          \
    X(parser_initialize, yaml_parser_initialize)                                                   \
    X(parser_delete, yaml_parser_delete)                                                           \
    X(parser_set_input_string, yaml_parser_set_input_string)                                       \
    X(parser_parse, yaml_parser_parse)                                                             \
    X(event_delete, yaml_event_delete)

/* _Generic does not evaluate its operand: naming the function references no symbol, so the
 * executable does not link libyaml. */
#define CHECK_PROTOTYPE(field, function)                                                           \
    _Static_assert(                                                                                \
        _Generic(&function, __typeof__(((struct yaml_lib *)0)->field) : 1, default : 0),           \
        #function " prototype");
YAML_FUNCTIONS(CHECK_PROTOTYPE)

/* Written once, under pthread_once, then only read. */
static struct {
    pthread_once_t once;
    bool ok;
    char failure[512]; /* dlerror's text can be read only once, so it is kept */
    struct yaml_lib functions;
} lib = {.once = PTHREAD_ONCE_INIT};

static bool resolve(void *handle, const char *name, void *fn_ptr, size_t size)
{
    return dynamic_lib_resolve(handle, name, fn_ptr, size, lib.failure, sizeof lib.failure);
}

#define RESOLVE(field, function)                                                                   \
    &&resolve(handle, #function, &lib.functions.field, sizeof lib.functions.field)

static bool load_library(void)
{
    void *handle = dynamic_lib_open(LIBYAML, lib.failure, sizeof lib.failure);
    if (!handle) return false;
    bool ok = true YAML_FUNCTIONS(RESOLVE);
    if (!ok) dlclose(handle);
    return ok;
}

static void load_once(void)
{
    lib.ok = load_library();
}

const struct yaml_lib *yaml_lib_load(char *err, size_t errlen)
{
    pthread_once(&lib.once, load_once);
    if (lib.ok) return &lib.functions;
    snprintf(err, errlen, "moonrun needs " LIBYAML " to read YAML (install libyaml-0-2): %s",
             lib.failure);
    return NULL;
}
