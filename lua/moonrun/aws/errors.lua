-- AWS errors as Lua error values: tables with code, message, status, request_id, retryable
-- (and query_code, operation, service, attempts), so that pcall callers can branch on
-- err.code, and an unhandled one reaches Lambda with errorType = the code.
local M = {}

local error_mt = {}
error_mt.__index = error_mt
M.metatable = error_mt

-- Reads like the AWS CLI's message, so it can be searched for in the same places.
function error_mt.__tostring(err)
  local retries = ""
  if err.attempts and err.attempts > 1 then
    retries = string.format(" (reached max retries: %d)", err.attempts - 1)
  end
  if err.operation then
    return string.format("An error occurred (%s) when calling the %s operation%s: %s", err.code,
      err.operation, retries, err.message)
  end
  return string.format("%s: %s", err.code, err.message)
end

function M.new(fields)
  fields.retryable = fields.retryable == true
  return setmetatable(fields, error_mt)
end

function M.is_error(value)
  return getmetatable(value) == error_mt
end

-- A check made before anything is sent (a missing parameter, an oversized batch): the same
-- kind of value, so callers handle both alike; it has no status because no request was made.
function M.client_error(code, operation, message)
  return M.new{code = code, operation = operation, message = message, retryable = false}
end

function M.raise(fields)
  error(M.new(fields), 2)
end

-- The transport failures of moonrun.http, named as botocore names them.
local TRANSPORT_CODES = {
  connect = "EndpointConnectionError",
  dns = "EndpointConnectionError",
  timeout = "ReadTimeoutError",
  tls = "SSLError",
  send = "ConnectionError",
  receive = "ConnectionError",
  other = "ConnectionError",
}

function M.from_transport(http_error, operation)
  return M.new{
    code = TRANSPORT_CODES[http_error.kind] or "ConnectionError",
    message = http_error.message,
    kind = http_error.kind,
    operation = operation,
    -- the request may have reached the service before the failure: its effect is unknown
    sent = http_error.sent == true,
    -- a certificate that cannot be verified will not verify on the next attempt either
    retryable = http_error.kind ~= "tls",
  }
end

return M
