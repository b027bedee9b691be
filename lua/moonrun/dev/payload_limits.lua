-- The request payload limits AWS enforces in front of a function, for moonrun dev's front
-- (httpd.listen's body_limit): Lambda's Invoke takes 6 MB synchronously and 1 MB with
-- InvocationType Event, and answers a larger payload with 413 RequestTooLargeException, which
-- boto3 raises as such; API Gateway's routes take 10 MB (the front's max_body).
local json = require "moonrun.json"

local M = {}

M.SYNC_INVOKE_BYTES = 6 * 1024 * 1024
M.ASYNC_INVOKE_BYTES = 1024 * 1024

local INVOKE_PATH = "^/2015%-03%-31/functions/[^/]+/invocations$"

local function too_large(limit, what)
  return 413, {["content-type"] = "application/json", ["x-amzn-errortype"] = "RequestTooLargeException",
    ["x-amzn-requestid"] = require("moonrun.uuid").v4()},
    json.encode{Type = "User", message = string.format(
      "Request must be smaller than %d bytes for the Invoke operation (%s)", limit, what)}
end

--- body_limit for the front: the invoke endpoint's limits by invocation type; nil elsewhere
-- (the server's max_body then applies).
function M.front(req)
  if not req.path:match(INVOKE_PATH) then return nil end
  if req.headers["x-amz-invocation-type"] == "Event" then
    return M.ASYNC_INVOKE_BYTES, too_large(M.ASYNC_INVOKE_BYTES, "an Event invocation's payload")
  end
  return M.SYNC_INVOKE_BYTES, too_large(M.SYNC_INVOKE_BYTES, "a synchronous invocation's payload")
end

return M
