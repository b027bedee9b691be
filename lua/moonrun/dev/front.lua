-- The HTTP front of `moonrun dev`: the template's API routes, as API Gateway calls a function,
-- and the invoke endpoint of Lambda's Invoke API (the one AWS's Runtime Interface Emulator
-- serves), so `aws lambda invoke --endpoint-url` and the SDKs work against it.
local apigw = require "moonrun.dev.apigw"
local authorizers = require "moonrun.dev.authorizers"
local cors = require "moonrun.dev.cors"
local event_text = require "moonrun.event_text"
local events = require "moonrun.events"
local json = require "moonrun.json"
local failure_summary = require("moonrun.dev.view").failure_summary

local M = {}

local LOG_TAIL_BYTES = 4096 -- what Lambda returns of an invocation's log

local INVOKE_PATH = "^/2015%-03%-31/functions/([^/]+)/invocations$"
local HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"

-- A function is named by its name, its ARN or a partial ARN, with an optional qualifier.
local function function_name(ref)
  ref = event_text.percent_decode(ref)
  local name = ref:match("^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)") or
               ref:match("^[^:]*:function:([^:]+)") or ref:match("^([^:]+)")
  return name or ref
end

local function lambda_api_error(status, error_type, message)
  return status, {["content-type"] = "application/json", ["x-amzn-errortype"] = error_type},
         json.encode{Type = "User", message = message}
end

-- Lambda's answer to a synchronous invocation beyond the function's concurrency.
local function too_many_requests(outcome)
  return 429, {["content-type"] = "application/json", ["x-amzn-errortype"] = "TooManyRequestsException"},
         json.encode{Reason = outcome.reason, Type = "User", message = "Rate Exceeded."}
end

local function throttle_summary(outcome)
  return "throttled (429 TooManyRequestsException: " .. tostring(outcome.reason) .. ")"
end

-- A short text for the view: the result, or the error's type and message.
local function summary(outcome)
  return outcome.ok and "ok" or failure_summary(outcome)
end

-- A batch's result as its poller will read it: with ReportBatchItemFailures, the items the
-- answer reports, or, for an answer Lambda would not accept, the whole batch failed (not "ok").
-- Returns the text and whether it is a success.
local function batch_summary(outcome, event, reports)
  if not reports then return "ok", true end
  local ids = {}
  local decoded_ok, decoded = pcall(json.decode, event)
  if decoded_ok and type(decoded) == "table" and type(decoded.Records) == "table" then
    for _, r in ipairs(decoded.Records) do if type(r) == "table" and r.messageId then ids[r.messageId] = true end end
  end
  local failed, why = events.reported_failures(outcome.payload, ids)
  if not failed then return "whole batch failed: " .. why, false end
  local n = 0
  for _ in pairs(failed) do n = n + 1 end
  if n > 0 then return string.format("ok, %d failed item%s", n, n > 1 and "s" or ""), true end
  return "ok", true
end

-- The number of records in a poller's batch (X-Moonrun-Batch-Records, which the poller sets: it
-- built the event), shown after the trigger; nil for an invocation that is not a poller's.
local function batch_records(value)
  if value == nil then return nil end
  local n = value:match("^%d+$") and math.tointeger(tonumber(value))
  if not n or n < 1 then
    return nil, "X-Moonrun-Batch-Records must be a whole number of records (1 or more), not " .. value:sub(1, 40)
  end
  return n
end

local Front = {}
Front.__index = Front

function Front:log(fn, trigger, outcome, text)
  self.view.invocation{name = fn.name, trigger = trigger, duration_ms = outcome.duration_ms,
                       ok = outcome.ok, summary = text or summary(outcome), cold = outcome.cold}
end

