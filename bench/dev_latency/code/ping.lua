-- Sends the request's body (a ping's number) to the queue.
local sqs = require "moonrun.sqs"

local M = {}

function M.handler(event)
  sqs.send_message{QueueUrl = os.getenv("QUEUE_URL"), MessageBody = event.body}
  return {statusCode = 202, body = "sent"}
end

return M
