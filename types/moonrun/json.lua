---@meta moonrun.json
-- JSON as Lambda carries it: integers stay integers, UTF-8 stays UTF-8.
local json = {}

---The sentinel for JSON's null (a Lua table cannot hold nil).
---@type lightuserdata
json.null = nil

---The JSON text of a value; an error names what cannot be written and where.
---@param value any
---@return string
function json.encode(value) end

---The value of a JSON text: objects are tables, arrays are tables marked as arrays, null is json.null.
---@param text string
---@return any
function json.decode(text) end

---A file of JSON lines being read (json.open_lines).
---@class moonrun.json.Lines
local Lines = {}

---The next line that is not empty: its number, then true and its value, or false and why it is
---not JSON; nil at the end of the file. A read that fails raises an error.
---@return integer? number
---@return boolean decoded
---@return any value_or_reason
function Lines:next() end

---After the end: whether the file ended on a newline (or was empty).
---@return boolean
function Lines:ends_whole() end

function Lines:close() end

---Opens a file of JSON lines, read in big blocks and decoded in place; nil, a message and the
---errno when it cannot be opened, as io.open.
---@param path string
---@return moonrun.json.Lines? lines
---@return string? message
---@return integer? errno
function json.open_lines(path) end

---Marks t (or a new table) as a JSON array, so that an empty one writes as [].
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

---Whether t is marked as an array (decoded arrays are).
---@param t any
---@return boolean
function json.is_array(t) end

return json
