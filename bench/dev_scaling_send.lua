-- bench/dev_scaling.sh's producer: N messages to the queue NAME of the SQS at ENDPOINT, ten a call.
--   moonrun run bench/dev_scaling_send.lua ENDPOINT NAME N
local sqs = require "moonrun.sqs"
local endpoint, name, count = arg[1], arg[2], tonumber(arg[3])
local client = sqs.client{endpoint = endpoint}
local url = client:get_queue_url{QueueName = name}.QueueUrl
for first = 1, count, 10 do
  local entries = {}
  for i = first, math.min(first + 9, count) do entries[#entries + 1] = {Id = "m" .. i, MessageBody = "job " .. i} end
  local result = client:send_message_batch{QueueUrl = url, Entries = entries}
  if #result.Failed > 0 then error("a send failed: " .. tostring(result.Failed[1].Message), 0) end
end
