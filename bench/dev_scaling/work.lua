-- bench/dev_scaling.sh's HTTP handler: 10 ms of waiting, as a call to another service would.
local time = require "moonrun.time"
local M = {}
function M.handler()
  time.sleep(0.01)
  return {statusCode = 200, body = "done"}
end
return M
