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

---The absolute path, symbolic links resolved; nil and why when it does not exist.
---@param path string
---@return string|nil path
---@return string? why
function files.realpath(path) end

return files
