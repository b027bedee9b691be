/* What a failed transfer means to a caller of moonrun.http: one of a few kinds the AWS layer
 * can act on (retry a connect or timeout, not a TLS failure), and a sentence that names the
 * host:port and what happened. */
#ifndef MOONRUN_HTTP_FAILURE_H
#define MOONRUN_HTTP_FAILURE_H

#include <stddef.h>

#include "http_pool.h"

enum http_failure_kind {
    HTTP_FAILURE_CONNECT,
    HTTP_FAILURE_DNS,
    HTTP_FAILURE_TIMEOUT,
    HTTP_FAILURE_TLS,
    HTTP_FAILURE_SEND,
    HTTP_FAILURE_RECEIVE,
    HTTP_FAILURE_OTHER,
};

/* "connect", "dns", "timeout", "tls", "send", "receive" or "other". */
const char *http_failure_kind_name(enum http_failure_kind kind);

/* For a slot whose result is not CURLE_OK: its kind, and the sentence in message. authority is
 * the URL's "host:port". */
enum http_failure_kind http_failure_describe(const struct http_pool *pool,
                                             const struct http_slot *slot, const char *authority,
                                             char *message, size_t size);

#endif
