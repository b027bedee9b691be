-- Helpers for the events Lambda delivers. SQS: iterate a batch's records, decode JSON bodies,
-- and answer with batchItemFailures so that Lambda retries only the records that failed (the
-- event source mapping needs FunctionResponseTypes: ReportBatchItemFailures).
--
--   local events = require "moonrun.events"
--   function M.handler(event)
--     return events.sqs_batch(event, function(body, record) save(body.order) end, {json = true})
--   end
local json = require "moonrun.json"

local M = {}

local function records_of(event)
  if type(event) ~= "table" or type(event.Records) ~= "table" then
    error("events: this is not an SQS event (it has no Records list)", 3)
  end
  return event.Records
end

--- for i, record in events.sqs_records(event) do ... end
function M.sqs_records(event)
  return ipairs(records_of(event))
end

--- The record's body decoded as JSON; raises an error naming the message when it is not JSON.
function M.json_body(record)
  local ok, value = pcall(json.decode, record.body)
  if not ok then
    error(string.format("the body of message %s is not JSON: %s", tostring(record.messageId),
      tostring(value)), 2)
  end
  return value
end

--- The response that reports the given message ids as failed ({} or a list of ids).
function M.batch_response(failed_ids)
  local failures = json.array{}
  for i, id in ipairs(failed_ids or {}) do failures[i] = {itemIdentifier = id} end
  return {batchItemFailures = failures}
end

--- With ReportBatchItemFailures: the ids the function's answer reports failed (a set), or nil
--- and why the answer is invalid. As Lambda documents it, the batch succeeded entirely when
--- the answer is null or empty or its batchItemFailures is null or empty, and failed entirely
--- when the answer is not JSON, or an item's itemIdentifier is missing, empty, not a string or
--- not a message of the batch; an answer of another shape is taken as a failure too.
function M.reported_failures(body, batch_ids)
  local failed = {}
  if body == nil or body:match("^%s*$") then return failed end
  local ok, answer = pcall(json.decode, body)
  if not ok then return nil, "the function's answer is not JSON" end
  if answer == json.null then return failed end
  if type(answer) ~= "table" or json.is_array(answer) then
    return nil, "the function's answer is not an object (expected {\"batchItemFailures\": [...]})"
  end
  local list = answer.batchItemFailures
  if list == nil or list == json.null then return failed end
  if type(list) ~= "table" or not json.is_array(list) then -- decoded lists, even empty, are marked
    return nil, "batchItemFailures is not a list"
  end
  for i, item in ipairs(list) do
    if type(item) ~= "table" or item == json.null or json.is_array(item) then
      return nil, string.format("batchItemFailures[%d] is not an object", i)
    end
    local id = item.itemIdentifier
    if type(id) ~= "string" or id == "" then
      return nil, string.format("batchItemFailures[%d] has no itemIdentifier (a message id)", i)
    end
    if not batch_ids[id] then
      return nil, string.format("batchItemFailures[%d].itemIdentifier %s is not a message of the batch", i, id)
    end
    failed[id] = true
  end
  return failed
end

--- Why Lambda could not read answer_json (a handler's JSON answer) to the SQS batch event
--- (decoded), or nil when it could: with ReportBatchItemFailures, an unreadable answer fails
--- the whole batch. Only answers that carry batchItemFailures are checked, and only for SQS
--- events. (`moonrun invoke` warns with it; moonrun dev's trigger applies the same rule.)
function M.batch_answer_problem(event, answer_json)
  if type(event) ~= "table" or type(event.Records) ~= "table" then return nil end
  local ids = {}
  for _, record in ipairs(event.Records) do
    if type(record) ~= "table" or record.eventSource ~= "aws:sqs" then return nil end
    ids[record.messageId] = true
  end
  if next(ids) == nil or not tostring(answer_json):find('"batchItemFailures"', 1, true) then return nil end
  local _, why = M.reported_failures(answer_json, ids)
  return why
end

local function is_fifo(record)
  return type(record.eventSourceARN) == "string" and record.eventSourceARN:sub(-5) == ".fifo"
end

local function describe(err)
  local ok, text = pcall(tostring, err)
  return ok and text or "(an error value that cannot be shown)"
end

--- Calls handle(body, record) for each record (body decoded from JSON when options.json) in a
-- protected call, logs each failure with its message id on stderr, and returns the
-- batchItemFailures response. From a FIFO queue, the records after a failure are not handled
-- but reported failed too, so that the queue's order is kept when Lambda retries them.
function M.sqs_batch(event, handle, options)
  if type(handle) ~= "function" then error("events: sqs_batch needs a function to call", 2) end
  local decode = options and options.json
  local failed, stop = {}, false
  for _, record in ipairs(records_of(event)) do
    if stop then
      failed[#failed + 1] = record.messageId
    else
      local ok, err = xpcall(function()
        local body = record.body
        if decode then body = M.json_body(record) end
        handle(body, record)
      end, function(e) return debug.traceback(describe(e), 2) end)
      if not ok then
        io.stderr:write(string.format("moonrun.events: message %s failed: %s\n",
          tostring(record.messageId), err))
        failed[#failed + 1] = record.messageId
        stop = is_fifo(record)
      end
    end
  end
  return M.batch_response(failed)
end

return M