-- The log Lambda's Invoke API returns for X-Amz-Log-Type: Tail: the invocation's lines between
-- START and END and its REPORT line, the last 4 KB of it, base64-encoded.
local function log_tail(fn, outcome)
  local lines = {string.format("START RequestId: %s Version: $LATEST", outcome.request_id)}
  for _, line in ipairs(outcome.log or {}) do lines[#lines + 1] = line end
  lines[#lines + 1] = "END RequestId: " .. outcome.request_id
  lines[#lines + 1] = string.format("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\t",
    outcome.request_id, outcome.duration_ms, math.ceil(outcome.duration_ms), fn.spec.memory or 128)
  local text = table.concat(lines, "\n") .. "\n"
  if #text > LOG_TAIL_BYTES then text = text:sub(-LOG_TAIL_BYTES) end
  return require("moonrun.base64").encode(text)
end

-- POST /2015-03-31/functions/{name}/invocations
function Front:invoke_endpoint(req, ref)
  if req.method ~= "POST" then
    return lambda_api_error(405, "MethodNotAllowed", "the invoke endpoint takes POST")
  end
  local name = function_name(ref)
  local fn = self.functions[name]
  if not fn and name == "function" and #self.order == 1 then fn = self.order[1] end -- as the RIE names it
  if not fn then
    return lambda_api_error(404, "ResourceNotFoundException", string.format(
      "Function not found: arn:aws:lambda:%s:%s:function:%s", self.region, self.account, name))
  end
  local event = req.body ~= "" and req.body or "{}"
  if not pcall(json.decode, event) then
    return lambda_api_error(400, "InvalidRequestContentException",
                            "Could not parse request body into json: the event must be JSON")
  end
  local log_type = req.headers["x-amz-log-type"] or "None"
  if log_type ~= "None" and log_type ~= "Tail" then
    return lambda_api_error(400, "InvalidParameterValueException",
                            "X-Amz-Log-Type must be None or Tail, not " .. log_type)
  end
  local records, bad_records = batch_records(req.headers["x-moonrun-batch-records"])
  if bad_records then return lambda_api_error(400, "InvalidParameterValueException", bad_records) end
  local invocation_type = req.headers["x-amz-invocation-type"] or "RequestResponse"
  if invocation_type == "DryRun" then return 204, {}, "" end
  local trigger = req.headers["x-moonrun-trigger"] or "invoke"
  if invocation_type == "Event" then
    -- queued (and journaled) for the asynchronous invoker: async.lua runs it, retries it and
    -- sends its record to a destination
    local id = self.async:submit(fn, event, {trigger = trigger})
    return 202, {["x-amzn-requestid"] = id}, ""
  elseif invocation_type ~= "RequestResponse" then
    return lambda_api_error(400, "InvalidParameterValueException",
      "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not " .. invocation_type)
  end
  local key = fn.name .. " " .. trigger
  self.active[key] = (self.active[key] or 0) + 1
  local outcome = fn:invoke(event, trigger, {sync = true})
  self.active[key] = self.active[key] - 1
  if outcome.throttled then
    self:log(fn, trigger, outcome, throttle_summary(outcome))
    return too_many_requests(outcome)
  end
  if records then trigger = string.format("%s (%d)", trigger, records) end
  if trigger:match("^sqs ") and outcome.ok then
    local text, ok = batch_summary(outcome, event, req.headers["x-moonrun-report-batch-item-failures"] == "true")
    self:log(fn, trigger, {ok = ok, duration_ms = outcome.duration_ms, cold = outcome.cold}, text)
  else
    self:log(fn, trigger, outcome)
  end
  local headers = {["content-type"] = "application/json", ["x-amz-executed-version"] = "$LATEST",
                   ["x-amzn-requestid"] = outcome.request_id}
  if not outcome.ok then headers["x-amz-function-error"] = "Unhandled" end
  if req.headers["x-amz-log-type"] == "Tail" then headers["x-amz-log-result"] = log_tail(fn, outcome) end
  return 200, headers, outcome.payload
end

-- A streamed response with the HTTP integration's content type: a JSON prelude, eight zero
-- bytes, then the body (the format moonrun.stream.http writes).
local function streamed_result(outcome)
  if outcome.content_type ~= HTTP_INTEGRATION then return {statusCode = 200, body = outcome.payload} end
  -- (a table: apigw.response takes decoded answers as well as JSON text)
  local prelude, body = outcome.payload:match("^(.-)%z%z%z%z%z%z%z%z(.*)$")
  local ok, result = pcall(json.decode, prelude or "")
  if not ok or type(result) ~= "table" then return nil end
  result.body = body
  return result
end

function Front:api_route(req)
  local status, headers, body = cors.preflight(self.router, self.apis, req)
  if status then return status, headers, body end
  local route, params = self.router:match(req.method, req.path)
  if not route then return apigw.not_found(self.router) end
  local allowed, authorizer, h, b = self.auth:check(route, req, params)
  if not allowed then return cors.finish(self.apis, route, req, authorizer, h, b) end
  return cors.finish(self.apis, route, req, self:invoke_route(route, req, params, authorizer))
end

function Front:invoke_route(route, req, params, authorizer)
  local fn = self.functions[route.function_name]
  local trigger = "http " .. req.method .. " " .. req.path
  local outcome = fn:invoke(apigw.event_json(route, req, params, {authorizer = authorizer}), trigger, {sync = true})
  if outcome.throttled then
    -- API Gateway does not pass Lambda's 429 on: its client sees the integration failure
    self:log(fn, trigger, outcome, throttle_summary(outcome))
    return apigw.throttled(route)
  end
  local result = outcome.payload
  if outcome.ok and outcome.streamed then result = streamed_result(outcome) end
  local status, headers, body, problem = apigw.response(route, outcome.ok and result ~= nil, result)
  local text
  if outcome.ok then text = problem and (status .. ": " .. problem) or tostring(status) end
  self:log(fn, trigger, {ok = outcome.ok and not problem, duration_ms = outcome.duration_ms,
                         payload = outcome.payload, error_type = outcome.error_type, cold = outcome.cold}, text)
  return status, headers, body
end

-- How many invocations of fn by trigger (such as "sqs QUEUE") the invoke endpoint is running.
function Front:running(name, trigger)
  return self.active[name .. " " .. trigger] or 0
end

function Front:handle(req)
  if self.schedules then
    local status, headers, body = self.schedules:handle(req)
    if status then return status, headers, body end
  end
  local ref = req.path:match(INVOKE_PATH)
  if ref then return self:invoke_endpoint(req, ref) end
  return self:api_route(req)
end

-- options: functions (the dev.functions instances, in the template's order), view, region,
-- account, apis (the template's APIs: CORS, authorizers), key_sets (--jwks, read).
function M.new(options)
  local by_name = {}
  local specs = {}
  for _, fn in ipairs(options.functions) do
    by_name[fn.name] = fn
    specs[#specs + 1] = fn.spec
  end
  local router = apigw.router(specs, {region = options.region, account = options.account})
  local front = setmetatable({functions = by_name, order = options.functions, router = router,
                       warnings = router.warnings, view = options.view, region = options.region,
                       account = options.account, active = {}, apis = options.apis or {}}, Front)
  front.auth = authorizers.new{functions = by_name, key_sets = options.key_sets, region = options.region,
    account = options.account,
    log = function(text) if options.view then options.view.warn(text) end end,
    log_invocation = function(fn, trigger, outcome) front:log(fn, trigger, outcome) end}
  return front
end


return M
