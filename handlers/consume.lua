-- An SQS consumer: handles each record's JSON body and reports the records it could not
-- handle, so that Lambda retries only those (FunctionResponseTypes: ReportBatchItemFailures).
local json = require "moonrun.json"

local M = {}

function M.handler(event, context)
  local failures = json.array{}
  for _, record in ipairs(event.Records or {}) do
    local ok, message = pcall(json.decode, record.body)
    if ok then
      print(string.format("message %s: %s", record.messageId, record.body))
    else
      print(string.format("message %s is not JSON, left for a retry: %s", record.messageId, message))
      failures[#failures + 1] = {itemIdentifier = record.messageId}
    end
  end
  return {batchItemFailures = failures}
end

return M
