-- The request checks of the embedded SQS endpoint: the parameters of a request checked as SQS
-- checks them (types, ranges, message bodies and attributes, FIFO ids, batches), and the
-- errors shaped as SQS sends them (a JSON body with __type and message, and the
-- query-compatible code in x-amzn-query-error, which botocore and the other SDKs read).
--
-- Its own module because the operations (sqs/operations.lua) raise these errors and the
-- handler (sqs/api.lua) answers them; neither needs the other's details. An error to answer with is
-- raised with M.fail(code, message); any other error is a bug (InternalFailure).
local checks = require "moonrun.sqs.checks"
local digest = require "moonrun.digest"
local json = require "moonrun.json"
local textcheck = require "moonrun.textcheck"
local base64 = require "moonrun.base64"
local uuid = require "moonrun.uuid"

local M = {}

local CONTENT_TYPE = "application/x-amz-json-1.0"
M.CONTENT_TYPE = CONTENT_TYPE
local SQS_NAMESPACE = "com.amazonaws.sqs#"
local CORAL_NAMESPACE = "com.amazon.coral.service#"

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

--- Whether a raised value is an error raised by M.fail (an answer, not a bug).
function M.is_api_error(value) return getmetatable(value) == api_error_mt end

local function request_id() return uuid.v4() end
M.request_id = request_id

-- text as it can go into a JSON answer: bytes that are not UTF-8 become '?' (an error message
-- may quote what the client sent).
local function printable(text)
  text = tostring(text)
  if utf8.len(text) then return text end
  return (text:gsub("[\128-\255]", "?"))
end

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
-- Parameter checks: each raises the error SQS answers when the parameter is wrong.

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
local function prepare_message(q, params, sender)
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

M.missing = missing
M.wrong_type = wrong_type
M.get_string = get_string
M.get_integer = get_integer
M.get_list = get_list
M.get_map = get_map
M.get_queue = get_queue
M.prepare_message = prepare_message
M.check_batch = check_batch
M.run_batch = run_batch

return M
