#include "http_failure.h"

#include <stdio.h>
#include <string.h>

const char *http_failure_kind_name(enum http_failure_kind kind)
{
    static const char *const names[] = {"connect", "dns",     "timeout", "tls",
                                        "send",    "receive", "other"};
    return names[kind];
}

static enum http_failure_kind kind_of(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT:
        return HTTP_FAILURE_CONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return HTTP_FAILURE_DNS;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTP_FAILURE_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return HTTP_FAILURE_TLS;
    case CURLE_SEND_ERROR:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_READ_ERROR:
    case CURLE_UPLOAD_FAILED:
        return HTTP_FAILURE_SEND;
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return HTTP_FAILURE_RECEIVE;
    default:
        return HTTP_FAILURE_OTHER;
    }
}

enum http_failure_kind http_failure_describe(const struct http_pool *pool,
                                             const struct http_slot *slot, const char *authority,
                                             char *message, size_t size)
{
    CURLcode code = slot->result;
    enum http_failure_kind kind = kind_of(code);
    /* libcurl's error buffer says the most ("Failed to connect to ... after 3 ms"); its
     * strerror is the fallback when a failure left the buffer empty. */
    const char *detail = slot->error[0] ? slot->error : pool->curl->easy_strerror(code);
    if (slot->out_of_memory) {
        snprintf(message, size, "out of memory while receiving the response from %s", authority);
        return HTTP_FAILURE_OTHER;
    }
    long os_errno = 0;
    switch (kind) {
    case HTTP_FAILURE_CONNECT:
        /* "Connection refused" tells more than libcurl's "Couldn't connect to server" */
        pool->curl->easy_getinfo(slot->easy, CURLINFO_OS_ERRNO, &os_errno);
        snprintf(message, size, "cannot connect to %s: %s", authority,
                 os_errno ? strerror((int)os_errno) : detail);
        break;
    case HTTP_FAILURE_DNS:
        snprintf(message, size, "cannot resolve the host name of %s: %s", authority, detail);
        break;
    case HTTP_FAILURE_TIMEOUT:
        snprintf(message, size, "the request to %s timed out: %s", authority, detail);
        break;
    case HTTP_FAILURE_TLS:
        if (code == CURLE_PEER_FAILED_VERIFICATION)
            snprintf(message, size,
                     "the TLS certificate of %s could not be verified: %s (to trust a private "
                     "CA, set SSL_CERT_FILE to its certificate)",
                     authority, detail);
        else if (code == CURLE_SSL_CACERT_BADFILE)
            snprintf(message, size,
                     "cannot read the CA certificates to verify %s with (check SSL_CERT_FILE "
                     "and SSL_CERT_DIR): %s",
                     authority, detail);
        else
            snprintf(message, size, "the TLS handshake with %s failed: %s", authority, detail);
        break;
    case HTTP_FAILURE_SEND:
        snprintf(message, size, "sending the request to %s failed: %s", authority, detail);
        break;
    case HTTP_FAILURE_RECEIVE:
        if (code == CURLE_PARTIAL_FILE)
            snprintf(message, size, "the response from %s was cut short: %s", authority, detail);
        else if (code == CURLE_GOT_NOTHING)
            snprintf(message, size, "%s closed the connection without answering: %s", authority,
                     detail);
        else
            snprintf(message, size, "receiving the response from %s failed: %s", authority, detail);
        break;
    case HTTP_FAILURE_OTHER:
        snprintf(message, size, "the request to %s failed: %s", authority, detail);
        break;
    }
    return kind;
}
