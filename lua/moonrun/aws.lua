-- The generic AWS layer under moonrun.sqs: region, endpoint, credentials, SigV4, the AWS JSON
-- protocol and retries. A service that speaks AWS JSON needs a description (see sqs.lua's
-- SERVICE), not new code:
--
--   local client = aws.client({service_id = "SQS", endpoint_prefix = "sqs",
--     signing_name = "sqs", target_prefix = "AmazonSQS", json_version = "1.0",
--     query_compatible = true}, options)
--   local result = client:call("ListQueues", {QueueNamePrefix = "test"})
local config = require "moonrun.aws.config"
local credentials = require "moonrun.aws.credentials"
local endpoints = require "moonrun.aws.endpoints"
local errors = require "moonrun.aws.errors"
local retry = require "moonrun.aws.retry"
local json = require "moonrun.json"
local sigv4 = require "moonrun.sigv4"
local time = require "moonrun.time"

local M = {}

M.errors = errors
M.is_error = errors.is_error
M.sign = sigv4.sign
M.region = config.region

local USER_AGENT = "moonrun (" .. _VERSION .. ")"
local DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT = 30, 5

-- A configuration problem (no region, no credentials, a bad variable) as an error value, so
-- that it reaches Lambda with a plain errorType and pcall callers can read err.code.
local function configuration_error(code, message)
  return errors.new{code = code, message = message}
end

-- Runs fn, turning a plain error it raises into an error value with code.
local function as_error_value(code, fn, ...)
  local ok, result = pcall(fn, ...)
  if ok then return result end
  if errors.is_error(result) then error(result, 0) end
  error(configuration_error(code, tostring(result)), 0)
end

function M.credentials(options)
  return as_error_value("NoCredentialsError", credentials.resolve, options)
end

--- The endpoint for service in region (see aws/endpoints.lua for the order).
M.endpoint = endpoints.resolve

local Client = {}
Client.__index = Client

--- A client of one service in one region. options: region, endpoint, profile, credentials (or
-- access_key_id, secret_access_key, session_token), timeout, connect_timeout, max_attempts,
-- retry_mode, retry_base_delay, use_fips_endpoint, use_dualstack_endpoint.
function M.client(service, options)
  options = options or {}
  local region = as_error_value("NoRegionError", config.region, options)
  if not region then
    error(configuration_error("NoRegionError", "no AWS region: set AWS_REGION (Lambda sets " ..
      "it), pass region = ... to the client, or set region in your profile's ~/.aws/config"), 0)
  elseif not region:match("^[%w-]+$") then
    error(configuration_error("NoRegionError", string.format(
      "the AWS region '%s' is not a region name such as us-east-1", region)), 0)
  end
  local endpoint = as_error_value("InvalidEndpoint", M.endpoint, service, region, options)
  local strategy = as_error_value("InvalidConfiguration", function()
    -- the profile is read only when the environment leaves a setting to it
    local needs_profile = not options.retry_mode and not os.getenv("AWS_RETRY_MODE") or
      options.max_attempts == nil and not os.getenv("AWS_MAX_ATTEMPTS")
    return retry.new(options, needs_profile and config.cached_profile(options) or nil)
  end)
  local url = endpoint:match("^https?://[^/?#]+$") and endpoint .. "/" or endpoint
  return setmetatable({
    service = service,
    region = region,
    endpoint = endpoint,
    url = url,
    options = options,
    strategy = strategy,
    timeout = options.timeout or DEFAULT_TIMEOUT,
    connect_timeout = options.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
    content_type = "application/x-amz-json-" .. (service.json_version or "1.0"),
  }, Client)
end

-- The credentials to sign with now: resolved on first use, refreshed before they expire. If a
-- refresh fails while the old ones are still valid for a minute, they are used meanwhile.
function Client:current_credentials()
  local now = time.now()
  if self.credentials and now < self.refresh_at then return self.credentials end
  local ok, fresh = pcall(M.credentials, self.options)
  if not ok then
    local old = self.credentials
    if old and old.expiration and old.expiration - now > 60 then return old end
    error(fresh, 0)
  end
  self.credentials, self.refresh_at = fresh, credentials.refresh_at(fresh, now)
  return fresh
end

local EMPTY_OBJECT = "{}"

-- The HTTP request for one attempt of operation (signed afresh, so its date is current).
function Client:request(operation, params, call_options)
  local body = params and next(params) ~= nil and json.encode(params) or EMPTY_OBJECT
  local headers = {
    ["Content-Type"] = self.content_type,
    ["X-Amz-Target"] = self.service.target_prefix .. "." .. operation,
  }
  if self.service.query_compatible then headers["x-amzn-query-mode"] = "true" end
  local c = self:current_credentials()
  local signed = sigv4.sign{
    method = "POST", url = self.url, headers = headers, body = body,
    access_key_id = c.access_key_id, secret_access_key = c.secret_access_key,
    session_token = c.session_token, region = self.region, service = self.service.signing_name,
  }
  for name, value in pairs(signed.headers) do headers[name] = value end
  headers["User-Agent"] = USER_AGENT -- not signed: proxies may rewrite it, as the SDKs allow for
  return {
    method = "POST", url = self.url, headers = headers, body = body,
    timeout = call_options and call_options.timeout or self.timeout,
    connect_timeout = self.connect_timeout,
  }
