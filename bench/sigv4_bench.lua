-- SigV4 signatures per second on one core: moonrun.sigv4 against botocore's SigV4Auth, for a
-- typical SQS SendMessage (header mode, a ~300-byte JSON body, a session token as on Lambda).
--   build/moonrun run bench/sigv4_bench.lua [SECONDS]
-- botocore runs in bench/sigv4_bench_botocore.py, started from here, for the same time.
local sigv4 = require "moonrun.sigv4"
local time = require "moonrun.time"

local seconds = tonumber(arg[1]) or 2
local here = arg[0]:match("^(.*)/[^/]*$") or "."

local url = "https://sqs.us-east-1.amazonaws.com/"
local body = '{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/test-queue",'
  .. '"MessageBody":"{\\"body\\":\\"Hello from Lambda! - 7\\",\\"attributes\\":{\\"messageId\\":'
  .. '\\"0190d3f4-5c1e-7a6b-9c2d-3e4f5a6b7c8d\\",\\"timestamp\\":1718200000123}}",'
  .. '"DelaySeconds":0,"MessageAttributes":{"source":{"DataType":"String","StringValue":"bench"}}}'

local function sign_once()
  return sigv4.sign{
    method = "POST",
    url = url,
    headers = {["Content-Type"] = "application/x-amz-json-1.0",
               ["X-Amz-Target"] = "AmazonSQS.SendMessage"},
    body = body,
    access_key_id = "ASIAIOSFODNN7EXAMPLE",
    secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    session_token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN/////////wEaCXVzLWVhc3QtMSJHMEUCIQD",
    region = "us-east-1",
    service = "sqs",
  }
end

local function measure(fn)
  for _ = 1, 1000 do fn() end -- warm: buffers grown, libcrypto loaded, key derived
  local count, start = 0, time.monotonic()
  local deadline = start + seconds
  repeat
    for _ = 1, 1000 do fn() end
    count = count + 1000
  until time.monotonic() >= deadline
  return count / (time.monotonic() - start)
end

local moonrun_rate = measure(sign_once)
print(string.format("body_bytes=%d", #body))
print(string.format("moonrun.sigv4    %10.0f signatures/s", moonrun_rate))

local command = string.format("python3 %q/sigv4_bench_botocore.py %g %q", here, seconds, body)
local pipe = io.popen(command, "r")
local output = pipe and pipe:read("a") or ""
if pipe then pipe:close() end
local botocore_rate = tonumber(output:match("rate=([%d.]+)"))
if not botocore_rate then
  print("botocore: could not be measured: " .. output)
  os.exit(1)
end
print(string.format("botocore SigV4Auth %8.0f signatures/s", botocore_rate))
print(string.format("ratio            %10.1fx", moonrun_rate / botocore_rate))
