-- The logging benchmark's in-process part: one invocation prints event.count lines (or logs them
-- with moonrun.log when event.log is set) and reports the CPU time (user + system, so a loaded
-- machine disturbs it less than wall time) per line, in nanoseconds, on stderr.
local log = require "moonrun.log"

local M = {}

function M.handler(event)
    local count = event.count or 200000
    local start = os.clock()
    if event.log then
        for i = 1, count do log.info("processed order", {order = i, customer = "c-6789"}) end
    else
        for _ = 1, count do print("processed order 12345 for customer c-6789") end
    end
    io.stderr:write(string.format("%.1f\n", (os.clock() - start) / count * 1e9))
    return true
end

return M
