-- The consumer: every message handled, or the failed ones reported in batchItemFailures.
local testing = require "moonrun.testing"

describe("Consumer", function()
  it("handles every message of a batch", function()
    local event = testing.event("sqs", {body = {{text = "one"}, {text = "two"}}})
    local answer, err = testing.invoke("Consumer", event)
    assert.is_nil(err)
    assert.same({}, answer.batchItemFailures)
  end)

  it("reports the message it cannot handle, and only that one", function()
    local event = testing.event("sqs", {body = {{text = "fine"}, "not JSON"}})
    local answer, err = testing.invoke("Consumer", event)
    assert.is_nil(err)
    assert.same({{itemIdentifier = event.Records[2].messageId}}, answer.batchItemFailures)
  end)

  it("consumes what the producer sent", function()
    local queues = testing.sqs()
    finally(function() queues:close() end)
    queues:send("Queue", '{"text": "from the queue"}')
    local answer, err = testing.invoke("Consumer", queues:event("Queue"))
    assert.is_nil(err)
    assert.same({}, answer.batchItemFailures)
  end)
end)
