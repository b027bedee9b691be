-- The seed's first example: find the queue named test-queue and send it one JSON message.
local json = require "moonrun.json"
local sqs = require "moonrun.sqs"
local uuid = require "moonrun.uuid"

local M = {}

function M.handler()
  local queue = sqs.get_queue_by_name("test-queue")
  local message = {body = "hello world", attributes = {messageId = uuid.v4()}}
  local response = queue:send_message{MessageBody = json.encode(message)}
  print(response.MessageId)
  return {statusCode = 200, body = "Message sent successfully"}
end

return M
