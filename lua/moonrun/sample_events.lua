-- Sample events shaped as AWS services send them to Lambda, for `moonrun event TYPE [options]`
-- (as `sam local generate-event` does) and for tests:
--
--   local events = require "moonrun.sample_events"
--   local event = events.generate("sqs", {body = {"hello"}, queue = "orders"})
--
-- Ids, timestamps and checksums are made fresh for each event (uuid v4 message ids, the current
-- time, the body's real MD5), so a handler sees what it would see on Lambda.
local json = require "moonrun.json"
local uuid = require "moonrun.uuid"
local time = require "moonrun.time"
local digest = require "moonrun.digest"
local sources = require "moonrun.sample_sources"

local M = {}

local ACCOUNT = "123456789012" -- the account id AWS's own examples use
local API_ID = "r3pmxmplak"    -- one API: its id stays the same from request to request
local SOURCE_IP = "192.0.2.1"  -- TEST-NET-1, an address reserved for examples
local USER_AGENT = "curl/8.5.0"

-- Text helpers -------------------------------------------------------------------------------

local base64 = require("moonrun.base64").encode
M.base64 = base64 -- part of this module's API since before moonrun.base64

local event_text = require "moonrun.event_text"
local random_bytes, random_text = event_text.random_bytes, event_text.random_text
local parse_query = event_text.parse_query

local clf_time = event_text.clf_time

-- Event types --------------------------------------------------------------------------------

local function region_of(options)
  local env = os.getenv("AWS_REGION")
  return options.region or (env ~= "" and env) or "us-east-1"
end

local function sqs_record(options, body, sent_ms)
  local region = region_of(options)
  return {
    messageId = uuid.v4(),
    -- real handles are opaque base64 of a few hundred bytes, beginning "AQEB"
    receiptHandle = "AQEB" .. base64(random_bytes(138)),
    body = body,
    attributes = {
      ApproximateReceiveCount = "1",
      SentTimestamp = tostring(sent_ms),
      SenderId = "AIDA" .. random_text(17, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
      ApproximateFirstReceiveTimestamp = tostring(sent_ms + math.random(1, 20)),
    },
    messageAttributes = {},
    md5OfBody = digest.md5_hex(body),
    eventSource = "aws:sqs",
    eventSourceARN = string.format("arn:aws:sqs:%s:%s:%s", region, ACCOUNT, options.queue or "my-queue"),
    awsRegion = region,
  }
end

local function sqs(options)
  local bodies = options.body or {}
  local count = options.count or math.max(#bodies, 1)
  local records = json.array{}
  local sent_ms = time.now_ms()
  for i = 1, count do
    local body = #bodies > 0 and bodies[(i - 1) % #bodies + 1] or "Hello from SQS!"
    records[i] = sqs_record(options, body, sent_ms)
  end
  return {Records = records}
end

-- What API Gateway's HTTP and REST payloads share: the request as the client sent it, with the
-- headers curl and API Gateway add, and the user's --header lines over them.
local function http_request(options)
  local path, query = options.path or "/", options.query
  local inline_query = path:match("%?(.*)$")
  if inline_query then
    path = path:match("^[^?]*")
    query = query and inline_query .. "&" .. query or inline_query
  end
  if path:sub(1, 1) ~= "/" then error({usage = "--path must begin with '/', not '" .. path .. "'"}) end
  local request = {
    method = (options.method or "GET"):upper(), path = path, query = query and query:gsub("^%?", "") or "",
    domain = string.format("%s.execute-api.%s.amazonaws.com", API_ID, region_of(options)),
    now_ms = time.now_ms(), body = options.body, headers = {},
  }
  local function add(name, value) table.insert(request.headers, {name = name, value = value}) end
  add("Accept", "*/*")
  if request.body then
    add("Content-Length", tostring(#request.body))
    local json_like = request.body:match("^%s*[%[{]")
    add("Content-Type", options.base64 and "application/octet-stream" or json_like and "application/json" or "text/plain")
  end
  add("Host", request.domain)
  add("User-Agent", USER_AGENT)
  add("X-Amzn-Trace-Id", string.format("Root=1-%08x-%s", request.now_ms // 1000, random_text(24, "0123456789abcdef")))
  add("X-Forwarded-For", SOURCE_IP)
  add("X-Forwarded-Port", "443")
  add("X-Forwarded-Proto", "https")
  -- a --header replaces a default header of the same name; repeating it adds values
  local given = {}
  for _, line in ipairs(options.header or {}) do
    local name, value = line:match("^%s*([^:%s]+)%s*:%s*(.-)%s*$")
    if not name then error({usage = "--header wants 'Name: value', not '" .. line .. "'"}) end
    given[#given + 1] = {name = name, value = value, user = true}
  end
  for _, header in ipairs(given) do
    for i = #request.headers, 1, -1 do
      local old = request.headers[i]
      if not old.user and old.name:lower() == header.name:lower() then table.remove(request.headers, i) end
    end
    table.insert(request.headers, header)
  end
  request.user_agent = USER_AGENT
  for _, header in ipairs(request.headers) do
    if header.name:lower() == "user-agent" then request.user_agent = header.value end
  end
  if request.body and options.base64 then request.body = base64(request.body) end
  return request
end

local http_request_id = event_text.http_request_id

-- API Gateway HTTP API, payload format 2.0: header names in lower case, repeated headers and
-- query parameters joined with commas, cookies in their own list; no query, body or cookies:
-- those fields are left out.
local function apigw_http(options)
  local r = http_request(options)
  local headers, cookies = {}, json.array{}
  for _, header in ipairs(r.headers) do
    local name = header.name:lower()
    if name == "cookie" then
      for cookie in header.value:gmatch("[^;]+") do cookies[#cookies + 1] = cookie:match("^%s*(.-)%s*$") end
    else
      headers[name] = headers[name] and headers[name] .. "," .. header.value or header.value
    end
  end
  local event = {
    version = "2.0", routeKey = "$default", rawPath = r.path, rawQueryString = r.query,
    cookies = #cookies > 0 and cookies or nil, headers = headers,
    requestContext = {
      accountId = ACCOUNT, apiId = API_ID, domainName = r.domain, domainPrefix = API_ID,
      http = {method = r.method, path = r.path, protocol = "HTTP/1.1", sourceIp = SOURCE_IP,
              userAgent = r.user_agent},
      requestId = http_request_id(), routeKey = "$default", stage = "$default",
      time = clf_time(r.now_ms), timeEpoch = r.now_ms,
    },
    body = r.body, isBase64Encoded = options.base64 == true,
  }
  if r.query ~= "" then
    local names, values = parse_query(r.query)
    event.queryStringParameters = {}
    for _, name in ipairs(names) do event.queryStringParameters[name] = table.concat(values[name], ",") end
  end
  return event
end

-- API Gateway REST API (Lambda proxy integration), payload format 1.0: headers as sent, each
-- also in multiValueHeaders; absent parts are null, as AWS writes them.
local function apigw_rest(options)
  local r = http_request(options)
  local headers, multi_headers = {}, {}
  for _, header in ipairs(r.headers) do
    headers[header.name] = header.value -- the last value, as API Gateway keeps it
    multi_headers[header.name] = multi_headers[header.name] or json.array{}
    table.insert(multi_headers[header.name], header.value)
  end
  local single, multi = json.null, json.null
  if r.query ~= "" then
    local names, values = parse_query(r.query)
    single, multi = {}, {}
    for _, name in ipairs(names) do
      single[name] = values[name][#values[name]]
      multi[name] = values[name]
    end
  end
  local null = json.null
  return {
    resource = r.path, path = r.path, httpMethod = r.method,
    headers = headers, multiValueHeaders = multi_headers,
    queryStringParameters = single, multiValueQueryStringParameters = multi,
    pathParameters = null, stageVariables = null,
    requestContext = {
      accountId = ACCOUNT, apiId = API_ID, domainName = r.domain, domainPrefix = API_ID,
      extendedRequestId = http_request_id(), httpMethod = r.method,
      identity = {
        accessKey = null, accountId = null, caller = null, cognitoAuthenticationProvider = null,
        cognitoAuthenticationType = null, cognitoIdentityId = null, cognitoIdentityPoolId = null,
        principalOrgId = null, sourceIp = SOURCE_IP, user = null, userAgent = r.user_agent, userArn = null,
      },
      path = "/prod" .. r.path, protocol = "HTTP/1.1", requestId = uuid.v4(),
      requestTime = clf_time(r.now_ms), requestTimeEpoch = r.now_ms,
      resourceId = random_text(6, "abcdefghijklmnopqrstuvwxyz0123456789"), resourcePath = r.path, stage = "prod",
    },
    body = r.body or null, isBase64Encoded = options.base64 == true,
  }
end

-- A Lambda function URL's request: the HTTP API 2.0 payload, on the URL's own domain
-- (<url-id>.lambda-url.<region>.on.aws), with "anonymous" as the account of an AuthType NONE URL.
local URL_ID = "ikzvkzgtmxbmzj4sdtc2vq3ifm0nlocd" -- one URL: 32 characters, as AWS's ids are
local function function_url(options)
  local event = apigw_http(options)
  local domain = string.format("%s.lambda-url.%s.on.aws", URL_ID, region_of(options))
  if event.headers.host == string.format("%s.execute-api.%s.amazonaws.com", API_ID, region_of(options)) then
    event.headers.host = domain
  end
  local context = event.requestContext
  context.accountId, context.apiId, context.domainName, context.domainPrefix = "anonymous", URL_ID, domain, URL_ID
  return event
end

-- EventBridge's event for a scheduled rule (rate or cron); its time has whole seconds.
local function schedule(options)
  local region = region_of(options)
  return {
    version = "0", id = uuid.v4(), ["detail-type"] = "Scheduled Event", source = "aws.events",
    account = ACCOUNT, time = time.format(nil, "%Y-%m-%dT%H:%M:%SZ"), region = region,
    resources = json.array{string.format("arn:aws:events:%s:%s:rule/%s", region, ACCOUNT, options.rule or "my-schedule")},
    detail = {},
  }
end

-- The types, their options and the order AWS writes their fields in -------------------------

local region_option = {"region", "value", "R", "the region (default AWS_REGION, else us-east-1)"}
local http_options = {
  {"method", "value", "M", "the HTTP method (default GET)"},
  {"path", "value", "P", "the path, beginning with / (default /); a ?query in it is used too"},
  {"query", "value", "Q", "the query string, e.g. 'a=1&b=2' (default none)"},
  {"header", "list", "'N: V'", "a request header (repeatable); replaces a default one"},
  {"body", "value", "TEXT", "the request body (default none)"},
  {"base64", "flag", nil, "sends the body base64-encoded, with isBase64Encoded true"},
  region_option,
}

-- HTTP APIs and function URLs: payload format 2.0
local payload_v2_order = {
  [""] = {"version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers", "queryStringParameters",
          "requestContext", "body", "isBase64Encoded"},
  requestContext = {"accountId", "apiId", "domainName", "domainPrefix", "http", "requestId", "routeKey", "stage",
                    "time", "timeEpoch"},
  ["requestContext.http"] = {"method", "path", "protocol", "sourceIp", "userAgent"},
}

M.types = {
  {name = "sqs", summary = "an SQS message batch, as an SQS trigger delivers it", make = sqs,
   options = {
     {"body", "list", "TEXT", "a message body (repeatable: one record each; default 'Hello from SQS!')"},
     {"count", "count", "N", "the number of records, 1 to 10000 (default: one per --body, or 1)"},
     {"queue", "value", "NAME", "the queue's name (default my-queue)"},
     region_option,
   },
   order = {[""] = {"Records"},
            Records = {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                       "eventSource", "eventSourceARN", "awsRegion"},
            ["Records.attributes"] = {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                      "ApproximateFirstReceiveTimestamp"}}},
  {name = "apigw-http", summary = "an API Gateway HTTP API request (payload format 2.0)", make = apigw_http,
   options = http_options, order = payload_v2_order},
  {name = "apigw-rest", summary = "an API Gateway REST API request (Lambda proxy, payload format 1.0)",
   make = apigw_rest, options = http_options,
   order = {[""] = {"resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
                    "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext",
                    "body", "isBase64Encoded"},
            requestContext = {"accountId", "apiId", "domainName", "domainPrefix", "extendedRequestId",
                              "httpMethod", "identity", "path", "protocol", "requestId", "requestTime",
                              "requestTimeEpoch", "resourceId", "resourcePath", "stage"},
            ["requestContext.identity"] = {"accessKey", "accountId", "caller", "cognitoAuthenticationProvider",
                                           "cognitoAuthenticationType", "cognitoIdentityId",
                                           "cognitoIdentityPoolId", "principalOrgId", "sourceIp", "user",
                                           "userAgent", "userArn"}}},
  {name = "schedule", summary = "an EventBridge scheduled event (a rate or cron rule firing)", make = schedule,
   options = {{"rule", "value", "NAME", "the rule's name (default my-schedule)"}, region_option},
   order = {[""] = {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                    "detail"}}},
  {name = "function-url", summary = "a Lambda function URL request (payload format 2.0)", make = function_url,
   options = http_options, order = payload_v2_order},
  {name = "sns", summary = "an SNS notification, as a topic subscription delivers it", make = sources.sns,
   options = {{"message", "list", "TEXT", "a message (repeatable: one record each; default 'Hello from SNS!')"},
              {"subject", "value", "TEXT", "the subject (default none: null)"},
              {"topic", "value", "NAME", "the topic's name (default my-topic)"}, region_option},
   order = {[""] = {"Records"}, Records = {"EventSource", "EventVersion", "EventSubscriptionArn", "Sns"},
            ["Records.Sns"] = {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                               "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl",
                               "MessageAttributes"}}},
  {name = "eventbridge", summary = "an EventBridge event from a custom source (a rule's target)", make = sources.eventbridge,
   options = {{"source", "value", "NAME", "the event's source (default com.example.myapp)"},
              {"detail-type", "value", "TEXT", "its detail-type (default MyDetailType)"},
              {"detail", "value", "JSON", "its detail, a JSON object (default {})"},
              {"resource", "list", "ARN", "a resource ARN (repeatable; default none)"}, region_option},
   order = {[""] = {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                    "detail"}}},
  {name = "s3", summary = "an S3 event notification (an object created or removed)", make = sources.s3,
   options = {{"bucket", "value", "NAME", "the bucket (default my-bucket)"},
              {"key", "value", "KEY", "the object's key, URL-encoded in the event as S3 does (default uploads/hello.txt)"},
              {"body", "value", "TEXT", "the object's content, for its size and ETag (default 'Hello from S3!')"},
              {"event-name", "value", "NAME", "ObjectCreated:Put (default), ObjectRemoved:Delete, ..."},
              {"configuration", "value", "ID", "the notification's configuration id (default my-notification)"},
              region_option},
   order = {[""] = {"Records"},
            Records = {"eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "userIdentity",
                       "requestParameters", "responseElements", "s3"},
            ["Records.s3"] = {"s3SchemaVersion", "configurationId", "bucket", "object"},
            ["Records.s3.bucket"] = {"name", "ownerIdentity", "arn"},
            ["Records.s3.object"] = {"key", "size", "eTag", "sequencer"}}},
  {name = "dynamodb", summary = "a DynamoDB stream record (an item inserted, modified or removed)", make = sources.dynamodb,
   options = {{"table", "value", "NAME", "the table (default my-table)"},
              {"event-name", "value", "NAME", "INSERT (default), MODIFY or REMOVE"},
              {"keys", "value", "JSON", "the item's key attributes, plain JSON (default {\"Id\": \"101\"})"},
              {"new-image", "value", "JSON", "the item after, plain JSON, typed as DynamoDB writes it"},
              {"old-image", "value", "JSON", "the item before (MODIFY and REMOVE)"}, region_option},
   order = {[""] = {"Records"},
            Records = {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                       "eventSourceARN"},
            ["Records.dynamodb"] = {"ApproximateCreationDateTime", "Keys", "NewImage", "OldImage",
                                    "SequenceNumber", "SizeBytes", "StreamViewType"}}},
  {name = "kinesis", summary = "Kinesis data stream records", make = sources.kinesis,
   options = {{"data", "list", "TEXT", "a record's data, base64-encoded in the event (repeatable; default 'Hello from Kinesis!')"},
              {"stream", "value", "NAME", "the stream (default my-stream)"},
              {"partition-key", "value", "KEY", "the records' partition key (default partition-1)"}, region_option},
   order = {[""] = {"Records"},
            Records = {"kinesis", "eventSource", "eventVersion", "eventID", "eventName", "invokeIdentityArn",
                       "awsRegion", "eventSourceARN"},
            ["Records.kinesis"] = {"kinesisSchemaVersion", "partitionKey", "sequenceNumber", "data",
                                   "approximateArrivalTimestamp"}}},
}
for _, t in ipairs(M.types) do M.types[t.name] = t end

local function type_names()
  local names = {}
  for _, t in ipairs(M.types) do names[#names + 1] = t.name end
  return table.concat(names, ", ")
end

--- The event of the given type. options: the long option names as keys, a list of strings for
--- repeatable ones (body for sqs, header), true for flags, an integer for count.
function M.generate(kind, options)
  local t = M.types[kind]
  if not t then error("unknown event type '" .. tostring(kind) .. "' (the types: " .. type_names() .. ")", 2) end
  local ok, event = pcall(t.make, options or {})
  if ok then return event end
  if type(event) == "table" and event.usage then error(event.usage, 2) end
  error(event, 0)
end

-- Ordered output ------------------------------------------------------------------------------

-- Keys exactly 1..n (n > 0): what json.encode writes as an array without the json.array mark.
local function is_sequence(t)
  local count, largest = 0, 0
  for key in pairs(t) do
    if math.type(key) ~= "integer" or key < 1 then return false end
    count, largest = count + 1, math.max(largest, key)
  end
  return count > 0 and count == largest
end

-- Writes value as JSON with object keys in the type's order (order[path] lists the fields of
-- the object at path, e.g. "requestContext.http", as AWS writes them; other keys, such as header
-- names, follow alphabetically). json.encode writes every leaf, so the text is what json.encode
-- would write, only ordered for people.
local function encode_ordered(value, order, path, out)
  if type(value) ~= "table" or value == json.null then
    out[#out + 1] = json.encode(value)
  elseif json.is_array(value) or is_sequence(value) then
    out[#out + 1] = "["
    for i, item in ipairs(value) do
      if i > 1 then out[#out + 1] = "," end
      encode_ordered(item, order, path, out) -- an array's items share its path
    end
    out[#out + 1] = "]"
  else
    local rank, keys = {}, {}
    for i, name in ipairs(order[path] or {}) do rank[name] = i end
    for key in pairs(value) do keys[#keys + 1] = key end
    table.sort(keys, function(a, b)
      local ra, rb = rank[a] or math.huge, rank[b] or math.huge
      if ra ~= rb then return ra < rb end
      return tostring(a) < tostring(b)
    end)
    out[#out + 1] = "{"
    for i, key in ipairs(keys) do
      out[#out + 1] = (i > 1 and "," or "") .. json.encode(tostring(key)) .. ":"
      encode_ordered(value[key], order, path == "" and tostring(key) or path .. "." .. tostring(key), out)
    end
    out[#out + 1] = "}"
  end
end

--- The event as compact JSON text, its fields in the order AWS writes them.
function M.encode(event, kind)
  local out = {}
  encode_ordered(event, M.types[kind] and M.types[kind].order or {}, "", out)
  return table.concat(out)
end

-- The command line ----------------------------------------------------------------------------

local function type_help(t)
  local lines = {"usage: moonrun event " .. t.name .. " [OPTIONS]", "", "Prints " .. t.summary .. ".", ""}
  for _, o in ipairs(t.options) do
    local left = "--" .. o[1] .. (o[3] and " " .. o[3] or "")
    lines[#lines + 1] = string.format("  %-16s %s", left, o[4])
  end
  return table.concat(lines, "\n") .. "\n"
end

local function main_help()
  local lines = {"usage: moonrun event TYPE [OPTIONS]", "",
                 "Prints a sample event as the AWS service sends it to Lambda (indented on a terminal,",
                 "one line otherwise), ready for: moonrun event sqs | moonrun invoke HANDLER --event -", "",
                 "Types:"}
  for _, t in ipairs(M.types) do lines[#lines + 1] = string.format("  %-12s %s", t.name, t.summary) end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "moonrun event TYPE --help lists the type's options. Exit status: 0, or 2 for a bad command line."
  return table.concat(lines, "\n") .. "\n"
end

local function parse_options(t, args)
  local spec = {}
  for _, o in ipairs(t.options) do spec[o[1]] = o[2] end
  local options, i, prefix = {}, 2, "event " .. t.name .. ": "
  while i <= #args do
    local arg = args[i]
    local name = arg:match("^%-%-([%w-]+)$")
    local kind = name and spec[name]
    if not kind then
      return nil, prefix .. "unknown option '" .. arg .. "' (moonrun event " .. t.name .. " --help lists them)"
    end
    if kind == "flag" then
      options[name] = true
    else
      i = i + 1
      local value = args[i]
      if value == nil then return nil, prefix .. "--" .. name .. " needs a value" end
      if kind == "list" then
        options[name] = options[name] or {}
        table.insert(options[name], value)
      elseif options[name] ~= nil then
        return nil, prefix .. "--" .. name .. " is given twice"
      elseif kind == "count" then
        local n = math.tointeger(tonumber(value))
        if not n or n < 1 or n > 10000 then
          return nil, prefix .. "--" .. name .. " wants a whole number from 1 to 10000, not '" .. value .. "'"
        end
        options[name] = n
      else
        options[name] = value
      end
    end
    i = i + 1
  end
  if options.base64 and not options.body then return nil, prefix .. "--base64 needs a --body to encode" end
  return options
end

--- Runs `moonrun event` with args (the words after "event"). Returns "event", the JSON text;
--- "help", the text to print; or "usage", the message for a bad command line.
function M.command(args)
  local first = args[1]
  if first == nil then return "usage", "event: which type? (" .. type_names() .. ")" end
  if first == "--help" or first == "-h" then return "help", main_help() end
  local t = M.types[first]
  if not t then
    if first:sub(1, 1) == "-" then return "usage", "event: unknown option '" .. first .. "'" end
    return "usage", "event: unknown type '" .. first .. "' (the types: " .. type_names() .. ")"
  end
  for i = 2, #args do
    if args[i] == "--help" or args[i] == "-h" then return "help", type_help(t) end
  end
  local options, problem = parse_options(t, args)
  if not options then return "usage", problem end
  -- a usage error is a table; anything else is a fault, worth its traceback
  local ok, event = xpcall(t.make, function(e)
    return type(e) == "table" and e or debug.traceback(tostring(e), 2)
  end, options)
  if not ok then
    if type(event) == "table" and event.usage then return "usage", "event " .. t.name .. ": " .. event.usage end
    error(event, 0)
  end
  return "event", M.encode(event, t.name)
end

return M
