-- Echo handler for the benchmark: returns the decoded event unchanged, so the runtime's
-- own cost (HTTP, JSON decode and encode, the Lua call) is all that is measured.
local M = {}

function M.handler(event)
    return event
end

return M
