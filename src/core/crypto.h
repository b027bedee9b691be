/* The few pieces of OpenSSL's libcrypto that moonrun uses (random bytes, MD5, SHA-256,
 * HMAC-SHA256). libcrypto is loaded with dlopen on first use, not linked: loading it costs
 * about 0.7 ms of every cold start, and most invocations never need it.
 *
 * Each function returns false when libcrypto cannot be loaded or fails, with a sentence in err
 * ("moonrun needs libcrypto.so.3 (OpenSSL 3) for MD5: ..."). Thread-safe: the library is
 * loaded once whichever thread asks first, and each thread keeps its own digest context. */
#ifndef MOONRUN_CRYPTO_H
#define MOONRUN_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define CRYPTO_MD5_SIZE 16
#define CRYPTO_SHA256_SIZE 32

/* Cryptographically strong random bytes (OpenSSL's DRBG, seeded from the kernel). */
bool crypto_random_bytes(void *out, size_t n, char *err, size_t errlen);

bool crypto_md5(const void *data, size_t n, unsigned char out[CRYPTO_MD5_SIZE], char *err,
                size_t errlen);
bool crypto_sha256(const void *data, size_t n, unsigned char out[CRYPTO_SHA256_SIZE], char *err,
                   size_t errlen);
bool crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                        unsigned char out[CRYPTO_SHA256_SIZE], char *err, size_t errlen);

/* The same two, through one SHA-256 fetched once and one digest context kept per thread:
 * OpenSSL 3's one-shot EVP_Digest and HMAC fetch the algorithm anew on every call, which costs
 * more than hashing a short message. For hot paths (SigV4 hashes and signs every AWS request). */
bool crypto_fast_sha256(const void *data, size_t n, unsigned char out[CRYPTO_SHA256_SIZE],
                        char *err, size_t errlen);
bool crypto_fast_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                             unsigned char out[CRYPTO_SHA256_SIZE], char *err, size_t errlen);

/* Writes n bytes as 2n lowercase hex digits and a terminating NUL (hex holds 2n + 1). */
void crypto_hex(const unsigned char *bytes, size_t n, char *hex);

#endif
