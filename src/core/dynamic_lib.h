/* The dlopen side of the libraries moonrun loads on first use (libcrypto, libcurl): they are
 * not linked, so that functions which never need them do not pay for loading them at cold
 * start. dlerror's text can be read only once, so every failure is copied into the caller's
 * buffer, where it is kept for the error messages of later calls. */
#ifndef MOONRUN_DYNAMIC_LIB_H
#define MOONRUN_DYNAMIC_LIB_H

#include <stdbool.h>
#include <stddef.h>

/* dlopen(soname) with RTLD_LOCAL, so that its symbols stay out of the way of any Lua C module
 * with its own copy; NULL with the reason in failure. */
void *dynamic_lib_open(const char *soname, char *failure, size_t failure_size);

/* Stores the address of symbol name in the function pointer at fn_ptr (size bytes); false
 * with the reason in failure. */
bool dynamic_lib_resolve(void *handle, const char *name, void *fn_ptr, size_t size, char *failure,
                         size_t failure_size);

#endif
