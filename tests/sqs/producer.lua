-- Fixture for tests/valgrind_aws.py: each invocation exercises the AWS path once over: a send,
-- concurrent batches, a receive, an AWS error caught with pcall, and (event.refused) a
-- transport failure with its retries.
local sqs = require "moonrun.sqs"

local client = sqs.client{retry_base_delay = 0.001}
local queue = client:queue("http://127.0.0.1/123456789012/q")

local M = {}

function M.handler(event)
  local sent = client:send_message{QueueUrl = queue.url, MessageBody = "hello " .. event.i,
    MessageAttributes = {n = {DataType = "Number", StringValue = tostring(event.i)}}}
  local items = {}
  for k = 1, 12 do items[k] = "item " .. k end
  local batch = queue:send_messages(items)
  local received = queue:receive_messages{WaitTimeSeconds = 0}
  local ok, err = pcall(client.get_queue_url, client, {QueueName = "missing"})
  local refused
  if event.refused then
    local dead = sqs.client{endpoint = event.refused, max_attempts = 2, retry_base_delay = 0.001}
    refused = select(2, pcall(dead.list_queues, dead, {})).code
  end
  return {id = sent.MessageId, sent = #batch.Successful, received = #received,
          error = not ok and err.code, refused = refused}
end

return M
