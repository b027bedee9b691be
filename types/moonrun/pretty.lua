---@meta moonrun.pretty
local pretty = {}

---value as readable text (the REPL's printing).
---@param value any
---@param options? {depth?: integer, indent?: string}
---@return string
function pretty.format(value, options) end

return pretty
