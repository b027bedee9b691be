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
---With i and j, the text is text:sub(i, j), read in place (no copy of the slice is made).
---@param text string
---@param i? integer
---@param j? integer
---@return any
function json.decode(text, i, j) end

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
