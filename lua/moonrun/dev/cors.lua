-- CORS as API Gateway applies an API's configuration (template/apis.lua reads it):
--
-- * an HTTP API with CorsConfiguration answers every preflight (OPTIONS with Origin and
--   Access-Control-Request-Method) itself with 204, whatever routes exist, never invoking a
--   function; to any other answer it adds Access-Control-Allow-Origin (and -Credentials,
--   -Expose-Headers) for an allowed origin, and drops the CORS headers the function sent
--   ("API Gateway ignores CORS headers returned from your backend integration");
-- * a REST API with Cors gets, as SAM deploys it, an OPTIONS method on each of its paths that
--   has none: a mock answering 200 with the configured headers. Its other answers are the
--   function's own (a Lambda proxy integration sends what the function returns).
local M = {}

local function contains(list, value)
  for _, v in ipairs(list) do if v == value then return true end end
  return false
end

--- Whether req is a CORS preflight.
function M.is_preflight(req)
  local h = req.headers or {}
  return tostring(req.method):upper() == "OPTIONS" and h.origin ~= nil and h["access-control-request-method"] ~= nil
end

-- The Access-Control-Allow-Origin an HTTP API sends for origin, or nil when it is not allowed.
local function allowed_origin(cors, origin)
  if not origin then return nil end
  if contains(cors.origins, "*") then return "*" end
  for _, o in ipairs(cors.origins) do
    if o:lower() == origin:lower() then return origin end
  end
  return nil
end

--- An HTTP API's answer to a preflight: 204, with the CORS headers when the origin is allowed.
function M.http_preflight(cors, req)
  local headers = {}
  local origin = allowed_origin(cors, req.headers.origin)
  if origin then
    headers["access-control-allow-origin"] = origin
    if #cors.methods > 0 then headers["access-control-allow-methods"] = table.concat(cors.methods, ",") end
    if #cors.headers > 0 then headers["access-control-allow-headers"] = table.concat(cors.headers, ",") end
    if cors.max_age then headers["access-control-max-age"] = string.format("%d", cors.max_age) end
    if cors.credentials then headers["access-control-allow-credentials"] = "true" end
  end
  return 204, headers, ""
end

--- An HTTP API's headers on an answer (headers: the table going out, changed in place): the
--- function's own CORS headers removed, the configured ones added for an allowed origin.
function M.http_apply(cors, req, headers)
  for name in pairs(headers) do
    if type(name) == "string" and name:lower():match("^access%-control%-") then headers[name] = nil end
  end
  local origin = allowed_origin(cors, (req.headers or {}).origin)
  if origin then
    headers["access-control-allow-origin"] = origin
    if cors.credentials then headers["access-control-allow-credentials"] = "true" end
    if #cors.expose > 0 then headers["access-control-expose-headers"] = table.concat(cors.expose, ",") end
  end
  return headers
end

local ALL_METHODS = "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"

--- The methods SAM lists for a REST path without AllowMethods: the path's own and OPTIONS,
--- sorted, or every method when one of them is ANY.
function M.rest_methods(methods)
  local set = {OPTIONS = true}
  for _, m in ipairs(methods) do
    if m == "ANY" then return ALL_METHODS end
    set[m] = true
  end
  local list = {}
  for m in pairs(set) do list[#list + 1] = m end
  table.sort(list)
  return table.concat(list, ",")
end

--- The mock OPTIONS method SAM adds to a REST path (methods: the path's methods).
function M.rest_preflight(cors, methods)
  local headers = {["Content-Type"] = "application/json", ["Access-Control-Allow-Origin"] = cors.origin}
  if cors.headers then headers["Access-Control-Allow-Headers"] = cors.headers end
  headers["Access-Control-Allow-Methods"] = cors.methods or M.rest_methods(methods)
  if cors.max_age then headers["Access-Control-Max-Age"] = string.format("%d", cors.max_age) end
  if cors.credentials then headers["Access-Control-Allow-Credentials"] = "true" end
  return 200, headers, "{}"
end

-- ---- the front's two hooks ----

--- The answer to req when CORS answers it before any route does (a preflight to an HTTP API
--- with CORS, an OPTIONS request to a REST path with Cors and no OPTIONS method of its own),
--- else nil. apis: the template's APIs by id (template/apis.lua).
function M.preflight(router, apis, req)
  local method = tostring(req.method):upper()
  if method ~= "OPTIONS" then return nil end
  local path = req.path or "/"
  if M.is_preflight(req) then
    -- the API is the one of the route the real request will take
    local route = router:match(req.headers["access-control-request-method"], path) or router:match("OPTIONS", path)
    local api = route and route.type == "HttpApi" and apis[route.api] or (not route and apis.ServerlessHttpApi)
    if api and api.cors then return M.http_preflight(api.cors, req) end
  end
  local methods, api, own = {}, nil, false
  for _, route in ipairs(router.routes) do
    if route.type == "Api" and not route.is_default and require("moonrun.dev.apigw").path_matches(route, path) then
      methods[#methods + 1] = route.method
      api = api or apis[route.api]
      if route.method == "OPTIONS" then own = true end
    end
  end
  if api and api.cors and not own then return M.rest_preflight(api.cors, methods) end
  return nil
end

--- An answer of route's API with its CORS headers (an HTTP API's; a REST API's answers are
--- the function's own).
function M.finish(apis, route, req, status, headers, body)
  local api = route and apis[route.api]
  if api and api.cors and api.type == "HttpApi" then headers = M.http_apply(api.cors, req, headers or {}) end
  return status, headers, body
end

return M
