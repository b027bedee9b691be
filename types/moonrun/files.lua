---@meta moonrun.files
local files = {}

---A string that changes whenever a file under dir is added, removed, renamed or written.
---@param dir string
---@return string
function files.stamp(dir) end

return files
