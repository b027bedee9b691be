-- Amazon SQS over the AWS JSON protocol: every operation of the API as a snake_case function
-- taking AWS's parameter names, the MD5 checks the SDKs make, checks that spare a request SQS
-- would refuse, and queue objects in the style of boto3's resource API.
--
--   local sqs = require "moonrun.sqs"
--   local url = sqs.get_queue_url{QueueName = "test-queue"}.QueueUrl
--   sqs.send_message{QueueUrl = url, MessageBody = "hello"}
--   local queue = sqs.get_queue_by_name("test-queue")
--   for _, message in ipairs(queue:receive_messages{WaitTimeSeconds = 20}) do
--     queue:delete(message)
--   end
local aws = require "moonrun.aws"
local checks = require "moonrun.sqs.checks"
local digest = require "moonrun.digest"
local invocation = require "moonrun.invocation"
local json = require "moonrun.json"

local M = {}

M.SERVICE = {
  service_id = "SQS", endpoint_prefix = "sqs", signing_name = "sqs",
  target_prefix = "AmazonSQS", json_version = "1.0", query_compatible = true,
}

local errors = aws.errors

local function raise_client_error(code, operation, message)
  error(errors.client_error(code, operation, message .. " (no request was sent)"), 0)
end

-- Operations: AWS's name, the parameters that must be given, and the list fields that the
-- result always has (SQS leaves empty ones out; an empty array is easier to iterate).
local OPERATIONS = {
  send_message = {"SendMessage", {"QueueUrl", "MessageBody"}},
  send_message_batch = {"SendMessageBatch", {"QueueUrl", "Entries"}, {"Successful", "Failed"}},
  receive_message = {"ReceiveMessage", {"QueueUrl"}, {"Messages"}},
  delete_message = {"DeleteMessage", {"QueueUrl", "ReceiptHandle"}},
  delete_message_batch = {"DeleteMessageBatch", {"QueueUrl", "Entries"}, {"Successful", "Failed"}},
  change_message_visibility = {"ChangeMessageVisibility", {"QueueUrl", "ReceiptHandle", "VisibilityTimeout"}},
  change_message_visibility_batch = {"ChangeMessageVisibilityBatch", {"QueueUrl", "Entries"},
    {"Successful", "Failed"}},
  get_queue_url = {"GetQueueUrl", {"QueueName"}},
  list_queues = {"ListQueues", {}, {"QueueUrls"}},
  create_queue = {"CreateQueue", {"QueueName"}},
  delete_queue = {"DeleteQueue", {"QueueUrl"}},
  get_queue_attributes = {"GetQueueAttributes", {"QueueUrl"}},
  set_queue_attributes = {"SetQueueAttributes", {"QueueUrl", "Attributes"}},
  purge_queue = {"PurgeQueue", {"QueueUrl"}},
  tag_queue = {"TagQueue", {"QueueUrl", "Tags"}},
  untag_queue = {"UntagQueue", {"QueueUrl", "TagKeys"}},
  list_queue_tags = {"ListQueueTags", {"QueueUrl"}},
  list_dead_letter_source_queues = {"ListDeadLetterSourceQueues", {"QueueUrl"}, {"queueUrls"}},
  add_permission = {"AddPermission", {"QueueUrl", "Label", "AWSAccountIds", "Actions"}},
  remove_permission = {"RemovePermission", {"QueueUrl", "Label"}},
  start_message_move_task = {"StartMessageMoveTask", {"SourceArn"}},
  cancel_message_move_task = {"CancelMessageMoveTask", {"TaskHandle"}},
  list_message_move_tasks = {"ListMessageMoveTasks", {"SourceArn"}, {"Results"}},
}
M.OPERATIONS = OPERATIONS

-- Preparing parameters and checking results, for the operations that carry messages. Each
-- prepare returns the parameters to send (a copy where something had to be encoded) and each
-- check raises or amends the result.
local prepare, check = {}, {}

