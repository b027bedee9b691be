-- One handler for the concurrency suite: each event's `kind` picks what a worker does. Module
-- state (worker, count) is per worker: each worker loads this file into its own Lua state.
local time = require "moonrun.time"
local uuid = require "moonrun.uuid"
local invocation = require "moonrun.invocation"

local worker = uuid.v4() -- tells workers apart in results
local count = 0

local M = {}

local kinds = {}

function kinds.count(event, context)
  if event.ms then
    print("sleeping in " .. context.aws_request_id)
    time.sleep(event.ms / 1000)
  end
end

function kinds.print(event)
  for i = 1, event.n do print("line", worker, i, string.rep("y", 40), "end") end
end

function kinds.error(event)
  error("worker failure " .. tostring(event.n))
end

function kinds.oom()
  local parts = {}
  for i = 1, 1e9 do parts[i] = string.rep("x", 1024) .. i end
end

-- Busy until stopped. It allocates as it goes, as real handlers do: under ThreadSanitizer a
-- signal reaches a thread only when it next calls into the C library, which a bare
-- `while true do end` never does (the single-worker suite covers that loop).
function kinds.spin(event, context)
  print("spinning in " .. context.aws_request_id)
  local spins = 0
  while true do spins = spins + #{spins} end
end

function kinds.trace(event, context, result)
  result.env = os.getenv("_X_AMZN_TRACE_ID") or false
  result.context = context.trace_id
  result.current = invocation.current().trace_id
  result.request_id = invocation.current().aws_request_id
end

function kinds.uuid7(event, context, result)
  local ids = {}
  for i = 1, event.n do ids[i] = uuid.v7() end
  result.ids = ids
end

function kinds.http(event, context, result)
  local http = require "moonrun.http"
  local response, failure = http.request{url = event.url}
  assert(response, failure and failure.message)
  result.status, result.body = response.status, response.body
end

function kinds.sign(event, context, result)
  local sigv4 = require "moonrun.sigv4"
  local digest = require "moonrun.digest"
  local signed
  for _ = 1, event.n do
    signed = sigv4.sign{method = "POST", url = "https://sqs.us-east-1.amazonaws.com/", body = event.body,
      region = "us-east-1", service = "sqs", time = 1700000000,
      access_key_id = "AKIDEXAMPLE", secret_access_key = "secret"}
  end
  result.authorization = signed.headers.Authorization
  result.sha256 = digest.sha256_hex(event.body)
end

-- Each worker's own: with SHUTDOWN_MARKER set, appends a line to that file.
function M.shutdown()
  local path = os.getenv("SHUTDOWN_MARKER")
  if not path then return end
  local f = assert(io.open(path, "a"))
  f:write("shutdown " .. worker .. "\n")
  f:close()
end

function M.handler(event, context)
  count = count + 1
  local result = {worker = worker, count = count, kind = event.kind}
  if event.ms and event.kind ~= "count" then time.sleep(event.ms / 1000) end
  kinds[event.kind](event, context, result)
  return result
end

return M
