-- A queue object, as boto3's resource API gives one: the queue's URL bound to a client.
--   local queue = sqs.get_queue_by_name("orders")
--   queue:send_message{MessageBody = "..."}
--   local result = queue:send_messages{"a", "b", {MessageBody = "c", DelaySeconds = 5}}
local aws = require "moonrun.aws"
local checks = require "moonrun.sqs.checks"
local json = require "moonrun.json"

local M = {}

local Queue = {}
Queue.__index = Queue

function M.new(client, url)
  if type(url) ~= "string" or url == "" then
    error("sqs: a queue needs its URL (a string), got " .. tostring(url), 3)
  end
  return setmetatable({client = client, url = url}, Queue)
end

local function with_url(queue, params)
  local copy = {QueueUrl = queue.url}
  for key, value in pairs(params or {}) do copy[key] = value end
  return copy
end

function Queue:send_message(params)
  return self.client:send_message(with_url(self, params))
end

--- The received messages (a list, empty when none came).
function Queue:receive_messages(params)
  return self.client:receive_message(with_url(self, params)).Messages
end

local function receipt_handle(message)
  if type(message) == "table" then return message.ReceiptHandle end
  return message
end

--- Deletes a received message (the message table, or its receipt handle).
function Queue:delete(message)
  return self.client:delete_message{QueueUrl = self.url, ReceiptHandle = receipt_handle(message)}
end

function Queue:attributes(names)
  return self.client:get_queue_attributes{QueueUrl = self.url,
    AttributeNames = names or json.array{"All"}}.Attributes
end

-- Splits entries (already checked) into batches of at most 10 entries and 1 MiB.
local function batches(entries, sizes)
  local list, current, bytes = {}, {}, 0
  for k, entry in ipairs(entries) do
    if #current == checks.MAX_BATCH_ENTRIES or bytes + sizes[k] > checks.MAX_MESSAGE_BYTES then
      list[#list + 1], current, bytes = current, {}, 0
    end
    current[#current + 1] = entry
    bytes = bytes + sizes[k]
  end
  if #current > 0 then list[#list + 1] = current end
  return list
end

local function sorted_by_index(list)
  table.sort(list, function(a, b) return a.Index < b.Index end)
  return list
end

-- Whether a failed batch may nonetheless have been carried out: its request may have reached
-- SQS (a timeout or a cut connection after sending), so its entries may be queued or deleted.
local function outcome_unknown(err)
  return err.kind ~= nil and err.sent == true
end

-- Runs the batch operation `name` over many entries: batches of 10 sent concurrently (at most
-- 50 requests in flight), each result mapped back to the position of its entry.
-- prepared[k] = {index = i, entry = {...}}. A batch that fails as a whole (its attempts spent)
-- fails each of its entries with its error, or, when SQS may have carried it out, lists them in
-- unknown. A send batch is not retried after such a failure: a resend could queue it twice.
local function run_batches(queue, name, prepared, sizes, successful, failed, unknown)
  local groups = batches(prepared, sizes)
  local calls, sent = {}, {}
  for g, group in ipairs(groups) do
    local entries = json.array{}
    for k, item in ipairs(group) do entries[k] = item.entry end
    local operation, params, options = queue.client:prepare_call(name, {QueueUrl = queue.url, Entries = entries})
    if name == "send_message_batch" then
      options = options or {}
      options.retry_if_sent = false
    end
    calls[g], sent[g] = {operation, params, options}, params
  end
  local results = queue.client.aws:call_many(calls)
  for g, group in ipairs(groups) do
    local by_id = {}
    for _, item in ipairs(group) do by_id[item.entry.Id] = item end
    local result = results[g]
    if aws.is_error(result) then
      local list = outcome_unknown(result) and unknown or failed
      for _, item in ipairs(group) do
        list[#list + 1] = {Index = item.index, Id = item.id, Code = result.code,
          Message = tostring(result), SenderFault = result.status ~= nil and result.status < 500}
      end
    else
      queue.client:finish_call(name, sent[g], result)
      for _, answer in ipairs(result.Successful) do
        local item = by_id[answer.Id]
        answer.Index, answer.Id = item.index, item.id
        successful[#successful + 1] = answer
      end
      for _, answer in ipairs(result.Failed) do
        local item = by_id[answer.Id]
        answer.Index, answer.Id = item.index, item.id
        failed[#failed + 1] = answer
      end
    end
  end
end

--- Sends many messages: each item a body (string) or an entry table (MessageBody,
-- DelaySeconds, MessageAttributes, MessageGroupId, ...; an Id is optional). Returns
-- {Successful = {...}, Failed = {...}, Unknown = {...}}, each ordered by Index, the item's
-- position: every item is in exactly one of them. Failed items were not queued (resending them
-- is safe); Unknown items were in a request that may have reached SQS before it failed (a
-- timeout after sending), so they may or may not be queued: resending them may duplicate them.
-- Items SQS would refuse are Failed without being sent.
function Queue:send_messages(items)
  if type(items) ~= "table" then error("sqs: send_messages takes a list of messages", 2) end
  local successful, failed, unknown = json.array{}, json.array{}, json.array{}
  local prepared, sizes = {}, {}
  for i, item in ipairs(items) do
    local entry = type(item) == "table" and item or {MessageBody = item}
    local copy = {}
    for key, value in pairs(entry) do copy[key] = value end
    copy.Id = tostring(i)
    local id = entry.Id or tostring(i)
    local code, why = checks.check_message(copy.MessageBody, copy.MessageAttributes)
    if code then
      failed[#failed + 1] = {Index = i, Id = id, Code = code, Message = why .. " (not sent)",
        SenderFault = true}
    else
      prepared[#prepared + 1] = {index = i, id = id, entry = copy}
      sizes[#prepared] = checks.message_size(copy.MessageBody, copy.MessageAttributes)
    end
  end
  run_batches(self, "send_message_batch", prepared, sizes, successful, failed, unknown)
  return {Successful = sorted_by_index(successful), Failed = sorted_by_index(failed),
          Unknown = sorted_by_index(unknown)}
end

--- Deletes many received messages (message tables or receipt handles), in concurrent batches
-- of 10; returns {Successful, Failed, Unknown} as send_messages does (a delete is retried even
-- after a timeout, since deleting twice does no harm).
function Queue:delete_messages(messages)
  if type(messages) ~= "table" then error("sqs: delete_messages takes a list of messages", 2) end
  local successful, failed, unknown = json.array{}, json.array{}, json.array{}
  local prepared, sizes = {}, {}
  for i, message in ipairs(messages) do
    prepared[i] = {index = i, id = tostring(i),
      entry = {Id = tostring(i), ReceiptHandle = receipt_handle(message)}}
    sizes[i] = 0
  end
  run_batches(self, "delete_message_batch", prepared, sizes, successful, failed, unknown)
  return {Successful = sorted_by_index(successful), Failed = sorted_by_index(failed),
          Unknown = sorted_by_index(unknown)}
end

return M
