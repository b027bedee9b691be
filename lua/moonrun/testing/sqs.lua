-- The embedded SQS of moonrun.testing: the implementation `moonrun dev` serves (sqs/store.lua,
-- sqs/api.lua), in memory and in the spec's own process, without a socket. The handler under
-- test calls it as it calls AWS: moonrun.sqs signs the request, encodes it in AWS JSON 1.0 and
-- hands it to moonrun.http; for this endpoint's URL alone, moonrun.http's request functions
-- give the request to the embedded API instead of the network, which checks the signature and
-- answers as `moonrun dev` would. Everything else moonrun.http is asked for goes out as usual.
--
--   local queues = require("moonrun.testing").sqs()   -- the project template's queues
--   ... invoke a handler that sends ...
--   local bodies = queues:bodies("orders")          -- and takes them off the queue
--   queues:close()
local http = require "moonrun.http"
local local_invoke = require "moonrun.local_invoke"
local poller = require "moonrun.dev.poller"
local sqs = require "moonrun.sqs"
local sqs_api = require "moonrun.dev.sqs.api"
local sqs_store = require "moonrun.dev.sqs.store"

local M = {}

-- A name that never resolves (.invalid is reserved): a request that bypassed the embedded
-- endpoint fails loudly instead of reaching some other SQS.
M.ENDPOINT = "http://sqs.moonrun.invalid"
M.ACCOUNT = "000000000000"
-- The credentials handlers sign with while the embedded SQS is up; it accepts no others.
M.CREDENTIALS = {access_key_id = "AKIAMOONRUNTEST00000", secret_access_key = "moonrun-test-secret"}

local Queues = {}
Queues.__index = Queues

local active -- one embedded SQS at a time: the environment and moonrun.http are the process's
local real_request, real_request_many = http.request, http.request_many

