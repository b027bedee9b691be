-- bench/dev_scaling.sh's consumer: one line per batch (its time and size) in COUNT_FILE, after
-- SLEEP_MS of waiting (0: a trivial consumer).
local time = require "moonrun.time"
local M = {}
local sleep_s = (tonumber(os.getenv("SLEEP_MS")) or 0) / 1000
function M.handler(event)
  if sleep_s > 0 then time.sleep(sleep_s) end
  local f = assert(io.open(os.getenv("COUNT_FILE"), "a"))
  f:write(string.format("%d %d\n", time.now_ms(), #event.Records))
  f:close()
  return {}
end
return M
