#include "http_pool.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "version.h"

#define KEEP_SLOTS 16           /* idle handles kept after a large request_many */
#define KEEP_BUFFER (64 * 1024) /* a buffer larger than this shrinks back after the call */
/* The longest wait between two questions to the caller's stop (curl_multi_poll wakes earlier for
 * any event, timeout or signal): a signal that lands just before the wait is seen this late. */
#define POLL_INTERVAL_MS 100
/* At most this many transfers run at once, as the AWS SDKs' connection pools (botocore's
 * max_pool_connections is 10, the Java SDK's 50): a request_many of thousands would otherwise
 * open as many sockets, exhaust Lambda's 1,024 open files and queue behind each other at the
 * server until their timeouts, which only start when a transfer is added, run out. */
#define MAX_IN_FLIGHT 50

enum caller_header { GIVEN_ACCEPT = 1, GIVEN_EXPECT = 2, GIVEN_CONTENT_TYPE = 4 };

bool http_pool_start(struct http_pool *pool, char *err, size_t errlen)
{
    if (pool->curl) {
        http_pool_release(pool);
        return true;
    }
    const struct curl_lib *curl = curl_lib_load(err, errlen);
    if (!curl) return false;
    CURLcode rc = curl_lib_global_init(curl, CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl could not initialize: %s", curl->easy_strerror(rc));
        return false;
    }
    pool->multi = curl->multi_init();
    pool->share = curl->share_init();
    if (!pool->multi || !pool->share ||
        curl->share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl->share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
            CURLSHE_OK) {
        if (pool->multi) curl->multi_cleanup(pool->multi);
        if (pool->share) curl->share_cleanup(pool->share);
        curl_lib_global_cleanup(curl);
        snprintf(err, errlen, "libcurl could not create its handles (out of memory?)");
        return false;
    }
    pool->curl = curl;
    return true;
}

static void clear_slot(struct http_slot *slot)
{
    slot->done = slot->out_of_memory = false;
    slot->result = CURLE_OK;
    slot->caller_headers = 0;
    slot->error[0] = '\0';
    buffer_clear(&slot->request_headers);
    buffer_clear(&slot->response_headers);
    buffer_clear(&slot->body);
}

struct http_slot *http_pool_take(struct http_pool *pool)
{
    for (size_t i = 0; i < pool->slot_count; i++) {
        struct http_slot *slot = pool->slots[i];
        if (slot->taken) continue;
        /* Forgets the last request's options; its connection stays in the multi's cache. */
        pool->curl->easy_reset(slot->easy);
        clear_slot(slot);
        slot->taken = true;
        return slot;
    }
    if (pool->slot_count == pool->slot_cap) {
        size_t cap = pool->slot_cap ? 2 * pool->slot_cap : 4;
        struct http_slot **slots = realloc(pool->slots, cap * sizeof *slots);
        if (!slots) return NULL;
        pool->slots = slots;
        pool->slot_cap = cap;
    }
    struct http_slot *slot = calloc(1, sizeof *slot);
    if (!slot) return NULL;
    slot->easy = pool->curl->easy_init();
    if (!slot->easy) {
        free(slot);
        return NULL;
    }
    slot->taken = true;
    pool->slots[pool->slot_count++] = slot;
    return slot;
}

static bool is_named(const char *name, size_t len, const char *wanted)
{
    return len == strlen(wanted) && strncasecmp(name, wanted, len) == 0;
}

bool http_slot_add_header(struct http_slot *slot, const char *name, size_t name_len,
                          const char *value, size_t value_len)
{
    if (is_named(name, name_len, "Accept")) slot->caller_headers |= GIVEN_ACCEPT;
    if (is_named(name, name_len, "Expect")) slot->caller_headers |= GIVEN_EXPECT;
    if (is_named(name, name_len, "Content-Type")) slot->caller_headers |= GIVEN_CONTENT_TYPE;
    /* To libcurl "Name:" removes a header; "Name;" is how an empty value is sent. */
    struct buffer *b = &slot->request_headers;
    return buffer_reserve(b, name_len + value_len + 3) && buffer_append(b, name, name_len) &&
           buffer_append(b, value_len ? ": " : ";", value_len ? 2 : 1) &&
           buffer_append(b, value, value_len) && buffer_append(b, "", 1);
}

