-- The embedded SQS endpoint's protocol: AWS JSON 1.0 requests (POST /, X-Amz-Target:
-- AmazonSQS.<Operation>) checked as SQS checks them, answered from a sqs_store, with errors
-- shaped as SQS sends them (a JSON body with __type and message, and the query-compatible code
-- in x-amzn-query-error, which botocore and the other SDKs read).
--
--   local api = sqs_api.new{store = store, sched = sched,
--     credentials = nil or {access_key_id = "...", secret_access_key = "..."}}
--   local status, headers, body = api:handle(req)   -- may sched.wait (long polls)
local checks = require "moonrun.sqs.checks"
local digest = require "moonrun.digest"
local json = require "moonrun.json"
local sigv4 = require "moonrun.sigv4"
local textcheck = require "moonrun.textcheck"
local base64 = require "moonrun.base64"
local uuid = require "moonrun.uuid"

local M = {}

local CONTENT_TYPE = "application/x-amz-json-1.0"
local TARGET_PREFIX = "AmazonSQS."
local SQS_NAMESPACE = "com.amazonaws.sqs#"
local CORAL_NAMESPACE = "com.amazon.coral.service#"
M.MAX_WAIT_S = 20
M.CLOCK_SKEW_S = 15 * 60

-- Each error code: the namespace of its __type, the query-compatible code (x-amzn-query-error,
-- which botocore reports as the error's Code), the status, and the __type's name when it is
-- not the code itself.
local ERRORS = {
  QueueDoesNotExist = {SQS_NAMESPACE, "AWS.SimpleQueueService.NonExistentQueue", 400},
  QueueNameExists = {SQS_NAMESPACE, "QueueAlreadyExists", 400},
  QueueDeletedRecently = {SQS_NAMESPACE, "AWS.SimpleQueueService.QueueDeletedRecently", 400},
  MessageNotInflight = {SQS_NAMESPACE, "AWS.SimpleQueueService.MessageNotInflight", 400},
  PurgeQueueInProgress = {SQS_NAMESPACE, "AWS.SimpleQueueService.PurgeQueueInProgress", 403},
  BatchEntryIdsNotDistinct = {SQS_NAMESPACE, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400},
  BatchRequestTooLong = {SQS_NAMESPACE, "AWS.SimpleQueueService.BatchRequestTooLong", 400},
  EmptyBatchRequest = {SQS_NAMESPACE, "AWS.SimpleQueueService.EmptyBatchRequest", 400},
  InvalidBatchEntryId = {SQS_NAMESPACE, "AWS.SimpleQueueService.InvalidBatchEntryId", 400},
  TooManyEntriesInBatchRequest = {SQS_NAMESPACE, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400},
  UnsupportedOperation = {SQS_NAMESPACE, "AWS.SimpleQueueService.UnsupportedOperation", 400},
  InvalidAttributeName = {SQS_NAMESPACE, "InvalidAttributeName", 400},
  InvalidAttributeValue = {SQS_NAMESPACE, "InvalidAttributeValue", 400},
  ReceiptHandleIsInvalid = {SQS_NAMESPACE, "ReceiptHandleIsInvalid", 400},
  InvalidMessageContents = {SQS_NAMESPACE, "InvalidMessageContents", 400},
  InvalidParameterValue = {SQS_NAMESPACE, "InvalidParameterValue", 400},
  MissingParameter = {SQS_NAMESPACE, "MissingParameter", 400},
  OverLimit = {SQS_NAMESPACE, "OverLimit", 403},
  InvalidAddress = {SQS_NAMESPACE, "InvalidAddress", 404},
  -- the service framework's own, before an operation is reached
  UnknownOperationException = {CORAL_NAMESPACE, "InvalidAction", 400},
  SerializationException = {CORAL_NAMESPACE, "MalformedInput", 400},
  MissingAuthenticationToken = {CORAL_NAMESPACE, "MissingAuthenticationToken", 403,
    "MissingAuthenticationTokenException"},
  IncompleteSignature = {CORAL_NAMESPACE, "IncompleteSignature", 400},
  InvalidClientTokenId = {CORAL_NAMESPACE, "InvalidClientTokenId", 403},
  SignatureDoesNotMatch = {CORAL_NAMESPACE, "SignatureDoesNotMatch", 403},
  InternalFailure = {CORAL_NAMESPACE, "InternalFailure", 500},
}
M.ERRORS = ERRORS

-- An error an operation raises to answer with (any other error is a bug: InternalFailure).
local api_error_mt = {}
local function fail(code, message)
  error(setmetatable({code = code, message = message}, api_error_mt), 0)
end
M.fail = fail

local function request_id() return uuid.v4() end

-- text as it can go into a JSON answer: bytes that are not UTF-8 become '?' (an error message
-- may quote what the client sent).
local function printable(text)
  text = tostring(text)
  if utf8.len(text) then return text end
  return (text:gsub("[\128-\255]", "?"))
end
M._printable = printable

local function error_response(code, message)
  local spec = ERRORS[code] or ERRORS.InternalFailure
  local fault = spec[3] >= 500 and "Receiver" or "Sender"
  local headers = {
    ["content-type"] = CONTENT_TYPE,
    ["x-amzn-requestid"] = request_id(),
    ["x-amzn-query-error"] = spec[2] .. ";" .. fault,
  }
  return spec[3], headers, json.encode({__type = spec[1] .. (spec[4] or code), message = printable(message)})
end
M.error_response = error_response

-------------------------------------------------------------------------------------------
-- Parameter checks.

local function missing(name)
  fail("MissingParameter", string.format("The request must contain the parameter %s.", name))
end

local function wrong_type(name, expected, value)
  fail("SerializationException", string.format("Value of %s must be %s, got %s.", name, expected,
    value == json.null and "null" or type(value)))
end

local function get_string(params, name, required)
  local value = params[name]
  if value == nil or value == json.null then
    if required then missing(name) end
    return nil
  end
  if type(value) ~= "string" then wrong_type(name, "a string", value) end
  return value
end

local function get_integer(params, name, low, high)
  local value = params[name]
  if value == nil or value == json.null then return nil end
  if type(value) ~= "number" then wrong_type(name, "a number", value) end
  local n = math.tointeger(value)
  if not n then
    fail("InvalidParameterValue", string.format("Value %s for parameter %s is invalid. Reason: " ..
      "it must be a whole number.", tostring(value), name))
  end
  if n < low or n > high then
    fail("InvalidParameterValue", string.format("Value %d for parameter %s is invalid. Reason: " ..
      "must be between %d and %d, if provided.", n, name, low, high))
  end
  return n
end

local function get_list(params, name, required)
  local value = params[name]
  if value == nil or value == json.null then
    if required then missing(name) end
    return nil
  end
  if type(value) ~= "table" or (next(value) ~= nil and not json.is_array(value)) then
    wrong_type(name, "a list", value)
  end
  return value
end

local function get_map(params, name, required)
  local value = params[name]
  if value == nil or value == json.null then
    if required then missing(name) end
    return nil
  end
  if type(value) ~= "table" or (next(value) ~= nil and json.is_array(value)) then
    wrong_type(name, "a map", value)
  end
  for key, item in pairs(value) do
    if type(item) ~= "string" then wrong_type(name .. "." .. tostring(key), "a string", item) end
  end
  return value
end

local function get_queue(api, params)
  local url = get_string(params, "QueueUrl", true)
  local q = api.store:queue_from_url(url)
  if not q then fail("QueueDoesNotExist", "The specified queue does not exist.") end
  return q
end

local function get_map_of_tables(params, name)
  local value = params[name]
  if value == nil or value == json.null then return nil end
  if type(value) ~= "table" or (next(value) ~= nil and json.is_array(value)) then
    wrong_type(name, "a map", value)
  end
  return value
end

-- The characters SQS accepts: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF.
local ALLOWED = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
local function check_characters(text, what)
  local position, code = textcheck.find_invalid(text)
  if not position then return nil end
  if code then
    return string.format("Invalid binary character '#x%X' was found in the %s, the set of allowed " ..
      "characters is %s", code, what, ALLOWED)
  end
  return string.format("The %s is not valid UTF-8 (at byte %d).", what, position)
end

local ATTRIBUTE_TYPE = {String = true, Number = true, Binary = true}

-- Checks message attributes as sent (binary values in base64); returns a copy with binary
-- values decoded (for digests and sizes), or raises.
local function check_message_attributes(attributes, system)
  local decoded, count = {}, 0
  for name, attribute in pairs(attributes) do
    count = count + 1
    if type(name) ~= "string" or type(attribute) ~= "table" then
      wrong_type("MessageAttributes", "a map of attribute values", attribute)
    end
    local prefix = name:lower()
    if system then
      if name ~= "AWSTraceHeader" then
        fail("InvalidParameterValue", string.format("Message system attribute name '%s' is invalid.", name))
      end
    elseif #name == 0 or #name > 256 or name:find("[^%w_%-%.]") or name:find("%.%.") or
        name:sub(1, 1) == "." or name:sub(-1) == "." or prefix:sub(1, 4) == "aws." or
        prefix:sub(1, 7) == "amazon." then
      fail("InvalidParameterValue", string.format("The message attribute name '%s' is invalid. " ..
        "Attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) " ..
        "characters; it cannot start or end with a period, hold two periods in a row, or start " ..
        "with AWS. or Amazon., and is at most 256 characters long.", name))
    end
    local data_type = attribute.DataType
    if data_type == nil then
      fail("InvalidParameterValue", string.format("The message attribute '%s' must contain a " ..
        "non-empty message attribute type.", name))
    end
    if type(data_type) ~= "string" then wrong_type("DataType", "a string", data_type) end
    local base = data_type:match("^([^%.]+)")
    if not base or not ATTRIBUTE_TYPE[base] or #data_type > 256 or
        (data_type ~= base and not data_type:sub(#base + 1):match("^%.[%w_%-%.]+$")) or
        (system and data_type ~= "String") then
      fail("InvalidParameterValue", string.format("The message attribute '%s' has an invalid " ..
        "message attribute type, the set of supported type prefixes is Binary, Number, and String.", name))
    end
    for _, list in ipairs{"StringListValues", "BinaryListValues"} do
      local values = attribute[list]
      if type(values) == "table" and next(values) ~= nil then
        fail("UnsupportedOperation", string.format("Message attribute list values in %s are not " ..
          "supported.", list))
      end
    end
    local copy = {DataType = data_type}
    if base == "Binary" then
      local value = attribute.BinaryValue
      if value ~= nil and type(value) ~= "string" then wrong_type("BinaryValue", "a string", value) end
      local bytes = value and base64.decode(value)
      if value and not bytes then
        fail("SerializationException", string.format("The BinaryValue of message attribute '%s' " ..
          "is not valid base64.", name))
      end
      if not bytes or bytes == "" then
        fail("InvalidParameterValue", string.format("The message attribute '%s' must contain a " ..
          "non-empty message attribute value for message attribute type '%s'.", name, data_type))
      end
      copy.BinaryValue = bytes
    else
      local value = attribute.StringValue
      if value ~= nil and type(value) ~= "string" then wrong_type("StringValue", "a string", value) end
      if value == nil or value == "" then
        fail("InvalidParameterValue", string.format("The message attribute '%s' must contain a " ..
          "non-empty message attribute value for message attribute type '%s'.", name, data_type))
      end
      local problem = check_characters(value, string.format("message attribute '%s'", name))
      if problem then fail("InvalidMessageContents", problem) end
      if base == "Number" then
        local digits = value:match("^[+-]?(%d*%.?%d*)[eE]?[+-]?%d*$")
        if not digits or not tonumber(value) or #digits:gsub("[%.0]", "") > 38 then
          fail("InvalidParameterValue", string.format("Can't cast the value of message (user) " ..
            "attribute '%s' to a number.", name))
        end
      end
      copy.StringValue = value
    end
    decoded[name] = copy
  end
  if count > 10 then
    fail("InvalidParameterValue", string.format("Number of message attributes [%d] exceeds the " ..
      "allowed maximum [10].", count))
  end
  return decoded, count
end

-- An id SQS takes for MessageGroupId and MessageDeduplicationId: 1-128 alphanumeric or
-- punctuation characters.
local function check_fifo_id(value, name)
  if #value < 1 or #value > 128 or value:find("[^%w%p]") then
    fail("InvalidParameterValue", string.format("Value %s for parameter %s is invalid. Reason: " ..
      "%s can only include alphanumeric and punctuation characters. 1 to 128 in length.",
      value, name, name))
  end
end

-- Checks one message to send (SendMessage's parameters, or a batch entry) for queue q;
-- returns the store's fields and the digests, or raises.
local function prepare_message(api, q, params, sender)
  local body = get_string(params, "MessageBody", true)
  if body == "" then missing("MessageBody") end
  local problem = check_characters(body, "message body")
  if problem then fail("InvalidMessageContents", problem) end
  local delay = get_integer(params, "DelaySeconds", -math.huge, math.huge)
  if delay and (delay < 0 or delay > 900) then
    fail("InvalidParameterValue", string.format("Value %d for parameter DelaySeconds is invalid. " ..
      "Reason: DelaySeconds must be >= 0 and <= 900.", delay))
  end
  local attributes = get_map_of_tables(params, "MessageAttributes")
  local system = get_map_of_tables(params, "MessageSystemAttributes")
  local decoded = attributes and check_message_attributes(attributes, false)
  local decoded_system = system and check_message_attributes(system, true)
  local size = checks.message_size(body, decoded)
  local limit = q:number("MaximumMessageSize")
  if size > limit then
    fail("InvalidParameterValue", string.format("One or more parameters are invalid. Reason: " ..
      "Message must be shorter than %d bytes.", limit))
  end
  local group = get_string(params, "MessageGroupId")
  local dedup = get_string(params, "MessageDeduplicationId")
  if group then check_fifo_id(group, "MessageGroupId") end
  if dedup then check_fifo_id(dedup, "MessageDeduplicationId") end
  if q.fifo then
    if delay and delay ~= 0 then
      fail("InvalidParameterValue", string.format("Value %d for parameter DelaySeconds is " ..
        "invalid. Reason: The request include parameter that is not valid for this queue type.", delay))
    end
    delay = nil
    if not group then missing("MessageGroupId") end
    if not dedup and q:attribute("ContentBasedDeduplication") ~= "true" then
      fail("InvalidParameterValue", "The queue should either have ContentBasedDeduplication " ..
        "enabled or MessageDeduplicationId provided explicitly")
    end
  elseif dedup then
    fail("InvalidParameterValue", string.format("Value %s for parameter MessageDeduplicationId " ..
      "is invalid. Reason: The request includes a parameter that is not valid for this queue type.", dedup))
  end
  local fields = {body = body, attributes = attributes and next(attributes) and attributes or nil,
    system = system and next(system) and system or nil, delay_s = delay, group = group,
    dedup = dedup, sender = sender}
  local answer = {MD5OfMessageBody = digest.md5_hex(body)}
  if fields.attributes then answer.MD5OfMessageAttributes = checks.attributes_md5(decoded) end
  if fields.system then answer.MD5OfMessageSystemAttributes = checks.attributes_md5(decoded_system) end
  return fields, answer, size
end


local function check_batch(entries, kind)
  if #entries == 0 then
    fail("EmptyBatchRequest", string.format("There should be at least one %sRequestEntry in the " ..
      "request.", kind))
  end
  if #entries > 10 then
    fail("TooManyEntriesInBatchRequest", string.format("Maximum number of entries per request " ..
      "are 10. You have sent %d.", #entries))
  end
  local seen = {}
  for _, entry in ipairs(entries) do
    if type(entry) ~= "table" or json.is_array(entry) then wrong_type("Entries", "a list of maps", entry) end
    local id = get_string(entry, "Id", true)
    if #id == 0 or #id > 80 or id:find("[^%w_%-]") then
      fail("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, " ..
        "hyphens and underscores. It can be at most 80 letters long.")
    end
    if seen[id] then fail("BatchEntryIdsNotDistinct", string.format("Id %s repeated.", id)) end
    seen[id] = true
  end
end

-- Runs fn(entry) for each entry: a raised API error becomes a Failed entry.
local function run_batch(entries, fn)
  local successful, failed = json.array{}, json.array{}
  for _, entry in ipairs(entries) do
    local ok, result = pcall(fn, entry)
    if ok then
      result.Id = entry.Id
      successful[#successful + 1] = result
    elseif getmetatable(result) == api_error_mt then
      local spec = ERRORS[result.code] or ERRORS.InternalFailure
      failed[#failed + 1] = {Id = entry.Id, SenderFault = spec[3] < 500,
        Code = spec[2], Message = printable(result.message)}
    else
      error(result, 0)
    end
  end
  return {Successful = successful, Failed = failed}
end

-------------------------------------------------------------------------------------------
-- Operations: each takes the API, the decoded parameters and the request context, and
-- returns the result table.

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
  local fields, answer = prepare_message(api, q, params, context.sender)
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
    local fields, answer = prepare_message(api, q, entry, context.sender)
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
  local wait = get_integer(params, "WaitTimeSeconds", 0, M.MAX_WAIT_S)
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
M.OPERATIONS = operations

-------------------------------------------------------------------------------------------
-- Signature Version 4.

-- Seconds since the epoch of a UTC date-time in ISO 8601 basic form (20150830T123600Z).
local function parse_amz_date(text)
  local y, mo, d, h, mi, s = tostring(text):match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 then return nil end
  -- days from the civil date (Howard Hinnant's algorithm)
  local year = mo <= 2 and y - 1 or y
  local era = year // 400
  local yoe = year - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end
M._parse_amz_date = parse_amz_date

-- Checks the request's Authorization header against the credentials ({access_key_id,
-- secret_access_key, session_token, region}: a scope for another region, or for another service
-- than sqs, is refused as AWS refuses it); returns the access key id, or nil, a code and a message.
function M.verify_signature(req, credentials, now_s)
  local headers = req.headers
  local authorization = headers.authorization
  if not authorization or authorization == "" then
    return nil, "MissingAuthenticationToken", "Request is missing Authentication Token"
  end
  local algorithm, rest = authorization:match("^(%S+)%s+(.*)$")
  if algorithm ~= "AWS4-HMAC-SHA256" then
    return nil, "IncompleteSignature", "Unsupported AWS 'algorithm': '" .. tostring(algorithm) .. "'"
  end
  local fields = {}
  for key, value in rest:gmatch("([%w]+)=([^,%s]*)") do fields[key] = value end
  local credential, signed, signature = fields.Credential, fields.SignedHeaders, fields.Signature
  if not credential or not signed or not signature then
    return nil, "IncompleteSignature", "Authorization header requires 'Credential', " ..
      "'SignedHeaders' and 'Signature' parameters. Authorization=" .. authorization
  end
  local key_id, scope_date, region, service = credential:match("^([^/]+)/(%d+)/([^/]+)/([^/]+)/aws4_request$")
  if not key_id then
    return nil, "IncompleteSignature", "Credential must have the form " ..
      "KEY/DATE/REGION/SERVICE/aws4_request, got " .. credential
  end
  -- a session token is part of the credentials: one the credentials do not have (signed or
  -- not) is as wrong as another key id
  local given_token = headers["x-amz-security-token"]
  if key_id ~= credentials.access_key_id or given_token ~= credentials.session_token then
    return nil, "InvalidClientTokenId", "The security token included in the request is invalid."
  end
  if service ~= "sqs" then
    return nil, "SignatureDoesNotMatch", string.format("Credential should be scoped to correct " ..
      "service: 'sqs', not '%s'.", service)
  end
  if credentials.region and region ~= credentials.region then
    return nil, "SignatureDoesNotMatch", string.format("Credential should be scoped to a valid " ..
      "region: this endpoint is '%s', not '%s'.", credentials.region, region)
  end
  local amz_date = headers["x-amz-date"]
  local at = parse_amz_date(amz_date)
  if not at then
    return nil, "IncompleteSignature", "Authorization header requires existence of a valid " ..
      "'X-Amz-Date' header."
  end
  if math.abs(at - now_s) > M.CLOCK_SKEW_S then
    return nil, "SignatureDoesNotMatch", string.format("Signature expired: %s is now earlier or " ..
      "later than 15 min from the server's time.", amz_date)
  end
  local sign_headers, token, content_hash = {}, nil, nil
  for name in signed:gmatch("[^;]+") do
    local value = headers[name]
    if value == nil then
      return nil, "SignatureDoesNotMatch", string.format("The request signature we calculated " ..
        "does not match the signature you provided: the signed header %s is missing.", name)
    end
    if name == "x-amz-security-token" then
      token = value
    elseif name == "x-amz-content-sha256" then
      content_hash = value
    elseif name ~= "x-amz-date" then
      sign_headers[#sign_headers + 1] = {name, value}
    end
  end
  local host = headers.host or "localhost"
  local url = "http://" .. host .. (req.path ~= "" and req.path or "/")
  if req.query and req.query ~= "" then url = url .. "?" .. req.query end
  local ok, result = pcall(sigv4.sign, {
    method = req.method, url = url, headers = sign_headers, body = req.body or "",
    payload_hash = content_hash, access_key_id = key_id,
    secret_access_key = credentials.secret_access_key, session_token = token,
    region = region, service = service, time = at,
    content_sha256_header = content_hash ~= nil,
  })
  local expected = ok and result.signature
  if not expected or expected ~= signature or
      not result.headers.Authorization:find("SignedHeaders=" .. signed .. ",", 1, true) or
      scope_date ~= amz_date:sub(1, 8) then
    return nil, "SignatureDoesNotMatch", "The request signature we calculated does not match " ..
      "the signature you provided. Check your AWS Secret Access Key and signing method. Consult " ..
      "the service documentation for details."
  end
  return key_id
end

-------------------------------------------------------------------------------------------
-- The handler.

local Api = {}
Api.__index = Api

--- An API over store. options: store, sched (the loop's scheduler, for long polls; nil: no
-- waiting), credentials ({access_key_id, secret_access_key}: requests must be signed with
-- them), warn (function(message) for internal failures).
function M.new(options)
  local self = setmetatable({
    store = assert(options.store, "sqs_api.new: a store is required"),
    sched = options.sched, credentials = options.credentials,
    warn = options.warn or function(message) io.stderr:write(message, "\n") end,
    attempts = {}, attempt_count = 0, -- FIFO ReceiveRequestAttemptIds seen lately
  }, Api)
  if self.sched and not self.store.on_available then
    local sched = self.sched
    self.store.on_available = function(name) sched.notify(self:key(name)) end
  end
  return self
end

function Api:key(name) return "sqs:" .. name end

local function now_seconds(api)
  if api.sched then return api.sched.now_ms() // 1000 end
  return api.store.now_ms() // 1000
end

-- The access key id in an Authorization header, unchecked (for SenderId).
local function access_key_of(headers)
  local authorization = headers.authorization
  return authorization and authorization:match("Credential=([^/,%s]+)/")
end

function Api:dispatch(req)
  local headers = req.headers or {}
  if req.method ~= "POST" then
    fail("UnknownOperationException", string.format("moonrun dev's SQS endpoint takes POST " ..
      "requests of the AWS JSON 1.0 protocol, got %s.", tostring(req.method)))
  end
  local content_type = (headers["content-type"] or ""):lower()
  local target = headers["x-amz-target"]
  if not content_type:find("json", 1, true) then
    fail("UnknownOperationException", "moonrun dev's SQS endpoint speaks the AWS JSON 1.0 " ..
      "protocol (Content-Type: application/x-amz-json-1.0, X-Amz-Target: AmazonSQS.<Operation>); " ..
      "the query protocol is not supported: use a current AWS SDK or CLI.")
  end
  local context = {}
  if self.credentials then
    local key_id, code, why = M.verify_signature(req, self.credentials, now_seconds(self))
    if not key_id then fail(code, why) end
    context.sender = key_id
  else
    context.sender = access_key_of(headers) or self.store.account
  end
  local name = type(target) == "string" and target:sub(1, #TARGET_PREFIX) == TARGET_PREFIX and
    target:sub(#TARGET_PREFIX + 1)
  local operation = name and rawget(operations, name)
  if not operation then
    fail("UnknownOperationException", string.format("The operation %s is not an operation of " ..
      "Amazon SQS.", tostring(target)))
  end
  local body = req.body or ""
  local params = {}
  if body:find("%S") then
    local ok, decoded = pcall(json.decode, body)
    if not ok then fail("SerializationException", "The request body is not valid JSON: " .. tostring(decoded)) end
    if type(decoded) ~= "table" or (next(decoded) ~= nil and json.is_array(decoded)) then
      fail("SerializationException", "The request body must be a JSON object.")
    end
    params = decoded
  end
  return operation(self, params, context)
end

--- Runs one operation for moonrun dev itself (no HTTP, no signature), such as the SendMessage
--- of an asynchronous invocation's destination: its result, or nil and "Code: message".
function Api:call(name, params)
  local operation = assert(rawget(operations, name), "sqs_api.call: no operation " .. tostring(name))
  local ok, result = pcall(operation, self, params, {sender = self.store.account})
  self.store:flush()
  if ok then return result end
  if getmetatable(result) == api_error_mt then return nil, result.code .. ": " .. result.message end
  error(result, 0)
end

--- Answers one HTTP request: status, headers, body. Never raises: anything else than an
-- answer is an InternalFailure error answer (and a warning).
function Api:handle(req)
  local ok, result = pcall(self.dispatch, self, req)
  local flushed, flush_error = pcall(self.store.flush, self.store)
  if not flushed then ok, result = false, flush_error end
  if not ok and self.store.is_save_failure(result) then
    self.warn(tostring(result))
    return error_response("InternalFailure", "The queue state could not be saved.")
  end
  if ok then
    local encoded, text = pcall(json.encode, result)
    if encoded then
      return 200, {["content-type"] = CONTENT_TYPE, ["x-amzn-requestid"] = request_id()}, text
    end
    ok, result = false, text
  end
  if getmetatable(result) == api_error_mt then return error_response(result.code, result.message) end
  self.warn("sqs: internal error: " .. tostring(result))
  return error_response("InternalFailure", "The request processing has failed because of an " ..
    "unknown error, exception or failure.")
end

return M
