local M = {}

function M.handler(event context)
  return event
end

return M
