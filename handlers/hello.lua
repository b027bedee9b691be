-- The smallest useful handler: greets whoever the event names and shows what Lambda passed.
local json = require "moonrun.json"

local M = {}

function M.handler(event, context)
  local name = event.name or "world"
  print(string.format("request %s, %d ms left", context.aws_request_id, context:get_remaining_time_in_millis()))
  return {
    statusCode = 200,
    headers = {["Content-Type"] = "application/json"},
    body = json.encode({message = "Hello, " .. name .. "!", function_name = context.function_name}),
  }
end

return M
