-- Prints when each ping reached the consumer (wall-clock seconds, as the client measures).
local time = require "moonrun.time"

local M = {}

function M.handler(event)
  local now = time.now()
  for _, record in ipairs(event.Records) do print(string.format("pong %s %.6f", record.body, now)) end
end

return M
