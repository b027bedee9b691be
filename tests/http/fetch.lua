-- A handler for the runtime-loop test: each invocation fetches event.url with moonrun.http,
-- so the test can count how many TCP connections a series of warm invocations opens.
local http = require "moonrun.http"

local M = {}

function M.handler(event)
  local res, err = http.request{url = event.url, method = "POST", body = event.body}
  if not res then error(err.message) end
  return {status = res.status, body = res.body}
end

return M
