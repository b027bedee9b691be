-- The embedded SQS endpoint's own cost: SendMessage, ReceiveMessage (one message each) and
-- DeleteMessage calls per second through api:handle in this process, with no HTTP in between
-- (bench/dev_sqs.sh measures it over HTTP against moto). With a state directory the journal is
-- written and flushed on every call, as moonrun dev does.
--   moonrun run bench/dev_sqs_api_bench.lua [N] [STATE_DIR]
-- Prints: send=R receive=R delete=R (operations per second)
local json = require "moonrun.json"
local sqs_api = require "moonrun.dev.sqs.api"
local sqs_store = require "moonrun.dev.sqs.store"
local time = require "moonrun.time"

local count, state_dir = tonumber(arg[1]) or 20000, arg[2]
local store = sqs_store.new{state_dir = state_dir}
local api = sqs_api.new{store = store}

local function call(operation, params)
  local status, _, body = api:handle{method = "POST", path = "/", query = "", body = json.encode(params),
    headers = {["content-type"] = "application/x-amz-json-1.0", ["x-amz-target"] = "AmazonSQS." .. operation}}
  if status ~= 200 then error(operation .. ": " .. body, 0) end
  return json.decode(body)
end

local url = call("CreateQueue", {QueueName = "bench-" .. time.now_ms()}).QueueUrl
local message = '{"body":"Hello from Lambda! - 7","attributes":{"messageId":"0190d3f4-5c1e-7a6b-9c2d-3e4f5a6b7c8d"}}'

local function timed(fn)
  local start = time.monotonic()
  fn()
  return count / (time.monotonic() - start)
end

local handles = {}
local send = timed(function()
  for _ = 1, count do call("SendMessage", {QueueUrl = url, MessageBody = message}) end
end)
local receive = timed(function()
  for i = 1, count do
    local got = call("ReceiveMessage", {QueueUrl = url, MaxNumberOfMessages = 1}).Messages
    if not got then error("receive " .. i .. " found no message", 0) end
    handles[i] = got[1].ReceiptHandle
  end
end)
local delete = timed(function()
  for i = 1, count do call("DeleteMessage", {QueueUrl = url, ReceiptHandle = handles[i]}) end
end)
if store:queue(url:match("[^/]+$")).count ~= 0 then error("messages are left after deleting all", 0) end
call("DeleteQueue", {QueueUrl = url})
store:close()
print(string.format("send=%.0f receive=%.0f delete=%.0f", send, receive, delete))
