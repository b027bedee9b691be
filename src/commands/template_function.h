/* `--template FILE FUNCTION` and `--env-file FILE` for invoke and repl: a SAM template's function
 * (read by lua/moonrun/template_function.lua, the loader `moonrun dev` uses) made into this
 * process's environment, as Lambda would set it up for that function. */
#ifndef MOONRUN_TEMPLATE_FUNCTION_H
#define MOONRUN_TEMPLATE_FUNCTION_H

#include <limits.h>
#include <stdbool.h>

struct template_function {
    char handler[512];    /* _HANDLER-style name, for local_function_open */
    long long timeout_ms; /* the function's Timeout */
};

/* Reads the function with logical id `id` (env_file may be NULL) and sets LAMBDA_TASK_ROOT (its
 * CodeUri), the function's name and memory, and its Environment.Variables in the environment.
 * Logs the reason and returns false when the template, the id or the file is wrong. */
bool template_function_apply(const char *template_path, const char *id, const char *env_file,
                             struct template_function *out);

#endif
