-- API Gateway's mapping for `moonrun dev`, as pure functions: the template's HttpApi and Api
-- events become routes, an HTTP request becomes the event API Gateway sends a Lambda proxy
-- integration (HTTP API payload 2.0 or 1.0, REST API proxy format), and the function's answer
-- becomes the HTTP response API Gateway would give. Nothing here invokes or serves: the front
-- (front.lua) does, in this order:
--
--   local router = apigw.router(model.functions)
--   local route, params = router:match(req.method, req.path)
--   if not route then return apigw.not_found(router) end
--   local event = apigw.event_json(route, req, params)
--   ... invoke route.function_name with event, get ok and the payload text ...
--   return apigw.response(route, ok, payload)
--
-- Each rule below names the AWS behaviour it follows (the API Gateway developer guide: "Create
-- routes for HTTP APIs", "Create AWS Lambda proxy integrations for HTTP APIs", "Set up Lambda
-- proxy integrations" for REST APIs).
local json = require "moonrun.json"
local uuid = require "moonrun.uuid"
local time = require "moonrun.time"
local base64 = require "moonrun.base64"
local event_text = require "moonrun.event_text"

local M = {}

local null = json.null

local DEFAULTS = {
  account = "000000000000",
  region = "us-east-1",
  api_id = "moonrundev", -- ten lower-case characters, like API Gateway's ids
  rest_stage = "Prod",   -- the stage SAM's implicit REST API (ServerlessRestApi) is deployed to
}

-- Text helpers --------------------------------------------------------------------------------

local percent_decode, random_text = event_text.percent_decode, event_text.random_text
local short_request_id = event_text.http_request_id

local clf_time = event_text.clf_time

-- Routes --------------------------------------------------------------------------------------

-- A route path "/items/{id}/{proxy+}" as segments: literal text, a {param}, or a greedy
-- {name+}, which must be the last one (API Gateway refuses a greedy variable anywhere else).
local function parse_route_path(path, where)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    error(string.format("%s: the path must begin with '/', got %s", where, tostring(path)), 0)
  end
  local segments = {}
  if path == "/" then return segments end
  local body = path:sub(2)
  local parts = {}
  for part in (body .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = part end
  for i, part in ipairs(parts) do
    local greedy = part:match("^{([%w_.:-]+)%+}$")
    local param = part:match("^{([%w_.:-]+)}$")
    if greedy then
      if i ~= #parts then
        error(string.format("%s: the greedy path variable {%s+} must end the path %s", where, greedy, path), 0)
      end
      segments[#segments + 1] = {kind = "greedy", name = greedy}
    elseif param then
      segments[#segments + 1] = {kind = "param", name = param}
    elseif part:find("[{}]") then
      error(string.format("%s: '%s' in the path %s is not a path variable ({name} or {name+})", where, part, path), 0)
    else
      segments[#segments + 1] = {kind = "literal", text = part}
    end
  end
  return segments
end

local METHODS = {GET = true, POST = true, PUT = true, DELETE = true, PATCH = true, HEAD = true, OPTIONS = true,
                 ANY = true}

local function new_route(fn, event, options, order)
  local where = string.format("function %s, event %s", tostring(fn.logical_id or fn.name), tostring(event.name))
  local kind = event.type
  if kind ~= "HttpApi" and kind ~= "Api" then
    error(string.format("%s: unknown HTTP event type %s (HttpApi or Api)", where, tostring(kind)), 0)
  end
  local route = {
    fn = fn, function_name = fn.name, logical_id = fn.logical_id, event_name = event.name,
    type = kind, order = order,
    account = options.account, region = options.region, api_id = options.api_id,
    -- its API (for CORS) and authorizer, as template_apis.lua resolved them
    api = event.api, authorizer = event.authorizer, scopes = event.scopes or {},
  }
  -- SAM: an HttpApi event without Path and Method is the API's $default route, which catches
  -- every request no other route matches. A REST API has no such route.
  if kind == "HttpApi" and event.path == nil and event.method == nil then
    route.is_default, route.method, route.route_key, route.resource = true, "ANY", "$default", "$default"
    route.segments = {}
  else
    if event.path == nil or event.method == nil then
      error(string.format("%s: an %s event needs both Path and Method", where, kind), 0)
    end
    local method = tostring(event.method):upper()
    if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" or method == "*" then method = "ANY" end
    if not METHODS[method] then error(string.format("%s: unknown method %s", where, tostring(event.method)), 0) end
    route.method, route.path = method, event.path
    route.segments = parse_route_path(event.path, where)
    route.route_key = method .. " " .. event.path
    route.resource = event.path
  end
  local last = route.segments[#route.segments]
  route.greedy = last ~= nil and last.kind == "greedy"
  if kind == "Api" then
    -- A REST API's Lambda proxy integration always sends the 1.0 format.
    route.payload_version, route.stage = "1.0", options.rest_stage
    route.resource_id = random_text(6, "abcdefghijklmnopqrstuvwxyz0123456789")
  else
    route.payload_version = event.payload_version or "2.0"
    if route.payload_version ~= "2.0" and route.payload_version ~= "1.0" then
      error(string.format("%s: PayloadFormatVersion must be 1.0 or 2.0, got %s", where, tostring(event.payload_version)), 0)
    end
    route.stage = "$default" -- SAM's implicit HTTP API has only the $default stage
  end
  return route
end

local Router = {}
Router.__index = Router

--- A router over model.functions[i].http_events. options: account, region, api_id,
--- rest_stage (defaults in DEFAULTS). Raises an error naming the function and event for a
--- bad route, and for two routes with the same key in one API (API Gateway refuses those).
function M.router(functions, options)
  local merged = {}
  for key, value in pairs(DEFAULTS) do merged[key] = value end
  for key, value in pairs(options or {}) do merged[key] = value end
  local router = setmetatable({routes = {}, warnings = {}, options = merged}, Router)
  local seen = {}
  for _, fn in ipairs(functions or {}) do
    for _, event in ipairs(fn.http_events or {}) do
      local route = new_route(fn, event, merged, #router.routes + 1)
      local key = route.type .. " " .. route.route_key
      local other = seen[key]
      if other then
        error(string.format("the %s route %s is declared twice: by function %s (event %s) and by function %s (event %s)",
          route.type, route.route_key, tostring(other.logical_id), tostring(other.event_name),
          tostring(route.logical_id), tostring(route.event_name)), 0)
      end
      seen[key] = route
      router.routes[#router.routes + 1] = route
    end
  end
  -- HttpApi and Api events are two APIs on AWS (two host names); here they share one port, so
  -- a route key both declare goes to the HttpApi route.
  for _, route in pairs(seen) do
    if route.type == "Api" and seen["HttpApi " .. route.route_key] then
      router.warnings[#router.warnings + 1] = string.format(
        "the route %s is both an HttpApi event and an Api event (function %s); requests go to the HttpApi one",
        route.route_key, tostring(route.logical_id))
    end
  end
  table.sort(router.warnings)
  return router
end

-- The request path split at '/', each segment then %-decoded: a %2F inside a segment stays in
-- that segment (API Gateway decodes parameters after matching).
local function request_segments(raw_path)
  local path = raw_path:match("^[^?#]*")
  local segments = {}
  if path == "/" or path == "" then return segments, {} end
  local raw = {}
  for part in (path:sub(2) .. "/"):gmatch("([^/]*)/") do
    raw[#raw + 1] = part
    segments[#segments + 1] = percent_decode(part)
  end
  return segments, raw
end

-- The path parameters when route matches the segments, else nil. A {param} takes one
-- non-empty segment; a greedy {name+} takes one or more (the rest of the path, decoded).
local function match_segments(route, segments)
  if route.is_default then return {} end
  local params = {}
  for i, pattern in ipairs(route.segments) do
    local segment = segments[i]
    if pattern.kind == "greedy" then
      if segment == nil then return nil end
      local rest = table.concat(segments, "/", i)
      if rest == "" then return nil end
      params[pattern.name] = rest
      return params
    elseif segment == nil then
      return nil
    elseif pattern.kind == "param" then
      if segment == "" then return nil end
      params[pattern.name] = segment
    elseif pattern.text ~= segment then
      return nil
    end
  end
  if #segments ~= #route.segments then return nil end
  return params
end

-- Route selection, as API Gateway's HTTP API documents it: first a full match of route and
-- method, then a match with a greedy path variable ({proxy+}), then the $default route. Among
-- full matches a literal segment beats a {param} at the first position where they differ
-- (GET /pets/dog/1 before GET /pets/dog/{id}); among greedy matches the longest prefix wins
-- (GET /pets/{proxy+} before ANY /{proxy+}); on the same path an exact method beats ANY ("ANY
-- matches all methods that you haven't defined"). REST API resources resolve the same way.
local function rank(route)
  local class = route.is_default and 3 or route.greedy and 2 or 1
  local shape = {}
  for i, pattern in ipairs(route.segments) do shape[i] = pattern.kind == "literal" and "0" or "1" end
  return {class, -#route.segments, table.concat(shape), route.method == "ANY" and 1 or 0,
          route.type == "HttpApi" and 0 or 1, route.order}
end

local function better(a, b)
  for i = 1, #a do
    if a[i] ~= b[i] then return a[i] < b[i] end
  end
  return false
end

--- Whether raw_path is one of route's paths (whatever the method).
function M.path_matches(route, raw_path)
  return match_segments(route, (request_segments(raw_path or "/"))) ~= nil
end

--- The route for a request and its path parameters (decoded), or nil when none matches.
function Router:match(method, raw_path)
  method = tostring(method or "GET"):upper()
  local segments = request_segments(raw_path or "/")
  local best, best_rank, best_params
  for _, route in ipairs(self.routes) do
    if route.method == "ANY" or route.method == method then
      local params = match_segments(route, segments)
      if params then
        local r = rank(route)
        if not best or better(r, best_rank) then best, best_rank, best_params = route, r, params end
      end
    end
  end
  if not best then return nil end
  return best, best_params
end

-- Requests -> events --------------------------------------------------------------------------

-- The request's headers in order as {name, value} pairs: req.header_list when the server gives
-- it (names as the client wrote them, repeats separate), else req.headers (lower-case names,
-- repeats already joined with ',').
local function header_pairs(req)
  if type(req.header_list) == "table" then return req.header_list end
  local names, list = {}, {}
  for name in pairs(req.headers or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do list[#list + 1] = {name, req.headers[name]} end
  return list
end

local function header_value(pairs_list, wanted)
  local found
  for _, pair in ipairs(pairs_list) do
    if pair[1]:lower() == wanted then found = found and found .. "," .. pair[2] or pair[2] end
  end
  return found
end

-- The headers API Gateway adds on its way to the integration: X-Forwarded-For (the client's
-- address after any the request carried), -Proto, -Port, and an X-Amzn-Trace-Id. Locally the
-- protocol is plain http, and the port the one the client connected to.
local function with_gateway_headers(list, req, now_ms)
  local out, forwarded = {}, nil
  for _, pair in ipairs(list) do
    local lower = pair[1]:lower()
    if lower == "x-forwarded-for" then
      forwarded = forwarded and forwarded .. ", " .. pair[2] or pair[2]
    elseif lower ~= "x-forwarded-proto" and lower ~= "x-forwarded-port" then
      out[#out + 1] = pair
    end
  end
  local remote = req.remote or "127.0.0.1"
  local host = header_value(list, "host") or ""
  local port = host:match(":(%d+)$") or "80"
  if not header_value(list, "x-amzn-trace-id") then
    out[#out + 1] = {"X-Amzn-Trace-Id", string.format("Root=1-%08x-%s", now_ms // 1000, random_text(24, "0123456789abcdef"))}
  end
  out[#out + 1] = {"X-Forwarded-For", forwarded and forwarded .. ", " .. remote or remote}
  out[#out + 1] = {"X-Forwarded-Port", port}
  out[#out + 1] = {"X-Forwarded-Proto", "http"}
  return out
end

local parse_query = event_text.parse_query

-- HTTP APIs pass a body as text when its content type is text-like, and base64-encoded
-- (isBase64Encoded true) otherwise, forms included. A body that is not valid UTF-8 cannot
-- travel in JSON as text, so it is always encoded.
local TEXT_TYPES = {["application/json"] = true, ["application/javascript"] = true, ["application/xml"] = true,
                    ["application/ecmascript"] = true, ["application/graphql"] = true}

local function is_text_type(content_type)
  local media = content_type and content_type:lower():match("^%s*([^;%s]+)")
  if not media then return false end
  return media:sub(1, 5) == "text/" or TEXT_TYPES[media] or media:match("%+json$") ~= nil or
    media:match("%+xml$") ~= nil
end

local function body_fields(body, text)
  if body == nil or body == "" then return nil, false end
  if text and utf8.len(body) then return body, false end
  return base64.encode(body), true
end

-- What every event needs to know of the request, made once.
local function request_facts(req, options)
  options = options or {}
  local now_ms = options.now_ms or time.now_ms()
  local list = header_pairs(req)
  local host = header_value(list, "host") or "localhost"
  local hostname = host:match("^%[[^%]]*%]") or host:match("^[^:]*")
  return {
    now_ms = now_ms, list = with_gateway_headers(list, req, now_ms),
    method = tostring(req.method or "GET"):upper(),
    path = (req.path or "/"):match("^[^?#]*"), query = req.query or "",
    domain = options.domain or hostname, domain_prefix = options.domain_prefix or hostname:match("^[^.]*"),
    source_ip = req.remote or "127.0.0.1", user_agent = header_value(list, "user-agent") or "",
    protocol = req.protocol or "HTTP/1.1",
    content_type = header_value(list, "content-type"),
    body = req.body,
  }
end

-- HTTP API, payload format 2.0: header names in lower case with repeated headers joined by
-- commas; the Cookie header moved to cookies (split at ';'); repeated query parameters joined
-- by commas; parts that are absent (cookies, query parameters, path parameters, body, stage
-- variables) left out.
local function event_v2(route, req, params, options)
  local r = request_facts(req, options)
  local headers, cookies = {}, json.array{}
  for _, pair in ipairs(r.list) do
    local name, value = pair[1]:lower(), pair[2]
    if name == "cookie" then
      for cookie in value:gmatch("[^;]+") do
        cookie = cookie:match("^%s*(.-)%s*$")
        if cookie ~= "" then cookies[#cookies + 1] = cookie end
      end
    else
      headers[name] = headers[name] and headers[name] .. "," .. value or value
    end
  end
  local body, encoded = body_fields(r.body, is_text_type(r.content_type))
  local event = {
    version = "2.0", routeKey = route.route_key, rawPath = r.path, rawQueryString = r.query,
    cookies = #cookies > 0 and cookies or nil, headers = headers,
    requestContext = {
      accountId = route.account, apiId = route.api_id, domainName = r.domain, domainPrefix = r.domain_prefix,
      http = {method = r.method, path = r.path, protocol = r.protocol, sourceIp = r.source_ip,
              userAgent = r.user_agent},
      requestId = options and options.request_id or short_request_id(), routeKey = route.route_key,
      stage = route.stage, time = clf_time(r.now_ms), timeEpoch = r.now_ms,
      authorizer = options and options.authorizer, -- what the route's authorizer passed on
    },
    body = body, isBase64Encoded = encoded,
  }
  if r.query ~= "" then
    local names, values = parse_query(r.query)
    event.queryStringParameters = {}
    for _, name in ipairs(names) do event.queryStringParameters[name] = table.concat(values[name], ",") end
  end
  if params and next(params) then event.pathParameters = params end
  return event
end

-- Payload format 1.0 (every REST API proxy integration, and HTTP API routes that ask for it):
-- headers with the last value of a repeated header, every value in multiValueHeaders (REST
-- keeps the client's spelling of names, HTTP APIs lower-case them); queryStringParameters the
-- last value, multiValueQueryStringParameters all; absent parts are null, not left out.
local function event_v1(route, req, params, options)
  local r = request_facts(req, options)
  local rest = route.type == "Api"
  local headers, multi = {}, {}
  for _, pair in ipairs(r.list) do
    local name = rest and pair[1] or pair[1]:lower()
    headers[name] = pair[2]
    multi[name] = multi[name] or json.array{}
    table.insert(multi[name], pair[2])
  end
  local single_q, multi_q = null, null
  if r.query ~= "" then
    local names, values = parse_query(r.query)
    single_q, multi_q = {}, {}
    for _, name in ipairs(names) do
      single_q[name] = values[name][#values[name]]
      multi_q[name] = values[name]
    end
  end
  -- REST APIs without binary media types pass bodies as text; one that is not UTF-8 is
  -- encoded here (as a REST API with binaryMediaTypes */* would), since JSON cannot carry it.
  local text = rest or is_text_type(r.content_type)
  local body, encoded = body_fields(r.body, text)
  local request_id = options and options.request_id or uuid.v4()
  local context = {
    accountId = route.account, apiId = route.api_id, domainName = r.domain, domainPrefix = r.domain_prefix,
    extendedRequestId = short_request_id(), httpMethod = r.method,
    identity = {
      accessKey = null, accountId = null, caller = null, cognitoAuthenticationProvider = null,
      cognitoAuthenticationType = null, cognitoIdentityId = null, cognitoIdentityPoolId = null,
      principalOrgId = null, sourceIp = r.source_ip, user = null, userAgent = r.user_agent, userArn = null,
    },
    -- a REST API's requestContext.path begins with the stage; an HTTP API's $default stage adds nothing
    path = rest and "/" .. route.stage .. r.path or r.path,
    protocol = r.protocol, requestId = request_id,
    requestTime = clf_time(r.now_ms), requestTimeEpoch = r.now_ms,
    resourceId = rest and route.resource_id or route.route_key, resourcePath = route.resource,
    stage = route.stage, authorizer = options and options.authorizer,
  }
  return {
    version = not rest and "1.0" or nil,
    resource = route.resource, path = r.path, httpMethod = r.method,
    headers = headers, multiValueHeaders = multi,
    queryStringParameters = single_q, multiValueQueryStringParameters = multi_q,
    pathParameters = params and next(params) and params or null, stageVariables = null,
    requestContext = context,
    body = body or null, isBase64Encoded = encoded,
  }
end

--- The event for req (the httpd request table) on route, with the path parameters match
--- gave. options (for tests): now_ms, request_id, domain, domain_prefix.
function M.event(route, req, path_params, options)
  if route.payload_version == "1.0" then return event_v1(route, req, path_params, options) end
  return event_v2(route, req, path_params, options)
end

-- JSON holds UTF-8 only, and a request may carry other bytes (in its raw path, a %FF in a
-- parameter, a header): each byte that is not UTF-8 becomes U+FFFD, so every request gets an event.
local function valid_text(s)
  if utf8.len(s) then return s end
  local parts, i = {}, 1
  while i <= #s do
    local valid, bad = utf8.len(s, i)
    if valid then
      parts[#parts + 1] = s:sub(i)
      break
    end
    parts[#parts + 1] = s:sub(i, bad - 1) .. "\u{FFFD}"
    i = bad + 1
  end
  return table.concat(parts)
end

local function valid_strings(value)
  if type(value) == "string" then return valid_text(value) end
  if type(value) ~= "table" or value == null then return value end
  local copy = {}
  for k, v in pairs(value) do copy[valid_strings(k)] = valid_strings(v) end
  return setmetatable(copy, getmetatable(value))
end

--- The event's JSON text, as the function receives it.
function M.event_json(route, req, path_params, options)
  local event = M.event(route, req, path_params, options)
  local ok, text = pcall(json.encode, event)
  if ok then return text end
  return json.encode(valid_strings(event))
end

-- Results -> responses ------------------------------------------------------------------------

local JSON_TYPE = "application/json"

-- What API Gateway answers when it cannot use the function's answer, or the function failed:
-- an HTTP API 500 {"message":"Internal Server Error"}, a REST API 502 {"message": "Internal
-- server error"} (with x-amzn-ErrorType, as REST APIs send it).
local function gateway_error(route)
  if route.type == "Api" then
    return 502, {["content-type"] = JSON_TYPE, ["x-amzn-ErrorType"] = "InternalServerErrorException"},
      '{"message": "Internal server error"}'
  end
  return 500, {["content-type"] = JSON_TYPE}, '{"message":"Internal Server Error"}'
end

--- Lambda throttled the function (429): API Gateway answers 500 (an HTTP API {"message":
--- "Internal Server Error"}, a REST API {"message": "Internal server error"}).
function M.throttled(route)
  if route.type == "Api" then
    return 500, {["content-type"] = JSON_TYPE, ["x-amzn-ErrorType"] = "InternalServerErrorException"},
      '{"message": "Internal server error"}'
  end
  return gateway_error(route)
end

--- No route matched: an HTTP API answers 404 {"message":"Not Found"}; a REST API (when the
--- template has only Api events) 403 {"message":"Missing Authentication Token"}.
function M.not_found(router)
  local rest_only = #router.routes > 0
  for _, route in ipairs(router.routes) do
    if route.type ~= "Api" then rest_only = false end
  end
  if rest_only then
    return 403, {["content-type"] = JSON_TYPE, ["x-amzn-ErrorType"] = "MissingAuthenticationTokenException"},
      '{"message":"Missing Authentication Token"}'
  end
  return 404, {["content-type"] = JSON_TYPE}, '{"message":"Not Found"}'
end

local function is_object(value)
  return type(value) == "table" and value ~= null and not json.is_array(value)
end

local function is_list(value)
  if type(value) ~= "table" or value == null then return false end
  if json.is_array(value) then return true end
  local n = 0
  for _ in pairs(value) do n = n + 1 end
  return n == #value
end

local function absent(value) return value == nil or value == null end

local function scalar_text(value)
  local kind = type(value)
  if kind == "string" then return value end
  if kind == "number" then
    return math.type(value) == "integer" and tostring(value) or
      (value == math.floor(value) and string.format("%d", value) or tostring(value))
  end
  if kind == "boolean" then return tostring(value) end
  return nil
end

-- The header set of a response: lower-case name -> {name = as first written, values = {...}}.
local function add_header(set, order, name, values, replace)
  if type(name) ~= "string" or name == "" or name:find("[^%w!#$%%&'*+.^_`|~-]") then
    return string.format("the header name %s is not a token", tostring(name))
  end
  local texts = {}
  for _, value in ipairs(values) do
    local text = scalar_text(value)
    if not text then return string.format("the header %s has a value that is not a string, number or boolean", name) end
    if text:find("[\r\n%z]") then return string.format("the header %s has a line break in its value", name) end
    texts[#texts + 1] = text
  end
  local key = name:lower()
  local entry = set[key]
  if not entry then
    entry = {name = name, values = {}}
    set[key] = entry
    order[#order + 1] = key
  end
  if replace then entry.values = {} end
  for _, text in ipairs(texts) do entry.values[#entry.values + 1] = text end
end

-- Reads a proxy answer {statusCode, headers, multiValueHeaders, cookies (2.0), body,
-- isBase64Encoded}; returns status, headers, body or nil and what is wrong with it.
local function custom_response(answer, with_cookies)
  local status = answer.statusCode
  if type(status) ~= "number" or status ~= math.floor(status) or status < 100 or status > 599 then
    return nil, "statusCode is not an HTTP status number"
  end
  local set, order = {}, {}
  if not absent(answer.headers) then
    if not is_object(answer.headers) then return nil, "headers is not an object" end
    local names = {}
    for name in pairs(answer.headers) do names[#names + 1] = name end
    table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
    for _, name in ipairs(names) do
      local why = add_header(set, order, name, {answer.headers[name]})
      if why then return nil, why end
    end
  end
  -- REST: "If the same key-value pair is specified in both headers and multiValueHeaders,
  -- only the values from multiValueHeaders will appear": a name in both takes the list.
  if not absent(answer.multiValueHeaders) then
    if not is_object(answer.multiValueHeaders) then return nil, "multiValueHeaders is not an object" end
    local names = {}
    for name in pairs(answer.multiValueHeaders) do names[#names + 1] = name end
    table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
    for _, name in ipairs(names) do
      local values = answer.multiValueHeaders[name]
      if not is_list(values) then return nil, string.format("multiValueHeaders.%s is not a list", tostring(name)) end
      local why = add_header(set, order, name, values, true)
      if why then return nil, why end
    end
  end
  -- HTTP API 2.0: each cookie becomes a Set-Cookie header.
  if with_cookies and not absent(answer.cookies) then
    if not is_list(answer.cookies) then return nil, "cookies is not a list" end
    for _, cookie in ipairs(answer.cookies) do
      if type(cookie) ~= "string" then return nil, "cookies holds something that is not a string" end
    end
    local why = add_header(set, order, "set-cookie", answer.cookies)
    if why then return nil, why end
  end
  local body = answer.body
  if absent(body) then
    body = ""
  elseif type(body) ~= "string" then
    return nil, "body is not a string"
  end
  local encoded = answer.isBase64Encoded
  if not absent(encoded) and type(encoded) ~= "boolean" then return nil, "isBase64Encoded is not a boolean" end
  if encoded then
    local bytes, why = base64.decode((body:gsub("%s", "")))
    if not bytes then return nil, "isBase64Encoded is true but the body is not base64: " .. why end
    body = bytes
  end
  local headers = {}
  for _, key in ipairs(order) do
    local entry = set[key]
    headers[entry.name] = #entry.values == 1 and entry.values[1] or entry.values
  end
  return math.tointeger(status), headers, body
end

-- The function's payload: the JSON text it answered (what the Runtime API received), or a
-- value already decoded from it. Returns the value and the text, or nil when it is not JSON.
local function payload_of(result)
  if type(result) == "string" then
    local ok, value = pcall(json.decode, result)
    if not ok then return nil end
    return value, result
  end
  if result == nil then return null, "null" end
  local ok, text = pcall(json.encode, result)
  if not ok then return nil end
  return result, text
end

--- The HTTP response for the function's answer: ok false means the function failed (its error
--- is not shown to the client, as API Gateway does not show it). Returns status, headers,
--- body, and as a fourth value, when the answer could not be used, the reason (for the log).
function M.response(route, ok, result)
  if not ok then
    local status, headers, body = gateway_error(route)
    return status, headers, body, "the function failed"
  end
  local value, text = payload_of(result)
  if text == nil then
    local status, headers, body = gateway_error(route)
    return status, headers, body, "the function's answer is not JSON"
  end
  local status, headers, body
  if route.payload_version == "2.0" then
    -- HTTP API 2.0: an answer without statusCode (any JSON: an object, a list, a number, a
    -- string) is taken as 200, content-type application/json, the body being the answer's
    -- JSON text; a string answer is the body as it is.
    if is_object(value) and value.statusCode ~= nil then
      status, headers, body = custom_response(value, true)
    elseif type(value) == "string" then
      return 200, {["content-type"] = JSON_TYPE}, value
    else
      return 200, {["content-type"] = JSON_TYPE}, text
    end
  else
    -- 1.0: the answer must be an object with a statusCode; anything else is malformed.
    if not is_object(value) then
      status, headers = nil, "the answer is not an object with a statusCode"
    else
      status, headers, body = custom_response(value, false)
    end
  end
  if not status then
    local s, h, b = gateway_error(route)
    return s, h, b, "malformed Lambda proxy response: " .. tostring(headers)
  end
  return status, headers, body
end

return M
