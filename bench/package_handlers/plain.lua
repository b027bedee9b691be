-- The packaged cold-start benchmark's plain handler: returns the event, and needs nothing but
-- moonrun's own C modules at init, so libcurl and OpenSSL stay unloaded.
local M = {}

function M.handler(event)
    return event
end

return M