local function is_ours(req)
  if not active or type(req) ~= "table" or type(req.url) ~= "string" then return false end
  local rest = req.url:sub(#M.ENDPOINT + 1)
  return req.url:sub(1, #M.ENDPOINT) == M.ENDPOINT and (rest == "" or rest:match("^[/?]") ~= nil)
end

-- One request through the embedded API, shaped as moonrun.httpd would hand it over.
local function serve(req)
  local headers = {}
  for name, value in pairs(req.headers or {}) do headers[name:lower()] = value end
  headers.host = headers.host or M.ENDPOINT:match("^https?://([^/]+)")
  local rest = req.url:sub(#M.ENDPOINT + 1)
  local path, query = rest:match("^([^?]*)%??(.*)$")
  local status, answer_headers, body = active.api:handle{
    method = req.method or "GET", path = path ~= "" and path or "/", query = query,
    headers = headers, body = req.body or "",
  }
  return {status = status, headers = answer_headers, body = body or ""}
end

local function request(req)
  if is_ours(req) then return serve(req) end
  return real_request(req)
end

local function request_many(requests)
  if not active or type(requests) ~= "table" then return real_request_many(requests) end
  local answers, outside, where = {}, {}, {}
  for i, req in ipairs(requests) do
    if is_ours(req) then answers[i] = serve(req)
    else outside[#outside + 1] = req; where[#where + 1] = i end
  end
  if #outside > 0 then
    local got = real_request_many(outside)
    for k, i in ipairs(where) do answers[i] = got[k] end
  end
  return answers
end

local SAVED_VARIABLES = {"AWS_ENDPOINT_URL_SQS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                         "AWS_REGION"}

--- A new embedded SQS with the given queues ({name, attributes} each, dead-letter queues before
--- their sources), set up as the SQS handlers reach. options: region, queues, now_ms (a clock
--- for visibility timeouts and delays).
function M.new(options)
  options = options or {}
  if active then error("testing.sqs: an embedded SQS is already running; close it first (queues:close())", 2) end
  local region = options.region or os.getenv("AWS_REGION") or "us-east-1"
  local store = sqs_store.new{base_url = M.ENDPOINT, account = M.ACCOUNT, region = region, now_ms = options.now_ms,
                              warn = function(message) io.stderr:write("testing.sqs: ", message, "\n") end}
  local self = setmetatable({
    store = store, region = region, url_base = M.ENDPOINT .. "/" .. M.ACCOUNT .. "/",
    api = sqs_api.new{store = store, credentials = M.CREDENTIALS},
    saved = {},
  }, Queues)
  for _, q in ipairs(options.queues or {}) do
    local ok, err = pcall(store.ensure_queue, store, q.name, q.attributes or {})
    if not ok then error(string.format("testing.sqs: cannot create queue %s: %s", q.name, tostring(err)), 2) end
  end
  for _, name in ipairs(SAVED_VARIABLES) do self.saved[name] = os.getenv(name) or false end
  local_invoke.setenv("AWS_ENDPOINT_URL_SQS", M.ENDPOINT)
  local_invoke.setenv("AWS_ACCESS_KEY_ID", M.CREDENTIALS.access_key_id)
  local_invoke.setenv("AWS_SECRET_ACCESS_KEY", M.CREDENTIALS.secret_access_key)
  local_invoke.setenv("AWS_SESSION_TOKEN", nil)
  local_invoke.setenv("AWS_REGION", region) -- as Lambda always sets it, for the spec's own calls too
  active = self
  http.request, http.request_many = request, request_many
  sqs.reset() -- the default client reads the endpoint and credentials again
  self.client = sqs.client{endpoint = M.ENDPOINT, region = region, access_key_id = M.CREDENTIALS.access_key_id,
                           secret_access_key = M.CREDENTIALS.secret_access_key, max_attempts = 1}
  return self
end

--- Stops it: moonrun.http, the endpoint and the credentials are as they were before.
function Queues:close()
  if active ~= self then return end
  active = nil
  http.request, http.request_many = real_request, real_request_many
  for name, value in pairs(self.saved) do local_invoke.setenv(name, value or nil) end
  sqs.reset()
  self.store:close()
end

--- The URL of a queue, by name.
function Queues:url(name)
  if not self.store:queue(name) then
    local names = self.store:names("")
    error(string.format("testing.sqs: no queue named %s (the queues: %s)", tostring(name),
      #names > 0 and table.concat(names, ", ") or "none"), 2)
  end
  return self.url_base .. name
end

--- Sends a message (a string body) to a queue; returns the send_message result.
function Queues:send(name, body, params)
  local entry = {QueueUrl = self:url(name), MessageBody = body}
  for k, v in pairs(params or {}) do entry[k] = v end
  return self.client:send_message(entry)
end

--- How many messages the queue holds: {visible, in_flight, delayed} (SQS's approximate counts,
--- exact here).
function Queues:count(name)
  local a = self.client:get_queue_attributes{QueueUrl = self:url(name), AttributeNames = {"All"}}.Attributes
  return {visible = tonumber(a.ApproximateNumberOfMessages), in_flight = tonumber(a.ApproximateNumberOfMessagesNotVisible),
          delayed = tonumber(a.ApproximateNumberOfMessagesDelayed)}
end

--- Receives up to max (default: all) visible messages as receive_message answers them (with
--- all attributes), deleting them unless keep is true.
function Queues:receive(name, max, keep)
  local url, messages = self:url(name), {}
  max = max or math.huge
  while #messages < max do
    local got = self.client:receive_message{QueueUrl = url, MaxNumberOfMessages = math.min(10, max - #messages),
      AttributeNames = {"All"}, MessageAttributeNames = {"All"}}.Messages or {}
    if #got == 0 then break end
    for _, m in ipairs(got) do
      messages[#messages + 1] = m
      if not keep then self.client:delete_message{QueueUrl = url, ReceiptHandle = m.ReceiptHandle} end
    end
  end
  return messages
end

--- The bodies of the visible messages, taken off the queue, in the order received.
function Queues:bodies(name)
  local bodies = {}
  for i, m in ipairs(self:receive(name)) do bodies[i] = m.Body end
  return bodies
end

--- Up to 10 visible messages received as an SQS trigger receives them, as the Lambda event
--- it would invoke the consumer with ({Records = ...}; the records' receipt handles are live,
--- so a consumer under test can delete or change them).
function Queues:event(name, max)
  local url = self:url(name)
  local arn = string.format("arn:aws:sqs:%s:%s:%s", self.region, M.ACCOUNT, name)
  local got = self.client:receive_message{QueueUrl = url, MaxNumberOfMessages = math.min(max or 10, 10),
    AttributeNames = {"All"}, MessageAttributeNames = {"All"}}.Messages or {}
  local records = require("moonrun.json").array{}
  for i, m in ipairs(got) do records[i] = poller.record(m, {queue_arn = arn, region = self.region}) end
  return {Records = records}
end

return M
