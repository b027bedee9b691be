-- The scheduler of `moonrun dev`: every request and every background job is a task (a
-- coroutine) that runs until it waits; one thread serves them all between event_loop.poll calls
-- (the wait on the servers, the children and the signals, src/lua_event_loop.c).
local event_loop = require "moonrun.event_loop"
local time = require "moonrun.time"

local M = {}

local ready = {}   -- {task, value} pairs to resume, in order
local waiting = {} -- key -> set of waits
local timers = {}  -- a binary heap of {at = monotonic seconds, wait = w}
local stopping = false

local function report(task, err)
  io.stderr:write("moonrun dev: internal error: ", debug.traceback(task, tostring(err)), "\n")
end

local function resume(task, ...)
  local ok, err = coroutine.resume(task, ...)
  if not ok then report(task, err) end
end

local function heap_push(entry)
  local i = #timers + 1
  timers[i] = entry
  while i > 1 do
    local parent = i // 2
    if timers[parent].at <= entry.at then break end
    timers[i], timers[parent] = timers[parent], timers[i]
    i = parent
  end
end

local function heap_pop()
  local top, last = timers[1], table.remove(timers)
  if top ~= last then
    local n, i = #timers, 1
    timers[1] = last
    while true do
      local smallest, left, right = i, 2 * i, 2 * i + 1
      if left <= n and timers[left].at < timers[smallest].at then smallest = left end
      if right <= n and timers[right].at < timers[smallest].at then smallest = right end
      if smallest == i then break end
      timers[i], timers[smallest] = timers[smallest], timers[i]
      i = smallest
    end
  end
  return top
end

-- Wall-clock milliseconds: what SQS timestamps are made of, and what survives a restart.
M.now_ms = time.now_ms
M.monotonic = time.monotonic

-- Runs fn(...) as a new task, at once, until it first waits.
function M.spawn(fn, ...)
  local task = coroutine.create(fn)
  resume(task, ...)
  return task
end

-- Waits until notify(key) (true) or until timeout_s seconds have passed (false). A nil timeout
-- waits for the notification only.
function M.wait(key, timeout_s)
  local task, is_main = coroutine.running()
  assert(not is_main, "moonrun.dev.loop.wait is called from a task")
  local w = {task = task, key = key}
  local set = waiting[key]
  if not set then
    set = {}
    waiting[key] = set
  end
  set[w] = true
  if timeout_s then heap_push{at = time.monotonic() + math.max(timeout_s, 0), wait = w} end
  return coroutine.yield()
end

local function wake(w, value)
  if w.done then return end
  w.done = true
  local set = waiting[w.key]
  if set then
    set[w] = nil
    if next(set) == nil then waiting[w.key] = nil end
  end
  ready[#ready + 1] = {w.task, value}
end

function M.notify(key)
  local set = waiting[key]
  if not set then return end
  for w in pairs(set) do wake(w, true) end
end

function M.sleep(seconds)
  M.wait({}, seconds)
end

local function run_ready()
  while #ready > 0 do
    local batch = ready
    ready = {}
    for _, entry in ipairs(batch) do
      if coroutine.status(entry[1]) == "suspended" then resume(entry[1], entry[2]) end
    end
  end
end

local function fire_timers()
  local now = time.monotonic()
  while timers[1] and timers[1].at <= now do wake(heap_pop().wait, false) end
end

-- Serves until stop() is called or SIGINT/SIGTERM arrives; returns "signal" or "stopped".
-- poll(timeout_s) waits for I/O and returns false on a signal: event_loop.poll, unless a spec gives
-- its own (tests/lua/loop_spec.lua), so that the scheduler runs without sockets.
function M.run(poll)
  poll = poll or event_loop.poll
  while not stopping do
    run_ready()
    fire_timers()
    run_ready()
    if stopping then break end
    local timeout = 1
    if timers[1] then timeout = math.min(timeout, timers[1].at - time.monotonic()) end
    if not poll(math.max(timeout, 0)) then return "signal" end
  end
  stopping = false -- a stop asked for before run() began still counts, once
  return "stopped"
end

function M.stop()
  stopping = true
end

return M
