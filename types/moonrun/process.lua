---@meta moonrun.process
local process = {}

---@class MoonrunChild
---@field pid fun(self: MoonrunChild): integer
---@field kill fun(self: MoonrunChild, signal?: "TERM"|"KILL"|"INT")
---@field running fun(self: MoonrunChild): boolean

---A child process whose output arrives line by line through moonrun.event_loop's poll.
---@param options {argv: string[], env?: table<string, string>, cwd?: string, on_output?: fun(stream: "stdout"|"stderr", line: string), on_exit?: fun(code: integer|nil, signal: string|nil)}
---@return MoonrunChild
function process.spawn(options) end

return process
