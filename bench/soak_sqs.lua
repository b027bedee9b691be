-- Soak handler (bench/soak.sh): each invocation sends one SQS message through moonrun.sqs to
-- bench/canned_sqs, so the AWS path (signing, libcurl, JSON, MD5 check) runs a million times.
local sqs = require "moonrun.sqs"

local body = os.getenv("SOAK_BODY")
local url = os.getenv("SOAK_QUEUE_URL")

return {
  handler = function()
    return {id = sqs.send_message{QueueUrl = url, MessageBody = body}.MessageId}
  end,
}
