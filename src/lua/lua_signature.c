/* The `moonrun.signature` module: verify(digest, public_key_der, data, signature) checks an
 * RSA (PKCS#1 v1.5) or ECDSA signature with libcrypto (see signature.h). Returns true or false;
 * raises when the check cannot be made (no libcrypto, an unknown digest, a key that is not one). */
#include <lauxlib.h>

#include "modules.h"
#include "signature.h"

static int signature_check(lua_State *L)
{
    const char *digest = luaL_checkstring(L, 1);
    size_t key_len, data_len, sig_len;
    const char *key = luaL_checklstring(L, 2, &key_len);
    const char *data = luaL_checklstring(L, 3, &data_len);
    const char *sig = luaL_checklstring(L, 4, &sig_len);
    char err[640];
    enum signature_result r =
        signature_verify(digest, (const unsigned char *)key, key_len, data, data_len,
                         (const unsigned char *)sig, sig_len, err, sizeof err);
    if (r == SIGNATURE_ERROR) return luaL_error(L, "signature: %s", err);
    lua_pushboolean(L, r == SIGNATURE_VALID);
    return 1;
}

int luaopen_moonrun_signature(lua_State *L)
{
    static const luaL_Reg functions[] = {{"verify", signature_check}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
