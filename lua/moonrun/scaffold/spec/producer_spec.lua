-- The producer, invoked as Lambda would invoke it, against the embedded SQS with the template's
-- queues (moonrun test runs this file; see moonrun's docs/testing.md, "moonrun.testing").
local json = require "moonrun.json"
local testing = require "moonrun.testing"

describe("Producer", function()
  local queues

  before_each(function() queues = testing.sqs() end)
  after_each(function() if queues then queues:close() end end)

  local function send(body)
    return testing.invoke("Producer", testing.event("apigw-http", {method = "POST", path = "/send", body = body}))
  end

  it("puts each message on the queue", function()
    local answer, err = send({messages = {"first", "second"}})
    assert.is_nil(err)
    assert.equal(200, answer.statusCode)
    assert.equal(2, json.decode(answer.body).sent)
    local received = {}
    for i, body in ipairs(queues:bodies("Queue")) do received[i] = json.decode(body).text end
    table.sort(received)
    assert.same({"first", "second"}, received)
  end)

  it("answers 400 to a body without messages, and sends nothing", function()
    local answer, err = send("not json")
    assert.is_nil(err)
    assert.equal(400, answer.statusCode)
    assert.equal(0, queues:count("Queue").visible)
  end)

  it("gets the queue's URL from the template", function()
    assert.equal(queues:url("Queue"), testing.env("Producer").QUEUE_URL)
  end)
end)
