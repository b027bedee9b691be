/* Public-key signature checks (RSA PKCS#1 v1.5 and ECDSA, over SHA-256/384/512) with OpenSSL's
 * libcrypto, loaded with dlopen on first use like the rest of moonrun's crypto (crypto.h): a
 * JWT authorizer of `moonrun dev` checks tokens with it, and nothing else pays for it.
 *
 * The key is a DER SubjectPublicKeyInfo and an ECDSA signature is DER (r, s): turning a JWK
 * and a JWS signature into those is plain byte work, done in Lua (moonrun/dev/jwt.lua). */
#ifndef MOONRUN_SIGNATURE_H
#define MOONRUN_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>

enum signature_result { SIGNATURE_VALID, SIGNATURE_INVALID, SIGNATURE_ERROR };

/* digest is "SHA256", "SHA384" or "SHA512". SIGNATURE_ERROR (with a sentence in err) when
 * libcrypto cannot be loaded, the digest is unknown or the key is not a public key;
 * SIGNATURE_INVALID when the signature does not match data (or is malformed). */
enum signature_result signature_verify(const char *digest, const unsigned char *spki,
                                       size_t spki_len, const void *data, size_t data_len,
                                       const unsigned char *sig, size_t sig_len, char *err,
                                       size_t errlen);

#endif
