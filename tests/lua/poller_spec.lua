-- Specs of the parts of moonrun.dev.poller that need no queue (tests/test_dev_poller.py runs the
-- poller against moto): build/moonrun run /usr/bin/busted tests/lua/poller_spec.lua
local poller = require "moonrun.dev.poller"
local lambda_events = require "moonrun.events"
local json = require "moonrun.json"
local base64 = require "moonrun.base64"
local digest = require "moonrun.digest"

local BASE = '"queue_url": "http://127.0.0.1:9324/000000000000/orders", "invoke_url": "http://127.0.0.1:3001/f"'

local function config(extra)
  local parsed, why = poller.parse_config("{" .. BASE .. (extra and ", " .. extra or "") .. "}")
  assert.is_truthy(parsed, why)
  return parsed
end

local function problem(text)
  local parsed, why = poller.parse_config(text)
  assert.is_nil(parsed)
  return why
end

describe("moonrun.dev.poller", function()
  describe("configuration", function()
    it("takes FilterCriteria's patterns, and names a bad one", function()
      local c = config('"filters": ["{\\"body\\": {\\"kind\\": [\\"order\\"]}}"]')
      assert.is_true(c.matches({body = '{"kind": "order"}'}))
      assert.is_false(c.matches({body = '{"kind": "refund"}'}))
      assert.are.equal("'filters': filter pattern 1: body.kind: an empty list matches nothing",
        problem("{" .. BASE .. ', "filters": ["{\\"body\\": {\\"kind\\": []}}"]}'))
      assert.are.equal("'filters'[1] must be a pattern's JSON text", problem("{" .. BASE .. ', "filters": [1]}'))
      assert.are.equal("'filters' must be a list of patterns (JSON texts)", problem("{" .. BASE .. ', "filters": {"a": "b"}}'))
    end)
    it("fills in Lambda's defaults and what the URL tells", function()
      local c = config()
      assert.are.equal(10, c.batch_size)
      assert.are.equal(0, c.window_s)
      assert.are.equal(3, c.function_timeout_s)
      assert.are.equal("orders", c.queue_name)
      assert.is_false(c.fifo)
      assert.are.equal("arn:aws:sqs:" .. c.region .. ":000000000000:orders", c.queue_arn)
      local fifo = poller.parse_config('{"queue_url": "http://h/1/jobs.fifo", "invoke_url": "http://h/", ' ..
                                       '"queue_arn": "arn:aws:sqs:eu-west-1:1:jobs.fifo"}')
      assert.is_true(fifo.fifo)
      assert.are.equal("eu-west-1", fifo.region)
    end)

    it("takes the configuration from a file with @", function()
      local path = os.tmpname()
      local file = assert(io.open(path, "w"))
      file:write("{" .. BASE .. ', "batch_size": 3}')
      file:close()
      assert.are.equal(3, poller.parse_config("@" .. path).batch_size)
      os.remove(path)
      assert.truthy(problem("@" .. path):find("cannot read the configuration file", 1, true))
    end)

    it("names what is wrong", function()
      assert.truthy(problem("{"):find("not JSON", 1, true))
      assert.truthy(problem("{" .. BASE .. ', "window_s": 301}'):find("0 to 300", 1, true))
      assert.truthy(problem("{" .. BASE .. ', "batch_size": 0}'):find("1 to 10000", 1, true))
      assert.truthy(problem("{" .. BASE .. ', "batch_size": 2.5}'):find("whole number", 1, true))
      assert.truthy(problem("{" .. BASE .. ', "function_timeout_s": 0}'):find("positive", 1, true))
      assert.truthy(problem('{"queue_url": "http://h/1/q", "invoke_url": "ftp://h/"}'):find("http:// or https://", 1, true))
      assert.truthy(problem('{"queue_url": "http://h/1/q", "invoke_url": "http://h/", "queue_arn": "x"}')
        :find("not an SQS queue ARN", 1, true))
      assert.truthy(problem("{" .. BASE .. ', "report_batch_item_failures": "yes"}'):find("must be a boolean", 1, true))
      assert.is_truthy(config('"batch_size": 10000, "window_s": 1'))
    end)
  end)

  describe("the event", function()
    local c = config()
    local message = {
      MessageId = "m-1", ReceiptHandle = "rh-1", Body = "héllo", MD5OfBody = digest.md5_hex("héllo"),
      Attributes = {ApproximateReceiveCount = "2", SentTimestamp = "1", SenderId = "AIDA", ApproximateFirstReceiveTimestamp = "2"},
      MessageAttributes = {kind = {DataType = "String", StringValue = "x"}, raw = {DataType = "Binary", BinaryValue = "\0\255"}},
      MD5OfMessageAttributes = "abc",
    }

    it("is a record in Lambda's shape", function()
      local record = poller.record(message, c)
      assert.are.equal("m-1", record.messageId)
      assert.are.equal("rh-1", record.receiptHandle)
      assert.are.equal("héllo", record.body)
      assert.are.same(message.Attributes, record.attributes)
      assert.are.equal(digest.md5_hex("héllo"), record.md5OfBody)
      assert.are.equal("abc", record.md5OfMessageAttributes)
      assert.are.equal("aws:sqs", record.eventSource)
      assert.are.equal(c.queue_arn, record.eventSourceARN)
      assert.are.equal(c.region, record.awsRegion)
      assert.are.same({stringValue = "x", stringListValues = {}, binaryListValues = {}, dataType = "String"},
        record.messageAttributes.kind)
      assert.are.equal("\0\255", base64.decode(record.messageAttributes.raw.binaryValue))
      local text = json.encode(record.messageAttributes.kind)
      assert.truthy(text:find('"stringListValues":[]', 1, true), text)
    end)

    it("has no md5OfMessageAttributes without attributes, and an empty messageAttributes object", function()
      local record = poller.record({MessageId = "m", ReceiptHandle = "r", Body = "b"}, c)
      assert.is_nil(record.md5OfMessageAttributes)
      assert.are.equal(digest.md5_hex("b"), record.md5OfBody)
      assert.are.equal("{}", json.encode(record.messageAttributes))
    end)

    it("splits a batch over 6 MB into several events, keeping the order", function()
      local big = string.rep("x", 2 * 1024 * 1024)
      local records = {}
      for i = 1, 5 do records[i] = poller.record({MessageId = "m" .. i, ReceiptHandle = "r", Body = big}, c) end
      local events = poller.events(records)
      assert.are.equal(3, #events)
      local ids = {}
      for _, event in ipairs(events) do
        assert.is_true(#event.text <= poller.MAX_PAYLOAD_BYTES)
        for _, record in ipairs(json.decode(event.text).Records) do ids[#ids + 1] = record.messageId end
      end
      assert.are.same({"m1", "m2", "m3", "m4", "m5"}, ids)
      assert.are.equal(1, #poller.events({records[1]}))
      assert.are.same({}, poller.events({}))
    end)
  end)

  describe("reported batch item failures (moonrun.events, which the poller uses)", function()
    local batch = {a = true, b = true}

    it("reads the failed ids", function()
      assert.are.same({a = true}, lambda_events.reported_failures('{"batchItemFailures": [{"itemIdentifier": "a"}]}', batch))
      assert.are.same({a = true, b = true}, lambda_events.reported_failures(
        '{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}, {"itemIdentifier": "a"}]}', batch))
    end)

    it("counts an empty or null answer or list as a complete success", function()
      for _, body in ipairs{"", "null", "{}", '{"batchItemFailures": []}', '{"batchItemFailures": null}',
                            '{"statusCode": 200}'} do
        assert.are.same({}, lambda_events.reported_failures(body, batch), body)
      end
      assert.are.same({}, lambda_events.reported_failures(nil, batch))
    end)

    it("counts an invalid answer as a complete failure, saying why", function()
      for body, fragment in pairs{
        ["{not json"] = "not JSON", ['"ok"'] = "not an object", ["[1]"] = "not an object", ["true"] = "not an object",
        ['{"batchItemFailures": {}}'] = "not a list", ['{"batchItemFailures": "a"}'] = "not a list",
        ['{"batchItemFailures": ["a"]}'] = "is not an object", ['{"batchItemFailures": [{"itemIdentifier": ""}]}'] = "no itemIdentifier",
        ['{"batchItemFailures": [{"itemIdentifier": null}]}'] = "no itemIdentifier",
        ['{"batchItemFailures": [{"itemIdentifier": 5}]}'] = "no itemIdentifier",
        ['{"batchItemFailures": [{"id": "a"}]}'] = "no itemIdentifier",
        ['{"batchItemFailures": [{"itemIdentifier": "zzz"}]}'] = "zzz is not a message of the batch",
      } do
        local failed, why = lambda_events.reported_failures(body, batch)
        assert.is_nil(failed, body)
        assert.truthy(why:find(fragment, 1, true), body .. ": " .. tostring(why))
      end
    end)
  end)
end)