/* CURLOPT_HTTPHEADER only reads the list, so its nodes can live in an array kept with the
 * slot, pointing into request_headers, instead of being allocated by curl_slist_append. */
static bool link_header_list(struct http_slot *slot)
{
    size_t count = 0;
    for (size_t at = 0; at < slot->request_headers.len; at++)
        if (slot->request_headers.data[at] == '\0') count++;
    if (count > slot->header_list_cap) {
        struct curl_slist *nodes = realloc(slot->header_list, count * sizeof *nodes);
        if (!nodes) return false;
        slot->header_list = nodes;
        slot->header_list_cap = count;
    }
    char *line = slot->request_headers.data;
    for (size_t i = 0; i < count; i++) {
        slot->header_list[i].data = line;
        slot->header_list[i].next = i + 1 < count ? &slot->header_list[i + 1] : NULL;
        line += strlen(line) + 1;
    }
    return true;
}

static size_t on_body(char *data, size_t size, size_t count, void *user)
{
    struct http_slot *slot = user;
    size_t n = size * count;
    if (buffer_append(&slot->body, data, n)) return n;
    slot->out_of_memory = true;
    return 0; /* libcurl stops the transfer with CURLE_WRITE_ERROR */
}

/* s without the white space (CR and LF included) around it; n is updated. */
static const char *trimmed(const char *s, size_t *n)
{
    size_t start = 0, end = *n;
    while (end > 0 && isspace((unsigned char)s[end - 1]))
        end--;
    while (start < end && isspace((unsigned char)s[start]))
        start++;
    *n = end - start;
    return s + start;
}

static bool keep_header(struct http_slot *slot, const char *line, size_t n)
{
    struct buffer *pairs = &slot->response_headers;
    bool folded = n > 0 && (line[0] == ' ' || line[0] == '\t');
    line = trimmed(line, &n);
    if (n == 0) return true; /* the blank line that ends the headers */
    if (folded) {            /* an obsolete folded line continues the last value */
        if (pairs->len == 0) return true;
        pairs->len--; /* reopen the last value */
        return buffer_append(pairs, " ", 1) && buffer_append(pairs, line, n) &&
               buffer_append(pairs, "", 1);
    }
    const char *colon = memchr(line, ':', n);
    if (!colon) return true; /* not a header line: nothing to keep */
    size_t name_len = (size_t)(colon - line);
    size_t value_len = n - name_len - 1;
    const char *value = trimmed(colon + 1, &value_len);
    if (!buffer_reserve(pairs, name_len + value_len + 2)) return false;
    for (size_t i = 0; i < name_len; i++)
        pairs->data[pairs->len++] = (char)tolower((unsigned char)line[i]);
    pairs->data[pairs->len++] = '\0';
    return buffer_append(pairs, value, value_len) && buffer_append(pairs, "", 1);
}

static size_t on_header(char *line, size_t size, size_t count, void *user)
{
    struct http_slot *slot = user;
    size_t n = size * count;
    /* Each response begins with its status line: only the last one's headers (not those of a
     * 100 Continue or a proxy's CONNECT answer) belong to the result. */
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        buffer_clear(&slot->response_headers);
        return n;
    }
    if (keep_header(slot, line, n)) return n;
    slot->out_of_memory = true;
    return 0;
}

static CURLcode set_method_and_body(const struct curl_lib *curl, CURL *easy,
                                    const struct http_request *r)
{
    if (strcmp(r->method, "HEAD") == 0) /* a HEAD response has no body to wait for */
        return curl->easy_setopt(easy, CURLOPT_NOBODY, 1L);
    CURLcode rc = CURLE_OK;
    bool sends_body = r->body || strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
                      strcmp(r->method, "PATCH") == 0;
    if (sends_body) { /* with a Content-Length, 0 for none: AWS wants one on every POST */
        rc = curl->easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        if (rc == CURLE_OK)
            rc = curl->easy_setopt(easy, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    }
    const char *implied = sends_body ? "POST" : "GET";
    if (rc == CURLE_OK && strcmp(r->method, implied) != 0)
        rc = curl->easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r->method);
    return rc;
}

