---@meta moonrun.repl_complete
local repl_complete = {}

---The REPL's completions of word (a name path such as `json.enc` or `q:se`), looked up in env
---(default the globals) without running code: full replacements, sorted.
---@param word string
---@param env? table
---@return string[]
function repl_complete.complete(word, env) end

return repl_complete
