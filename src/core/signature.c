/* Signature checks with libcrypto's EVP_DigestVerify (see signature.h). Loaded apart from
 * crypto.c's functions: a runtime that signs AWS requests never needs these symbols. */
#include "signature.h"

#include <dlfcn.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dynamic_lib.h"

/* Only the types come from the headers (the executable does not link libcrypto); the static
 * assertions hold our pointer types to the headers' prototypes. */
typedef EVP_PKEY *(*d2i_pubkey_fn)(EVP_PKEY **a, const unsigned char **pp, long length);
typedef void (*pkey_free_fn)(EVP_PKEY *key);
typedef const EVP_MD *(*md_fn)(void);
typedef EVP_MD_CTX *(*md_ctx_new_fn)(void);
typedef void (*md_ctx_free_fn)(EVP_MD_CTX *ctx);
typedef int (*verify_init_fn)(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e,
                              EVP_PKEY *pkey);
typedef int (*verify_fn)(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
                         const unsigned char *tbs, size_t tbslen);
typedef void (*clear_error_fn)(void);
_Static_assert(_Generic(&d2i_PUBKEY, d2i_pubkey_fn : 1, default : 0), "d2i_PUBKEY prototype");
_Static_assert(_Generic(&EVP_PKEY_free, pkey_free_fn : 1, default : 0), "EVP_PKEY_free");
_Static_assert(_Generic(&EVP_sha256, md_fn : 1, default : 0), "EVP_sha256 prototype");
_Static_assert(_Generic(&EVP_MD_CTX_new, md_ctx_new_fn : 1, default : 0), "EVP_MD_CTX_new");
_Static_assert(_Generic(&EVP_MD_CTX_free, md_ctx_free_fn : 1, default : 0), "EVP_MD_CTX_free");
_Static_assert(_Generic(&EVP_DigestVerifyInit, verify_init_fn : 1, default : 0),
               "EVP_DigestVerifyInit");
_Static_assert(_Generic(&EVP_DigestVerify, verify_fn : 1, default : 0), "EVP_DigestVerify");
_Static_assert(_Generic(&ERR_clear_error, clear_error_fn : 1, default : 0), "ERR_clear_error");

#define LIBCRYPTO "libcrypto.so.3"

/* Written once under pthread_once, then only read. */
static struct {
    pthread_once_t once;
    bool ok;
    char failure[512];
    d2i_pubkey_fn d2i_pubkey;
    pkey_free_fn pkey_free;
    md_fn sha256, sha384, sha512;
    md_ctx_new_fn md_ctx_new;
    md_ctx_free_fn md_ctx_free;
    verify_init_fn verify_init;
    verify_fn verify;
    clear_error_fn clear_error;
} lib = {.once = PTHREAD_ONCE_INIT};

static bool resolve(void *handle, const char *name, void *fn_ptr, size_t size)
{
    return dynamic_lib_resolve(handle, name, fn_ptr, size, lib.failure, sizeof lib.failure);
}

static void load_once(void)
{
    void *handle = dynamic_lib_open(LIBCRYPTO, lib.failure, sizeof lib.failure);
    if (!handle) return;
    lib.ok = resolve(handle, "d2i_PUBKEY", &lib.d2i_pubkey, sizeof lib.d2i_pubkey) &&
             resolve(handle, "EVP_PKEY_free", &lib.pkey_free, sizeof lib.pkey_free) &&
             resolve(handle, "EVP_sha256", &lib.sha256, sizeof lib.sha256) &&
             resolve(handle, "EVP_sha384", &lib.sha384, sizeof lib.sha384) &&
             resolve(handle, "EVP_sha512", &lib.sha512, sizeof lib.sha512) &&
             resolve(handle, "EVP_MD_CTX_new", &lib.md_ctx_new, sizeof lib.md_ctx_new) &&
             resolve(handle, "EVP_MD_CTX_free", &lib.md_ctx_free, sizeof lib.md_ctx_free) &&
             resolve(handle, "EVP_DigestVerifyInit", &lib.verify_init, sizeof lib.verify_init) &&
             resolve(handle, "EVP_DigestVerify", &lib.verify, sizeof lib.verify) &&
             resolve(handle, "ERR_clear_error", &lib.clear_error, sizeof lib.clear_error);
    if (!lib.ok) dlclose(handle);
}

static const EVP_MD *digest_named(const char *name)
{
    if (strcmp(name, "SHA256") == 0) return lib.sha256();
    if (strcmp(name, "SHA384") == 0) return lib.sha384();
    if (strcmp(name, "SHA512") == 0) return lib.sha512();
    return NULL;
}

enum signature_result signature_verify(const char *digest, const unsigned char *spki,
                                       size_t spki_len, const void *data, size_t data_len,
                                       const unsigned char *sig, size_t sig_len, char *err,
                                       size_t errlen)
{
    pthread_once(&lib.once, load_once);
    if (!lib.ok) {
        snprintf(err, errlen, "moonrun needs " LIBCRYPTO " (OpenSSL 3) to check signatures: %s",
                 lib.failure);
        return SIGNATURE_ERROR;
    }
    const EVP_MD *md = digest_named(digest);
    if (!md) {
        snprintf(err, errlen, "unknown digest %s (SHA256, SHA384 or SHA512)", digest);
        return SIGNATURE_ERROR;
    }
    if (spki_len > LONG_MAX) {
        snprintf(err, errlen, "the public key is too long");
        return SIGNATURE_ERROR;
    }
    const unsigned char *p = spki;
    EVP_PKEY *key = lib.d2i_pubkey(NULL, &p, (long)spki_len);
    if (!key) {
        lib.clear_error(); /* OpenSSL's error queue is per thread: leave nothing for others */
        snprintf(err, errlen, "the key is not a DER SubjectPublicKeyInfo OpenSSL can read");
        return SIGNATURE_ERROR;
    }
    enum signature_result result = SIGNATURE_ERROR;
    EVP_MD_CTX *ctx = lib.md_ctx_new();
    if (!ctx) {
        snprintf(err, errlen, "out of memory for a digest context");
    } else if (lib.verify_init(ctx, NULL, md, NULL, key) != 1) {
        snprintf(err, errlen, "OpenSSL cannot check %s signatures with this key", digest);
    } else {
        /* 1 is a match; 0 or a negative value (a malformed signature) is not */
        result = lib.verify(ctx, sig, sig_len, data, data_len) == 1 ? SIGNATURE_VALID
                                                                    : SIGNATURE_INVALID;
    }
    lib.clear_error();
    if (ctx) lib.md_ctx_free(ctx);
    lib.pkey_free(key);
    return result;
}