/* "Name:" tells libcurl not to send a header it would add by itself. */
static bool suppress_header(struct http_slot *slot, unsigned given, const char *line)
{
    return (slot->caller_headers & given) ||
           buffer_append(&slot->request_headers, line, strlen(line) + 1);
}

/* SSL_CERT_FILE and SSL_CERT_DIR name the CA certificates to trust, as they do for OpenSSL's
 * own tools; otherwise libcurl's built-in default (the system's bundle) is used. */
static const char *env_path(const char *name)
{
    const char *value = getenv(name);
    return value && *value ? value : NULL;
}

bool http_slot_prepare(struct http_pool *pool, struct http_slot *slot, const struct http_request *r,
                       char *err, size_t errlen)
{
    /* Unless the caller sets them, libcurl would add "Expect: 100-continue" to large bodies (a
     * round trip of waiting), an Accept header to every request and a form Content-Type to
     * every body: headers nobody asked for, and signed requests must match what is sent. */
    if (!suppress_header(slot, GIVEN_EXPECT, "Expect:") ||
        !suppress_header(slot, GIVEN_ACCEPT, "Accept:") ||
        !suppress_header(slot, GIVEN_CONTENT_TYPE, "Content-Type:") || !link_header_list(slot)) {
        snprintf(err, errlen, "out of memory for the request's headers");
        return false;
    }
    const struct curl_lib *curl = pool->curl;
    CURL *easy = slot->easy;
    CURLcode rc = CURLE_OK;
#define SET(option, value)                                                                         \
    if (rc == CURLE_OK) rc = curl->easy_setopt(easy, option, value)
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https"); /* never file:// or others, whatever the URL */
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_NOSIGNAL, 1L); /* no SIGALRM for DNS timeouts: signals belong to the runtime */
    SET(CURLOPT_SHARE, pool->share);
    /* Verification is always on: there is deliberately no way to turn it off from Lua. */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (env_path("SSL_CERT_FILE")) SET(CURLOPT_CAINFO, env_path("SSL_CERT_FILE"));
    if (env_path("SSL_CERT_DIR")) SET(CURLOPT_CAPATH, env_path("SSL_CERT_DIR"));
    SET(CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, r->timeout_ms);
    SET(CURLOPT_ERRORBUFFER, slot->error);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)slot);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)slot);
    SET(CURLOPT_HTTPHEADER, slot->header_list);
    SET(CURLOPT_USERAGENT, "moonrun/" MOONRUN_VERSION); /* a User-Agent header replaces it */
#undef SET
    if (rc == CURLE_OK) rc = set_method_and_body(curl, easy, r);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl refused the request's settings: %s",
                 curl->easy_strerror(rc));
        return false;
    }
    return true;
}

static struct http_slot *slot_of(const struct http_pool *pool, CURL *easy)
{
    for (size_t i = 0; i < pool->slot_count; i++)
        if (pool->slots[i]->easy == easy) return pool->slots[i];
    return NULL;
}

static void finish(struct http_pool *pool, struct http_slot *slot, CURLcode result)
{
    pool->curl->multi_remove_handle(pool->multi, slot->easy); /* the connection goes back to
                                                                 the multi's cache */
    slot->in_multi = false;
    slot->done = true;
    slot->result = result;
}

static void collect_finished(struct http_pool *pool)
{
    int queued;
    CURLMsg *msg;
    while ((msg = pool->curl->multi_info_read(pool->multi, &queued))) {
        struct http_slot *slot = slot_of(pool, msg->easy_handle);
        if (msg->msg == CURLMSG_DONE && slot) finish(pool, slot, msg->data.result);
    }
}

/* Ends every unfinished transfer with result and why (removed from the multi handle mid-way,
 * a transfer's connection is closed, never reused). */
static void end_unfinished(struct http_pool *pool, CURLcode result, const char *why)
{
    for (size_t i = 0; i < pool->slot_count; i++) {
        struct http_slot *slot = pool->slots[i];
        if (!slot->taken || slot->done) continue;
        snprintf(slot->error, sizeof slot->error, "%s", why);
        if (slot->in_multi) pool->curl->multi_remove_handle(pool->multi, slot->easy);
        slot->in_multi = false;
        slot->done = true;
        slot->result = result;
    }
}

