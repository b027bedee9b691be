-- The function URLs of `moonrun dev`: each function with a FunctionUrlConfig gets its own local
-- server (a port of its own, as each function URL is a host of its own, so the event's rawPath
-- is the request's path exactly). A request becomes the function URL event (payload 2.0 on the
-- URL's domain <url-id>.lambda-url.<region>.on.aws); the answer is mapped as function URLs map
-- it. With InvokeMode RESPONSE_STREAM, a streamed response (moonrun.stream, stream.http) is
-- relayed to the client chunk by chunk as the function writes it (stream_relay.lua).
local apigw = require "moonrun.dev.apigw"
local digest = require "moonrun.digest"
local httpd = require "moonrun.httpd"
local json = require "moonrun.json"
local local_guard = require "moonrun.dev.local_guard"
local stream_relay = require "moonrun.dev.stream_relay"
local url_cors = require "moonrun.dev.url_cors"
local values = require "moonrun.dev.template.values"
local failure_summary = require("moonrun.dev.view").failure_summary

local M = {}

-- A function URL takes a request of up to 6 MB, and a buffered answer of up to 6 MB, as
-- Lambda's synchronous Invoke does (the answer's figure is the one Lambda's own error names, as
-- the runtime's check of a returned value uses; this one holds for a stream read whole).
M.MAX_REQUEST_BYTES = 6 * 1024 * 1024
M.MAX_BUFFERED_RESPONSE_BYTES = 6291556

local AUTH_TYPES = {NONE = true, AWS_IAM = true}
local INVOKE_MODES = {BUFFERED = true, RESPONSE_STREAM = true}
local CORS_KEYS = {AllowCredentials = true, AllowHeaders = true, AllowMethods = true,
                   AllowOrigins = true, ExposeHeaders = true, MaxAge = true}

-- ---- the template's FunctionUrlConfig ----

--- Reads a FunctionUrlConfig (loader: template/init.lua's Loader, for its errors and values) into
--- {auth_type, invoke_mode, cors}. AuthType is required, as SAM requires it.
function M.read_config(loader, config, where)
  if not values.is_map(config) then loader:fail(where, "expected a mapping with AuthType (NONE or AWS_IAM)") end
  for key in pairs(config) do
    if key ~= "AuthType" and key ~= "InvokeMode" and key ~= "Cors" then
      loader:fail(where .. "." .. key, "not a key of FunctionUrlConfig (AuthType, InvokeMode, Cors)")
    end
  end
  local auth = loader:property(config, "AuthType", where)
  if auth == nil then loader:fail(where .. ".AuthType", "missing (NONE, or AWS_IAM)") end
  auth = loader:text(auth, where .. ".AuthType")
  if not AUTH_TYPES[auth] then loader:fail(where .. ".AuthType", "%s: AuthType is NONE or AWS_IAM", auth) end
  local mode = loader:property(config, "InvokeMode", where)
  mode = mode == nil and "BUFFERED" or loader:text(mode, where .. ".InvokeMode")
  if not INVOKE_MODES[mode] then
    loader:fail(where .. ".InvokeMode", "%s: InvokeMode is BUFFERED or RESPONSE_STREAM", mode)
  end
  local cors = loader:property(config, "Cors", where)
  return {auth_type = auth, invoke_mode = mode, cors = cors ~= nil and M.read_cors(loader, cors, where .. ".Cors") or nil}
end

-- A function URL's Cors: lists of strings, MaxAge (0 to 86400 seconds), AllowCredentials.
function M.read_cors(loader, cors, where)
  if not values.is_map(cors) then loader:fail(where, "expected a mapping") end
  local out = {}
  for key in pairs(cors) do
    if not CORS_KEYS[key] then
      loader:fail(where .. "." .. key, "not a key of a function URL's Cors (AllowCredentials, " ..
        "AllowHeaders, AllowMethods, AllowOrigins, ExposeHeaders, MaxAge)")
    end
    local value = loader:property(cors, key, where)
    if key == "MaxAge" then
      out[key] = loader:integer(value, where .. ".MaxAge", 0, 86400)
    elseif key == "AllowCredentials" then
      out[key] = loader:boolean(value, where .. ".AllowCredentials")
    else
      if not values.is_list(value) then loader:fail(where .. "." .. key, "expected a list of strings") end
      out[key] = {}
      for i, item in ipairs(value) do out[key][i] = loader:text(item, string.format("%s.%s[%d]", where, key, i - 1)) end
    end
  end
  return out
end

-- ---- requests ----

-- A function URL's id: 32 lowercase letters and digits, as AWS's are; the same for a function
-- at every start, so a handler that logs it or a test that expects it sees one value.
local function url_id(region, account, name)
  return digest.md5_hex(table.concat({region, account, name}, "/"))
end

local function plain(status, text, headers)
  headers = headers or {}
  headers["content-type"] = headers["content-type"] or "text/plain"
  return status, headers, text
end

-- What the client gets when the function cannot answer it: a function URL gives 502
-- "Internal Server Error" for a function error and for an answer it cannot use.
local function bad_gateway()
  return plain(502, "Internal Server Error", {["x-amzn-errortype"] = "InternalServerErrorException"})
end

local Url = {}
Url.__index = Url

function Url:log(req, outcome, text, ok)
  self.view.invocation{name = self.fn.name, trigger = self.trigger_of(req),
                       duration_ms = outcome.duration_ms or 0, ok = ok, summary = text, cold = outcome.cold}
end

-- A stream's prelude ({statusCode, headers, cookies}) as the status and headers it sets, or nil
-- and why it cannot be used (apigw's reading of a proxy answer, without a body).
function Url:map_prelude(prelude)
  local status, headers, _, problem = apigw.response(self.route, true, prelude)
  if problem then return nil, problem end
  return status, headers
end

-- The answer to a buffered invocation (or a streamed one that never began: nothing relayed).
function Url:buffered_answer(outcome, relay)
  if outcome.throttled then
    return 429, {["content-type"] = "application/json", ["x-amzn-errortype"] = "TooManyRequestsException"},
      json.encode{Message = "Rate Exceeded."}, "throttled (429 TooManyRequestsException: " ..
      tostring(outcome.reason) .. ")", false
  end
  if not outcome.ok then
    local s, h, b = bad_gateway()
    return s, h, b, failure_summary(outcome), false
  end
  local payload = outcome.payload or ""
  local relayed = relay and relay.opened
  if relayed then payload = relay:held() end -- what the relay was given before the stream could start
  if #payload > M.MAX_BUFFERED_RESPONSE_BYTES then
    local s, h, b = bad_gateway()
    return s, h, b, string.format("502: the response is %d bytes, more than the %d a buffered function URL " ..
      "returns (InvokeMode RESPONSE_STREAM streams more)", #payload, M.MAX_BUFFERED_RESPONSE_BYTES), false
  end
  local status, headers, body, problem
  if outcome.streamed or relayed then
    local prelude
    prelude, body = stream_relay.split(payload, relayed and relay.content_type or outcome.content_type)
    if prelude then
      status, headers = self:map_prelude(prelude)
      if not status then problem = headers end
    else
      problem = "the streamed response's prelude is not a JSON object followed by 8 NUL bytes"
    end
  else
    status, headers, body, problem = apigw.response(self.route, true, payload)
  end
  if problem then
    local s, h, b = bad_gateway()
    return s, h, b, "502: " .. problem, false
  end
  return status, headers, body, tostring(status), true
end

function Url:handle(req)
  local refusal_status, refusal_headers, refusal_body = local_guard.check(self.guard, req, false)
  if refusal_status then return httpd.respond(req.id, refusal_status, refusal_headers, refusal_body) end
  if self.config.auth_type == "AWS_IAM" then
    self:log(req, {}, "403: AuthType AWS_IAM is not served locally", false)
    return httpd.respond(req.id, 403, {["content-type"] = "application/json",
      ["x-amzn-errortype"] = "AccessDeniedException"}, json.encode{Message = "Forbidden. moonrun dev does " ..
      "not check IAM signatures: this function URL has AuthType AWS_IAM, which moonrun dev refuses; " ..
      "use AuthType NONE locally, or call the function through the invoke endpoint"})
  end
  local cors = self.cors
  if cors then
    local status, headers, body = url_cors.preflight(cors, req)
    if status then return httpd.respond(req.id, status, headers, body) end
  end
  local function with_cors(headers) return cors and url_cors.apply(cors, req, headers) or headers end
  local event = apigw.event_json(self.route, req, nil, {domain = self.domain, domain_prefix = self.id})
  local relay
  if self.config.invoke_mode == "RESPONSE_STREAM" then
    relay = stream_relay.new(req.id, function(prelude) return self:map_prelude(prelude) end, with_cors)
  end
  local outcome = self.fn:invoke(event, self.trigger_of(req), {sync = true, relay = relay})
  if relay and relay.started then
    local summary, ok = relay:finish(outcome)
    return self:log(req, outcome, summary, ok)
  end
  local status, headers, body, summary, ok = self:buffered_answer(outcome, relay)
  self:log(req, outcome, summary, ok)
  httpd.respond(req.id, status, with_cors(headers), body)
end

local function too_large()
  return M.MAX_REQUEST_BYTES, plain(413, "Request Entity Too Large",
    {["x-amzn-errortype"] = "RequestEntityTooLargeException"})
end

--- Starts a server for each function with a function URL. options: functions (dev's function
--- instances), host, base_port (the first function's port, the next one's +1, ...; 0: any free
--- ports), view, region, account, listen (dev's listen, which names the option on failure),
--- spawn (loop.spawn). Returns the list of {fn, url, config, server}.
function M.start(options)
  local urls = {}
  local next_port = options.base_port
  for _, fn in ipairs(options.functions) do
    local config = fn.spec.function_url
    if config then
      local id = url_id(options.region, options.account, fn.name)
      local url = setmetatable({fn = fn, config = config, id = id, view = options.view,
        cors = config.cors and url_cors.new(config.cors),
        domain = string.format("%s.lambda-url.%s.on.aws", id, options.region),
        route = {payload_version = "2.0", route_key = "$default", stage = "$default",
                 account = "anonymous", api_id = id, type = "FunctionUrl"},
        trigger_of = function(req) return "url " .. req.method .. " " .. req.path end}, Url)
      url.server = options.listen("the function URL of " .. fn.name, "--function-url-port", {
        host = options.host, port = next_port, max_body = M.MAX_REQUEST_BYTES, body_limit = too_large,
        handler = function(req) options.spawn(function() url:handle(req) end) end})
      url.guard = local_guard.new(options.host, url.server:port())
      local host = options.host == "0.0.0.0" and "127.0.0.1" or options.host
      url.url = string.format("http://%s:%d/", host, url.server:port())
      if next_port ~= 0 then next_port = next_port + 1 end
      urls[#urls + 1] = url
    end
  end
  return urls
end

return M
