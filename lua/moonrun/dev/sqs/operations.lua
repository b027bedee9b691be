-- The operations of the embedded SQS endpoint: each of SQS's operations (CreateQueue,
-- SendMessage, ReceiveMessage with its long poll, the batches, tags, ...) over the store, with
-- its parameters checked by sqs/request_checks.lua. Each takes the API (its store, sched and FIFO
-- receive attempts), the decoded parameters and the request context ({sender}), and returns
-- the result table or raises with request_checks.fail.
local checks = require "moonrun.sqs.checks"
local digest = require "moonrun.digest"
local json = require "moonrun.json"
local base64 = require "moonrun.base64"
local request = require "moonrun.dev.sqs.request_checks"

local fail, missing, wrong_type = request.fail, request.missing, request.wrong_type
local get_string, get_integer = request.get_string, request.get_integer
local get_list, get_map, get_queue = request.get_list, request.get_map, request.get_queue
local prepare_message, check_batch, run_batch = request.prepare_message, request.check_batch, request.run_batch

local MAX_WAIT_S = 20 -- the longest long poll SQS allows (WaitTimeSeconds)

local operations = {}

function operations.CreateQueue(api, params)
  local name = get_string(params, "QueueName", true)
  local attributes = get_map(params, "Attributes") or {}
  local tags = get_map(params, "tags") or {}
  local q, code, why = api.store:create_queue(name, attributes, tags)
  if not q then fail(code, why) end
  return {QueueUrl = q.url}
end

function operations.GetQueueUrl(api, params)
  local name = get_string(params, "QueueName", true)
  local owner = get_string(params, "QueueOwnerAWSAccountId")
  local q = api.store:queue(name)
  if not q or (owner and owner ~= api.store.account) then
    fail("QueueDoesNotExist", "The specified queue does not exist.")
  end
  return {QueueUrl = q.url}
end

