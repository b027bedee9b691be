#include "crypto.h"

#include <dlfcn.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dynamic_lib.h"

/* The headers give the types only: nothing here calls OpenSSL directly, so the executable does
 * not link libcrypto. The static assertions check our pointer types against the headers'
 * prototypes (_Generic does not evaluate its operand, so no symbol is referenced). */
typedef int (*rand_bytes_fn)(unsigned char *buf, int num);
typedef const EVP_MD *(*md_fn)(void);
typedef int (*digest_fn)(const void *data, size_t count, unsigned char *md, unsigned int *size,
                         const EVP_MD *type, ENGINE *impl);
typedef unsigned char *(*hmac_fn)(const EVP_MD *evp_md, const void *key, int key_len,
                                  const unsigned char *data, size_t data_len, unsigned char *md,
                                  unsigned int *md_len);
typedef EVP_MD *(*md_fetch_fn)(OSSL_LIB_CTX *ctx, const char *algorithm, const char *properties);
typedef EVP_MD_CTX *(*md_ctx_new_fn)(void);
typedef int (*digest_init_fn)(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl);
typedef int (*digest_update_fn)(EVP_MD_CTX *ctx, const void *d, size_t cnt);
typedef int (*digest_final_fn)(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s);
typedef void (*md_ctx_free_fn)(EVP_MD_CTX *ctx);
_Static_assert(_Generic(&RAND_bytes, rand_bytes_fn : 1, default : 0), "RAND_bytes prototype");
_Static_assert(_Generic(&EVP_md5, md_fn : 1, default : 0), "EVP_md5 prototype");
_Static_assert(_Generic(&EVP_sha256, md_fn : 1, default : 0), "EVP_sha256 prototype");
_Static_assert(_Generic(&EVP_Digest, digest_fn : 1, default : 0), "EVP_Digest prototype");
_Static_assert(_Generic(&HMAC, hmac_fn : 1, default : 0), "HMAC prototype");
_Static_assert(_Generic(&EVP_MD_fetch, md_fetch_fn : 1, default : 0), "EVP_MD_fetch prototype");
_Static_assert(_Generic(&EVP_MD_CTX_new, md_ctx_new_fn : 1, default : 0), "EVP_MD_CTX_new");
_Static_assert(_Generic(&EVP_DigestInit_ex, digest_init_fn : 1, default : 0), "EVP_DigestInit_ex");
_Static_assert(_Generic(&EVP_DigestUpdate, digest_update_fn : 1, default : 0), "EVP_DigestUpdate");
_Static_assert(_Generic(&EVP_DigestFinal_ex, digest_final_fn : 1, default : 0), "EVP_DigestFinal");
_Static_assert(_Generic(&EVP_MD_CTX_free, md_ctx_free_fn : 1, default : 0), "EVP_MD_CTX_free");

#define LIBCRYPTO "libcrypto.so.3"

/* Written once, under pthread_once, then only read: every worker thread may use it. */
static struct {
    pthread_once_t once; /* dlopen is attempted once; a failure is remembered with its reason */
    pthread_once_t fast_once; /* the crypto_fast_* setup, on their first use */
    bool ok;
    char failure[512]; /* dlerror's text: it can be read only once, so it is kept */
    rand_bytes_fn rand_bytes;
    md_fn md5, sha256;
    digest_fn digest;
    hmac_fn hmac;
    md_fetch_fn md_fetch;
    md_ctx_new_fn md_ctx_new;
    digest_init_fn digest_init;
    digest_update_fn digest_update;
    digest_final_fn digest_final;
    md_ctx_free_fn md_ctx_free;
    EVP_MD *kept_sha256; /* fetched once for the crypto_fast_* functions, kept for the process */
    /* A digest context holds one digest in progress, so each thread keeps its own (freed when
     * the thread ends); the fetched SHA-256 itself is shared, as OpenSSL allows. */
    pthread_key_t kept_ctx;
    bool kept_ctx_key;
} lib = {.once = PTHREAD_ONCE_INIT, .fast_once = PTHREAD_ONCE_INIT};

static bool resolve(void *handle, const char *name, void *fn_ptr, size_t size)
{
    return dynamic_lib_resolve(handle, name, fn_ptr, size, lib.failure, sizeof lib.failure);
}