end

-- An error answer as an error value: the code from __type (after '#', before ':'), the query
-- code and fault from x-amzn-query-error, the request id.
local function service_error(operation, response)
  local headers = response.headers
  local ok, body = pcall(json.decode, response.body)
  if not ok or type(body) ~= "table" then body = {} end
  local type_name = body.__type or body.code or headers["x-amzn-errortype"]
  local err = errors.new{
    status = response.status,
    request_id = headers["x-amzn-requestid"],
    operation = operation,
  }
  -- an empty name ("", "#", ":x") would give an empty code: the status names the error then
  local code = type(type_name) == "string" and (type_name:match("#([^:]*)") or type_name:match("^[^:]*"))
  if code and code ~= "" then
    err.code = code
    err.message = body.message or body.Message or ""
  else
    err.code = "HTTP" .. response.status
    local excerpt = response.body:sub(1, 200):gsub("%s+", " ")
    err.message = string.format("the endpoint answered status %d without an AWS error: %s",
      response.status, excerpt)
  end
  local query_error = headers["x-amzn-query-error"]
  if query_error then err.query_code, err.fault = query_error:match("^([^;]*);?(.*)$") end
  if type(err.message) ~= "string" then err.message = tostring(err.message) end
  err.retryable = retry.is_retryable(err)
  return err
end

-- The outcome of one attempt: the result table, or nil and an error value.
local function outcome(operation, response, failure, attempt)
  if not response then
    local err = errors.from_transport(failure, operation)
    err.retryable = retry.is_retryable(err)
    return nil, err
  end
  if response.status < 200 or response.status >= 300 then return nil, service_error(operation, response) end
  local result = {}
  if response.body ~= "" then
    local ok, decoded = pcall(json.decode, response.body)
    if not ok or type(decoded) ~= "table" then
      return nil, errors.new{code = "ResponseParserError", operation = operation,
        status = response.status, request_id = response.headers["x-amzn-requestid"],
        message = "the answer is not a JSON object: " .. tostring(decoded)}
    end
    result = decoded
  end
  result.ResponseMetadata = {RequestId = response.headers["x-amzn-requestid"],
    HTTPStatusCode = response.status, RetryAttempts = attempt - 1}
  return result
end

-- One answer through the parsing call uses, for the fuzz target (fuzz/aws_answer_fuzz.c): the
-- result table, or nil and an error value. Not part of the API.
function M._parse_answer(operation, status, headers, body)
  return outcome(operation, {status = status, headers = headers, body = body}, nil, 1)
end

-- Whether err earns another attempt; takes the retry quota it costs.
function Client:retry_allowed(err, attempt)
  if not err.retryable or attempt >= self.strategy.max_attempts then return nil end
  return retry.acquire(self.strategy, err)
end

--- Calls operation with params (a table of AWS's parameter names); returns the result table or
-- raises an error value. call_options: timeout (seconds, this call only).
function Client:call(operation, params, call_options)
  local http = require "moonrun.http"
  local attempt, cost = 0, 0
  while true do
    attempt = attempt + 1
    local response, failure = http.request(self:request(operation, params, call_options))
    local result, err = outcome(operation, response, failure, attempt)
    if result then
      retry.release(self.strategy, cost)
      return result
    end
    cost = self:retry_allowed(err, attempt)
    if not cost then
      err.attempts = attempt
      error(err, 0)
    end
    time.sleep(retry.delay(self.strategy, attempt))
  end
end

--- Makes several calls concurrently: calls[i] = {operation, params, call_options}. Returns a
-- list in the same order, each a result table or an error value (never raised). Calls that fail
-- in a retryable way are retried together, with the same strategy as call; a call whose
-- call_options has retry_if_sent = false is not retried once its request may have reached the
-- service (err.sent: a timeout or a cut connection after sending), since doing it again could
-- do it twice. At most 50 requests are in flight at once (moonrun.http's bound).
function Client:call_many(calls)
  local http = require "moonrun.http"
  local results, pending, attempt = {}, {}, 0
  for i = 1, #calls do pending[i] = i end
  while #pending > 0 do
    attempt = attempt + 1
    local requests = {}
    for k, i in ipairs(pending) do
      local call = calls[i]
      requests[k] = self:request(call[1], call[2], call[3])
    end
    local answers = http.request_many(requests)
    local again = {}
    for k, i in ipairs(pending) do
      local answer = answers[k]
      local failure = answer.error
      local result, err = outcome(calls[i][1], not failure and answer or nil, failure, attempt)
      if result then
        retry.release(self.strategy, 0)
        results[i] = result
      elseif not (err.sent and calls[i][3] and calls[i][3].retry_if_sent == false)
          and self:retry_allowed(err, attempt) then
        again[#again + 1] = i
      else
        err.attempts = attempt
        results[i] = err
      end
    end
    if #again > 0 then time.sleep(retry.delay(self.strategy, attempt)) end
    pending = again
  end
  return results
end

return M
