-- The authorizers of moonrun dev's front: what API Gateway does before a route's function runs
-- when the route has an authorizer (template/apis.lua reads them from the template).
--
-- * JWT (HTTP API): the token from its identity source ("Bearer " optional), checked by jwt.lua
--   against the key set --jwks gave for its issuer; claims and scopes reach the function in
--   requestContext.authorizer.jwt.
-- * Lambda (HTTP API REQUEST 1.0/2.0 with simple or IAM-policy answers; REST TOKEN and
--   REQUEST with IAM-policy answers): identity sources missing -> 401 without invoking; the
--   authorizer function runs as a real instance; its answer is cached for the TTL per identity
--   values; its context reaches the function (requestContext.authorizer.lambda for an HTTP
--   API, requestContext.authorizer for a REST API).
--
--   local auth = authorizers.new{functions = by_name, key_sets = ..., region = ..., account = ..., log = ...}
--   local ok, a, b, c = auth:check(route, req, params)
--   -- ok: a is requestContext.authorizer (or nil); not ok: a, b, c are the answer to send
local apigw = require "moonrun.dev.apigw"
local event_text = require "moonrun.event_text"
local json = require "moonrun.json"
local jwt = require "moonrun.dev.jwt"
local loop = require "moonrun.dev.loop"

local M = {}

local JSON_TYPE = "application/json"

-- The answers API Gateway sends (an HTTP API without x-amzn-ErrorType, a REST API with it).
local function unauthorized(route, extra)
  local headers = {["content-type"] = JSON_TYPE}
  if route.type == "Api" then headers["x-amzn-ErrorType"] = "UnauthorizedException" end
  for k, v in pairs(extra or {}) do headers[k] = v end
  return false, 401, headers, '{"message":"Unauthorized"}'
end

local function forbidden(route, message, extra)
  local headers = {["content-type"] = JSON_TYPE}
  local body = '{"message":"Forbidden"}'
  if route.type == "Api" then
    headers["x-amzn-ErrorType"] = "AccessDeniedException"
    body = json.encode{Message = message or "User is not authorized to access this resource"}
  end
  for k, v in pairs(extra or {}) do headers[k] = v end
  return false, 403, headers, body
end

local function failed(route)
  if route.type == "Api" then
    return false, 500, {["content-type"] = JSON_TYPE, ["x-amzn-ErrorType"] = "AuthorizerConfigurationException"},
      '{"message": null}'
  end
  return false, 500, {["content-type"] = JSON_TYPE}, '{"message":"Internal Server Error"}'
end

local Authorizers = {}
Authorizers.__index = Authorizers

function Authorizers:note(route, text)
  if self.log then self.log(string.format("authorizer %s (%s): %s", route.authorizer.name, route.route_key, text)) end
end

-- The ARN a policy's Resource is held against: arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH.
local function method_arn(self, route, req)
  local path = (req.path or "/"):match("^[^?#]*"):gsub("^/", "")
  return string.format("arn:aws:execute-api:%s:%s:%s/%s/%s/%s", self.region, self.account, route.api_id,
    route.stage, tostring(req.method):upper(), path)
end

-- ---- JWT ----

local function bearer_challenge(description, scope_failure, scopes)
  local text = string.format('Bearer scope="%s" error="%s" error_description="%s"', table.concat(scopes or {}, " "),
    scope_failure and "insufficient_scope" or "invalid_token", description:gsub('"', "'"))
  return {["www-authenticate"] = text}
end

function Authorizers:check_jwt(route, req)
  local a = route.authorizer
  local token
  if a.header then
    token = (req.headers or {})[a.header]
  else
    local _, values = event_text.parse_query(req.query or "")
    token = values[a.query] and values[a.query][1]
  end
  if not token or token == "" then return unauthorized(route) end
  token = token:gsub("^[Bb]earer%s+", "")
  local keys = self.key_sets[a.issuer] or self.key_sets["*"]
  if not keys then
    self:note(route, "no key set for the issuer " .. a.issuer .. ": start moonrun dev with --jwks " .. a.issuer .. "=FILE|URL")
    return unauthorized(route, bearer_challenge("no key set for the issuer", false, route.scopes))
  end
  local claims, why, scope_failure = jwt.check(token, keys, {issuer = a.issuer, audience = a.audience,
                                                             scopes = route.scopes, now = os.time()})
  if not claims then
    self:note(route, why)
    if scope_failure then return forbidden(route, nil, bearer_challenge(why, true, route.scopes)) end
    return unauthorized(route, bearer_challenge(why, false, route.scopes))
  end
  local scopes = #route.scopes > 0 and json.array(why) or json.null
  local context = {claims = jwt.claims_as_text(claims), scopes = scopes}
  if route.payload_version == "2.0" then return true, {jwt = context} end
  return true, context
