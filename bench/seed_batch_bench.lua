-- moonrun's side of bench/seed_batch.sh, against the SQS endpoint in AWS_ENDPOINT_URL_SQS (moto):
-- the wall time of the seed's second example's loop (ten sqs.send_message calls, each message
-- built as handlers/send_messages.lua builds it) and of the same ten messages sent with
-- queue:send_messages (one SendMessageBatch), each the median of RUNS runs, taken in turn.
--   build/moonrun run bench/seed_batch_bench.lua [RUNS]
-- After every run the queue must hold exactly the ten messages sent (ApproximateNumberOfMessages)
-- and is then purged, so a run that lost messages fails instead of reporting a time.
-- Prints: runs=R loop_ms=... batch_ms=... ratio=... (medians), then each run's times.
local json = require "moonrun.json"
local sqs = require "moonrun.sqs"
local time = require "moonrun.time"
local uuid = require "moonrun.uuid"

local runs = tonumber(arg[1]) or 20
local MESSAGES = 10

local url = sqs.create_queue{QueueName = "test-queue"}.QueueUrl
local queue = sqs.queue(url)
sqs.purge_queue{QueueUrl = url}

-- One message as the seed's handler builds it.
local function message(i)
  return json.encode{body = "Hello from Lambda! - " .. i,
                     attributes = {messageId = uuid.v4(), timestamp = time.now_ms()}}
end

-- Ten send_message calls, as the seed's loop makes them (without its print).
local function loop()
  for i = 0, MESSAGES - 1 do
    local response = sqs.send_message{QueueUrl = url, MessageBody = message(i), DelaySeconds = 0}
    if type(response.MessageId) ~= "string" then error("send_message: no MessageId", 0) end
  end
end

-- The same ten messages, one SendMessageBatch.
local function batch()
  local list = {}
  for i = 0, MESSAGES - 1 do list[#list + 1] = {MessageBody = message(i), DelaySeconds = 0} end
  local result = queue:send_messages(list)
  if #result.Successful ~= MESSAGES or #result.Failed ~= 0 then
    error(string.format("send_messages: %d successful, %d failed", #result.Successful,
      #result.Failed), 0)
  end
end

local function check_and_purge(name, run)
  local count = tonumber(sqs.get_queue_attributes{QueueUrl = url,
    AttributeNames = {"ApproximateNumberOfMessages"}}.Attributes.ApproximateNumberOfMessages)
  if count ~= MESSAGES then
    error(string.format("%s run %d: the queue holds %s messages, expected %d", name, run,
      tostring(count), MESSAGES), 0)
  end
  sqs.purge_queue{QueueUrl = url}
end

local function timed(fn)
  local start = time.monotonic()
  fn()
  return (time.monotonic() - start) * 1000
end

local function median(list)
  local sorted = {table.unpack(list)}
  table.sort(sorted)
  local n = #sorted
  return n % 2 == 1 and sorted[(n + 1) // 2] or (sorted[n // 2] + sorted[n // 2 + 1]) / 2
end

-- One untimed run of each first: the client made, the connection open, the key cached.
loop()
check_and_purge("warm-up loop", 0)
batch()
check_and_purge("warm-up batch", 0)

local loop_ms, batch_ms = {}, {}
for run = 1, runs do
  loop_ms[run] = timed(loop)
  check_and_purge("loop", run)
  batch_ms[run] = timed(batch)
  check_and_purge("batch", run)
end

local function list(values)
  local parts = {}
  for i, v in ipairs(values) do parts[i] = string.format("%.2f", v) end
  return table.concat(parts, ",")
end

local loop_median, batch_median = median(loop_ms), median(batch_ms)
print(string.format("runs=%d loop_ms=%.2f batch_ms=%.2f ratio=%.2f", runs, loop_median,
  batch_median, loop_median / batch_median))
print("loop_runs_ms=" .. list(loop_ms))
print("batch_runs_ms=" .. list(batch_ms))
