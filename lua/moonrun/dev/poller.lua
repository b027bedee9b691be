-- An SQS event source mapping for `moonrun dev`, as a process of its own:
--
--   moonrun run lua/moonrun/dev/poller.lua '{"queue_url": "...", "invoke_url": "...", ...}'
--
-- It does what Lambda's poller does for an SQS trigger: long-polls the queue, gathers a batch
-- (BatchSize, MaximumBatchingWindowInSeconds), invokes the function with the SQS event Lambda
-- builds, and deletes what succeeded: everything after a successful invocation, everything
-- but the reported batchItemFailures with ReportBatchItemFailures, nothing after a failure
-- (those messages come back after their visibility timeout, and reach the dead-letter queue
-- after maxReceiveCount receives, as on AWS). The SQS client is moonrun.sqs, so the queue may
-- be moonrun dev's own endpoint, moto, or real SQS (AWS_ENDPOINT_URL_SQS, credentials and
-- region from the environment).
--
-- Configuration (a JSON object, or @FILE holding one):
--   queue_url (required), queue_arn (default: made from the URL), queue_name (default: the
--   URL's last part), invoke_url (required: the invoke endpoint of the function),
--   batch_size (1-10000, default 10; at most 10 for a FIFO queue), window_s (0-300, default 0;
--   a batch_size above 10 needs window_s > 0, as Lambda requires; none for FIFO queues),
--   report_batch_item_failures (default false), region, function_timeout_s (default 3),
--   function_name, enabled (false: exit at once), endpoint (the SQS endpoint, instead of the
--   environment's), filters (FilterCriteria's patterns, a list of JSON texts, at most 5: a
--   record that matches none is deleted without invoking, as Lambda does; filter.lua).
--
-- Stopping: SIGTERM ends the process at once (moonrun run keeps the default action), even in
-- the middle of a 20 s long poll. Messages received and not yet deleted come back after their
-- visibility timeout, as they do when a Lambda poller stops. The poller also stops when its
-- parent process has gone (checked after each poll).
local json = require "moonrun.json"
local http = require "moonrun.http"
local sqs = require "moonrun.sqs"
local lambda_events = require "moonrun.events"
local aws = require "moonrun.aws"
local time = require "moonrun.time"
local digest = require "moonrun.digest"
local base64 = require "moonrun.base64"

local M = {}

M.MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 -- Lambda's limit for a synchronous invocation's event
M.MAX_BACKOFF_S = 5
M.LONG_POLL_S = 20

local null = json.null

-- Configuration -------------------------------------------------------------------------------

local KNOWN = {queue_url = "string", queue_arn = "string", queue_name = "string", invoke_url = "string",
               batch_size = "number", window_s = "number", report_batch_item_failures = "boolean",
               region = "string", function_timeout_s = "number", function_name = "string",
               enabled = "boolean", endpoint = "string", filters = "table"}

local function read_config_text(argument)
  if argument == nil or argument == "" then
    return nil, "usage: moonrun run poller.lua CONFIG_JSON (a JSON object, or @FILE holding one)"
  end
  if argument:sub(1, 1) ~= "@" then return argument end
  local file, why = io.open(argument:sub(2), "rb")
  if not file then return nil, "cannot read the configuration file: " .. tostring(why) end
  local text = file:read("a")
  file:close()
  return text
end

--- The configuration from the command line's argument, with defaults filled in; or nil and a
--- message naming what is wrong.
function M.parse_config(argument)
  local text, why = read_config_text(argument)
  if not text then return nil, why end
  local ok, config = pcall(json.decode, text)
  if not ok then return nil, "the configuration is not JSON: " .. tostring(config) end
  if type(config) ~= "table" or json.is_array(config) or config == null then
    return nil, "the configuration must be a JSON object"
  end
  local names = {}
  for name in pairs(config) do names[#names + 1] = tostring(name) end
  table.sort(names)
  for _, name in ipairs(names) do
    local value = config[name]
    if value == null then
      config[name] = nil
    elseif not KNOWN[name] then
      return nil, string.format("unknown configuration key '%s'", name)
    elseif type(value) ~= KNOWN[name] then
      return nil, string.format("'%s' must be a %s, got %s", name, KNOWN[name], type(value))
    end
  end
  for _, name in ipairs{"queue_url", "invoke_url"} do
    if not config[name] or config[name] == "" then return nil, string.format("'%s' is required", name) end
  end
  if not config.invoke_url:match("^https?://") then
    return nil, "'invoke_url' must be an http:// or https:// URL, got " .. config.invoke_url
  end
  local url_account, url_name = config.queue_url:match("^https?://[^/]+/([^/]+)/([^/?]+)$")
  if not url_name then
    url_name = config.queue_url:match("([^/?]+)/?$")
    if not url_name then return nil, "'queue_url' is not a queue URL: " .. config.queue_url end
  end
  config.queue_name = config.queue_name or url_name
  config.fifo = config.queue_name:sub(-5) == ".fifo"
  local arn_region = config.queue_arn and config.queue_arn:match("^arn:[^:]+:sqs:([^:]+):")
  if config.queue_arn and not arn_region then
    return nil, "'queue_arn' is not an SQS queue ARN: " .. config.queue_arn
  end
  local found, env_region = pcall(aws.region)
  config.region = config.region or arn_region or (found and env_region) or "us-east-1"
  config.queue_arn = config.queue_arn or string.format("arn:aws:sqs:%s:%s:%s", config.region,
    url_account or "000000000000", config.queue_name)
  config.batch_size = config.batch_size or 10
  config.window_s = config.window_s or 0
  config.function_timeout_s = config.function_timeout_s or 3
  if math.type(config.batch_size) ~= "integer" or config.batch_size < 1 or config.batch_size > 10000 then
    return nil, "'batch_size' must be a whole number from 1 to 10000, got " .. tostring(config.batch_size)
  end
  if config.window_s < 0 or config.window_s > 300 then
    return nil, "'window_s' (MaximumBatchingWindowInSeconds) must be from 0 to 300, got " .. tostring(config.window_s)
  end
  if config.fifo and config.batch_size > 10 then
    return nil, string.format("the FIFO queue %s takes a batch_size of at most 10, got %d", config.queue_name,
      config.batch_size)
  end
  if config.fifo and config.window_s > 0 then
    return nil, string.format("the FIFO queue %s cannot have a batching window (window_s %s): Lambda does not support one for FIFO queues",
      config.queue_name, tostring(config.window_s))
  end
  if config.batch_size > 10 and config.window_s <= 0 then
    return nil, string.format("a batch_size above 10 (%d) needs window_s (MaximumBatchingWindowInSeconds) of at least 1, as Lambda requires",
      config.batch_size)
  end
  if config.filters then
    if not json.is_array(config.filters) and next(config.filters) ~= nil then
      return nil, "'filters' must be a list of patterns (JSON texts)"
    end
    for i, pattern in ipairs(config.filters) do
      if type(pattern) ~= "string" then return nil, string.format("'filters'[%d] must be a pattern's JSON text", i) end
    end
    local matcher, problem = require("moonrun.dev.filter").compile_all(config.filters)
    if not matcher then return nil, "'filters': " .. problem end
    config.matches = matcher
  end
  if config.function_timeout_s <= 0 then
    return nil, "'function_timeout_s' must be positive, got " .. tostring(config.function_timeout_s)
  end
  return config
end

-- Logging: one line on stderr per problem; the same problem again is not repeated more than
-- once every 30 s, and its end is said. ------------------------------------------------------

local Poller = {}
Poller.__index = Poller

function Poller:log(text)
  io.stderr:write(string.format("moonrun dev: sqs trigger of queue %s: %s\n", self.config.queue_name, text))
  io.stderr:flush()
end

function Poller:sqs_failed(what, err)
  local text = what .. ": " .. tostring(err)
  self.failures = self.failures + 1
  local now = time.monotonic()
  if text ~= self.last_problem or now - self.last_problem_at >= 30 then
    local repeats = self.failures > 1 and string.format(" (failure %d in a row; retrying)", self.failures) or " (retrying)"
    self:log(text .. repeats)
    self.last_problem, self.last_problem_at = text, now
  end
end

function Poller:sqs_ok()
  if self.failures > 0 then
    self:log(string.format("the queue answers again, after %d failed call%s", self.failures,
      self.failures == 1 and "" or "s"))
  end
  self.failures, self.last_problem = 0, nil
end

-- The next wait after a failure: 0.25 s doubling up to MAX_BACKOFF_S, with some jitter so that
-- several pollers do not retry in step.
function Poller:backoff()
  local delay = math.min(M.MAX_BACKOFF_S, 0.25 * 2 ^ math.max(0, self.failures - 1))
  time.sleep(delay * (0.8 + 0.2 * math.random()))
end

-- Errors that trying again cannot mend: the process says so and exits.
local FATAL = {NoCredentialsError = true, NoRegionError = true, InvalidEndpoint = true, InvalidConfiguration = true}

-- moonrun run turns Ctrl-C into the error "interrupted!": it must not be taken for an SQS
-- failure by a protected call.
local function is_interrupt(err)
  return type(err) == "string" and err:match("interrupted!$") ~= nil
end

function Poller:call(operation, params)
  local ok, result = pcall(self.client[operation], self.client, params)
  if ok then return result end
  if is_interrupt(result) then error(result, 0) end
  if type(result) == "table" and FATAL[result.code] then
    self:log(tostring(result) .. "; stopping: fix the configuration and start again")
    os.exit(1)
  end
  return nil, result
end

-- Receiving -----------------------------------------------------------------------------------

function Poller:receive(count, wait)
  return self:call("receive_message", {
    QueueUrl = self.config.queue_url, MaxNumberOfMessages = count, WaitTimeSeconds = wait,
    AttributeNames = {"All"}, MessageSystemAttributeNames = {"All"}, MessageAttributeNames = {"All"},
  })
end

--- Gathers one batch, as Lambda does: without a window, what one long poll returns; with a
--- window, polls from the first message until batch_size messages are in or the window has
--- passed (each long poll no longer than what is left of it). Returns the messages, in the
--- order SQS gave them, and an error when a receive failed (with what came before it).
function Poller:gather()
  local config, messages, deadline = self.config, {}, nil
  while #messages < config.batch_size do
    local wait = M.LONG_POLL_S
    if deadline then
      local left = deadline - time.monotonic()
      if left <= 0 then break end
      wait = math.min(M.LONG_POLL_S, math.floor(left))
    end
    local result, err = self:receive(math.min(10, config.batch_size - #messages), wait)
    if not result then return messages, err end
    self:sqs_ok()
    for _, message in ipairs(result.Messages) do messages[#messages + 1] = message end
    if #messages == 0 then return messages end -- an empty long poll: look at the parent, poll again
    if not deadline then
      if config.window_s <= 0 then break end
      deadline = time.monotonic() + config.window_s
    elseif #result.Messages == 0 and wait == 0 then
      time.sleep(math.min(0.2, math.max(0, deadline - time.monotonic())))
    end
  end
  return messages
end

-- The event -----------------------------------------------------------------------------------

-- Message attributes in the shape Lambda gives them: lower-camel names, binary values in
-- base64, and the (unused) list fields always present as empty lists.
local function lambda_attributes(attributes)
  local out = {}
  for name, attribute in pairs(attributes or {}) do
    local converted = {dataType = attribute.DataType, stringListValues = json.array{}, binaryListValues = json.array{}}
    if attribute.StringValue ~= nil then converted.stringValue = attribute.StringValue end
    if attribute.BinaryValue ~= nil then converted.binaryValue = base64.encode(attribute.BinaryValue) end
    for _, value in ipairs(attribute.StringListValues or {}) do table.insert(converted.stringListValues, value) end
    for _, value in ipairs(attribute.BinaryListValues or {}) do
      table.insert(converted.binaryListValues, base64.encode(value))
    end
    out[name] = converted
  end
  return out
end

--- The Lambda SQS event record of a received message: messageId, receiptHandle, body, the
--- system attributes SQS returned (ApproximateReceiveCount, SentTimestamp, SenderId,
--- ApproximateFirstReceiveTimestamp; SequenceNumber, MessageGroupId, MessageDeduplicationId
--- for FIFO; AWSTraceHeader when the sender traced), messageAttributes, md5OfBody,
--- md5OfMessageAttributes when there are attributes, eventSource, eventSourceARN, awsRegion.
function M.record(message, config)
  local attributes = {}
  for name, value in pairs(message.Attributes or {}) do attributes[name] = value end
  local record = {
    messageId = message.MessageId, receiptHandle = message.ReceiptHandle, body = message.Body or "",
    attributes = attributes, messageAttributes = lambda_attributes(message.MessageAttributes),
    md5OfBody = message.MD5OfBody or digest.md5_hex(message.Body or ""),
    eventSource = "aws:sqs", eventSourceARN = config.queue_arn, awsRegion = config.region,
  }
  if message.MessageAttributes and next(message.MessageAttributes) then
    record.md5OfMessageAttributes = message.MD5OfMessageAttributes
  end
  return record
end

--- The batch's records split into events of at most MAX_PAYLOAD_BYTES (one record too large
--- alone is an event by itself): a list of {records = ..., text = JSON}.
function M.events(records)
  local events, current, size = {}, json.array{}, 0
  local overhead = #'{"Records":[]}'
  local function flush()
    if #current > 0 then
      events[#events + 1] = {records = current, text = json.encode{Records = current}}
      current, size = json.array{}, 0
    end
  end
  for _, record in ipairs(records) do
    local length = #json.encode(record) + 1
    if #current > 0 and overhead + size + length > M.MAX_PAYLOAD_BYTES then flush() end
    current[#current + 1] = record
    size = size + length
  end
  flush()
  return events
end

-- Invoking ------------------------------------------------------------------------------------

-- Invokes the function with the event text, which holds `records` records. Returns true and the
-- answer's body, or false and why the whole batch failed: no answer, a status other than 200, or
-- X-Amz-Function-Error (how Lambda's Invoke API reports a function error).
function Poller:invoke(text, records)
  local config = self.config
  local res, err = http.request{
    method = "POST", url = config.invoke_url, body = text,
    headers = {["Content-Type"] = "application/json", ["X-Moonrun-Trigger"] = "sqs " .. config.queue_name,
               -- so that the view judges the answer as this poller will
               ["X-Moonrun-Report-Batch-Item-Failures"] = config.report_batch_item_failures and "true" or nil,
               -- the view shows the batch's size: counted here, where the records are known
               ["X-Moonrun-Batch-Records"] = tostring(records)},
    -- the function may take its whole timeout; the invoke endpoint may add a cold start
    timeout = config.function_timeout_s + 30, connect_timeout = 5,
  }
  if not res then return false, "cannot invoke the function: " .. tostring(err and err.message) end
  local function_error = res.headers["x-amz-function-error"]
  if function_error then
    local ok, answer = pcall(json.decode, res.body)
    local detail = ""
    if ok and type(answer) == "table" and answer ~= null then
      detail = string.format(": %s: %s", tostring(answer.errorType), tostring(answer.errorMessage))
    end
    return false, "the function failed (" .. function_error .. ")" .. detail
  end
  if res.status == 429 then
    -- the function runs as many instances as it may: the batch waits in the queue (its
    -- messages come back after their visibility timeout) and this poller slows down
    self.throttled = true
    return false, "the function is throttled (429 TooManyRequestsException: every instance its concurrency allows is busy)"
  end
  if res.status ~= 200 then
    return false, string.format("the invoke endpoint answered status %d: %s", res.status, res.body:sub(1, 200))
  end
  return true, res.body
end

-- Deleting ------------------------------------------------------------------------------------

function Poller:delete(records)
  for first = 1, #records, 10 do
    local entries = {}
    for i = first, math.min(first + 9, #records) do
      entries[#entries + 1] = {Id = "m" .. (i - first + 1), ReceiptHandle = records[i].receiptHandle}
    end
    local result, err
    for attempt = 1, 3 do
      result, err = self:call("delete_message_batch", {QueueUrl = self.config.queue_url, Entries = entries})
      if result then break end
      if attempt < 3 then time.sleep(0.2 * attempt) end
    end
    if not result then
      self:log(string.format("cannot delete %d processed message%s (they will be delivered again): %s",
        #entries, #entries == 1 and "" or "s", tostring(err)))
    else
      for _, failure in ipairs(result.Failed) do
        local index = tonumber(tostring(failure.Id):match("^m(%d+)$"))
        local record = index and records[first + index - 1]
        self:log(string.format("cannot delete message %s (it will be delivered again): %s %s",
          record and record.messageId or tostring(failure.Id), tostring(failure.Code), tostring(failure.Message)))
      end
    end
  end
end

-- One batch: invoke (in events of at most 6 MB), then delete what succeeded. From a FIFO
-- queue, once part of the batch failed the rest is not invoked, so a group keeps its order.
function Poller:process(messages)
  local records, filtered_out = {}, {}
  for _, message in ipairs(messages) do
    local record = M.record(message, self.config)
    if not self.config.matches or self.config.matches(record) then
      records[#records + 1] = record
    else
      filtered_out[#filtered_out + 1] = record
    end
  end
  if #filtered_out > 0 then
    -- as Lambda does: a record no filter pattern matches is deleted, never invoked
    self:log(string.format("%d message%s matched no filter pattern: deleted without invoking", #filtered_out,
      #filtered_out == 1 and "" or "s"))
    self:delete(filtered_out)
  end
  local to_delete, failed_before = {}, false
  for _, event in ipairs(M.events(records)) do
    if failed_before and self.config.fifo then break end
    local ok, answer = self:invoke(event.text, #event.records)
    if not ok then
      self:log(answer .. (#event.records == 1 and "; the message of the batch stays in the queue" or
        string.format("; the %d messages of the batch stay in the queue", #event.records)))
      failed_before = true
    elseif self.config.report_batch_item_failures then
      local ids = {}
      for _, record in ipairs(event.records) do ids[record.messageId] = true end
      local failed, why = lambda_events.reported_failures(answer, ids)
      if not failed then
        self:log(why .. "; the whole batch counts as failed, as Lambda counts it")
        failed_before = true
      else
        for _, record in ipairs(event.records) do
          if failed[record.messageId] then failed_before = true else to_delete[#to_delete + 1] = record end
        end
      end
    else
      for _, record in ipairs(event.records) do to_delete[#to_delete + 1] = record end
    end
  end
  if #to_delete > 0 then self:delete(to_delete) end
end

-- The loop ------------------------------------------------------------------------------------

local function parent_pid()
  local file = io.open("/proc/self/stat", "r")
  if not file then return nil end
  local stat = file:read("l") or ""
  file:close()
  -- pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'
  return tonumber(stat:match("%)%s+%S+%s+(%d+)"))
end

function M.new(config)
  local client = sqs.client{region = config.region, endpoint = config.endpoint, max_attempts = 1,
                            connect_timeout = 3}
  return setmetatable({config = config, client = client, failures = 0, last_problem = nil,
                       last_problem_at = 0, parent = parent_pid()}, Poller)
end

function Poller:parent_gone()
  return self.parent ~= nil and parent_pid() ~= self.parent
end

function Poller:step()
  local messages, err = self:gather()
  if #messages > 0 then self:process(messages) end
  if self.throttled then
    self.throttled = false
    time.sleep(0.5 + 0.5 * math.random())
  end
  if err then
    self:sqs_failed("cannot receive messages", err)
    self:backoff()
  end
end

function Poller:run()
  while true do
    if self:parent_gone() then
      self:log("the process that started this trigger has gone; stopping")
      return 0
    end
    local ok, err = xpcall(self.step, function(e)
      if is_interrupt(e) then return e end
      return debug.traceback(tostring(e), 2)
    end, self)
    if not ok then
      if is_interrupt(err) then return 130 end
      -- a fault of the poller itself: report it and keep serving the queue
      self.failures = self.failures + 1
      self:log("internal error: " .. tostring(err))
      self:backoff()
    end
  end
end

function M.main(argument)
  local config, why = M.parse_config(argument)
  if not config then
    io.stderr:write("moonrun dev: sqs trigger: bad configuration: " .. why .. "\n")
    return 2
  end
  if config.enabled == false then return 0 end
  local made, poller = pcall(M.new, config)
  if not made then
    io.stderr:write(string.format("moonrun dev: sqs trigger of queue %s: %s\n", config.queue_name, tostring(poller)))
    return 2
  end
  return poller:run()
end

-- Run as a script (moonrun run poller.lua CONFIG): serve until stopped. Required as a module
-- (tests), it only returns its functions.
if arg and arg[0] and arg[0]:match("poller%.lua$") and not package.loaded["moonrun.dev.poller"] then
  os.exit(M.main(arg[1]))
end

return M
