-- Returns the event unchanged (decode -> encode round trip).
local M = {}

function M.handler(event, context)
  return event
end

return M
