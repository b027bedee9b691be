-- moonrun's side of bench/sqs_client.sh: sqs.send_message calls per second on one client (one
-- keep-alive connection) against bench/canned_sqs, which AWS_ENDPOINT_URL_SQS points at.
--   build/moonrun run bench/sqs_client_bench.lua QUEUE_URL BODY MESSAGE_ID [N] [WARMUP]
-- Every answer must carry MESSAGE_ID (sqs.send_message itself checks MD5OfMessageBody against
-- the body), so a run that got anything else fails instead of reporting a rate.
-- Prints: calls=N warmup=W seconds=S rate=R
local sqs = require "moonrun.sqs"
local time = require "moonrun.time"

local queue_url, body, message_id = arg[1], arg[2], arg[3]
local count, warmup = tonumber(arg[4]) or 20000, tonumber(arg[5]) or 500
if not (queue_url and body and message_id) then
  io.stderr:write("usage: moonrun run sqs_client_bench.lua QUEUE_URL BODY MESSAGE_ID [N] [WARMUP]\n")
  os.exit(2)
end

local function send(n)
  for i = 1, n do
    local result = sqs.send_message{QueueUrl = queue_url, MessageBody = body}
    if result.MessageId ~= message_id then
      error(string.format("call %d: MessageId %s, expected %s", i, tostring(result.MessageId),
        message_id), 0)
    end
  end
end

send(warmup) -- the client made, libcurl loaded, the connection open, the signing key cached
local start = time.monotonic()
send(count)
local seconds = time.monotonic() - start
print(string.format("calls=%d warmup=%d seconds=%.3f rate=%.0f", count, warmup, seconds,
  count / seconds))
