---@meta moonrun.time
local time = {}

---Seconds since the epoch, with microseconds.
---@return number
function time.now() end

---Milliseconds since the epoch.
---@return integer
function time.now_ms() end

---Seconds of a clock that never jumps (for durations).
---@return number
function time.monotonic() end

---t (default now) formatted with strftime's patterns and %f (microseconds); UTC unless use_local.
---@param t? number
---@param pattern? string default "%Y-%m-%d %H:%M:%S.%f"
---@param use_local? boolean
---@return string
function time.format(t, pattern, use_local) end

---t (default now) as 2024-06-01T12:00:00.123Z.
---@param t? number
---@return string
function time.iso8601(t) end

---Sleeps; during an invocation, no longer than its deadline allows (then the Timeout error).
---@param seconds number
function time.sleep(seconds) end

return time
