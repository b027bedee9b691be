-- A function URL's CORS configuration (FunctionUrlConfig.Cors), applied as Lambda applies it in
-- front of the function: a preflight request (OPTIONS with Origin and
-- Access-Control-Request-Method) is answered without invoking the function, and every other
-- answer to a request with an Origin carries the configured headers, in place of any
-- Access-Control-* headers the function set. Its own module so that the HTTP API's CORS
-- (another part of moonrun dev) can take it over.
local M = {}

local function list(value)
  if type(value) ~= "table" then return {} end
  local out = {}
  for _, item in ipairs(value) do out[#out + 1] = tostring(item) end
  return out
end

--- The configuration as read from the template ({AllowOrigins = {...}, ...}) made ready to apply.
function M.new(config)
  return {origins = list(config.AllowOrigins), methods = list(config.AllowMethods),
          headers = list(config.AllowHeaders), expose = list(config.ExposeHeaders),
          max_age = tonumber(config.MaxAge), credentials = config.AllowCredentials == true}
end

-- The Access-Control-Allow-Origin value for origin: "*" when every origin is allowed, the origin
-- itself when it is listed, nil otherwise (the browser then refuses the answer).
local function allowed_origin(cors, origin)
  for _, allowed in ipairs(cors.origins) do
    if allowed == "*" then return "*" end
    if allowed:lower() == origin:lower() then return origin end
  end
end

--- The answer to req when it is a preflight request: status, headers, body; nil otherwise.
function M.preflight(cors, req)
  local headers = req.headers or {}
  if req.method ~= "OPTIONS" or not headers.origin or not headers["access-control-request-method"] then return end
  local out = {}
  local origin = allowed_origin(cors, headers.origin)
  if origin then
    out["Access-Control-Allow-Origin"] = origin
    if #cors.methods > 0 then out["Access-Control-Allow-Methods"] = table.concat(cors.methods, ",") end
    if #cors.headers > 0 then out["Access-Control-Allow-Headers"] = table.concat(cors.headers, ",") end
    if cors.max_age then out["Access-Control-Max-Age"] = tostring(math.tointeger(cors.max_age) or cors.max_age) end
    if cors.credentials then out["Access-Control-Allow-Credentials"] = "true" end
  end
  return 200, out, ""
end

--- headers (an answer's, name -> value or list) with the CORS headers req gets: the function's
--- own Access-Control-* headers are replaced.
function M.apply(cors, req, headers)
  local origin = req.headers and req.headers.origin
  if not origin then return headers end
  local out = {}
  for name, value in pairs(headers or {}) do
    if not name:lower():match("^access%-control%-") then out[name] = value end
  end
  local allowed = allowed_origin(cors, origin)
  if allowed then
    out["Access-Control-Allow-Origin"] = allowed
    if #cors.expose > 0 then out["Access-Control-Expose-Headers"] = table.concat(cors.expose, ",") end
    if cors.credentials then out["Access-Control-Allow-Credentials"] = "true" end
  end
  return out
end

return M
