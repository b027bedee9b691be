---@meta moonrun.uuid
local uuid = {}

---A random UUID, lower-case 8-4-4-4-12.
---@return string
function uuid.v4() end

---A time-ordered UUID (RFC 9562): ids sort by creation time.
---@return string
function uuid.v7() end

---Whether s is a UUID in canonical form (either case).
---@param s any
---@return boolean
function uuid.is_valid(s) end

return uuid
