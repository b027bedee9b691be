-- Specs of moonrun.dev.sqs.api, the AWS JSON 1.0 protocol of moonrun dev's embedded SQS,
-- through api:handle with a fake scheduler, and of the parts it is made of (request_checks,
-- signature) on their own: build/moonrun run /usr/bin/busted tests/lua/sqs_api_spec.lua
local json = require "moonrun.json"
local sigv4 = require "moonrun.sigv4"
local sqs_api = require "moonrun.dev.sqs.api"
local sqs_store = require "moonrun.dev.sqs.store"
local request_checks = require "moonrun.dev.sqs.request_checks"
local signature = require "moonrun.dev.sqs.signature"

local clock = {now = 1700000000000}
local function advance(seconds) clock.now = clock.now + math.floor(seconds * 1000) end

-- A scheduler whose wait either runs what the spec planned (a send that wakes the waiter) or
-- lets the timeout pass on the clock.
local function fake_sched()
  local sched = {waits = {}, notified = {}}
  function sched.now_ms() return clock.now end
  function sched.notify(key) sched.notified[#sched.notified + 1] = key end
  function sched.wait(key, timeout_s)
    sched.waits[#sched.waits + 1] = {key = key, timeout = timeout_s}
    local planned = table.remove(sched.plan or {}, 1)
    if planned then
      planned()
      return true
    end
    advance(timeout_s)
    return false
  end
  return sched
end

local api, store, sched, internal
local function setup(options)
  options = options or {}
  store = sqs_store.new{now_ms = function() return clock.now end, base_url = "http://127.0.0.1:9324"}
  sched = fake_sched()
  internal = {}
  api = sqs_api.new{store = store, sched = sched, credentials = options.credentials,
    warn = function(message) internal[#internal + 1] = message end}
end

local function request(target, body, headers)
  local h = {["content-type"] = "application/x-amz-json-1.0", ["x-amz-target"] = target, host = "127.0.0.1:9324"}
  for k, v in pairs(headers or {}) do h[k] = v or nil end
  return {method = "POST", path = "/", query = "", headers = h, body = body, remote = "127.0.0.1"}
end

-- Calls operation; returns the status, the decoded body and the headers.
local function call(operation, params, headers)
  local body = params == nil and "{}" or type(params) == "string" and params or json.encode(params)
  local status, response_headers, text = api:handle(request("AmazonSQS." .. operation, body, headers))
  assert.equal("application/x-amz-json-1.0", response_headers["content-type"])
  assert.is_string(response_headers["x-amzn-requestid"])
  return status, json.decode(text), response_headers
end

-- Calls operation expecting an error: checks the status, __type, and query code.
local function call_error(operation, params, status, type_name, query_code)
  local got_status, body, headers = call(operation, params)
  assert.equal(status, got_status, json.encode(body))
  assert.equal(type_name, body.__type)
  assert.is_string(body.message)
  assert.equal(query_code .. (status >= 500 and ";Receiver" or ";Sender"), headers["x-amzn-query-error"])
  return body.message
end

local function create(name, attributes)
  local status, body = call("CreateQueue", {QueueName = name, Attributes = attributes})
  assert.equal(200, status, json.encode(body))
  return body.QueueUrl
end

describe("sqs_api: protocol and errors", function()
  before_each(setup)

  it("answers a queue that does not exist as SQS does", function()
    call_error("GetQueueUrl", {QueueName = "none"}, 400, "com.amazonaws.sqs#QueueDoesNotExist",
      "AWS.SimpleQueueService.NonExistentQueue")
    call_error("SendMessage", {QueueUrl = "http://127.0.0.1:9324/000000000000/none", MessageBody = "x"},
      400, "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
  end)

  it("refuses an unknown operation, a missing target, bad JSON, and the query protocol", function()
    call_error("Bogus", {}, 400, "com.amazon.coral.service#UnknownOperationException", "InvalidAction")
    local status, _, body = api:handle(request(nil, "{}"))
    assert.equal(400, status)
    assert.truthy(body:find("UnknownOperationException", 1, true))
    call_error("ListQueues", "{not json", 400, "com.amazon.coral.service#SerializationException", "MalformedInput")
    call_error("ListQueues", "[1,2]", 400, "com.amazon.coral.service#SerializationException", "MalformedInput")
    status = api:handle(request("AmazonSQS.ListQueues", "Action=ListQueues",
      {["content-type"] = "application/x-www-form-urlencoded"}))
    assert.equal(400, status)
    local get = request("AmazonSQS.ListQueues", "")
    get.method = "GET"
    assert.equal(400, (api:handle(get)))
  end)

  it("names a missing or mistyped parameter", function()
    local message = call_error("CreateQueue", {}, 400, "com.amazonaws.sqs#MissingParameter", "MissingParameter")
    assert.truthy(message:find("QueueName", 1, true))
    call_error("CreateQueue", {QueueName = 5}, 400, "com.amazon.coral.service#SerializationException", "MalformedInput")
    local url = create("q")
    call_error("ReceiveMessage", {QueueUrl = url, MaxNumberOfMessages = "3"}, 400,
      "com.amazon.coral.service#SerializationException", "MalformedInput")
    call_error("ReceiveMessage", {QueueUrl = url, MaxNumberOfMessages = 11}, 400,
      "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue")
    call_error("ReceiveMessage", {QueueUrl = url, WaitTimeSeconds = 21}, 400,
      "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue")
  end)

  it("answers JSON even when the error quotes bytes that are not UTF-8", function()
    local status, headers, body = api:handle(request("AmazonSQS.\255\254", "{}"))
    assert.equal(400, status)
    assert.equal("InvalidAction;Sender", headers["x-amzn-query-error"])
    assert.truthy(json.decode(body).message:find("AmazonSQS.??", 1, true))
  end)

  it("answers InternalFailure when the journal cannot be written, and keeps nothing of the change", function()
    local dir = os.tmpname()
    os.remove(dir)
    store = sqs_store.new{now_ms = function() return clock.now end, state_dir = dir}
    api = sqs_api.new{store = store, sched = sched, warn = function(message) internal[#internal + 1] = message end}
    local url = create("q")
    -- the file refuses the append as a full disk does (the real full disk: tests/test_dev_durability.py)
    local file = store.journal
    store.journal = setmetatable({commit = function()
        file:discard() -- as a failed commit forgets what was staged
        return nil, "write: No space left on device"
      end},
      {__index = function(_, name) return function(_, ...) return file[name](file, ...) end end})
    local status, body = call("SendMessage", {QueueUrl = url, MessageBody = "lost"})
    assert.equal(500, status)
    assert.equal("com.amazon.coral.service#InternalFailure", body.__type)
    assert.truthy(internal[1]:find("No space left on device", 1, true))
    store.journal = file
    local _, received = call("ReceiveMessage", {QueueUrl = url})
    assert.same({}, received.Messages or {})
    assert.equal(200, (call("SendMessage", {QueueUrl = url, MessageBody = "kept"})))
    _, received = call("ReceiveMessage", {QueueUrl = url})
    assert.equal("kept", received.Messages[1].Body)
    store:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("turns an internal failure into InternalFailure, never a raised error", function()
    local url = create("q")
    store.send = function() error("boom") end
    local status, body, headers = call("SendMessage", {QueueUrl = url, MessageBody = "x"})
    assert.equal(500, status)
    assert.equal("com.amazon.coral.service#InternalFailure", body.__type)
    assert.equal("InternalFailure;Receiver", headers["x-amzn-query-error"])
    assert.truthy(internal[1]:find("boom", 1, true))
  end)
end)

describe("sqs_api: queues", function()
  before_each(setup)

  it("creates, finds, lists in pages, and deletes queues", function()
    local url = create("alpha")
    assert.equal("http://127.0.0.1:9324/000000000000/alpha", url)
    assert.equal(url, create("alpha"))
    create("beta")
    create("alpine")
    local _, body = call("GetQueueUrl", {QueueName = "beta"})
    assert.equal("http://127.0.0.1:9324/000000000000/beta", body.QueueUrl)
    _, body = call("ListQueues", {QueueNamePrefix = "al"})
    assert.same({"http://127.0.0.1:9324/000000000000/alpha", "http://127.0.0.1:9324/000000000000/alpine"}, body.QueueUrls)
    assert.is_nil(body.NextToken)
    _, body = call("ListQueues", {MaxResults = 2})
    assert.equal(2, #body.QueueUrls)
    assert.is_string(body.NextToken)
    _, body = call("ListQueues", {MaxResults = 2, NextToken = body.NextToken})
    assert.same({"http://127.0.0.1:9324/000000000000/beta"}, body.QueueUrls)
    assert.is_nil(body.NextToken)
    _, body = call("ListQueues", {QueueNamePrefix = "zzz"})
    assert.same({}, body)
    assert.equal(200, (call("DeleteQueue", {QueueUrl = url})))
    call_error("DeleteQueue", {QueueUrl = url}, 400, "com.amazonaws.sqs#QueueDoesNotExist",
      "AWS.SimpleQueueService.NonExistentQueue")
    call_error("CreateQueue", {QueueName = "alpha"}, 400, "com.amazonaws.sqs#QueueDeletedRecently",
      "AWS.SimpleQueueService.QueueDeletedRecently")
  end)

  it("refuses the same name with other attributes", function()
    create("q", {VisibilityTimeout = "5"})
    call_error("CreateQueue", {QueueName = "q", Attributes = {VisibilityTimeout = "6"}}, 400,
      "com.amazonaws.sqs#QueueNameExists", "QueueAlreadyExists")
  end)

  it("gets All attributes, or the named ones, and sets them", function()
    local url = create("q")
    local _, body = call("GetQueueAttributes", {QueueUrl = url, AttributeNames = {"All"}})
    local a = body.Attributes
    assert.equal("30", a.VisibilityTimeout)
    assert.equal("0", a.ApproximateNumberOfMessages)
    assert.equal("arn:aws:sqs:us-east-1:000000000000:q", a.QueueArn)
    assert.equal("1048576", a.MaximumMessageSize)
    assert.equal("345600", a.MessageRetentionPeriod)
    assert.is_nil(a.FifoQueue)
    assert.equal(200, (call("SetQueueAttributes", {QueueUrl = url, Attributes = {VisibilityTimeout = "7"}})))
    _, body = call("GetQueueAttributes", {QueueUrl = url, AttributeNames = {"VisibilityTimeout"}})
    assert.same({Attributes = {VisibilityTimeout = "7"}}, body)
    _, body = call("GetQueueAttributes", {QueueUrl = url})
    assert.same({}, body)
    call_error("GetQueueAttributes", {QueueUrl = url, AttributeNames = {"Bogus"}}, 400,
      "com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName")
    call_error("SetQueueAttributes", {QueueUrl = url, Attributes = {VisibilityTimeout = "x"}}, 400,
      "com.amazonaws.sqs#InvalidAttributeValue", "InvalidAttributeValue")
    local fifo = create("f.fifo", {FifoQueue = "true"})
    _, body = call("GetQueueAttributes", {QueueUrl = fifo, AttributeNames = {"All"}})
    assert.equal("true", body.Attributes.FifoQueue)
    assert.equal("false", body.Attributes.ContentBasedDeduplication)
  end)

  it("tags, untags and lists tags", function()
    local url = create("q")
    call("TagQueue", {QueueUrl = url, Tags = {a = "1", b = "2"}})
    call("UntagQueue", {QueueUrl = url, TagKeys = {"a"}})
    local _, body = call("ListQueueTags", {QueueUrl = url})
    assert.same({Tags = {b = "2"}}, body)
    local many = {}
    for i = 1, 51 do many["k" .. i] = "v" end
    call_error("TagQueue", {QueueUrl = url, Tags = many}, 400, "com.amazonaws.sqs#InvalidParameterValue",
      "InvalidParameterValue")
  end)

  it("lists dead-letter source queues, and purges", function()
    local dlq = create("dlq")
    local src = create("src", {RedrivePolicy = json.encode{deadLetterTargetArn =
      "arn:aws:sqs:us-east-1:000000000000:dlq", maxReceiveCount = 3}})
    local _, body = call("ListDeadLetterSourceQueues", {QueueUrl = dlq})
    assert.same({queueUrls = {src}}, body)
    call("SendMessage", {QueueUrl = src, MessageBody = "x"})
    assert.equal(200, (call("PurgeQueue", {QueueUrl = src})))
    call_error("PurgeQueue", {QueueUrl = src}, 403, "com.amazonaws.sqs#PurgeQueueInProgress",
      "AWS.SimpleQueueService.PurgeQueueInProgress")
  end)

  it("says which operations it does not implement", function()
    local url = create("q")
    call_error("AddPermission", {QueueUrl = url}, 400, "com.amazonaws.sqs#UnsupportedOperation",
      "AWS.SimpleQueueService.UnsupportedOperation")
  end)
end)

describe("sqs_api: messages", function()
  local url
  before_each(function()
    setup()
    url = create("q")
  end)

  it("computes the MD5s as SQS does (the digests botocore checks)", function()
    local _, body = call("SendMessage", {QueueUrl = url, MessageBody = "hi",
      MessageAttributes = {
        a = {DataType = "String", StringValue = "v"},
        b = {DataType = "Binary", BinaryValue = "AAE="},
        n = {DataType = "Number.int", StringValue = "12"}},
      MessageSystemAttributes = {AWSTraceHeader = {DataType = "String",
        StringValue = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}}})
    assert.equal("49f68a5c8493ec2c0bf489821c21fc3b", body.MD5OfMessageBody)
    assert.equal("160c8eeab73a6c8da5bfd0855107e7c5", body.MD5OfMessageAttributes)
    assert.equal("5f48eef650c1d0207456969c85af2fdd", body.MD5OfMessageSystemAttributes)
    _, body = call("ReceiveMessage", {QueueUrl = url, MessageAttributeNames = {"All"},
      MessageSystemAttributeNames = {"All"}})
    local m = body.Messages[1]
    assert.equal("hi", m.Body)
    assert.equal("49f68a5c8493ec2c0bf489821c21fc3b", m.MD5OfBody)
    assert.equal("160c8eeab73a6c8da5bfd0855107e7c5", m.MD5OfMessageAttributes)
    assert.equal("AAE=", m.MessageAttributes.b.BinaryValue)
    assert.equal("1", m.Attributes.ApproximateReceiveCount)
    assert.equal(tostring(clock.now), m.Attributes.SentTimestamp)
    assert.equal("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", m.Attributes.AWSTraceHeader)
  end)

  it("returns the attributes asked for by name and by prefix, with their own MD5", function()
    call("SendMessage", {QueueUrl = url, MessageBody = "x", MessageAttributes = {
      ["order.id"] = {DataType = "String", StringValue = "1"},
      ["order.kind"] = {DataType = "String", StringValue = "k"},
      other = {DataType = "String", StringValue = "v"}}})
    local _, body = call("ReceiveMessage", {QueueUrl = url, MessageAttributeNames = {"order.*"},
      AttributeNames = {"SentTimestamp"}})
    local m = body.Messages[1]
    assert.same({"order.id", "order.kind"}, (function()
      local names = {}
      for name in pairs(m.MessageAttributes) do names[#names + 1] = name end
      table.sort(names)
      return names
    end)())
    assert.equal(require("moonrun.sqs.checks").attributes_md5(m.MessageAttributes), m.MD5OfMessageAttributes)
    assert.same({"SentTimestamp"}, (function()
      local names = {}
      for name in pairs(m.Attributes) do names[#names + 1] = name end
      return names
    end)())
  end)

  it("validates bodies and attributes as SQS does", function()
    call_error("SendMessage", {QueueUrl = url, MessageBody = ""}, 400, "com.amazonaws.sqs#MissingParameter", "MissingParameter")
    call_error("SendMessage", {QueueUrl = url, MessageBody = "a\0b"}, 400,
      "com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents")
    call_error("SendMessage", {QueueUrl = url, MessageBody = "\u{FFFF}"}, 400,
      "com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents")
    call_error("SendMessage", {QueueUrl = url, MessageBody = "x", DelaySeconds = 901}, 400,
      "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue")
    local function bad_attribute(attributes, code, query)
      call_error("SendMessage", {QueueUrl = url, MessageBody = "x", MessageAttributes = attributes}, 400,
        "com.amazonaws.sqs#" .. (code or "InvalidParameterValue"), query or "InvalidParameterValue")
    end
    bad_attribute({["AWS.x"] = {DataType = "String", StringValue = "1"}})
    bad_attribute({["a..b"] = {DataType = "String", StringValue = "1"}})
    bad_attribute({[".a"] = {DataType = "String", StringValue = "1"}})
    bad_attribute({a = {DataType = "Text", StringValue = "1"}})
    bad_attribute({a = {StringValue = "1"}})
    bad_attribute({a = {DataType = "String", StringValue = ""}})
    bad_attribute({a = {DataType = "Number", StringValue = "abc"}})
    bad_attribute({a = {DataType = "Binary"}})
    bad_attribute({a = {DataType = "String", StringValue = "\1"}}, "InvalidMessageContents", "InvalidMessageContents")
    local eleven = {}
    for i = 1, 11 do eleven["a" .. i] = {DataType = "String", StringValue = "v"} end
    bad_attribute(eleven)
    call("SetQueueAttributes", {QueueUrl = url, Attributes = {MaximumMessageSize = "1024"}})
    call_error("SendMessage", {QueueUrl = url, MessageBody = string.rep("x", 1025)}, 400,
      "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue")
    assert.equal(200, (call("SendMessage", {QueueUrl = url, MessageBody = string.rep("x", 1024)})))
  end)

  it("checks batches: empty, too many, ids, and fails entries one by one", function()
    call_error("SendMessageBatch", {QueueUrl = url, Entries = json.array{}}, 400,
      "com.amazonaws.sqs#EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest")
    local eleven = {}
    for i = 1, 11 do eleven[i] = {Id = "e" .. i, MessageBody = "x"} end
    call_error("SendMessageBatch", {QueueUrl = url, Entries = eleven}, 400,
      "com.amazonaws.sqs#TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
    call_error("SendMessageBatch", {QueueUrl = url, Entries = {{Id = "a", MessageBody = "x"}, {Id = "a", MessageBody = "y"}}},
      400, "com.amazonaws.sqs#BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
    call_error("SendMessageBatch", {QueueUrl = url, Entries = {{Id = "a b", MessageBody = "x"}}}, 400,
      "com.amazonaws.sqs#InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId")
    call_error("SendMessageBatch", {QueueUrl = url, Entries = {{Id = string.rep("a", 81), MessageBody = "x"}}}, 400,
      "com.amazonaws.sqs#InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId")
    call_error("SendMessageBatch", {QueueUrl = url, Entries = {{Id = "a", MessageBody = string.rep("x", 600000)},
      {Id = "b", MessageBody = string.rep("x", 600000)}}}, 400,
      "com.amazonaws.sqs#BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong")
    local _, body = call("SendMessageBatch", {QueueUrl = url, Entries = {
      {Id = "good", MessageBody = "x"}, {Id = "bad", MessageBody = "\0"}}})
    assert.equal(1, #body.Successful)
    assert.equal("good", body.Successful[1].Id)
    assert.equal("9dd4e461268c8034f5c8564e155c67a6", body.Successful[1].MD5OfMessageBody)
    assert.same({Id = "bad", SenderFault = true, Code = "InvalidMessageContents",
      Message = body.Failed[1].Message}, body.Failed[1])
  end)

  it("deletes and changes visibility, one by one and in batches", function()
    for i = 1, 3 do call("SendMessage", {QueueUrl = url, MessageBody = "m" .. i}) end
    local _, body = call("ReceiveMessage", {QueueUrl = url, MaxNumberOfMessages = 10})
    local m = body.Messages
    assert.equal(3, #m)
    assert.equal(200, (call("DeleteMessage", {QueueUrl = url, ReceiptHandle = m[1].ReceiptHandle})))
    call_error("DeleteMessage", {QueueUrl = url, ReceiptHandle = "nonsense"}, 400,
      "com.amazonaws.sqs#ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid")
    _, body = call("ChangeMessageVisibilityBatch", {QueueUrl = url, Entries = {
      {Id = "a", ReceiptHandle = m[2].ReceiptHandle, VisibilityTimeout = 0},
      {Id = "b", ReceiptHandle = "nonsense", VisibilityTimeout = 0}}})
    assert.equal("a", body.Successful[1].Id)
    assert.equal("ReceiptHandleIsInvalid", body.Failed[1].Code)
    call_error("ChangeMessageVisibility", {QueueUrl = url, ReceiptHandle = m[2].ReceiptHandle,
      VisibilityTimeout = 10}, 400, "com.amazonaws.sqs#MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight")
    _, body = call("DeleteMessageBatch", {QueueUrl = url, Entries = {
      {Id = "x", ReceiptHandle = m[3].ReceiptHandle}, {Id = "y", ReceiptHandle = "nonsense"}}})
    assert.equal(1, #body.Successful)
    assert.equal(1, #body.Failed)
  end)

  it("returns {} for an empty receive without waiting when WaitTimeSeconds is 0", function()
    local _, body = call("ReceiveMessage", {QueueUrl = url})
    assert.same({}, body)
    assert.equal(0, #sched.waits)
  end)

  it("long-polls: woken by a send", function()
    sched.plan = {function()
      store:send(store:queue("q"), {body = "late"})
    end}
    local _, body = call("ReceiveMessage", {QueueUrl = url, WaitTimeSeconds = 20})
    assert.equal("late", body.Messages[1].Body)
    assert.equal("sqs:q", sched.waits[1].key)
    assert.equal(20, sched.waits[1].timeout)
    assert.same({"sqs:q"}, sched.notified)
  end)

  it("long-polls: wakes when a delayed message comes due, and times out", function()
    call("SendMessage", {QueueUrl = url, MessageBody = "delayed", DelaySeconds = 3})
    local _, body = call("ReceiveMessage", {QueueUrl = url, WaitTimeSeconds = 20})
    assert.equal("delayed", body.Messages[1].Body)
    assert.equal(3, sched.waits[1].timeout)
    local started = clock.now
    _, body = call("ReceiveMessage", {QueueUrl = url, WaitTimeSeconds = 2})
    assert.same({}, body)
    assert.equal(2000, clock.now - started)
  end)

  it("long-polls with the queue's ReceiveMessageWaitTimeSeconds", function()
    call("SetQueueAttributes", {QueueUrl = url, Attributes = {ReceiveMessageWaitTimeSeconds = "4"}})
    call("ReceiveMessage", {QueueUrl = url})
    assert.equal(4, sched.waits[1].timeout)
  end)
end)

describe("sqs_api: FIFO", function()
  local url
  before_each(function()
    setup()
    url = create("jobs.fifo", {FifoQueue = "true"})
  end)

  it("requires a group and a deduplication id (or content-based deduplication)", function()
    call_error("SendMessage", {QueueUrl = url, MessageBody = "x", MessageDeduplicationId = "1"}, 400,
      "com.amazonaws.sqs#MissingParameter", "MissingParameter")
    call_error("SendMessage", {QueueUrl = url, MessageBody = "x", MessageGroupId = "g"}, 400,
      "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue")
    call_error("SendMessage", {QueueUrl = url, MessageBody = "x", MessageGroupId = "g",
      MessageDeduplicationId = "1", DelaySeconds = 5}, 400, "com.amazonaws.sqs#InvalidParameterValue",
      "InvalidParameterValue")
    call_error("SendMessage", {QueueUrl = url, MessageBody = "x", MessageGroupId = "a b",
      MessageDeduplicationId = "1"}, 400, "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue")
  end)

  it("returns sequence numbers and the FIFO attributes", function()
    local _, sent = call("SendMessage", {QueueUrl = url, MessageBody = "x", MessageGroupId = "g",
      MessageDeduplicationId = "d"})
    assert.is_string(sent.SequenceNumber)
    local _, again = call("SendMessage", {QueueUrl = url, MessageBody = "x", MessageGroupId = "g",
      MessageDeduplicationId = "d"})
    assert.equal(sent.MessageId, again.MessageId)
    local _, body = call("ReceiveMessage", {QueueUrl = url, MessageSystemAttributeNames = {"All"}})
    local a = body.Messages[1].Attributes
    assert.equal("g", a.MessageGroupId)
    assert.equal("d", a.MessageDeduplicationId)
    assert.equal(sent.SequenceNumber, a.SequenceNumber)
  end)

  it("gives the same messages again for a retried ReceiveRequestAttemptId", function()
    call("SendMessage", {QueueUrl = url, MessageBody = "x", MessageGroupId = "g", MessageDeduplicationId = "1"})
    local _, first = call("ReceiveMessage", {QueueUrl = url, ReceiveRequestAttemptId = "try-1"})
    local _, retry = call("ReceiveMessage", {QueueUrl = url, ReceiveRequestAttemptId = "try-1"})
    assert.equal(first.Messages[1].ReceiptHandle, retry.Messages[1].ReceiptHandle)
    local _, other = call("ReceiveMessage", {QueueUrl = url, ReceiveRequestAttemptId = "try-2"})
    assert.same({}, other)
  end)

  it("refuses a deduplication id on a standard queue", function()
    local standard = create("std")
    call_error("SendMessage", {QueueUrl = standard, MessageBody = "x", MessageDeduplicationId = "1"}, 400,
      "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue")
  end)
end)

describe("sqs_api: signatures", function()
  local credentials = {access_key_id = "AKIDMOONRUNTEST", secret_access_key = "secret-for-the-spec",
    region = "us-east-1"}

  local function signed(params, key_id, secret, at, scope)
    scope = scope or {}
    local body = json.encode(params)
    local headers = {["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "AmazonSQS.ListQueues"}
    local s = sigv4.sign{method = "POST", url = "http://127.0.0.1:9324/", headers = headers, body = body,
      access_key_id = key_id, secret_access_key = secret, region = scope.region or "us-east-1",
      service = scope.service or "sqs", time = at or clock.now // 1000, session_token = scope.token}
    local lower = {host = "127.0.0.1:9324"}
    for name, value in pairs(headers) do lower[name:lower()] = value end
    for name, value in pairs(s.headers) do lower[name:lower()] = value end
    return {method = "POST", path = "/", query = "", headers = lower, body = body}
  end

  local function code_of(req)
    local status, headers, body = api:handle(req)
    local query = headers["x-amzn-query-error"]
    return status, query and query:match("^[^;]+"), json.decode(body)
  end

  before_each(function() setup{credentials = credentials} end)

  it("accepts a request signed with the credentials", function()
    assert.equal(200, (code_of(signed({}, credentials.access_key_id, credentials.secret_access_key))))
  end)

  it("refuses a bad signature, an unknown key, no signature, a stale date", function()
    local status, code = code_of(signed({}, credentials.access_key_id, "wrong"))
    assert.same({403, "SignatureDoesNotMatch"}, {status, code})
    status, code = code_of(signed({}, "AKIDOTHER", credentials.secret_access_key))
    assert.same({403, "InvalidClientTokenId"}, {status, code})
    local req = signed({}, credentials.access_key_id, credentials.secret_access_key)
    req.headers.authorization = nil
    status, code = code_of(req)
    assert.same({403, "MissingAuthenticationToken"}, {status, code})
    req = signed({}, credentials.access_key_id, credentials.secret_access_key, clock.now // 1000 - 16 * 60)
    status, code = code_of(req)
    assert.same({403, "SignatureDoesNotMatch"}, {status, code})
    req = signed({}, credentials.access_key_id, credentials.secret_access_key)
    req.body = '{"QueueNamePrefix":"x"}' -- tampered with after signing
    status, code = code_of(req)
    assert.same({403, "SignatureDoesNotMatch"}, {status, code})
    req = signed({}, credentials.access_key_id, credentials.secret_access_key)
    req.headers.authorization = "AWS4-HMAC-SHA256 garbage"
    status, code = code_of(req)
    assert.same({400, "IncompleteSignature"}, {status, code})
  end)

  it("refuses a scope for another region or service, and a session token the credentials lack", function()
    local key, secret = credentials.access_key_id, credentials.secret_access_key
    local status, code, body = code_of(signed({}, key, secret, nil, {region = "eu-west-1"}))
    assert.same({403, "SignatureDoesNotMatch"}, {status, code})
    assert.truthy(body.message:find("region", 1, true))
    status, code, body = code_of(signed({}, key, secret, nil, {service = "sns"}))
    assert.same({403, "SignatureDoesNotMatch"}, {status, code})
    assert.truthy(body.message:find("'sqs'", 1, true))
    -- a junk token, signed with the request ...
    status, code = code_of(signed({}, key, secret, nil, {token = "junk"}))
    assert.same({403, "InvalidClientTokenId"}, {status, code})
    -- ... or added after signing, unsigned
    local req = signed({}, key, secret)
    req.headers["x-amz-security-token"] = "junk"
    status, code = code_of(req)
    assert.same({403, "InvalidClientTokenId"}, {status, code})
  end)

  it("parses X-Amz-Date", function()
    assert.equal(1440938160, signature._parse_amz_date("20150830T123600Z"))
    assert.equal(0, signature._parse_amz_date("19700101T000000Z"))
    assert.is_nil(signature._parse_amz_date("2015-08-30"))
    assert.is_nil(signature._parse_amz_date("20151330T123600Z"))
  end)

  it("verifies a request alone, without an API or a store", function()
    local key, secret = credentials.access_key_id, credentials.secret_access_key
    local now_s = clock.now // 1000
    assert.equal(key, signature.verify(signed({}, key, secret), credentials, now_s))
    local id, code, message = signature.verify(signed({}, key, "wrong"), credentials, now_s)
    assert.same({nil, "SignatureDoesNotMatch"}, {id, code})
    assert.truthy(message:find("does not match", 1, true))
    assert.is_nil(message:find(secret, 1, true)) -- the secret is never quoted back
    id, code = signature.verify(signed({}, key, secret), credentials, now_s + signature.CLOCK_SKEW_S + 1)
    assert.same({nil, "SignatureDoesNotMatch"}, {id, code})
    assert.equal(key, signature.verify(signed({}, key, secret), credentials, now_s + signature.CLOCK_SKEW_S))
    assert.equal("AKIDX", signature.access_key_of{authorization = "AWS4-HMAC-SHA256 Credential=AKIDX/2015/r/sqs/aws4_request"})
    assert.is_nil(signature.access_key_of{})
  end)
end)

describe("sqs_api: request checks on their own", function()
  local function raised(fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok)
    assert.is_true(request_checks.is_api_error(err), tostring(err))
    return err.code, err.message
  end

  it("raises answerable errors, and tells them from bugs", function()
    assert.same({"MissingParameter"}, {(raised(request_checks.get_string, {}, "QueueName", true))})
    assert.is_nil(request_checks.get_string({}, "QueueName"))
    assert.same({"SerializationException"}, {(raised(request_checks.get_integer, {N = "3"}, "N", 1, 10))})
    local code, message = raised(request_checks.get_integer, {N = 11}, "N", 1, 10)
    assert.equal("InvalidParameterValue", code)
    assert.truthy(message:find("between 1 and 10", 1, true))
    assert.equal(2, request_checks.get_integer({N = 2.0}, "N", 1, 10))
    assert.same({"SerializationException"}, {(raised(request_checks.get_map, {M = {1, 2}}, "M"))})
    assert.same({"SerializationException"}, {(raised(request_checks.get_list, {L = {a = 1}}, "L"))})
    assert.is_false(request_checks.is_api_error("boom"))
    assert.is_false(request_checks.is_api_error({code = "X", message = "looks like one"}))
  end)

  it("shapes an error as SQS does, with bytes that are not UTF-8 made printable", function()
    local status, headers, body = request_checks.error_response("QueueDoesNotExist", "no \255 queue")
    assert.equal(400, status)
    assert.equal("AWS.SimpleQueueService.NonExistentQueue;Sender", headers["x-amzn-query-error"])
    assert.equal(request_checks.CONTENT_TYPE, headers["content-type"])
    assert.same({__type = "com.amazonaws.sqs#QueueDoesNotExist", message = "no ? queue"}, json.decode(body))
    status, headers, body = request_checks.error_response("NoSuchCode", "x")
    assert.equal(500, status)
    assert.equal("InternalFailure;Receiver", headers["x-amzn-query-error"])
    assert.equal("com.amazon.coral.service#NoSuchCode", json.decode(body).__type)
  end)

  it("checks a batch's ids, and turns an entry's error into a Failed entry", function()
    assert.same({"EmptyBatchRequest"}, {(raised(request_checks.check_batch, {}, "SendMessageBatch"))})
    assert.same({"BatchEntryIdsNotDistinct"},
      {(raised(request_checks.check_batch, {{Id = "a"}, {Id = "a"}}, "SendMessageBatch"))})
    assert.same({"InvalidBatchEntryId"}, {(raised(request_checks.check_batch, {{Id = "a b"}}, "SendMessageBatch"))})
    local result = request_checks.run_batch({{Id = "ok"}, {Id = "bad"}}, function(entry)
      if entry.Id == "bad" then request_checks.fail("InvalidParameterValue", "nope") end
      return {}
    end)
    assert.same({{Id = "ok"}}, result.Successful)
    assert.same({{Id = "bad", SenderFault = true, Code = "InvalidParameterValue", Message = "nope"}}, result.Failed)
    -- a bug in an entry is not an entry's failure: it reaches the handler (InternalFailure)
    assert.has_error(function() request_checks.run_batch({{Id = "x"}}, function() error("bug", 0) end) end, "bug")
  end)
end)

describe("sqs_api: many messages", function()
  -- (how fast: bench/dev_sqs_api_bench.lua; a test checks behaviour, not time)
  it("sends, receives and deletes thousands of messages, each received once", function()
    setup()
    local url = create("many")
    local n = 3000
    for i = 1, n do call("SendMessage", {QueueUrl = url, MessageBody = "m" .. i}) end
    local handles, seen = {}, {}
    while #handles < n do
      local _, body = call("ReceiveMessage", {QueueUrl = url, MaxNumberOfMessages = 10})
      assert.is_true(#body.Messages > 0, "a receive came back empty with messages left")
      for _, m in ipairs(body.Messages) do
        assert.is_nil(seen[m.Body], m.Body .. " received twice")
        seen[m.Body] = true
        handles[#handles + 1] = m.ReceiptHandle
      end
    end
    for _, handle in ipairs(handles) do call("DeleteMessage", {QueueUrl = url, ReceiptHandle = handle}) end
    local _, attributes = call("GetQueueAttributes", {QueueUrl = url, AttributeNames = {"All"}})
    assert.equal("0", attributes.Attributes.ApproximateNumberOfMessages)
    assert.equal("0", attributes.Attributes.ApproximateNumberOfMessagesNotVisible)
  end)
end)
