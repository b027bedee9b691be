-- A handler that never returns: `moonrun invoke --timeout` must stop it.
local M = {}

function M.handler()
  while true do end
end

return M
