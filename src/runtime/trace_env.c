/* _X_AMZN_TRACE_ID per invocation, without setenv. glibc's setenv cannot free the string of a
 * replaced value (a getenv pointer to it may still be held), so a new trace id on every
 * invocation, as Lambda sends, would keep ~140 bytes per invocation for the life of the
 * process. Instead one buffer of ours is installed with putenv and rewritten in place. */
#include "trace_env.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

#define NAME "_X_AMZN_TRACE_ID="
#define NAME_LEN (sizeof NAME - 1)
/* Lambda's ids (Root, Parent, Sampled, sometimes Lineage) take about 100 bytes. */
#define FIRST_CAPACITY 256

static char *entry;     /* "_X_AMZN_TRACE_ID=value", what environ points to while installed */
static size_t capacity; /* bytes entry can hold, its terminating NUL included */
static int installed;   /* entry is in environ */

void trace_env_set(const char *value, size_t len)
{
    if (!value || len == 0 || memchr(value, '\0', len)) {
        if (installed || getenv("_X_AMZN_TRACE_ID")) unsetenv("_X_AMZN_TRACE_ID");
        installed = 0;
        return;
    }
    size_t needed = NAME_LEN + len + 1;
    if (needed > capacity) {
        /* Grown only when a longer id arrives, doubling, so a run of ids settles at once. */
        size_t grown = capacity ? capacity : FIRST_CAPACITY;
        while (grown < needed)
            grown *= 2;
        char *bigger = malloc(grown);
        if (!bigger) {
            log_error("out of memory for a trace id of %zu bytes; _X_AMZN_TRACE_ID is left unset",
                      len);
            if (installed || getenv("_X_AMZN_TRACE_ID")) unsetenv("_X_AMZN_TRACE_ID");
            installed = 0;
            return;
        }
        memcpy(bigger, NAME, NAME_LEN);
        memcpy(bigger + NAME_LEN, value, len);
        bigger[NAME_LEN + len] = '\0';
        /* putenv takes the new pointer first; only then is the old buffer unreferenced. Lua's
         * os.getenv copies the value at once, so no pointer into the old one survives. */
        if (putenv(bigger) != 0) {
            free(bigger);
            log_error("cannot set _X_AMZN_TRACE_ID: out of memory; it is left unset");
            if (installed) unsetenv("_X_AMZN_TRACE_ID");
            installed = 0;
            return;
        }
        free(entry);
        entry = bigger;
        capacity = grown;
        installed = 1;
        return;
    }
    memcpy(entry + NAME_LEN, value, len);
    entry[NAME_LEN + len] = '\0';
    if (!installed && putenv(entry) == 0) installed = 1;
}

void trace_env_free(void)
{
    if (installed) unsetenv("_X_AMZN_TRACE_ID");
    installed = 0;
    free(entry);
    entry = NULL;
    capacity = 0;
}
