/* The HTTP client behind moonrun.http: libcurl (loaded on first use, see curl_lib.h) driven
 * through one multi handle for the life of the Lua state, so its connection cache keeps
 * connections to AWS alive across invocations, and one share for DNS answers and TLS sessions.
 * Easy handles and their buffers are pooled: after warm-up a request allocates nothing here.
 *
 * A call takes slots, prepares each with a request, performs them all at once, reads the
 * outcomes, then releases every slot. A call cut short (a Lua error while preparing) leaves
 * slots taken; the next http_pool_start takes them back. Not thread-safe. */
#ifndef MOONRUN_HTTP_POOL_H
#define MOONRUN_HTTP_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"
#include "curl_lib.h"

#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define HTTP_DEFAULT_TIMEOUT_MS 30000L

struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *url;    /* http:// or https://, checked by the caller */
    const char *body;   /* NULL: none; must stay valid until the slot is released */
    size_t body_len;
    long timeout_ms, connect_timeout_ms;
};

struct http_slot {
    CURL *easy;
    bool taken;    /* by the current call */
    bool in_multi; /* added to the multi handle and not yet removed */
    bool done;
    CURLcode result;
    bool out_of_memory;             /* a callback could not keep what arrived */
    unsigned caller_headers;        /* which of libcurl's default headers the caller set */
    struct buffer request_headers;  /* "Name: value" lines, each ending with a NUL */
    struct curl_slist *header_list; /* nodes over request_headers, kept between requests */
    size_t header_list_cap;
    struct buffer response_headers; /* the final response's "name\0value\0" pairs, names in
                                       lower case */
    struct buffer body;
    char error[CURL_ERROR_SIZE]; /* libcurl's account of a failure */
};

struct http_pool {
    const struct curl_lib *curl; /* NULL until the first request */
    CURLM *multi;
    CURLSH *share;
    struct http_slot **slots;
    size_t slot_count, slot_cap;
};

/* Loads libcurl and makes the multi and share handles the first time; takes back the slots a
 * cut-short call left. False with a sentence in err when libcurl is missing or fails. */
bool http_pool_start(struct http_pool *pool, char *err, size_t errlen);
/* A free slot (a new one when all are taken), or NULL when memory runs out. Slots are taken in
 * order: the i-th slot a call takes (from 0) is pool->slots[i]. */
struct http_slot *http_pool_take(struct http_pool *pool);
/* Adds one request header; false when memory runs out. */
bool http_slot_add_header(struct http_slot *slot, const char *name, size_t name_len,
                          const char *value, size_t value_len);
/* Sets the slot up for request (after its headers are added); false with a sentence in err. */
bool http_slot_prepare(struct http_pool *pool, struct http_slot *slot,
                       const struct http_request *request, char *err, size_t errlen);
/* Runs the prepared slots concurrently, at most 50 at a time (see MAX_IN_FLIGHT), until each has
 * its outcome: slot->result, and for CURLE_OK the status, response_headers and body. stop (NULL:
 * never) is asked after each wake-up, and at least every 100 ms, whether to give up: then every
 * unfinished transfer ends with CURLE_ABORTED_BY_CALLBACK and its connection is closed. A
 * signal wakes the wait, so a stop it asks for is seen at once. */
void http_pool_perform(struct http_pool *pool, bool (*stop)(void *context), void *context);
long http_slot_status(const struct http_pool *pool, const struct http_slot *slot);
/* Gives every slot back (trimming large buffers); responses must have been read. */
void http_pool_release(struct http_pool *pool);
/* Frees everything, closes the connections, lets go of libcurl's global state. */
void http_pool_close(struct http_pool *pool);

#endif
