-- Specs of moonrun.dev.sqs.store, the queues of moonrun dev's embedded SQS, with a clock the
-- specs move: build/moonrun run /usr/bin/busted tests/lua/sqs_store_spec.lua
local sqs_store = require "moonrun.dev.sqs.store"
local json = require "moonrun.json"

local clock = {now = 1700000000000}
local function now_ms() return clock.now end
local function advance(seconds) clock.now = clock.now + math.floor(seconds * 1000) end

local warnings
local function new_store(dir)
  warnings = {}
  return sqs_store.new{now_ms = now_ms, state_dir = dir, base_url = "http://127.0.0.1:9324",
    warn = function(message) warnings[#warnings + 1] = message end}
end

local function temp_dir()
  local path = os.tmpname()
  os.remove(path)
  os.execute("mkdir -p " .. path)
  return path
end

local function bodies(messages)
  local list = {}
  for i, m in ipairs(messages) do list[i] = m.body end
  return list
end

local function send_all(store, q, list, fields)
  for _, body in ipairs(list) do
    local f = {body = body}
    for k, v in pairs(fields or {}) do f[k] = v end
    store:send(q, f)
  end
end

describe("sqs_store: standard queues", function()
  local store, q
  before_each(function()
    store = new_store()
    q = assert(store:create_queue("orders", {VisibilityTimeout = "10"}))
  end)

  it("names queues with their URL and ARN", function()
    assert.equal("http://127.0.0.1:9324/000000000000/orders", q.url)
    assert.equal("arn:aws:sqs:us-east-1:000000000000:orders", q.arn)
    assert.equal(q, store:queue_from_url("http://localhost:4566/000000000000/orders"))
    assert.is_nil(store:queue_from_url("http://localhost/111111111111/orders"))
    assert.is_nil(store:queue_from_url("orders"))
  end)

  it("gives messages in order and hides them for the visibility timeout", function()
    send_all(store, q, {"a", "b", "c"})
    assert.same({"a", "b"}, bodies(store:receive(q, 2)))
    assert.same({"c"}, bodies(store:receive(q, 10)))
    assert.same({}, store:receive(q, 10))
    advance(9.999)
    assert.same({}, store:receive(q, 10))
    advance(0.001)
    local again = store:receive(q, 10)
    assert.same({"a", "b", "c"}, bodies(again))
    assert.equal(2, again[1].receives)
  end)

  it("takes the receive's own visibility timeout", function()
    send_all(store, q, {"a"})
    store:receive(q, 1, 2)
    advance(2)
    assert.same({"a"}, bodies(store:receive(q, 1)))
  end)

  it("makes a new receipt handle per receive; an old one still deletes, as in SQS", function()
    send_all(store, q, {"a"})
    local first = store:receive(q, 1, 0)[1].handle
    local second = store:receive(q, 1)[1].handle
    assert.are_not.equal(first, second)
    assert.is_nil(store:delete(q, first))
    assert.equal(0, q.count)
    assert.is_nil(store:delete(q, second)) -- a message already deleted: accepted
  end)

  it("refuses a receipt handle that is not one", function()
    assert.equal("ReceiptHandleIsInvalid", store:delete(q, "garbage"))
    assert.equal("ReceiptHandleIsInvalid", store:change_visibility(q, "garbage", 5))
  end)

  it("delays messages by the queue's and by their own delay", function()
    store:set_attributes(q, {DelaySeconds = "5"})
    store:send(q, {body = "queue delay"})
    store:send(q, {body = "own delay", delay_s = 1})
    store:send(q, {body = "no delay", delay_s = 0})
    assert.same({"no delay"}, bodies(store:receive(q, 10)))
    assert.equal("2", store:get_attributes(q).ApproximateNumberOfMessagesDelayed)
    advance(1)
    assert.same({"own delay"}, bodies(store:receive(q, 10)))
    advance(4)
    assert.same({"queue delay"}, bodies(store:receive(q, 10)))
  end)

  it("counts visible, in flight and delayed messages as SQS does", function()
    send_all(store, q, {"a", "b", "c"})
    store:send(q, {body = "d", delay_s = 60})
    store:receive(q, 1)
    local attributes = store:get_attributes(q)
    assert.equal("2", attributes.ApproximateNumberOfMessages)
    assert.equal("1", attributes.ApproximateNumberOfMessagesNotVisible)
    assert.equal("1", attributes.ApproximateNumberOfMessagesDelayed)
    assert.same({{name = "orders", visible = 2, in_flight = 1, delayed = 1}}, store:depths())
    advance(10)
    assert.equal("3", store:get_attributes(q).ApproximateNumberOfMessages)
  end)

  it("changes visibility: 0 shows the message now; a visible message is not in flight", function()
    send_all(store, q, {"a"})
    local handle = store:receive(q, 1)[1].handle
    assert.is_nil(store:change_visibility(q, handle, 0))
    assert.equal("MessageNotInflight", store:change_visibility(q, handle, 5))
    local second = store:receive(q, 1)[1]
    assert.equal("InvalidParameterValue", store:change_visibility(q, handle, 5)) -- not the latest
    assert.is_nil(store:change_visibility(q, second.handle, 100))
    advance(99)
    assert.same({}, store:receive(q, 1))
    advance(1)
    assert.same({"a"}, bodies(store:receive(q, 1)))
  end)

  it("refuses a visibility beyond 12 hours after the receive", function()
    send_all(store, q, {"a"})
    local handle = store:receive(q, 1, 7200)[1].handle
    advance(3600)
    assert.equal("InvalidParameterValue", store:change_visibility(q, handle, 43200))
    assert.is_nil(store:change_visibility(q, handle, 43200 - 3600))
  end)

  it("drops messages older than the retention period", function()
    store:set_attributes(q, {MessageRetentionPeriod = "60"})
    send_all(store, q, {"old"})
    advance(30)
    send_all(store, q, {"new"})
    store:receive(q, 10) -- both in flight
    advance(30)
    store:depths()
    assert.equal(1, q.count)
    advance(10)
    assert.same({"new"}, bodies(store:receive(q, 10)))
    advance(30)
    assert.same({}, store:receive(q, 10))
    assert.equal("0", store:get_attributes(q).ApproximateNumberOfMessages)
  end)

  it("records receive count, first receive and sent timestamps", function()
    store:send(q, {body = "a", sender = "AKID"})
    local sent_at = clock.now
    advance(1)
    assert.equal("a", store:receive(q, 1, 0)[1].body)
    advance(1)
    local m = store:receive(q, 1)[1]
    assert.equal(2, m.receives)
    assert.equal(sent_at, m.sent)
    assert.equal(sent_at + 1000, m.first_receive)
    assert.equal("AKID", m.sender)
  end)

  it("purges, once a minute", function()
    send_all(store, q, {"a", "b"})
    assert.is_nil(store:purge(q))
    assert.equal(0, q.count)
    assert.equal("PurgeQueueInProgress", store:purge(q))
    advance(60)
    assert.is_nil(store:purge(q))
  end)

  it("refuses to create a queue again with other attributes, and within 60 s of deleting it", function()
    assert.equal(q, store:create_queue("orders", {VisibilityTimeout = "10"}))
    local none, code = store:create_queue("orders", {VisibilityTimeout = "11"})
    assert.is_nil(none)
    assert.equal("QueueNameExists", code)
    store:delete_queue(q)
    assert.equal("QueueDeletedRecently", select(2, store:create_queue("orders")))
    advance(60)
    assert.truthy(store:create_queue("orders"))
  end)

  it("checks attribute names, values and queue names", function()
    assert.equal("InvalidAttributeName", select(2, store:create_queue("x", {Bogus = "1"})))
    assert.equal("InvalidAttributeValue", select(2, store:create_queue("x", {VisibilityTimeout = "43201"})))
    assert.equal("InvalidAttributeValue", select(2, store:create_queue("x", {DelaySeconds = "1.5"})))
    assert.equal("InvalidParameterValue", select(2, store:create_queue("bad name")))
    assert.equal("InvalidParameterValue", select(2, store:create_queue(string.rep("a", 81))))
    assert.equal("InvalidParameterValue", select(2, store:create_queue("x.fifo")))
    assert.equal("InvalidParameterValue", select(2, store:create_queue("x", {FifoQueue = "true"})))
    assert.equal("InvalidAttributeName", select(2, store:create_queue("x", {ContentBasedDeduplication = "true"})))
    assert.equal("InvalidAttributeValue", store:set_attributes(q, {FifoQueue = "true"}))
  end)

  it("keeps tags", function()
    store:tag(q, {team = "a", env = "dev"})
    store:untag(q, {"env"})
    assert.same({team = "a"}, q.tags)
  end)

  it("receives from many messages without scanning them", function()
    for i = 1, 20000 do store:send(q, {body = "m" .. i}) end
    local started = os.clock()
    for _ = 1, 1000 do
      for _, m in ipairs(store:receive(q, 10)) do store:delete(q, m.handle) end
    end
    assert.equal(10000, q.count)
    assert.is_true(os.clock() - started < 2)
  end)
end)

describe("sqs_store: redrive", function()
  local store, q, dlq
  before_each(function()
    store = new_store()
    dlq = assert(store:create_queue("orders-dlq"))
    q = assert(store:create_queue("orders", {VisibilityTimeout = "1",
      RedrivePolicy = json.encode{deadLetterTargetArn = dlq.arn, maxReceiveCount = 2}}))
  end)

  it("moves a message to the dead-letter queue on the receive after maxReceiveCount", function()
    store:send(q, {body = "poison"})
    assert.equal(1, #store:receive(q, 1))
    advance(1)
    assert.equal(1, #store:receive(q, 1))
    advance(1)
    assert.same({}, store:receive(q, 1))
    assert.equal(0, q.count)
    local moved = store:receive(dlq, 1)[1]
    assert.equal("poison", moved.body)
    assert.equal(q.arn, moved.source_arn)
    assert.equal(3, moved.receives)
  end)

  it("lists the queues that send to a dead-letter queue", function()
    assert.same({"orders"}, store:dead_letter_sources(dlq))
    assert.same({}, store:dead_letter_sources(q))
  end)

  it("normalizes the policy and checks its target", function()
    local policy = json.decode(store:get_attributes(q).RedrivePolicy)
    assert.same({deadLetterTargetArn = dlq.arn, maxReceiveCount = 2}, policy)
    local function create(text) return select(2, store:create_queue("other", {RedrivePolicy = text})) end
    assert.equal("InvalidParameterValue", create("not json"))
    assert.equal("InvalidParameterValue",
      create(json.encode{deadLetterTargetArn = "arn:aws:sqs:us-east-1:000000000000:none", maxReceiveCount = 1}))
    assert.equal("InvalidParameterValue", create(json.encode{deadLetterTargetArn = dlq.arn, maxReceiveCount = 0}))
    local fifo_dlq = assert(store:create_queue("d.fifo", {FifoQueue = "true"}))
    assert.equal("InvalidParameterValue", create(json.encode{deadLetterTargetArn = fifo_dlq.arn, maxReceiveCount = 1}))
  end)

  it("honours the dead-letter queue's RedriveAllowPolicy", function()
    store:set_attributes(dlq, {RedriveAllowPolicy = json.encode{redrivePermission = "denyAll"}})
    assert.equal("InvalidParameterValue", select(2, store:create_queue("other",
      {RedrivePolicy = json.encode{deadLetterTargetArn = dlq.arn, maxReceiveCount = 1}})))
    assert.equal("InvalidAttributeValue",
      store:set_attributes(dlq, {RedriveAllowPolicy = json.encode{redrivePermission = "maybe"}}))
  end)

  it("lets ensure_queue name a dead-letter queue made later", function()
    local later = store:ensure_queue("early", {RedrivePolicy = json.encode{
      deadLetterTargetArn = "arn:aws:sqs:us-east-1:000000000000:late", maxReceiveCount = 1}})
    store:ensure_queue("late", {})
    store:send(later, {body = "x"})
    store:receive(later, 1, 0)
    assert.same({}, store:receive(later, 1))
    assert.equal(1, store:queue("late").count)
    assert.has_error(function() store:ensure_queue("bad", {VisibilityTimeout = "-1"}) end)
  end)
end)

describe("sqs_store: FIFO queues", function()
  local store, q
  before_each(function()
    store = new_store()
    q = assert(store:create_queue("jobs.fifo", {FifoQueue = "true", VisibilityTimeout = "10"}))
  end)

  it("keeps order within a group and blocks a group while a message is in flight", function()
    store:send(q, {body = "a1", group = "a", dedup = "1"})
    store:send(q, {body = "b1", group = "b", dedup = "2"})
    store:send(q, {body = "a2", group = "a", dedup = "3"})
    local first = store:receive(q, 1)
    assert.same({"a1"}, bodies(first))
    assert.same({"b1"}, bodies(store:receive(q, 10)))
    assert.same({}, store:receive(q, 10))
    store:delete(q, first[1].handle)
    assert.same({"a2"}, bodies(store:receive(q, 10)))
  end)

  it("gives the rest of a group in one receive, in order", function()
    for i = 1, 5 do store:send(q, {body = "m" .. i, group = "g", dedup = tostring(i)}) end
    assert.same({"m1", "m2", "m3", "m4", "m5"}, bodies(store:receive(q, 10)))
  end)

  it("returns a message whose visibility ended to the head of its group", function()
    store:send(q, {body = "first", group = "g", dedup = "1"})
    store:send(q, {body = "second", group = "g", dedup = "2"})
    store:receive(q, 1)
    advance(10)
    assert.same({"first", "second"}, bodies(store:receive(q, 10)))
  end)

  it("numbers messages in increasing sequence", function()
    local a = store:send(q, {body = "a", group = "g", dedup = "1"})
    local b = store:send(q, {body = "b", group = "g", dedup = "2"})
    assert.equal(20, #a.sequence)
    assert.is_true(b.sequence > a.sequence)
  end)

  it("drops a duplicate within 5 minutes, and takes it after", function()
    local first = store:send(q, {body = "a", group = "g", dedup = "same"})
    local again = store:send(q, {body = "b", group = "g", dedup = "same"})
    assert.equal(first.id, again.id)
    assert.equal(1, q.count)
    advance(300)
    assert.are_not.equal(first.id, store:send(q, {body = "c", group = "g", dedup = "same"}).id)
    assert.equal(2, q.count)
  end)

  it("deduplicates by the body's SHA-256 with ContentBasedDeduplication", function()
    store:set_attributes(q, {ContentBasedDeduplication = "true"})
    store:send(q, {body = "same", group = "g"})
    store:send(q, {body = "same", group = "h"})
    store:send(q, {body = "other", group = "g"})
    assert.equal(2, q.count)
    local m = store:receive(q, 1)[1]
    assert.equal("0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5", m.dedup)
  end)

  it("deduplicates per group with DeduplicationScope messageGroup", function()
    store:set_attributes(q, {DeduplicationScope = "messageGroup"})
    store:send(q, {body = "x", group = "g", dedup = "1"})
    store:send(q, {body = "x", group = "h", dedup = "1"})
    assert.equal(2, q.count)
  end)

  it("sends to a FIFO dead-letter queue and lets the group go on", function()
    local dlq = assert(store:create_queue("jobs-dlq.fifo", {FifoQueue = "true"}))
    store:set_attributes(q, {RedrivePolicy = json.encode{deadLetterTargetArn = dlq.arn, maxReceiveCount = 1}})
    store:send(q, {body = "bad", group = "g", dedup = "1"})
    store:send(q, {body = "good", group = "g", dedup = "2"})
    local m = store:receive(q, 1)[1]
    assert.equal("bad", m.body)
    store:change_visibility(q, m.handle, 0)
    assert.same({"good"}, bodies(store:receive(q, 10)))
    local moved = store:receive(dlq, 1)[1]
    assert.equal("bad", moved.body)
    assert.equal("g", moved.group)
  end)

  it("accepts a delete with an old handle but keeps the message (another consumer has it)", function()
    store:send(q, {body = "a", group = "g", dedup = "1"})
    local old = store:receive(q, 1)[1].handle
    advance(10)
    local new = store:receive(q, 1)[1].handle
    assert.is_nil(store:delete(q, old))
    assert.equal(1, q.count)
    assert.is_nil(store:delete(q, new))
    assert.equal(0, q.count)
  end)
end)

describe("sqs_store: the journal", function()
  local dir
  before_each(function() dir = temp_dir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function journal_lines()
    local lines = {}
    for line in io.lines(dir .. "/sqs.journal") do lines[#lines + 1] = line end
    return lines
  end

  it("keeps queues and messages, in flight ones included, across a restart", function()
    local store = new_store(dir)
    local q = assert(store:create_queue("orders", {VisibilityTimeout = "10"}))
    store:tag(q, {team = "a"})
    send_all(store, q, {"a", "b", "c"})
    store:send(q, {body = "later", delay_s = 30})
    local held = store:receive(q, 1)[1]
    store:delete(q, store:receive(q, 1)[1].handle)
    store:flush()
    store:close()

    store = new_store(dir)
    q = store:queue("orders")
    assert.equal("10", q:attribute("VisibilityTimeout"))
    assert.same({team = "a"}, q.tags)
    assert.same({name = "orders", visible = 1, in_flight = 1, delayed = 1}, store:depths()[1])
    assert.same({"c"}, bodies(store:receive(q, 10)))
    advance(10)
    local again = store:receive(q, 10)
    assert.same({"a", "c"}, bodies(again))
    assert.equal(held.id, again[1].id)
    assert.equal(2, again[1].receives)
    assert.equal(held.sent, again[1].sent)
    advance(20) -- a and c again (their visibility ended), then the delayed one
    assert.same({"a", "c", "later"}, bodies(store:receive(q, 10)))
    assert.same({}, warnings)
  end)

  it("accepts the handle of a receive made before the restart", function()
    local store = new_store(dir)
    local q = assert(store:create_queue("orders"))
    send_all(store, q, {"a"})
    local handle = store:receive(q, 1)[1].handle
    store:flush()
    store:close()
    store = new_store(dir)
    q = store:queue("orders")
    assert.is_nil(store:change_visibility(q, handle, 0))
    assert.equal(1, #store:receive(q, 1))
  end)

  it("keeps FIFO order, sequence numbers and the deduplication window", function()
    local store = new_store(dir)
    local q = assert(store:create_queue("jobs.fifo", {FifoQueue = "true"}))
    local first = store:send(q, {body = "1", group = "g", dedup = "d1"})
    store:send(q, {body = "2", group = "g", dedup = "d2"})
    store:flush()
    store:close()
    store = new_store(dir)
    q = store:queue("jobs.fifo")
    assert.equal(first.id, store:send(q, {body = "1 again", group = "g", dedup = "d1"}).id)
    local third = store:send(q, {body = "3", group = "g", dedup = "d3"})
    assert.is_true(third.sequence > first.sequence)
    assert.same({"1", "2", "3"}, bodies(store:receive(q, 10)))
  end)

  it("reads a journal written before messages were kept in their compact form", function()
    -- fixtures/sqs_journal_before_compact_messages.jsonl was written by the store as it was
    -- before (each message a table of every field, replay through io.lines): a redrive, message
    -- and system attributes, a delay, a delete, a FIFO group in flight with its deduplication
    -- ids, and a queue deleted a moment ago
    local fixture = "tests/lua/fixtures/sqs_journal_before_compact_messages.jsonl"
    local source = assert(io.open(fixture, "rb"))
    local file = assert(io.open(dir .. "/sqs.journal", "wb"))
    file:write(source:read("a"))
    source:close()
    file:close()
    local saved = clock.now
    clock.now = 1700000011000
    local store = new_store(dir)
    assert.same({}, warnings)
    assert.same({
      {name = "dead", visible = 2, in_flight = 0, delayed = 0},
      {name = "jobs.fifo", visible = 1, in_flight = 1, delayed = 0},
      {name = "orders", visible = 0, in_flight = 0, delayed = 1},
    }, store:depths())
    local dead = store:receive(store:queue("dead"), 10)
    assert.same({"plain", "with attributes"}, bodies(dead))
    assert.equal(2, dead[2].receives) -- one receive before the move, one now
    assert.equal(1700000000000, dead[2].sent)
    assert.equal("AKIDEXAMPLE", dead[2].sender)
    assert.equal("arn:aws:sqs:us-east-1:000000000000:orders", dead[2].source_arn)
    assert.same({colour = {DataType = "String", StringValue = "blue"}}, dead[2].attributes)
    assert.equal("Root=1-5759e988-bd862e3fe1be46a994272793", dead[2].system.AWSTraceHeader.StringValue)
    local jobs = store:queue("jobs.fifo")
    assert.same({}, store:receive(jobs, 10)) -- f1 in flight holds its group
    assert.equal("7bd37a8a-1120-41f3-ad4d-86af2dd3ff6a",
      store:send(jobs, {body = "f1 again", group = "g", dedup = "d1"}).id)
    advance(30)
    local fifo = store:receive(jobs, 10)
    assert.same({"f1", "f2"}, bodies(fifo))
    assert.equal("00000000000000000001", fifo[1].sequence)
    assert.equal(2, fifo[1].receives)
    local _, code = store:create_queue("gone")
    assert.equal("QueueDeletedRecently", code)
    advance(60)
    assert.same({"delayed"}, bodies(store:receive(store:queue("orders"), 10)))
    store:close()
    clock.now = saved
  end)

  it("refuses to start from a journal it cannot read, and leaves it as it is", function()
    os.execute("mkdir " .. dir .. "/sqs.journal") -- opens, and every read fails
    local ok, err = pcall(new_store, dir)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("sqs: cannot replay the journal " .. dir .. "/sqs.journal: " ..
      "cannot read JSON lines: Is a directory", 1, true), tostring(err))
    assert.is_true(os.rename(dir .. "/sqs.journal", dir .. "/sqs.journal")) -- still there
  end)

  it("survives a last line cut short, with a warning, and loses no earlier record", function()
    local store = new_store(dir)
    local q = assert(store:create_queue("orders"))
    send_all(store, q, {"a", "b"})
    store:flush()
    store:close()
    local file = assert(io.open(dir .. "/sqs.journal", "ab"))
    file:write('{"op":"msg","q":"orders","id":"cut-sh')
    file:close()
    store = new_store(dir)
    assert.equal(1, #warnings)
    assert.truthy(warnings[1]:find("not a whole record", 1, true))
    assert.same({"a", "b"}, bodies(store:receive(store:queue("orders"), 10)))
    -- the rewritten journal holds no trace of the cut line
    for _, line in ipairs(journal_lines()) do assert.is_truthy(json.decode(line)) end
  end)

  it("skips a damaged line in the middle and keeps the rest", function()
    local store = new_store(dir)
    local q = assert(store:create_queue("orders"))
    send_all(store, q, {"a"})
    store:flush()
    store:close()
    local lines = journal_lines()
    table.insert(lines, 2, "garbage")
    local file = assert(io.open(dir .. "/sqs.journal", "wb"))
    file:write(table.concat(lines, "\n"), "\n")
    file:close()
    store = new_store(dir)
    assert.equal(1, #warnings)
    assert.same({"a"}, bodies(store:receive(store:queue("orders"), 10)))
  end)

  it("skips a FIFO message whose sequence number is not whole digits, and restarts cleanly after", function()
    -- found by the journal fuzzer: "0.000000000000000001" made the queue's counter a float,
    -- which the compacted journal then wrote and the next start refused
    for _, bad in ipairs{"0.000000000000000001", "1e5", "-3", "99999999999999999999", "x"} do
      dir = temp_dir()
      local store = new_store(dir)
      local q = assert(store:create_queue("jobs.fifo", {FifoQueue = "true"}))
      store:send(q, {body = "kept", group = "g", dedup = "d1"})
      store:send(q, {body = "damaged", group = "g", dedup = "d2"})
      store:flush()
      store:close()
      local lines = journal_lines()
      local damaged = 0
      for i, line in ipairs(lines) do
        if line:find('"damaged"', 1, true) then
          lines[i], damaged = line:gsub('"seq":"%d+"', '"seq":' .. json.encode(bad)), damaged + 1
        end
      end
      assert.equal(1, damaged)
      local file = assert(io.open(dir .. "/sqs.journal", "wb"))
      file:write(table.concat(lines, "\n"), "\n")
      file:close()
      store = new_store(dir)
      assert.equal(1, #warnings, bad)
      assert.truthy(warnings[1]:find("a sequence number (seq) must be a string of digits", 1, true), warnings[1])
      q = store:queue("jobs.fifo")
      local third = store:send(q, {body = "third", group = "g", dedup = "d3"})
      assert.truthy(third.sequence:match("^%d+$"), third.sequence)
      store:flush()
      store:close()
      store = new_store(dir)
      assert.same({}, warnings, bad)
      assert.same({"kept", "third"}, bodies(store:receive(store:queue("jobs.fifo"), 10)))
      store:close()
      os.execute("rm -rf " .. dir)
    end
  end)

  it("compacts when it grows, keeping the live state", function()
    local store = new_store(dir)
    local q = assert(store:create_queue("orders"))
    for i = 1, 3000 do
      store:send(q, {body = "m" .. i})
      store:flush()
    end
    for _ = 1, 290 do
      for _, m in ipairs(store:receive(q, 10)) do store:delete(q, m.handle) end
      store:flush()
    end
    assert.is_true(#journal_lines() < 3000 + 2 * 2900)
    store:close()
    store = new_store(dir)
    q = store:queue("orders")
    assert.equal(100, q.count)
    assert.equal("m2901", store:receive(q, 1)[1].body)
  end)

  it("compacts in slices while requests go on, and a restart finds exactly the live state", function()
    -- a scheduler of the spec's own: spawn starts a task, pause lets the spec act between slices
    local task
    local store = sqs_store.new{now_ms = now_ms, state_dir = dir, warn = function(m) error(m) end,
      spawn = function(fn, ...) task = coroutine.create(fn); assert(coroutine.resume(task, ...)) end,
      pause = function() coroutine.yield() end, slice_s = 0}
    local q = assert(store:create_queue("orders"))
    local f = assert(store:create_queue("jobs.fifo", {FifoQueue = "true", ContentBasedDeduplication = "true"}))
    for i = 1, 600 do store:send(f, {body = "f" .. i, group = "g" .. (i % 3)}) end
    for i = 1, 3000 do store:send(q, {body = "m" .. i}) end
    store:flush()
    while not task do
      for _, m in ipairs(store:receive(q, 10, 0)) do store:delete(q, m.handle) end
      store:flush()
    end
    assert.is_true(q.count > 500, "compaction started late")
    -- between slices: receives (a copy written then must not count them twice), deletes, new
    -- FIFO messages (their groups' order kept), visibility changes
    local received, turns = {}, 0
    while coroutine.status(task) ~= "dead" do
      turns = turns + 1
      for _, m in ipairs(store:receive(q, 3, 60)) do received[#received + 1] = m end
      local gone = table.remove(received, 1)
      if gone then store:delete(q, gone.handle) end
      local changed = table.remove(received, 1)
      if changed then assert.is_nil(store:change_visibility(q, changed.handle, 0)) end
      store:send(f, {body = "late" .. turns, group = "g" .. (turns % 3)})
      store:send(q, {body = "new" .. turns})
      store:flush()
      assert(coroutine.resume(task))
    end
    assert.is_true(turns > 1, "the compaction ran in one go")
    assert.is_nil(store.compaction)
    assert.is_true(#journal_lines() < store:live_records() + 4 * turns + 10, "the journal was not compacted")
    local function state(s)
      local shape = {}
      for name, queue in pairs(s.queues) do
        for id, m in pairs(queue.messages) do
          shape[#shape + 1] = table.concat({name, id, m.body, m.receives, m.state, tostring(m.handle)}, " ")
        end
      end
      table.sort(shape)
      return shape
    end
    local function group_orders(queue)
      local orders = {}
      for name, group in pairs(queue.groups) do
        local list = {}
        for i = group.list.first, group.list.last do
          if not group.list[i].gone then list[#list + 1] = group.list[i].body end
        end
        orders[name] = list
      end
      return orders
    end
    local live, fifo = state(store), group_orders(f)
    store:close()
    local again = new_store(dir)
    assert.same({}, warnings)
    assert.same(live, state(again))
    assert.same(fifo, group_orders(again:queue("jobs.fifo")))
    again:close()
  end)

  it("keeps a deleted queue deleted", function()
    local store = new_store(dir)
    local q = assert(store:create_queue("gone"))
    store:delete_queue(q)
    store:close()
    store = new_store(dir)
    assert.is_nil(store:queue("gone"))
    assert.equal("QueueDeletedRecently", select(2, store:create_queue("gone")))
  end)
end)
