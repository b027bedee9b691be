-- The logging benchmark's handler: one print per invocation, as a typical function logs.
local M = {}

function M.handler(event)
    print("processed order 12345 for customer c-6789")
    return event
end

return M
