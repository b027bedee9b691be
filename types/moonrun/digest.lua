---@meta moonrun.digest
local digest = {}

---@param s string
---@return string bytes
function digest.md5(s) end
---@param s string
---@return string hex
function digest.md5_hex(s) end
---@param s string
---@return string bytes
function digest.sha256(s) end
---@param s string
---@return string hex
function digest.sha256_hex(s) end
---@param key string
---@param s string
---@return string bytes
function digest.hmac_sha256(key, s) end
---@param key string
---@param s string
---@return string hex
function digest.hmac_sha256_hex(key, s) end

return digest
