-- An SQS consumer: handles each record's JSON body and reports the records it could not
-- handle, so that Lambda retries only those (FunctionResponseTypes: ReportBatchItemFailures).
local events = require "moonrun.events"
local json = require "moonrun.json"

local M = {}

function M.handler(event)
  return events.sqs_batch(event, function(body, record)
    -- the producers' messages are {body = ..., attributes = ...}; others are shown whole
    local text = type(body) == "table" and body.body or json.encode(body)
    print(string.format("message %s: %s", record.messageId, tostring(text)))
  end, {json = true})
end

return M
