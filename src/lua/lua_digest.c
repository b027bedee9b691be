/* The `moonrun.digest` module: MD5 and SHA-256 (as raw bytes or lowercase hex) and
 * HMAC-SHA256, computed by OpenSSL's libcrypto (loaded on first use, see crypto.h). MD5 is here
 * for the checksums AWS still uses (SQS's MD5OfMessageBody), not for security. */
#include <lauxlib.h>
#include <stdbool.h>

#include "crypto.h"
#include "modules.h"

#define ERR_SIZE 640

static int push_digest(lua_State *L, const unsigned char *bytes, size_t n, bool hex)
{
    if (!hex) {
        lua_pushlstring(L, (const char *)bytes, n);
        return 1;
    }
    char text[2 * CRYPTO_SHA256_SIZE + 1];
    crypto_hex(bytes, n, text);
    lua_pushlstring(L, text, 2 * n);
    return 1;
}

static int md5(lua_State *L, bool hex)
{
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    unsigned char out[CRYPTO_MD5_SIZE];
    char err[ERR_SIZE];
    if (!crypto_md5(data, n, out, err, sizeof err)) return luaL_error(L, "digest: %s", err);
    return push_digest(L, out, sizeof out, hex);
}

static int sha256(lua_State *L, bool hex)
{
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    unsigned char out[CRYPTO_SHA256_SIZE];
    char err[ERR_SIZE];
    if (!crypto_sha256(data, n, out, err, sizeof err)) return luaL_error(L, "digest: %s", err);
    return push_digest(L, out, sizeof out, hex);
}

/* hmac_sha256(key, data): both strings of any bytes. */
static int hmac_sha256(lua_State *L, bool hex)
{
    size_t keylen, n;
    const char *key = luaL_checklstring(L, 1, &keylen);
    const char *data = luaL_checklstring(L, 2, &n);
    unsigned char out[CRYPTO_SHA256_SIZE];
    char err[ERR_SIZE];
    if (!crypto_hmac_sha256(key, keylen, data, n, out, err, sizeof err))
        return luaL_error(L, "digest: %s", err);
    return push_digest(L, out, sizeof out, hex);
}

static int digest_md5(lua_State *L)
{
    return md5(L, false);
}
static int digest_md5_hex(lua_State *L)
{
    return md5(L, true);
}
static int digest_sha256(lua_State *L)
{
    return sha256(L, false);
}
static int digest_sha256_hex(lua_State *L)
{
    return sha256(L, true);
}
static int digest_hmac_sha256(lua_State *L)
{
    return hmac_sha256(L, false);
}
static int digest_hmac_sha256_hex(lua_State *L)
{
    return hmac_sha256(L, true);
}

int luaopen_moonrun_digest(lua_State *L)
{
    static const luaL_Reg functions[] = {{"md5", digest_md5},
                                         {"md5_hex", digest_md5_hex},
                                         {"sha256", digest_sha256},
                                         {"sha256_hex", digest_sha256_hex},
                                         {"hmac_sha256", digest_hmac_sha256},
                                         {"hmac_sha256_hex", digest_hmac_sha256_hex},
                                         {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
