-- The embedded SQS endpoint's protocol: AWS JSON 1.0 requests (POST /, X-Amz-Target:
-- AmazonSQS.<Operation>) routed to the operation (sqs/operations.lua), their signatures checked
-- when credentials are given (sqs/signature.lua), their parameters as SQS checks them and the
-- errors answered as SQS shapes them (sqs/request_checks.lua), over a store (sqs/store.lua).
--
--   local sqs_api = require "moonrun.dev.sqs.api"
--   local api = sqs_api.new{store = store, sched = sched,
--     credentials = nil or {access_key_id = "...", secret_access_key = "..."}}
--   local status, headers, body = api:handle(req)   -- may sched.wait (long polls)
local json = require "moonrun.json"
local operations = require "moonrun.dev.sqs.operations"
local request = require "moonrun.dev.sqs.request_checks"
local signature = require "moonrun.dev.sqs.signature"

local M = {}

local CONTENT_TYPE = request.CONTENT_TYPE
local TARGET_PREFIX = "AmazonSQS."
local fail, error_response, request_id = request.fail, request.error_response, request.request_id

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
    local key_id, code, why = signature.verify(req, self.credentials, now_seconds(self))
    if not key_id then fail(code, why) end
    context.sender = key_id
  else
    context.sender = signature.access_key_of(headers) or self.store.account
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
  if request.is_api_error(result) then return nil, result.code .. ": " .. result.message end
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
    result = text
  end
  if request.is_api_error(result) then return error_response(result.code, result.message) end
  self.warn("sqs: internal error: " .. tostring(result))
  return error_response("InternalFailure", "The request processing has failed because of an " ..
    "unknown error, exception or failure.")
end

return M
