-- The seed's second example: find test-queue and send it ten JSON messages, printing the time
-- and id of each. The seed looked the queue up with ListQueues and took the first URL of the
-- prefix; that is test-queue-dlq as often as test-queue (the order is SQS's), so the queue is
-- asked for by its exact name, with the seed's error when it does not exist.
local json = require "moonrun.json"
local sqs = require "moonrun.sqs"
local time = require "moonrun.time"
local uuid = require "moonrun.uuid"

local M = {}

local function get_queue_url()
  local ok, result = pcall(sqs.get_queue_url, {QueueName = "test-queue"})
  if ok then return result.QueueUrl end
  if type(result) == "table" and result.code == "QueueDoesNotExist" then
    error("Cannot find a queue named 'test-queue'.")
  end
  error(result, 0)
end

function M.handler()
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
