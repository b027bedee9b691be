-- Specs of moonrun dev's asynchronous invocations (moonrun.dev.async) with its parts injected:
-- functions whose invoke answers at once, a queue sender that records, a view that records, a
-- journal in a temporary folder. tests/test_dev_async.py runs the real thing.
-- build/moonrun run /usr/bin/busted tests/lua/async_spec.lua
local async = require "moonrun.dev.async"
local json = require "moonrun.json"

local NOW = 1796300000000

local function fake_function(name, answers, config)
  local fn = {name = name, spec = {async = config or {max_retries = 0, max_age_s = 21600}}, calls = {}}
  function fn:invoke(event, trigger, options)
    self.calls[#self.calls + 1] = {event = event, trigger = trigger, id = options.request_id}
    local answer = answers[#self.calls] or answers[#answers]
    return {ok = answer.ok, payload = answer.payload, duration_ms = 1}
  end
  function fn:arn() return "arn:aws:lambda:us-east-1:000000000000:function:" .. self.name end
  return fn
end

local function harness(functions, journal_path)
  local h = {sent = {}, notes = {}, warnings = {}, logged = {}}
  local by_name = {}
  for _, fn in ipairs(functions) do by_name[fn.name] = fn end
  h.async = async.new{
    functions = by_name, journal_path = journal_path, now_ms = function() return NOW end,
    send_sqs = function(queue, body, attributes)
      h.sent[#h.sent + 1] = {queue = queue, body = body, attributes = attributes}
      return true
    end,
    view = {note = function(t) h.notes[#h.notes + 1] = t end, warn = function(t) h.warnings[#h.warnings + 1] = t end},
    log = function(fn, trigger) h.logged[#h.logged + 1] = fn.name .. " " .. trigger end,
  }
  return h
end

local function tmpdir()
  local path = os.tmpname()
  os.remove(path)
  assert(os.execute("mkdir -p " .. path))
  return path
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = json.decode(line) end
  return out
end

describe("moonrun.dev.async", function()
  it("the destination record, as Lambda writes it", function()
    local entry = {id = "r-1", event = '{"a": 1}', attempts = 3}
    local failed = async.record(entry, "RetriesExhausted", {ok = false, payload = '{"errorType": "E", "errorMessage": "m"}'},
      "arn:aws:lambda:us-east-1:1:function:F", NOW)
    assert.are.same({version = "1.0", timestamp = "2026-12-03T12:13:20.000Z",
      requestContext = {requestId = "r-1", functionArn = "arn:aws:lambda:us-east-1:1:function:F:$LATEST",
                        condition = "RetriesExhausted", approximateInvokeCount = 3},
      requestPayload = {a = 1},
      responseContext = {statusCode = 200, executedVersion = "$LATEST", functionError = "Unhandled"},
      responsePayload = {errorType = "E", errorMessage = "m"}}, failed)
    local ok = async.record(entry, "Success", {ok = true, payload = '"done"'}, "arn:x", NOW)
    assert.are.same({statusCode = 200, executedVersion = "$LATEST"}, ok.responseContext)
    assert.are.equal("done", ok.responsePayload)
    local never_ran = async.record({id = "r-2", event = "{}", attempts = 0}, "EventAgeExceeded", nil, "arn:x", NOW)
    assert.is_nil(never_ran.responseContext)
    assert.is_nil(never_ran.responsePayload)
  end)

  it("a failure without retries goes to OnFailure and to the dead-letter queue", function()
    local fn = fake_function("F", {{ok = false, payload = '{"errorType": "E", "errorMessage": "broken"}'}},
      {max_retries = 0, max_age_s = 60, on_failure = {type = "SQS", queue_name = "failed", arn = "arn:q"},
       dead_letter = {type = "SQS", queue_name = "dead", arn = "arn:d"}})
    local h = harness({fn})
    local id = h.async:submit(fn, '{"n": 1}')
    assert.are.equal(1, #fn.calls)
    assert.are.equal(id, fn.calls[1].id)
    assert.are.equal(2, #h.sent)
    assert.are.equal("failed", h.sent[1].queue)
    local record = json.decode(h.sent[1].body)
    assert.are.equal("RetriesExhausted", record.requestContext.condition)
    assert.are.equal(1, record.requestContext.approximateInvokeCount)
    assert.are.same({queue = "dead", body = '{"n": 1}', attributes = {
      RequestID = {DataType = "String", StringValue = id},
      ErrorCode = {DataType = "Number", StringValue = "200"},
      ErrorMessage = {DataType = "String", StringValue = "broken"}}}, h.sent[2])
    assert.are.same({"F invoke (async)"}, h.logged)
    assert.are.equal(0, h.async:depth("F"))
  end)

  it("a success goes to an OnSuccess function, invoked asynchronously with the record", function()
    local audit = fake_function("Audit", {{ok = true, payload = "{}"}})
    local fn = fake_function("F", {{ok = true, payload = '{"done": true}'}},
      {max_retries = 2, max_age_s = 60, on_success = {type = "Lambda", function_name = "Audit", arn = "arn:f"}})
    local h = harness({fn, audit})
    h.async:submit(fn, '{"n": 2}', {trigger = "schedule Nightly"})
    assert.are.equal(1, #audit.calls)
    assert.are.equal("destination of F", audit.calls[1].trigger)
    local record = json.decode(audit.calls[1].event)
    assert.are.equal("Success", record.requestContext.condition)
    assert.are.same({done = true}, record.responsePayload)
    assert.are.same({"F schedule Nightly (async)", "Audit destination of F (async)"}, h.logged)
  end)

  it("an event older than MaximumEventAgeInSeconds is not run", function()
    local fn = fake_function("F", {{ok = true, payload = "{}"}},
      {max_retries = 2, max_age_s = 60, on_failure = {type = "SQS", queue_name = "failed", arn = "arn:q"}})
    local dir = tmpdir()
    local journal = dir .. "/async.journal"
    local f = assert(io.open(journal, "w"))
    f:write(json.encode{op = "add", id = "old", fn = "F", event = "{}", received = NOW - 61000, trigger = "invoke"}, "\n")
    f:close()
    local h = harness({fn}, journal)
    assert.are.equal(0, #fn.calls)
    assert.are.equal("EventAgeExceeded", json.decode(h.sent[1].body).requestContext.condition)
    assert.are.same({"1 pending asynchronous event from the last run",
                     "F: EventAgeExceeded record of old sent to queue failed"}, h.notes)
    os.execute("rm -rf " .. dir)
  end)

  it("the journal: pending events resume, settled ones do not, damaged lines and unknown functions are reported", function()
    local fn = fake_function("F", {{ok = true, payload = "{}"}})
    local dir = tmpdir()
    local journal = dir .. "/async.journal"
    local f = assert(io.open(journal, "w"))
    f:write(json.encode{op = "add", id = "a", fn = "F", event = '{"n": 1}', received = NOW, trigger = "invoke"}, "\n")
    f:write(json.encode{op = "add", id = "b", fn = "F", event = '{"n": 2}', received = NOW, trigger = "invoke"}, "\n")
    f:write(json.encode{op = "try", id = "b", n = 1}, "\n")
    f:write(json.encode{op = "done", id = "a"}, "\n")
    f:write("{cut off\n")
    f:write(json.encode{op = "add", id = "c", fn = "Gone", event = "{}", received = NOW, trigger = "invoke"}, "\n")
    f:close()
    local h = harness({fn}, journal)
    assert.are.equal(1, #fn.calls)
    assert.are.equal("b", fn.calls[1].id)
    assert.are.same({"F invoke (async, retry 1)"}, h.logged, "its earlier attempt counts")
    assert.is_truthy(h.warnings[1]:find("async.journal:5: not a journal record, skipped", 1, true), h.warnings[1])
    assert.is_truthy(h.warnings[2]:find("asynchronous event c of Gone dropped", 1, true), h.warnings[2])
    h.async:stop()
    -- rewritten at start (b and c pending), then b tried and settled, then c dropped
    local ops = {}
    for _, r in ipairs(lines(journal)) do ops[#ops + 1] = r.op .. ":" .. r.id end
    assert.are.same({"add:b", "try:b", "add:c", "try:b", "done:b", "done:c"}, ops)
    -- a second start has nothing left
    local again = fake_function("F", {{ok = true, payload = "{}"}})
    local h2 = harness({again}, journal)
    assert.are.equal(0, #again.calls)
    assert.are.same({}, h2.notes)
    assert.are.same({"2 pending asynchronous events from the last run"}, h.notes)
    h2.async:stop()
    os.execute("rm -rf " .. dir)
  end)

  it("after stop, an outcome is not settled: the event stays for the next start", function()
    local dir = tmpdir()
    local journal = dir .. "/async.journal"
    local fn = fake_function("F", {{ok = false, payload = "{}"}})
    local h = harness({fn}, journal)
    function fn:invoke() h.async:stop(); return {ok = false, payload = "{}"} end
    h.async:submit(fn, "{}")
    assert.are.same({}, h.sent)
    local ops = {}
    for _, r in ipairs(lines(journal)) do ops[#ops + 1] = r.op end
    assert.are.same({"add"}, ops)
    os.execute("rm -rf " .. dir)
  end)
end)