local function check_entries(operation, entries)
  if type(entries) ~= "table" or #entries == 0 then
    raise_client_error("EmptyBatchRequest", operation, "Entries must be a list of at least one entry")
  elseif #entries > checks.MAX_BATCH_ENTRIES then
    raise_client_error("TooManyEntriesInBatchRequest", operation, string.format(
      "%d entries given; a batch holds at most %d", #entries, checks.MAX_BATCH_ENTRIES))
  end
end

-- What the caller gave, for each copy made to be sent: digests are of the original bytes, not
-- of their base64 form.
local original_of = setmetatable({}, {__mode = "k"})

-- The X-Ray trace header of the invocation this Lua state serves (per state, so it stays right
-- with several workers), or, outside an invocation, the process's _X_AMZN_TRACE_ID.
local function trace_header()
  local context = invocation.current()
  if context then return context.trace_id end
  return os.getenv("_X_AMZN_TRACE_ID")
end

-- As the AWS SDKs do, a message carries the trace header as its AWSTraceHeader system
-- attribute, so X-Ray links the consumer to this invocation; unless the caller set one.
local function with_trace_header(params)
  local system = params.MessageSystemAttributes
  if system and system.AWSTraceHeader ~= nil then return params end
  local trace = trace_header()
  if type(trace) ~= "string" or trace == "" then return params end
  local traced = {}
  for name, attribute in pairs(system or {}) do traced[name] = attribute end
  traced.AWSTraceHeader = {DataType = "String", StringValue = trace}
  local copy = {}
  for key, value in pairs(params) do copy[key] = value end
  copy.MessageSystemAttributes = traced
  return copy
end

local function message_params(operation, params)
  local code, why = checks.check_message(params.MessageBody, params.MessageAttributes)
  if code then raise_client_error(code, operation, why) end
  params = with_trace_header(params)
  local copy = {}
  for key, value in pairs(params) do copy[key] = value end
  copy.MessageAttributes = checks.encode_attributes(params.MessageAttributes)
  copy.MessageSystemAttributes = checks.encode_attributes(params.MessageSystemAttributes)
  original_of[copy] = params
  return copy
end

prepare.SendMessage = message_params

function prepare.SendMessageBatch(operation, params)
  check_entries(operation, params.Entries)
  local total, entries = 0, json.array{}
  for i, entry in ipairs(params.Entries) do
    local ok, prepared = pcall(message_params, operation, entry)
    if not ok then
      prepared.message = string.format("entry %d (Id %s): %s", i, tostring(entry.Id), prepared.message)
      error(prepared, 0)
    end
    total = total + checks.message_size(entry.MessageBody, entry.MessageAttributes)
    entries[i] = prepared
  end
  if total > checks.MAX_MESSAGE_BYTES then
    raise_client_error("BatchRequestTooLong", operation, string.format(
      "the batch is %d bytes in all; SQS takes at most %d per batch", total, checks.MAX_MESSAGE_BYTES))
  end
  local copy = {}
  for key, value in pairs(params) do copy[key] = value end
  copy.Entries = entries
  return copy
end

local function batch_params(operation, params)
  check_entries(operation, params.Entries)
  return params
end
prepare.DeleteMessageBatch = batch_params
prepare.ChangeMessageVisibilityBatch = batch_params

-- The digests of a sent message against what SQS says it stored.
local function sent_mismatch(sent, answer)
  sent = original_of[sent] or sent
  return checks.mismatch("MD5OfMessageBody", answer.MD5OfMessageBody,
      digest.md5_hex(sent.MessageBody)) or
    sent.MessageAttributes and next(sent.MessageAttributes) and
      checks.mismatch("MD5OfMessageAttributes", answer.MD5OfMessageAttributes,
        checks.attributes_md5(sent.MessageAttributes)) or
    sent.MessageSystemAttributes and next(sent.MessageSystemAttributes) and
      checks.mismatch("MD5OfMessageSystemAttributes", answer.MD5OfMessageSystemAttributes,
        checks.attributes_md5(sent.MessageSystemAttributes)) or nil
end

local function checksum_error(operation, result, message)
  error(errors.new{code = "ChecksumError", operation = operation, message = message,
    request_id = result.ResponseMetadata and result.ResponseMetadata.RequestId}, 0)
end

function check.SendMessage(operation, params, result)
  local why = sent_mismatch(params, result)
  if why then checksum_error(operation, result, why) end
end

-- A successful entry whose digest does not match moves to Failed, so it is not mistaken for a
-- message stored intact.
function check.SendMessageBatch(_, params, result)
  local by_id = {}
  for _, entry in ipairs(params.Entries) do by_id[entry.Id] = entry end
  local successful = json.array{}
  for _, answer in ipairs(result.Successful) do
    local sent = by_id[answer.Id]
    local why = sent and sent_mismatch(sent, answer)
    if why then
      result.Failed[#result.Failed + 1] = {Id = answer.Id, Code = "ChecksumError", Message = why,
        SenderFault = false, MessageId = answer.MessageId}
    else
      successful[#successful + 1] = answer
    end
  end
  result.Successful = successful
end

function check.ReceiveMessage(operation, _, result)
  for _, message in ipairs(result.Messages) do
    local why = checks.decode_attributes(message.MessageAttributes)
    if why then checksum_error(operation, result, why) end
    why = checks.mismatch("MD5OfBody", message.MD5OfBody, digest.md5_hex(message.Body or "")) or
      message.MessageAttributes and next(message.MessageAttributes) and
        checks.mismatch("MD5OfMessageAttributes", message.MD5OfMessageAttributes,
          checks.attributes_md5(message.MessageAttributes))
    if why then
      checksum_error(operation, result, string.format("message %s: %s", tostring(message.MessageId), why))
    end
  end
end

local function check_required(operation, names, params)
  for _, name in ipairs(names) do
    if params[name] == nil then
      raise_client_error("MissingParameter", operation, string.format(
        "the parameter %s is required", name))
    end
  end
end

local function fill_lists(result, fields)
  for _, field in ipairs(fields or {}) do
    if result[field] == nil then result[field] = json.array{} end
  end
end

-- A long poll waits up to WaitTimeSeconds (or the queue's own setting, at most 20 s): the
-- request's timeout must outlast it.
local function call_options(client, aws_name, params)
  if aws_name == "ReceiveMessage" then
    local wait = tonumber(params.WaitTimeSeconds) or 20
    return {timeout = math.max(client.timeout, wait + 10)}
  end
end

local Client = {}
Client.__index = Client

--- A client with its own options (region, endpoint, credentials, timeouts, retries: see
-- moonrun.aws.client).
function M.client(options)
  return setmetatable({aws = aws.client(M.SERVICE, options), options = options or {}}, Client)
end

-- The parameters to send and how to read the answer, for one call of operation `name`.
function Client:prepare_call(name, params)
  local operation = OPERATIONS[name]
  local aws_name = operation[1]
  if params ~= nil and type(params) ~= "table" then
    raise_client_error("ParamValidationError", aws_name, "parameters must be a table, got " .. type(params))
  end
  params = params or {}
  check_required(aws_name, operation[2], params)
  local sent = prepare[aws_name] and prepare[aws_name](aws_name, params) or params
  return aws_name, sent, call_options(self.aws, aws_name, params)
end

function Client:finish_call(name, sent, result)
  local operation = OPERATIONS[name]
  fill_lists(result, operation[3])
  local aws_name = operation[1]
  if check[aws_name] then check[aws_name](aws_name, sent, result) end
  return result
end

for name in pairs(OPERATIONS) do
  Client[name] = function(self, params)
    local aws_name, sent, options = self:prepare_call(name, params)
    return self:finish_call(name, sent, self.aws:call(aws_name, sent, options))
  end
end

--- Iterates over the pages of list_queues or list_dead_letter_source_queues, following
-- NextToken: for page in client:pages("list_queues", {QueueNamePrefix = "orders"}) do ... end
function Client:pages(name, params)
  if name ~= "list_queues" and name ~= "list_dead_letter_source_queues" then
    error(string.format("sqs: %s has no pages (list_queues and list_dead_letter_source_queues do)",
      tostring(name)), 2)
  end
  local request = {}
  for key, value in pairs(params or {}) do request[key] = value end
  local done = false
  return function()
    if done then return nil end
    local page = self[name](self, request)
    request.NextToken = page.NextToken
    done = page.NextToken == nil
    return page
  end
end

-- The module's functions use a default client, made on first use from the environment.
local default_client
function M.default_client()
  if not default_client then default_client = M.client() end
  return default_client
end

--- Forgets the default client, so the next call reads the environment again.
function M.reset()
  default_client = nil
end

-- sqs.send_message{...} and, forgiven, sqs:send_message{...}.
local function module_function(method)
  return function(first, ...)
    if first == M then return method(M.default_client(), ...) end
    return method(M.default_client(), first, ...)
  end
end

for name in pairs(OPERATIONS) do M[name] = module_function(Client[name]) end
M.pages = module_function(Client.pages)

Client.queue = function(self, url) return require("moonrun.sqs.queue").new(self, url) end
Client.get_queue_by_name = function(self, name, owner)
  local url = self:get_queue_url{QueueName = name, QueueOwnerAWSAccountId = owner}.QueueUrl
  return self:queue(url)
end
M.queue = module_function(Client.queue)
M.get_queue_by_name = module_function(Client.get_queue_by_name)

return M
