-- The logging benchmark's handler: one moonrun.log record with two fields per invocation.
local log = require "moonrun.log"

local M = {}

function M.handler(event)
    log.info("processed order", {order = 12345, customer = "c-6789"})
    return event
end

return M
