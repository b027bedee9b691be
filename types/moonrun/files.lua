---@meta moonrun.files
local files = {}

---A string that changes whenever a file under dir is added, removed, renamed or written.
---@param dir string
---@return string
function files.stamp(dir) end

---The names in dir (without `.` and `..`), sorted; nil and why when it cannot be listed.
---@param dir string
---@return string[]|nil names
---@return string? why
function files.list(dir) end

return files
