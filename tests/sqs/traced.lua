-- Fixture for tests/test_sqs.py: messages sent while serving an invocation carry its trace
-- header.
local sqs = require "moonrun.sqs"

return {
  handler = function(event)
    sqs.send_message{QueueUrl = event.url, MessageBody = "single"}
    sqs.send_message_batch{QueueUrl = event.url, Entries = {
      {Id = "a", MessageBody = "batch a"},
      {Id = "b", MessageBody = "batch b", MessageSystemAttributes = {
        AWSTraceHeader = {DataType = "String", StringValue = "Root=1-00000000-caller"}}},
    }}
    return "sent"
  end,
}