static bool load_library(void)
{
    void *handle = dynamic_lib_open(LIBCRYPTO, lib.failure, sizeof lib.failure);
    if (!handle) return false;
    bool ok = resolve(handle, "RAND_bytes", &lib.rand_bytes, sizeof lib.rand_bytes) &&
              resolve(handle, "EVP_md5", &lib.md5, sizeof lib.md5) &&
              resolve(handle, "EVP_sha256", &lib.sha256, sizeof lib.sha256) &&
              resolve(handle, "EVP_Digest", &lib.digest, sizeof lib.digest) &&
              resolve(handle, "HMAC", &lib.hmac, sizeof lib.hmac) &&
              resolve(handle, "EVP_MD_fetch", &lib.md_fetch, sizeof lib.md_fetch) &&
              resolve(handle, "EVP_MD_CTX_new", &lib.md_ctx_new, sizeof lib.md_ctx_new) &&
              resolve(handle, "EVP_DigestInit_ex", &lib.digest_init, sizeof lib.digest_init) &&
              resolve(handle, "EVP_DigestUpdate", &lib.digest_update, sizeof lib.digest_update) &&
              resolve(handle, "EVP_DigestFinal_ex", &lib.digest_final, sizeof lib.digest_final) &&
              resolve(handle, "EVP_MD_CTX_free", &lib.md_ctx_free, sizeof lib.md_ctx_free);
    if (!ok) dlclose(handle); /* a library without these functions is not the one we need */
    return ok;
}

static void free_kept_ctx(void *ctx)
{
    lib.md_ctx_free(ctx);
}

static void load_once(void)
{
    lib.ok = load_library();
}

static void fast_setup_once(void)
{
    lib.kept_sha256 = lib.md_fetch(NULL, "SHA256", NULL);
    lib.kept_ctx_key = pthread_key_create(&lib.kept_ctx, free_kept_ctx) == 0;
}

/* Loads libcrypto on first use (once, whichever thread comes first); purpose names what it is
 * needed for in the error. */
static bool ready(const char *purpose, char *err, size_t errlen)
{
    pthread_once(&lib.once, load_once);
    if (!lib.ok)
        snprintf(err, errlen, "moonrun needs " LIBCRYPTO " (OpenSSL 3) for %s: %s", purpose,
                 lib.failure);
    return lib.ok;
}

bool crypto_random_bytes(void *out, size_t n, char *err, size_t errlen)
{
    if (!ready("random bytes", err, errlen)) return false;
    unsigned char *p = out;
    while (n > 0) { /* RAND_bytes takes an int count */
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (lib.rand_bytes(p, chunk) != 1) {
            snprintf(err, errlen,
                     "OpenSSL's RAND_bytes failed (its random generator could not be seeded)");
            return false;
        }
        p += chunk;
        n -= (size_t)chunk;
    }
    return true;
}

/* Call after ready(): md is one of the resolved functions. */
static bool digest(md_fn md, const char *name, const void *data, size_t n, unsigned char *out,
                   char *err, size_t errlen)
{
    const EVP_MD *type = md();
    unsigned int size = 0;
    if (!type || lib.digest(data, n, out, &size, type, NULL) != 1) {
        snprintf(err, errlen, "OpenSSL could not compute %s (is it disabled in this OpenSSL?)",
                 name);
        return false;
    }
    return true;
}

bool crypto_md5(const void *data, size_t n, unsigned char out[CRYPTO_MD5_SIZE], char *err,
                size_t errlen)
{
    /* lib.md5 is read only once ready() has loaded it */
    return ready("MD5", err, errlen) && digest(lib.md5, "MD5", data, n, out, err, errlen);
}

bool crypto_sha256(const void *data, size_t n, unsigned char out[CRYPTO_SHA256_SIZE], char *err,
                   size_t errlen)
{
    return ready("SHA-256", err, errlen) &&
           digest(lib.sha256, "SHA-256", data, n, out, err, errlen);
}

