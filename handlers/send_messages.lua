-- The seed's second example: find test-queue with ListQueues and send it ten JSON messages,
-- printing the time and id of each.
local json = require "moonrun.json"
local sqs = require "moonrun.sqs"
local time = require "moonrun.time"
local uuid = require "moonrun.uuid"

local M = {}

local function get_queue_url()
  local url = sqs.list_queues{QueueNamePrefix = "test-queue"}.QueueUrls[1]
  if not url then error("Cannot find a queue named 'test-queue'.") end
  return url
end

function M.handler(event, context)
  local queue_url = get_queue_url()
  for i = 0, 9 do
    local message = {body = "Hello from Lambda! - " .. i,
                     attributes = {messageId = uuid.v4(), timestamp = time.now_ms()}}
    local response = sqs.send_message{QueueUrl = queue_url, MessageBody = json.encode(message),
                                      DelaySeconds = 0}
    print(time.format(time.now(), "%Y-%m-%d %H:%M:%S.%f", true) .. " | Send message id: " .. response.MessageId)
  end
  return {statusCode = 200, body = "Sent 10 messages to the test-queue."}
end

return M
