---@meta moonrun.signature
local signature = {}

--- Checks an RSA (PKCS#1 v1.5) or ECDSA signature of data with libcrypto. Raises when the check
--- cannot be made (no libcrypto, an unknown digest, a key that is not one).
---@param digest "SHA256"|"SHA384"|"SHA512"
---@param public_key_der string the key in DER (SubjectPublicKeyInfo)
---@param data string
---@param sig string
---@return boolean valid
function signature.verify(digest, public_key_der, data, sig) end

return signature
