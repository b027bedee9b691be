-- State survives between invocations: a module local and a global.
local count = 0
calls_seen = 0

local M = {}

function M.handler(event, context)
  count = count + 1
  calls_seen = calls_seen + 1
  return { count = count, global = calls_seen }
end

return M
