-- The client of bench/dev_latency.sh: POSTs numbered pings to the dev stack's /ping route, one
-- at a time, and waits for each one's "pong N TIME" line in the log moonrun dev writes; the
-- latency is from just before the request to the consumer's invocation.
--   moonrun run bench/dev_latency_bench.lua FRONT_URL DEV_LOG [N]
-- Prints: n=N p50_ms=X p99_ms=Y max_ms=Z
local http = require "moonrun.http"
local time = require "moonrun.time"

local front, log_path, count = arg[1], arg[2], tonumber(arg[3]) or 200
local log = assert(io.open(log_path, "r"))
local pending = ""

-- Reads the log until "pong <id>" appears; returns its time.
local function wait_for_pong(id, give_up_at)
  while time.now() < give_up_at do
    local chunk = log:read("a")
    if chunk and #chunk > 0 then
      pending = pending .. chunk
      for line in pending:gmatch("[^\n]*\n") do
        local got, at = line:match("pong (%d+) ([%d.]+)")
        if got and tonumber(got) == id then
          pending = pending:sub(pending:find(line, 1, true) + #line)
          return tonumber(at)
        end
      end
    else
      time.sleep(0.0005)
    end
  end
  error("ping " .. id .. " never reached the consumer", 0)
end

local latencies = {}
for i = 1, count do
  local start = time.now()
  local res, err = http.request{method = "POST", url = front .. "/ping", body = tostring(i),
                                headers = {["Content-Type"] = "text/plain"}}
  if not res or res.status ~= 202 then
    error("ping " .. i .. ": " .. (res and (res.status .. " " .. res.body) or err.message), 0)
  end
  latencies[i] = (wait_for_pong(i, start + 30) - start) * 1000
end
table.sort(latencies)
local function pct(p) return latencies[math.max(1, math.ceil(p / 100 * #latencies))] end
print(string.format("n=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f", count, pct(50), pct(99),
  latencies[#latencies]))