/* The multi interface itself failed (out of memory): every unfinished transfer fails with it. */
static void fail_unfinished(struct http_pool *pool, CURLMcode code)
{
    char why[CURL_ERROR_SIZE];
    snprintf(why, sizeof why, "libcurl's multi interface failed: %s",
             pool->curl->multi_strerror(code));
    end_unfinished(pool, CURLE_FAILED_INIT, why);
}

/* Adds waiting slots to the multi handle until MAX_IN_FLIGHT run; false when the multi failed
 * (then every unfinished slot has failed). */
static bool add_waiting(struct http_pool *pool, size_t *in_flight)
{
    for (size_t i = 0; i < pool->slot_count && *in_flight < MAX_IN_FLIGHT; i++) {
        struct http_slot *slot = pool->slots[i];
        if (!slot->taken || slot->done || slot->in_multi) continue;
        CURLMcode mc = pool->curl->multi_add_handle(pool->multi, slot->easy);
        if (mc != CURLM_OK) {
            fail_unfinished(pool, mc);
            return false;
        }
        slot->in_multi = true;
        (*in_flight)++;
    }
    return true;
}

static size_t count_in_multi(const struct http_pool *pool)
{
    size_t n = 0;
    for (size_t i = 0; i < pool->slot_count; i++)
        if (pool->slots[i]->in_multi) n++;
    return n;
}

void http_pool_perform(struct http_pool *pool, bool (*stop)(void *context), void *context)
{
    const struct curl_lib *curl = pool->curl;
    size_t in_flight = 0;
    if (!add_waiting(pool, &in_flight)) return;
    while (in_flight > 0) {
        if (stop && stop(context)) {
            end_unfinished(pool, CURLE_ABORTED_BY_CALLBACK, "the request was abandoned");
            return;
        }
        int running = 0;
        CURLMcode mc = curl->multi_perform(pool->multi, &running);
        if (mc == CURLM_OK) {
            collect_finished(pool);
            in_flight = count_in_multi(pool);
            if (!add_waiting(pool, &in_flight)) return;
            if (in_flight > (size_t)running) continue; /* new transfers: start them now */
        }
        if (mc == CURLM_OK && running > 0)
            mc = curl->multi_poll(pool->multi, NULL, 0, POLL_INTERVAL_MS, NULL);
        if (mc != CURLM_OK) {
            fail_unfinished(pool, mc);
            return;
        }
    }
    collect_finished(pool);
}

long http_slot_status(const struct http_pool *pool, const struct http_slot *slot)
{
    long status = 0;
    pool->curl->easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void free_slot(const struct curl_lib *curl, struct http_slot *slot)
{
    curl->easy_cleanup(slot->easy);
    buffer_free(&slot->request_headers);
    buffer_free(&slot->response_headers);
    buffer_free(&slot->body);
    free(slot->header_list);
    free(slot);
}

void http_pool_release(struct http_pool *pool)
{
    for (size_t i = 0; i < pool->slot_count; i++) {
        struct http_slot *slot = pool->slots[i];
        if (slot->in_multi) pool->curl->multi_remove_handle(pool->multi, slot->easy);
        slot->in_multi = slot->taken = false;
        clear_slot(slot);
        buffer_shrink(&slot->body, KEEP_BUFFER);
        buffer_shrink(&slot->request_headers, KEEP_BUFFER);
        buffer_shrink(&slot->response_headers, KEEP_BUFFER);
    }
    /* Connections live in the multi's cache, not in easy handles: freeing these loses none. */
    for (; pool->slot_count > KEEP_SLOTS; pool->slot_count--)
        free_slot(pool->curl, pool->slots[pool->slot_count - 1]);
}

void http_pool_close(struct http_pool *pool)
{
    const struct curl_lib *curl = pool->curl;
    if (!curl) return;
    for (size_t i = 0; i < pool->slot_count; i++) {
        if (pool->slots[i]->in_multi) curl->multi_remove_handle(pool->multi, pool->slots[i]->easy);
        free_slot(curl, pool->slots[i]);
    }
    free(pool->slots);
    curl->multi_cleanup(pool->multi); /* closes the cached connections */
    curl->share_cleanup(pool->share); /* after every handle that used it is gone */
    curl_lib_global_cleanup(curl);
    *pool = (struct http_pool){0};
}
