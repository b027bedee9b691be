---@meta moonrun.base64
local base64 = {}

---@param data string
---@return string
function base64.encode(data) end

---The bytes of base64 text; an error when it is not base64.
---@param text string
---@return string
function base64.decode(text) end

return base64
