-- The client of bench/dev_sqs.sh: SendMessage, ReceiveMessage and DeleteMessage calls per
-- second through moonrun.sqs (one client, one keep-alive connection) against whatever SQS
-- AWS_ENDPOINT_URL_SQS names, so the embedded endpoint and moto are measured the same way.
--   moonrun run bench/dev_sqs_bench.lua QUEUE_NAME [N]
-- Every message sent must come back once and be deleted; a run that loses one fails.
-- Prints: send=R receive=R delete=R (operations per second)
local sqs = require "moonrun.sqs"
local time = require "moonrun.time"

local name, count = arg[1], tonumber(arg[2]) or 1000
if not name then
  io.stderr:write("usage: moonrun run dev_sqs_bench.lua QUEUE_NAME [N]\n")
  os.exit(2)
end

local url = sqs.create_queue{QueueName = name, Attributes = {VisibilityTimeout = "300"}}.QueueUrl
local body = '{"body":"Hello from Lambda! - 7","attributes":{"messageId":"0190d3f4-5c1e-7a6b-9c2d-3e4f5a6b7c8d"}}'

local function timed(fn)
  local start = time.monotonic()
  fn()
  return count / (time.monotonic() - start)
end

local send = timed(function()
  for _ = 1, count do sqs.send_message{QueueUrl = url, MessageBody = body} end
end)
local handles = {}
local receive = timed(function()
  for i = 1, count do
    local got = sqs.receive_message{QueueUrl = url, MaxNumberOfMessages = 1}.Messages
    if #got ~= 1 then error(string.format("receive %d found %d messages, expected 1", i, #got), 0) end
    handles[i] = got[1].ReceiptHandle
  end
end)
local delete = timed(function()
  for i = 1, count do sqs.delete_message{QueueUrl = url, ReceiptHandle = handles[i]} end
end)
local left = sqs.receive_message{QueueUrl = url, MaxNumberOfMessages = 10}.Messages
if #left ~= 0 then error(#left .. " messages are still in the queue after deleting all", 0) end
sqs.delete_queue{QueueUrl = url}
print(string.format("send=%.0f receive=%.0f delete=%.0f", send, receive, delete))
