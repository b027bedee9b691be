/* The libcurl functions moonrun's HTTP client uses. libcurl is loaded with dlopen on first use,
 * not linked: loading it with its dependencies (OpenSSL, nghttp2, ...) costs milliseconds of
 * every cold start, and the Runtime API loop never needs it (see http_client.h).
 *
 * curl's headers give the types; each field below is checked against the header's prototype in
 * curl_lib.c, so a call through the table is a call of the real function. */
#ifndef MOONRUN_CURL_LIB_H
#define MOONRUN_CURL_LIB_H

#include <curl/curl.h>
#include <stddef.h>

struct curl_lib {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *easy);
    void (*easy_reset)(CURL *easy);
    CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *multi);
    CURLMcode (*multi_add_handle)(CURLM *multi, CURL *easy);
    CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *easy);
    CURLMcode (*multi_perform)(CURLM *multi, int *running);
    CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd *extra, unsigned int extra_count,
                            int timeout_ms, int *ready);
    CURLMsg *(*multi_info_read)(CURLM *multi, int *queued);
    const char *(*multi_strerror)(CURLMcode code);
    CURLSH *(*share_init)(void);
    CURLSHcode (*share_setopt)(CURLSH *share, CURLSHoption option, ...);
    CURLSHcode (*share_cleanup)(CURLSH *share);
};

/* Loads libcurl.so.4 the first time (later calls return the same table), or returns NULL with
 * "moonrun needs libcurl.so.4 for HTTP requests: <reason>" in err. Thread-safe. */
const struct curl_lib *curl_lib_load(char *err, size_t errlen);

/* curl_global_init and curl_global_cleanup, never in two threads at once (each worker's Lua
 * state starts and closes its own pool). */
CURLcode curl_lib_global_init(const struct curl_lib *curl, long flags);
void curl_lib_global_cleanup(const struct curl_lib *curl);

#endif
