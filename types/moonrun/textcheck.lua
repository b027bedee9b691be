---@meta moonrun.textcheck
local textcheck = {}

---The byte position where s stops being text SQS accepts, or nil when it is all valid.
---@param s string
---@return integer|nil
function textcheck.find_invalid(s) end

return textcheck
