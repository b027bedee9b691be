-- Sample events of the event sources beyond SQS, API Gateway and schedules, for `moonrun event`
-- (sample_events.lua lists the types, parses the options and orders the fields): SNS
-- notifications, EventBridge custom events, S3 notifications, DynamoDB and Kinesis stream
-- records. Each field a service derives is derived here too: S3's URL-encoded key and ETag,
-- DynamoDB's typed attribute values and size, Kinesis's base64 data and sequence numbers.
local base64 = require("moonrun.base64").encode
local digest = require "moonrun.digest"
local event_text = require "moonrun.event_text"
local json = require "moonrun.json"
local time = require "moonrun.time"
local uuid = require "moonrun.uuid"

local M = {}

M.ACCOUNT = "123456789012" -- the account id AWS's own examples use
local ACCOUNT = M.ACCOUNT
local random_text = event_text.random_text
local DIGITS, HEX = "0123456789", "0123456789abcdef"

local function region_of(options)
  local env = os.getenv("AWS_REGION")
  return options.region or (env ~= "" and env) or "us-east-1"
end

local function usage(message) error({usage = message}) end

-- A repeatable option's values: the command line gives a list, a spec may give one string.
local function list(value, default)
  if value == nil then return default end
  return type(value) == "table" and value or {value}
end

-- A JSON option's value, decoded, or a usage error naming the option.
local function json_option(options, name, default)
  local text = options[name]
  if text == nil then return default end
  local ok, value = pcall(json.decode, text)
  if not ok then usage(string.format("--%s wants JSON, not '%s' (%s)", name, text, tostring(value))) end
  return value
end

-- SNS ----------------------------------------------------------------------------------------

function M.sns(options)
  local region = region_of(options)
  local topic_arn = string.format("arn:aws:sns:%s:%s:%s", region, ACCOUNT, options.topic or "my-topic")
  local records = json.array{}
  local messages = list(options.message, {"Hello from SNS!"})
  for i, message in ipairs(messages) do
    local subscription = topic_arn .. ":" .. uuid.v4()
    local endpoint = string.format("https://sns.%s.amazonaws.com", region)
    records[i] = {
      EventSource = "aws:sns", EventVersion = "1.0", EventSubscriptionArn = subscription,
      Sns = {
        Type = "Notification", MessageId = uuid.v4(), TopicArn = topic_arn,
        Subject = options.subject or json.null, Message = message, Timestamp = time.iso8601(),
        SignatureVersion = "1",
        -- a real signature is base64 of a 256-byte RSA signature
        Signature = base64(event_text.random_bytes(256)),
        SigningCertUrl = endpoint .. "/SimpleNotificationService-" .. random_text(32, HEX) .. ".pem",
        UnsubscribeUrl = endpoint .. "/?Action=Unsubscribe&SubscriptionArn=" .. subscription,
        MessageAttributes = {},
      },
    }
  end
  return {Records = records}
end

-- EventBridge --------------------------------------------------------------------------------

function M.eventbridge(options)
  local detail = json_option(options, "detail", {})
  if type(detail) ~= "table" or json.is_array(detail) then usage("--detail wants a JSON object") end
  local resources = json.array{}
  for i, arn in ipairs(list(options.resource, {})) do resources[i] = arn end
  return {
    version = "0", id = uuid.v4(), ["detail-type"] = options["detail-type"] or "MyDetailType",
    source = options.source or "com.example.myapp", account = ACCOUNT,
    time = time.format(nil, "%Y-%m-%dT%H:%M:%SZ"), region = region_of(options), resources = resources,
    detail = detail,
  }
end

-- S3 -----------------------------------------------------------------------------------------

-- S3 writes an object key in a notification URL-encoded, a space as '+'.
local function s3_key(key)
  return (key:gsub("[^%w%-%._~/]", function(c)
    if c == " " then return "+" end
    return string.format("%%%02X", c:byte())
  end))
end

local S3_EVENTS = {["ObjectCreated:Put"] = true, ["ObjectCreated:Post"] = true, ["ObjectCreated:Copy"] = true,
  ["ObjectCreated:CompleteMultipartUpload"] = true, ["ObjectRemoved:Delete"] = true,
  ["ObjectRemoved:DeleteMarkerCreated"] = true, ["ObjectRestore:Completed"] = true}