end

-- ---- Lambda ----

-- The identity sources' values, in order, or nil when one is missing.
local function identity_values(a, req)
  local values = {}
  for _, h in ipairs(a.headers) do
    local v = (req.headers or {})[h:lower()]
    if v == nil or v == "" then return nil end
    values[#values + 1] = v
  end
  if #a.query > 0 then
    local _, q = event_text.parse_query(req.query or "")
    for _, name in ipairs(a.query) do
      local v = q[name] and q[name][#q[name]]
      if v == nil or v == "" then return nil end
      values[#values + 1] = v
    end
  end
  return values
end

-- ARN matching as IAM does for execute-api: * any run of characters, ? one.
local function arn_matches(pattern, arn)
  local lua_pattern = "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
  return arn:match(lua_pattern) ~= nil
end

local function as_list(v)
  if type(v) == "table" then return v end
  return {v}
end

local function action_matches(action)
  return action == "*" or action == "execute-api:*" or action == "execute-api:Invoke" or
    (type(action) == "string" and arn_matches(action:lower(), "execute-api:invoke"))
end

--- The decision of an IAM policy for arn: "Allow", "Deny" (explicit) or nil (no statement matched).
function M.policy_decision(policy, arn)
  if type(policy) ~= "table" or type(policy.Statement) ~= "table" then return nil end
  local statements = policy.Statement
  if statements.Effect then statements = {statements} end
  local allowed = false
  for _, s in ipairs(statements) do
    if type(s) == "table" then
      local acts = false
      for _, action in ipairs(as_list(s.Action)) do acts = acts or action_matches(action) end
      local on = false
      for _, resource in ipairs(as_list(s.Resource)) do
        on = on or (type(resource) == "string" and arn_matches(resource, arn))
      end
      if acts and on then
        if s.Effect == "Deny" then return "Deny" end
        if s.Effect == "Allow" then allowed = true end
      end
    end
  end
  return allowed and "Allow" or nil
end

-- The authorizer's event, in its payload format.
function Authorizers:lambda_event(route, req, params, values)
  local a = route.authorizer
  local arn = method_arn(self, route, req)
  if a.api_type == "Api" and a.payload_type == "TOKEN" then
    return {type = "TOKEN", authorizationToken = values[1], methodArn = arn}
  end
  local shape = setmetatable({payload_version = a.api_type == "Api" and "1.0" or a.payload_version}, {__index = route})
  local event = apigw.event(shape, req, params)
  event.body, event.isBase64Encoded = nil, nil
  event.type = "REQUEST"
  if shape.payload_version == "2.0" then
    event.routeArn = arn
    event.identitySource = json.array(values)
  else
    event.methodArn = arn
    if a.api_type == "HttpApi" then event.identitySource = table.concat(values, ",") end
  end
  return event
end

-- Runs the authorizer function: the decoded answer, or nil and a reaction (false, status, ...).
function Authorizers:invoke(route, event)
  local a = route.authorizer
  local fn = self.functions[a.function_name]
  local outcome = fn:invoke(json.encode(event), "authorizer " .. a.name, {sync = true})
  self.invocations = self.invocations + 1
  if self.log_invocation then self.log_invocation(fn, "authorizer " .. a.name, outcome) end
  if outcome.throttled then return nil, {failed(route)} end
  if not outcome.ok then
    local ok, err = pcall(json.decode, outcome.payload or "")
    if ok and type(err) == "table" and err.errorMessage == "Unauthorized" then
      -- the documented way for an authorizer to answer 401
      return nil, {unauthorized(route)}
    end
    self:note(route, "the authorizer function failed")
    return nil, {failed(route)}
  end
  local ok, answer = pcall(json.decode, outcome.payload or "")
  if not ok or type(answer) ~= "table" then
    self:note(route, "the authorizer's answer is not a JSON object")
    return nil, {failed(route)}
  end
  return answer
end

local function scalar(v)
  local t = type(v)
  return t == "string" or t == "number" or t == "boolean"
end

-- The decision for one request from an answer (cached or new).
function Authorizers:decide(route, req, answer)
  local a = route.authorizer
  local context = answer.context
  if context ~= nil and context ~= json.null and type(context) ~= "table" then
    self:note(route, "its context is not an object")
    return failed(route)
  end
  if type(context) ~= "table" or context == json.null then context = nil end
  if a.simple then
    if type(answer.isAuthorized) ~= "boolean" then
      self:note(route, "a simple response needs isAuthorized true or false")
      return failed(route)
    end
    if not answer.isAuthorized then return forbidden(route) end
    return true, {lambda = context or {}}
  end
  if type(answer.policyDocument) ~= "table" or answer.principalId == nil then
    self:note(route, "an IAM policy response needs principalId and policyDocument")
    return failed(route)
  end
  local decision = M.policy_decision(answer.policyDocument, method_arn(self, route, req))
  if decision == "Deny" then return forbidden(route, "User is not authorized to access this resource with an explicit deny") end
  if decision ~= "Allow" then return forbidden(route) end
  if a.api_type == "HttpApi" then return true, {lambda = context or {}} end
  local out = {principalId = tostring(answer.principalId), integrationLatency = 0}
  for k, v in pairs(context or {}) do
    if not scalar(v) then
      self:note(route, "a REST authorizer's context holds strings, numbers and booleans only (" .. tostring(k) .. ")")
      return failed(route)
    end
    out[k] = v
  end
  return true, out
end

function Authorizers:check_lambda(route, req, params)
  local a = route.authorizer
  local values = identity_values(a, req)
  local sources = #a.headers + #a.query
  if sources > 0 and not values then return unauthorized(route) end
  values = values or {}
  local key = sources > 0 and a.ttl > 0 and (a.name .. "\0" .. route.api .. "\0" .. table.concat(values, "\0")) or nil
  local cached = key and self.cache[key]
  local answer
  if cached and cached.expires > loop.monotonic() then
    answer = cached.answer
  else
    local problem
    answer, problem = self:invoke(route, self:lambda_event(route, req, params, values))
    if not answer then return table.unpack(problem, 1, 4) end
    if key then self.cache[key] = {answer = answer, expires = loop.monotonic() + a.ttl} end
  end
  return self:decide(route, req, answer)
end

--- Whether req may reach route's function: true and the requestContext.authorizer value, or
--- false and the status, headers and body to answer with.
function Authorizers:check(route, req, params)
  local a = route.authorizer
  if not a then return true, nil end
  if a.kind == "jwt" then return self:check_jwt(route, req) end
  return self:check_lambda(route, req, params)
end

-- ---- key sets ----

--- The --jwks options read: {issuer or "*" = key set}. sources: {{issuer = text or nil,
--- source = FILE or URL}}; fetch(url) returns the text or nil and why. Raises with a sentence
--- naming the option for a file that cannot be read or a document that is not a key set.
function M.key_sets(sources, fetch)
  local sets = {}
  for _, s in ipairs(sources) do
    local text, why
    if s.source:match("^https?://") then
      text, why = fetch(s.source)
    else
      local f, err = io.open(s.source, "rb")
      if f then text = f:read("a"); f:close() else why = err end
    end
    if not text then error(string.format("--jwks %s: cannot read the key set: %s", s.source, tostring(why)), 0) end
    local set, bad = jwt.key_set(text)
    if not set then error(string.format("--jwks %s: %s", s.source, bad), 0) end
    sets[s.issuer or "*"] = set
  end
  return sets
end

function M.new(options)
  return setmetatable({functions = options.functions, key_sets = options.key_sets or {}, region = options.region,
                       account = options.account, log = options.log, log_invocation = options.log_invocation,
                       cache = {}, invocations = 0}, Authorizers)
end

return M
