---@meta moonrun.append_file
local append_file = {}

---@class moonrun.AppendFile
local AppendFile = {}

---Appends all of data or none of it (a failed write is cut off again); with sync, fdatasync too.
---@param data string
---@param sync? boolean
---@return true|nil ok
---@return string? message
function AppendFile:append(data, sync) end

---Encodes value as one JSON line into the file's own buffer, to be appended by commit (an error
---if it cannot be encoded; the lines staged before stay).
---@param value any
function AppendFile:stage(value) end

---What is staged: lines and bytes.
---@return integer lines
---@return integer bytes
function AppendFile:staged() end

---Appends the staged lines as append does (all or none), and forgets them either way.
---@param sync? boolean
---@return true|nil ok
---@return string? message
function AppendFile:commit(sync) end

---Forgets the staged lines.
function AppendFile:discard() end

---fdatasync: what was appended survives an OS crash.
---@return true|nil ok
---@return string? message
function AppendFile:sync() end

---The file's size where the last whole append ended.
---@return integer
function AppendFile:size() end

function AppendFile:close() end

---Opens path for appending, created 0600 if missing.
---@param path string
---@return moonrun.AppendFile|nil file
---@return string? message
function append_file.open(path) end

---Makes path and its missing parents, 0700.
---@param path string
---@return true|nil ok
---@return string? message
function append_file.private_dir(path) end

return append_file