function M.s3(options)
  local region, bucket, key = region_of(options), options.bucket or "my-bucket", options.key or "uploads/hello.txt"
  local name = options["event-name"] or "ObjectCreated:Put"
  if not S3_EVENTS[name] then
    local names = {}
    for known in pairs(S3_EVENTS) do names[#names + 1] = known end
    table.sort(names)
    usage("--event-name wants one of " .. table.concat(names, ", ") .. ", not '" .. name .. "'")
  end
  local content = options.body or "Hello from S3!"
  local object = {key = s3_key(key), sequencer = random_text(18, "0123456789ABCDEF")}
  if name:match("^ObjectCreated") then
    object.size, object.eTag = #content, digest.md5_hex(content)
  end
  local owner = "A" .. random_text(13, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
  return {Records = json.array{{
    eventVersion = "2.1", eventSource = "aws:s3", awsRegion = region, eventTime = time.iso8601(),
    eventName = name, userIdentity = {principalId = "AWS:AIDA" .. random_text(17, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")},
    requestParameters = {sourceIPAddress = "192.0.2.1"},
    responseElements = {["x-amz-request-id"] = random_text(16, "0123456789ABCDEF"),
                        ["x-amz-id-2"] = base64(event_text.random_bytes(48))},
    s3 = {s3SchemaVersion = "1.0", configurationId = options.configuration or "my-notification",
          bucket = {name = bucket, ownerIdentity = {principalId = owner}, arn = "arn:aws:s3:::" .. bucket},
          object = object},
  }}}
end

-- DynamoDB streams ---------------------------------------------------------------------------

-- A plain JSON value as a DynamoDB attribute value ({"S": ...}, {"N": "..."}, {"M": ...}, ...).
local function attribute(value)
  local kind = type(value)
  if value == json.null then return {NULL = true} end
  if kind == "string" then return {S = value} end
  if kind == "number" then return {N = math.type(value) == "integer" and tostring(value) or string.format("%.17g", value)} end
  if kind == "boolean" then return {BOOL = value} end
  if kind == "table" and json.is_array(value) then
    local items = json.array{}
    for i, item in ipairs(value) do items[i] = attribute(item) end
    return {L = items}
  end
  if kind == "table" then
    local map = {}
    for k, v in pairs(value) do map[k] = attribute(v) end
    return {M = map}
  end
  usage("a value of type " .. kind .. " has no DynamoDB form")
end

local function item(value, name)
  if type(value) ~= "table" or json.is_array(value) then usage("--" .. name .. " wants a JSON object") end
  local map = {}
  for k, v in pairs(value) do map[k] = attribute(v) end
  return map
end

-- What DynamoDB counts as a record's size: the names and values of its keys and images.
local function size_of(...)
  local total = 0
  for _, image in ipairs{...} do total = total + #json.encode(image) end
  return total
end

function M.dynamodb(options)
  local region, table_name = region_of(options), options.table or "my-table"
  local name = (options["event-name"] or "INSERT"):upper()
  if name ~= "INSERT" and name ~= "MODIFY" and name ~= "REMOVE" then
    usage("--event-name wants INSERT, MODIFY or REMOVE, not '" .. name .. "'")
  end
  local keys = item(json_option(options, "keys", {Id = "101"}), "keys")
  local new = item(json_option(options, "new-image", {Id = "101", Message = "New item!"}), "new-image")
  local old = item(json_option(options, "old-image", {Id = "101", Message = "Old item"}), "old-image")
  local record = {
    Keys = keys, SequenceNumber = random_text(21, DIGITS):gsub("^0", "1"),
    StreamViewType = "NEW_AND_OLD_IMAGES", ApproximateCreationDateTime = time.now_ms() // 1000,
  }
  if name ~= "REMOVE" then record.NewImage = new end
  if name ~= "INSERT" then record.OldImage = old end
  record.SizeBytes = size_of(keys, record.NewImage or {}, record.OldImage or {})
  local stream_label = time.format(nil, "%Y-%m-%dT%H:%M:%S.%f"):sub(1, 23)
  return {Records = json.array{{
    eventID = random_text(32, HEX), eventName = name, eventVersion = "1.1", eventSource = "aws:dynamodb",
    awsRegion = region, dynamodb = record,
    eventSourceARN = string.format("arn:aws:dynamodb:%s:%s:table/%s/stream/%s", region, ACCOUNT, table_name, stream_label),
  }}}
end

-- Kinesis ------------------------------------------------------------------------------------

function M.kinesis(options)
  local region, stream = region_of(options), options.stream or "my-stream"
  local records = json.array{}
  local shard = "shardId-000000000000"
  local sequence = "49" .. random_text(54, DIGITS)
  local arrival = time.now_ms() / 1000
  for i, data in ipairs(list(options.data, {"Hello from Kinesis!"})) do
    -- sequence numbers grow within a shard: the last digits count the records up
    local number = sequence:sub(1, -7) .. string.format("%06d", i)
    records[i] = {
      kinesis = {kinesisSchemaVersion = "1.0", partitionKey = options["partition-key"] or "partition-1",
                 sequenceNumber = number, data = base64(data), approximateArrivalTimestamp = arrival},
      eventSource = "aws:kinesis", eventVersion = "1.0", eventID = shard .. ":" .. number,
      eventName = "aws:kinesis:record", invokeIdentityArn = string.format("arn:aws:iam::%s:role/lambda-role", ACCOUNT),
      awsRegion = region, eventSourceARN = string.format("arn:aws:kinesis:%s:%s:stream/%s", region, ACCOUNT, stream),
    }
  end
  return {Records = records}
end

return M
