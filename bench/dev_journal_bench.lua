-- The embedded SQS's journal at size (issue: compaction and restart must not stall the
-- service): N messages of SIZE bytes sent through a store with a journal, then
--   sends/s            each send written and flushed, as a request is answered
--   pause, before      the synchronous compaction: the time the event loop would stop
--   pause, now         the longest slice of the compaction that runs between requests, and
--                      the whole compaction's time
--   restart            a new store from that journal (replay)
--   memory             Lua heap and resident size per message, against the message's size
-- usage: moonrun run bench/dev_journal_bench.lua [N] [SIZE] [STATE_DIR]
local sqs_store = require "moonrun.dev.sqs_store"
local time = require "moonrun.time"

local n = tonumber(arg[1]) or 50000
local size = tonumber(arg[2]) or 1024
local dir = arg[3] or os.tmpname() .. ".d"

local function rss_kb()
  local f = io.open("/proc/self/statm")
  local pages = f and tonumber(f:read("*a"):match("^%d+%s+(%d+)"))
  if f then f:close() end
  return (pages or 0) * 4
end

os.execute("rm -rf '" .. dir .. "'")
collectgarbage("collect")
local heap0, rss0 = collectgarbage("count"), rss_kb()
local task
local store = sqs_store.new{state_dir = dir, warn = print,
  spawn = function(fn, ...) task = coroutine.create(fn); assert(coroutine.resume(task, ...)) end,
  pause = function() coroutine.yield() end}
local q = store:ensure_queue("bench", {})
local filler = string.rep("x", size - 8)
local started = time.monotonic()
for i = 1, n do
  store:send(q, {body = string.format("%08d", i) .. filler})
  store:flush()
end
local send_s = time.monotonic() - started
task = nil -- a compaction the sends started is not part of what is measured
store:abandon_compaction()
collectgarbage("collect")
local heap_kb, rss = collectgarbage("count") - heap0, rss_kb() - rss0

started = time.monotonic()
store:compact()
local sync_s = time.monotonic() - started

store:compact_soon()
local longest, total_started = 0, time.monotonic()
while task and coroutine.status(task) ~= "dead" do
  local slice = time.monotonic()
  assert(coroutine.resume(task))
  longest = math.max(longest, time.monotonic() - slice)
end
local background_s = time.monotonic() - total_started
store:close()

started = time.monotonic()
local again = sqs_store.new{state_dir = dir, warn = print}
local restart_s = time.monotonic() - started
assert(again:queue("bench").count == n, "messages lost")
again:close()
os.execute("rm -rf '" .. dir .. "'")

print(string.format("N=%d messages of %d bytes", n, size))
print(string.format("sends                 %10.0f /s", n / send_s))
print(string.format("pause, synchronous    %10.1f ms (the whole compaction, as before)", sync_s * 1000))
print(string.format("pause, in slices      %10.1f ms (longest slice; whole compaction %.1f ms)", longest * 1000,
  background_s * 1000))
print(string.format("pause ratio           %10.3f (slices / synchronous)", longest / sync_s))
print(string.format("restart               %10.1f ms (replay of the compacted journal)", restart_s * 1000))
print(string.format("Lua heap per message  %10.0f bytes (%.2fx the message)", heap_kb * 1024 / n, heap_kb * 1024 / n / size))
print(string.format("RSS per message       %10.0f bytes (%.2fx the message)", rss * 1024 / n, rss * 1024 / n / size))