-- A page of names after NextToken (the last name of the page before, in base64).
local function page(names, params)
  local max = get_integer(params, "MaxResults", 1, 1000)
  local token = get_string(params, "NextToken")
  local start = 1
  if token then
    local after = base64.decode(token)
    if not after then
      fail("InvalidParameterValue", "Invalid NextToken value.")
    end
    start = #names + 1
    for i, name in ipairs(names) do
      if name > after then start = i break end
    end
  end
  local chosen = json.array{}
  local limit = max or 1000
  for i = start, math.min(#names, start + limit - 1) do chosen[#chosen + 1] = names[i] end
  local next_token
  if max and start + limit - 1 < #names then next_token = base64.encode(chosen[#chosen]) end
  return chosen, next_token
end

function operations.ListQueues(api, params)
  local prefix = get_string(params, "QueueNamePrefix")
  local names, token = page(api.store:names(prefix), params)
  if #names == 0 then return {} end
  local urls = json.array{}
  for i, name in ipairs(names) do urls[i] = api.store:queue(name).url end
  return {QueueUrls = urls, NextToken = token}
end

function operations.DeleteQueue(api, params)
  local q = get_queue(api, params)
  api.store:delete_queue(q)
  if api.sched then api.sched.notify(api:key(q.name)) end
  return {}
end

local ALL_ATTRIBUTES = {}
for name in pairs(require("moonrun.dev.sqs.store").SETTABLE) do ALL_ATTRIBUTES[name] = true end
for name in pairs(require("moonrun.dev.sqs.store").COMPUTED) do ALL_ATTRIBUTES[name] = true end

function operations.GetQueueAttributes(api, params)
  local q = get_queue(api, params)
  local names = get_list(params, "AttributeNames") or {}
  local wanted, all = {}, false
  for _, name in ipairs(names) do
    if type(name) ~= "string" then wrong_type("AttributeNames", "a list of strings", name) end
    if name == "All" then
      all = true
    elseif ALL_ATTRIBUTES[name] then
      wanted[name] = true
    else
      fail("InvalidAttributeName", string.format("Unknown Attribute %s.", name))
    end
  end
  if #names == 0 then return {} end
  local attributes = api.store:get_attributes(q, not all and wanted or nil)
  if next(attributes) == nil then return {} end
  return {Attributes = attributes}
end

function operations.SetQueueAttributes(api, params)
  local q = get_queue(api, params)
  local attributes = get_map(params, "Attributes", true)
  local code, why = api.store:set_attributes(q, attributes)
  if code then fail(code, why) end
  return {}
end

function operations.SendMessage(api, params, context)
  local q = get_queue(api, params)
  local fields, answer = prepare_message(q, params, context.sender)
  local sent = api.store:send(q, fields)
  answer.MessageId, answer.SequenceNumber = sent.id, sent.sequence
  return answer
end

function operations.SendMessageBatch(api, params, context)
  local q = get_queue(api, params)
  local entries = get_list(params, "Entries", true)
  check_batch(entries, "SendMessageBatch")
  -- the whole batch's size first: SQS refuses all of it when it is too long
  local total = 0
  for _, entry in ipairs(entries) do
    local body = entry.MessageBody
    if type(body) == "string" then total = total + #body end
    for name, attribute in pairs(type(entry.MessageAttributes) == "table" and entry.MessageAttributes or {}) do
      if type(name) == "string" and type(attribute) == "table" then
        total = total + #name + #tostring(attribute.DataType or "")
        local value = attribute.StringValue or attribute.BinaryValue
        if type(value) == "string" then
          total = total + (attribute.BinaryValue and #value * 3 // 4 or #value)
        end
      end
    end
  end
  if total > 1048576 then
    fail("BatchRequestTooLong", string.format("Batch requests cannot be longer than 1048576 " ..
      "bytes. You have sent %d bytes.", total))
  end
  return run_batch(entries, function(entry)
    local fields, answer = prepare_message(q, entry, context.sender)
    local sent = api.store:send(q, fields)
    answer.MessageId, answer.SequenceNumber = sent.id, sent.sequence
    return answer
  end)
end

local SYSTEM_ATTRIBUTES = {
  All = true, SenderId = true, SentTimestamp = true, ApproximateReceiveCount = true,
  ApproximateFirstReceiveTimestamp = true, SequenceNumber = true, MessageDeduplicationId = true,
  MessageGroupId = true, AWSTraceHeader = true, DeadLetterQueueSourceArn = true,
}

local function message_system_attributes(msg, wanted)
  local values = {
    SenderId = msg.sender,
    SentTimestamp = tostring(msg.sent),
    ApproximateReceiveCount = tostring(msg.receives),
    ApproximateFirstReceiveTimestamp = msg.first_receive and tostring(msg.first_receive),
    SequenceNumber = msg.sequence,
    MessageDeduplicationId = msg.dedup,
    MessageGroupId = msg.group,
    AWSTraceHeader = msg.system and msg.system.AWSTraceHeader and msg.system.AWSTraceHeader.StringValue,
    DeadLetterQueueSourceArn = msg.source_arn,
  }
  if wanted.All then return values end
  local chosen = {}
  for name in pairs(wanted) do chosen[name] = values[name] end
  return chosen
end

local function selected_message_attributes(msg, names)
  local attributes = msg.attributes
  if not attributes or #names == 0 then return nil end
  local chosen, any = {}, false
  for _, pattern in ipairs(names) do
    if pattern == "All" or pattern == ".*" then
      return attributes
    end
    local prefix = pattern:match("^(.*)%.%*$")
    for name, attribute in pairs(attributes) do
      if name == pattern or (prefix and name:sub(1, #prefix + 1) == prefix .. ".") then
        chosen[name] = attribute
        any = true
      end
    end
  end
  return any and chosen or nil
end

local function decoded_attributes(attributes)
  local copy = {}
  for name, attribute in pairs(attributes) do
    if attribute.BinaryValue then
      copy[name] = {DataType = attribute.DataType, BinaryValue = base64.decode(attribute.BinaryValue) or ""}
    else
      copy[name] = attribute
    end
  end
  return copy
end

local function message_answer(msg, system_wanted, attribute_names)
  local answer = {MessageId = msg.id, ReceiptHandle = msg.handle, MD5OfBody = digest.md5_hex(msg.body),
    Body = msg.body}
  if next(system_wanted) then
    local attributes = message_system_attributes(msg, system_wanted)
    if next(attributes) then answer.Attributes = attributes end
  end
  local chosen = selected_message_attributes(msg, attribute_names)
  if chosen then
    answer.MessageAttributes = chosen
    answer.MD5OfMessageAttributes = checks.attributes_md5(decoded_attributes(chosen))
  end
  return answer
end

function operations.ReceiveMessage(api, params)
  local q = get_queue(api, params)
  local max = get_integer(params, "MaxNumberOfMessages", 1, 10) or 1
  local visibility = get_integer(params, "VisibilityTimeout", 0, 43200)
  local wait = get_integer(params, "WaitTimeSeconds", 0, MAX_WAIT_S)
  if wait == nil then wait = q:number("ReceiveMessageWaitTimeSeconds") end
  local system_wanted = {}
  for _, list in ipairs{"AttributeNames", "MessageSystemAttributeNames"} do
    for _, name in ipairs(get_list(params, list) or {}) do
      if type(name) ~= "string" then wrong_type(list, "a list of strings", name) end
      if not SYSTEM_ATTRIBUTES[name] then
        fail("InvalidAttributeName", string.format("Unknown Attribute %s.", name))
      end
      system_wanted[name] = true
    end
  end
  local attribute_names = get_list(params, "MessageAttributeNames") or {}
  for _, name in ipairs(attribute_names) do
    if type(name) ~= "string" then wrong_type("MessageAttributeNames", "a list of strings", name) end
  end
  local attempt = get_string(params, "ReceiveRequestAttemptId")
  local store, sched = api.store, api.sched
  -- a FIFO receive retried with the same attempt id within 5 minutes gets the same messages
  -- and handles, as long as none of them was deleted or received again since
  local attempt_key = attempt and q.fifo and q.name .. "\0" .. attempt
  local earlier = attempt_key and api.attempts[attempt_key]
  if earlier and store.now_ms() - earlier.at < 5 * 60 * 1000 then
    local same = true
    for i, msg in ipairs(earlier.messages) do
      if msg.gone or msg.handle ~= earlier.handles[i] then same = false end
    end
    if same and #earlier.messages > 0 then
      local answers = json.array{}
      for i, msg in ipairs(earlier.messages) do answers[i] = message_answer(msg, system_wanted, attribute_names) end
      return {Messages = answers}
    end
  end
  local messages = store:receive(q, max, visibility)
  if #messages == 0 and wait > 0 and sched then
    local deadline = sched.now_ms() + wait * 1000
    while #messages == 0 and not q.deleted do
      local now = sched.now_ms()
      if now >= deadline then break end
      local timeout = deadline - now
      local due = store:next_due(q)
      if due then timeout = math.max(1, math.min(timeout, due - now)) end
      store:flush() -- what this receive moved to a dead-letter queue is kept meanwhile
      sched.wait(api:key(q.name), timeout / 1000)
      messages = store:receive(q, max, visibility)
    end
  end
  if attempt_key then
    local handles = {}
    for i, msg in ipairs(messages) do handles[i] = msg.handle end
    api.attempts[attempt_key] = {at = store.now_ms(), messages = messages, handles = handles}
    api.attempt_count = api.attempt_count + 1
    if api.attempt_count > 10000 then api.attempts, api.attempt_count = {}, 0 end
  end
  if #messages == 0 then return {} end
  local answers = json.array{}
  for i, msg in ipairs(messages) do answers[i] = message_answer(msg, system_wanted, attribute_names) end
  return {Messages = answers}
end

function operations.DeleteMessage(api, params)
  local q = get_queue(api, params)
  local handle = get_string(params, "ReceiptHandle", true)
  local code, why = api.store:delete(q, handle)
  if code then fail(code, why) end
  return {}
end

function operations.DeleteMessageBatch(api, params)
  local q = get_queue(api, params)
  local entries = get_list(params, "Entries", true)
  check_batch(entries, "DeleteMessageBatch")
  return run_batch(entries, function(entry)
    local code, why = api.store:delete(q, get_string(entry, "ReceiptHandle", true))
    if code then fail(code, why) end
    return {}
  end)
end

local function change_visibility(api, q, params)
  local handle = get_string(params, "ReceiptHandle", true)
  if params.VisibilityTimeout == nil then missing("VisibilityTimeout") end
  local visibility = get_integer(params, "VisibilityTimeout", -math.huge, math.huge)
  if visibility < 0 or visibility > 43200 then
    fail("InvalidParameterValue", string.format("Value %d for parameter VisibilityTimeout is " ..
      "invalid. Reason: VisibilityTimeout must be an integer between 0 and 43200", visibility))
  end
  local code, why = api.store:change_visibility(q, handle, visibility)
  if code then fail(code, why) end
  return {}
end

function operations.ChangeMessageVisibility(api, params)
  return change_visibility(api, get_queue(api, params), params)
end

function operations.ChangeMessageVisibilityBatch(api, params)
  local q = get_queue(api, params)
  local entries = get_list(params, "Entries", true)
  check_batch(entries, "ChangeMessageVisibilityBatch")
  return run_batch(entries, function(entry) return change_visibility(api, q, entry) end)
end

function operations.PurgeQueue(api, params)
  local q = get_queue(api, params)
  local code, why = api.store:purge(q)
  if code then fail(code, why) end
  return {}
end

function operations.TagQueue(api, params)
  local q = get_queue(api, params)
  local tags = get_map(params, "Tags", true)
  local count = 0
  for key in pairs(q.tags) do if tags[key] == nil then count = count + 1 end end
  for _ in pairs(tags) do count = count + 1 end
  if count > 50 then
    fail("InvalidParameterValue", "Too many tags added for queue " .. q.name .. ": a queue has at most 50.")
  end
  api.store:tag(q, tags)
  return {}
end

function operations.UntagQueue(api, params)
  local q = get_queue(api, params)
  local keys = get_list(params, "TagKeys", true)
  for _, key in ipairs(keys) do
    if type(key) ~= "string" then wrong_type("TagKeys", "a list of strings", key) end
  end
  api.store:untag(q, keys)
  return {}
end

function operations.ListQueueTags(api, params)
  local q = get_queue(api, params)
  if next(q.tags) == nil then return {} end
  return {Tags = q.tags}
end

function operations.ListDeadLetterSourceQueues(api, params)
  local q = get_queue(api, params)
  local names, token = page(api.store:dead_letter_sources(q), params)
  local urls = json.array{}
  for i, name in ipairs(names) do urls[i] = api.store:queue(name).url end
  return {queueUrls = urls, NextToken = token}
end

for _, name in ipairs{"AddPermission", "RemovePermission", "StartMessageMoveTask",
    "CancelMessageMoveTask", "ListMessageMoveTasks"} do
  operations[name] = function()
    fail("UnsupportedOperation", string.format("moonrun dev's SQS endpoint does not implement %s.", name))
  end
end

return operations
