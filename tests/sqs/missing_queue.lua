-- Fixture for tests/test_sqs.py: an AWS error left unhandled reaches Lambda with its code.
local sqs = require "moonrun.sqs"

return {
  handler = function()
    return sqs.get_queue_url{QueueName = "no-such-queue"}
  end,
}
