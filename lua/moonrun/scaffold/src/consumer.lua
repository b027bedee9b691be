-- The queue's messages, each {"text": ...}: printed one by one. A message that cannot be handled
-- is reported in batchItemFailures (the trigger has ReportBatchItemFailures), so only it returns
-- to the queue, and after three receives moves to the dead-letter queue.
local events = require "moonrun.events"

local M = {}

local function handle(message, record)
  if type(message) ~= "table" or type(message.text) ~= "string" then
    error('expected a message {"text": ...}')
  end
  print(string.format("message %s: %s", record.messageId, message.text))
end

function M.handler(event)
  -- each record in a protected call: the failed ones are reported, the others are done
  return events.sqs_batch(event, handle, {json = true})
end

return M