bool crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                        unsigned char out[CRYPTO_SHA256_SIZE], char *err, size_t errlen)
{
    if (!ready("HMAC-SHA256", err, errlen)) return false;
    if (keylen > INT_MAX) { /* HMAC takes an int key length */
        snprintf(err, errlen, "an HMAC key of %zu bytes is too long", keylen);
        return false;
    }
    static const unsigned char no_key; /* OpenSSL wants a non-NULL key even when it is empty */
    unsigned int size = 0;
    const EVP_MD *type = lib.sha256();
    if (!type || !lib.hmac(type, keylen ? key : &no_key, (int)keylen, data, n, out, &size)) {
        snprintf(err, errlen, "OpenSSL could not compute HMAC-SHA256");
        return false;
    }
    return true;
}

/* This thread's kept context for the kept SHA-256, made on first use; NULL (with err) if
 * OpenSSL cannot provide them. */
static EVP_MD_CTX *fast_ready(const char *purpose, char *err, size_t errlen)
{
    if (!ready(purpose, err, errlen)) return NULL;
    pthread_once(&lib.fast_once, fast_setup_once);
    EVP_MD_CTX *ctx = lib.kept_ctx_key ? pthread_getspecific(lib.kept_ctx) : NULL;
    if (ctx) return ctx;
    if (lib.kept_sha256 && lib.kept_ctx_key) ctx = lib.md_ctx_new();
    if (ctx && pthread_setspecific(lib.kept_ctx, ctx) != 0) {
        lib.md_ctx_free(ctx);
        ctx = NULL;
    }
    if (!ctx)
        snprintf(err, errlen, "OpenSSL could not set up SHA-256 for %s (out of memory?)", purpose);
    return ctx;
}

/* One digest over the concatenation of up to two pieces (HMAC needs a pad, then the data). */
static bool kept_digest(EVP_MD_CTX *ctx, const void *a, size_t alen, const void *b, size_t blen,
                        unsigned char out[CRYPTO_SHA256_SIZE])
{
    unsigned int size = 0;
    return lib.digest_init(ctx, lib.kept_sha256, NULL) == 1 &&
           lib.digest_update(ctx, a, alen) == 1 &&
           (blen == 0 || lib.digest_update(ctx, b, blen) == 1) &&
           lib.digest_final(ctx, out, &size) == 1;
}

bool crypto_fast_sha256(const void *data, size_t n, unsigned char out[CRYPTO_SHA256_SIZE],
                        char *err, size_t errlen)
{
    EVP_MD_CTX *ctx = fast_ready("SHA-256", err, errlen);
    if (!ctx) return false;
    if (!kept_digest(ctx, data, n, NULL, 0, out)) {
        snprintf(err, errlen, "OpenSSL could not compute SHA-256");
        return false;
    }
    return true;
}

/* HMAC as RFC 2104 defines it, H((K ^ opad) || H((K ^ ipad) || data)), on the kept context: it
 * avoids the algorithm fetch that OpenSSL 3's HMAC() does on every call. */
bool crypto_fast_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                             unsigned char out[CRYPTO_SHA256_SIZE], char *err, size_t errlen)
{
    enum { BLOCK = 64 }; /* SHA-256's block size */
    EVP_MD_CTX *ctx = fast_ready("HMAC-SHA256", err, errlen);
    if (!ctx) return false;
    unsigned char short_key[CRYPTO_SHA256_SIZE];
    if (keylen > BLOCK) { /* RFC 2104: a key longer than a block is hashed first */
        if (!kept_digest(ctx, key, keylen, NULL, 0, short_key)) goto failed;
        key = short_key;
        keylen = sizeof short_key;
    }
    unsigned char pad[BLOCK], inner[CRYPTO_SHA256_SIZE];
    const unsigned char *k = key;
    for (size_t i = 0; i < BLOCK; i++)
        pad[i] = (unsigned char)((i < keylen ? k[i] : 0) ^ 0x36);
    if (!kept_digest(ctx, pad, BLOCK, data, n, inner)) goto failed;
    for (size_t i = 0; i < BLOCK; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    if (!kept_digest(ctx, pad, BLOCK, inner, sizeof inner, out)) goto failed;
    return true;
failed:
    snprintf(err, errlen, "OpenSSL could not compute HMAC-SHA256");
    return false;
}

void crypto_hex(const unsigned char *bytes, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 0x0F];
    }
    hex[2 * n] = '\0';
}
