-- The packaged cold-start benchmark's SQS handler: like a handler that sets up its SQS client
-- and makes a first call at init, it loads libcurl (and with it OpenSSL) before the first
-- GET /next. The call goes to a closed port on loopback, so the network costs nothing and what
-- is measured is loading and starting libcurl.
local http = require "moonrun.http"
local sqs = require "moonrun.sqs"

local response = http.request{method = "GET", url = "http://127.0.0.1:9/", connect_timeout = 1}
assert(response == nil, "port 9 on loopback answered: pick a closed port for the benchmark")

local M = {}

function M.handler(event)
    return {queues = sqs ~= nil, event = event}
end

return M
