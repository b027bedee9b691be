/* AWS Signature Version 4 (AWS4-HMAC-SHA256): the canonical request, the string to sign, the
 * signing key and the signature, for an Authorization header or for a presigned URL (query
 * mode), as AWS's SigV4 test suite specifies them.
 *
 * A signer keeps its buffers and a few derived signing keys between calls, so a warm signer
 * neither allocates nor redoes the four HMACs of the key derivation. Not thread-safe. */
#ifndef MOONRUN_SIGV4_H
#define MOONRUN_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "crypto.h"

/* Every string is NUL-terminated and without NUL bytes inside, except the body. */
struct sigv4_header {
    const char *name;
    const char *value;
};

struct sigv4_request {
    const char *method;
    const char *url;                    /* scheme://host[:port]/path?query, http or https */
    const struct sigv4_header *headers; /* in order; a Host header here replaces the URL's */
    size_t header_count;
    const char *body;
    size_t body_len;
    const char *payload_hash; /* NULL: the SHA-256 of body; or a value like UNSIGNED-PAYLOAD */
    const char *access_key_id, *secret_access_key;
    const char *session_token; /* NULL: none */
    const char *region, *service;
    int64_t time;               /* seconds since the epoch, 0 to 253402300799 (the year 9999) */
    bool normalize_path;        /* remove "." and ".." segments and repeated slashes */
    bool content_sha256_header; /* header mode: sign and add x-amz-content-sha256 */
    long expires;               /* > 0: query mode (presigned URL), X-Amz-Expires; 0: header mode */
    bool omit_session_token;    /* the token is added after signing, not signed */
};

#define SIGV4_KEY_CACHE_SIZE 4

/* A derived signing key, kept while its date, region, service and secret come back. */
struct sigv4_cached_key {
    bool used;
    char date[9];
    char region[48], service[48], secret[128];
    unsigned char key[CRYPTO_SHA256_SIZE];
};

/* Zero-initialise; the outputs hold the last successful signature until the next call. */
struct sigv4_signer {
    struct buffer canonical_request, string_to_sign;
    struct buffer authorization; /* header mode: the Authorization header's value */
    struct buffer url;           /* query mode: the URL to send, with the signing parameters */
    char amz_date[17];           /* 20150830T123600Z */
    int64_t amz_date_time;       /* the time amz_date was made from */
    char signature[2 * CRYPTO_SHA256_SIZE + 1];
    const char *payload_hash; /* the hash signed: the request's, or body_hash */
    char body_hash[2 * CRYPTO_SHA256_SIZE + 1];

    /* kept between calls */
    struct buffer text, path, canonical_headers, signed_headers;
    struct sigv4_entry *entries;
    size_t entry_cap;
    struct sigv4_cached_key keys[SIGV4_KEY_CACHE_SIZE];
    unsigned next_key;
};

/* Signs req. Returns false with a sentence in err (naming the field at fault, never quoting the
 * secret or the token) when the request cannot be signed. */
bool sigv4_sign(struct sigv4_signer *signer, const struct sigv4_request *req, char *err,
                size_t errlen);

/* Frees the buffers and wipes the cached keys. */
void sigv4_signer_free(struct sigv4_signer *signer);

#endif
