-- The embedded SQS's journal at size (issue: compaction and restart must not stall the
-- service, and a message must cost memory near its own size): N messages of SIZE bytes sent
-- through a store with a journal, then
--   sends/s            each send written and flushed, as a request is answered
--   pause, before      the synchronous compaction: the time the event loop would stop
--   pause, now         the longest slice of the compaction that runs between requests, and
--                      the whole compaction's time
--   restart            a new moonrun process replays the compacted journal: its time (wall and
--                      CPU, since the machine may be shared), and its resident size and live Lua
--                      heap (after a full collection) per message, against the message's size
--   memory             the same per message in this process, after the sends
-- The collector runs as in moonrun dev (incremental, Lua's defaults), not as in `moonrun run`.
-- usage: moonrun run bench/dev_journal_bench.lua [N] [SIZE] [STATE_DIR]
--        moonrun run bench/dev_journal_bench.lua --replay STATE_DIR   (the restart's half)
local sqs_store = require "moonrun.dev.sqs.store"
local time = require "moonrun.time"

collectgarbage("incremental")

local function rss_kb()
  local f = io.open("/proc/self/statm")
  local pages = f and tonumber(f:read("*a"):match("^%d+%s+(%d+)"))
  if f then f:close() end
  return (pages or 0) * 4
end

if arg[1] == "--replay" then
  collectgarbage("collect")
  local heap0, rss0 = collectgarbage("count"), rss_kb()
  local started, cpu = time.monotonic(), os.clock()
  local store = sqs_store.new{state_dir = arg[2], warn = print}
  local wall_s, cpu_s = time.monotonic() - started, os.clock() - cpu
  local rss = rss_kb() - rss0
  collectgarbage("collect")
  local heap_kb = collectgarbage("count") - heap0
  print(string.format("%d %.6f %.6f %.0f %.0f", store:queue("bench").count, wall_s, cpu_s, heap_kb, rss))
  store:close()
  return
end

local n = tonumber(arg[1]) or 50000
local size = tonumber(arg[2]) or 1024
local dir = arg[3] or os.tmpname() .. ".d"

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
  store:send(q, {body = string.format("%08d", i) .. filler, sender = store.account})
  store:flush()
end
local send_s = time.monotonic() - started
task = nil -- a compaction the sends started is not part of what is measured
store:abandon_compaction()
local rss = rss_kb() - rss0
collectgarbage("collect")
local heap_kb = collectgarbage("count") - heap0

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

-- the lowest index of arg holds moonrun's own path
local lowest = 0
while arg[lowest - 1] do lowest = lowest - 1 end
local replay = assert(io.popen(string.format("'%s' run '%s' --replay '%s'", arg[lowest], arg[0], dir)))
local output = replay:read("a")
replay:close()
local count, restart_s, restart_cpu_s, restart_heap_kb, restart_rss_kb =
  output:match("^(%d+) (%S+) (%S+) (%S+) (%S+)")
assert(tonumber(count) == n, "messages lost at restart: " .. output)
local journal_mb = 0
local journal = io.open(dir .. "/" .. sqs_store.JOURNAL_NAME, "rb")
if journal then journal_mb = journal:seek("end") / 1e6; journal:close() end
os.execute("rm -rf '" .. dir .. "'")

local function per_message(kb) return kb * 1024 / n, kb * 1024 / n / size end
print(string.format("N=%d messages of %d bytes (journal %.1f MB)", n, size, journal_mb))
print(string.format("sends                 %10.0f /s", n / send_s))
print(string.format("pause, synchronous    %10.1f ms (the whole compaction, as before)", sync_s * 1000))
print(string.format("pause, in slices      %10.1f ms (longest slice; whole compaction %.1f ms)", longest * 1000,
  background_s * 1000))
print(string.format("pause ratio           %10.3f (slices / synchronous)", longest / sync_s))
print(string.format("restart               %10.1f ms (a new process's replay; CPU %.1f ms; %.0f messages/s)",
  restart_s * 1000, restart_cpu_s * 1000, n / restart_s))
print(string.format("after restart, live heap %7.0f bytes per message (%.2fx the message)", per_message(restart_heap_kb)))
print(string.format("after restart, RSS    %10.0f bytes per message (%.2fx the message)", per_message(restart_rss_kb)))
print(string.format("after sends, live heap %9.0f bytes per message (%.2fx the message)", per_message(heap_kb)))
print(string.format("after sends, RSS      %10.0f bytes per message (%.2fx the message)", per_message(rss)))
