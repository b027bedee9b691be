-- Writes to stdout in several ways; used for the line-buffering tests.
local M = {}

function M.handler(event, context)
  print("line from invocation " .. tostring(event.n))
  if event.partial then
    io.write("partial-" .. tostring(event.n))
  end
  return event.n
end

function M.multiline(event, context)
  print("first\nsecond", "third\n")
  return true
end

function M.slow(event, context)
  io.write("started " .. tostring(event.n) .. "\n") -- io.write, unlike print, does not flush by itself
  local stop = os.clock() + (event.seconds or 1)
  while os.clock() < stop do end
  return { finished = event.n }
end

-- Blocked in a C function that knows nothing of deadlines (os.execute waits for a child).
function M.blocked(event, context)
  io.write("blocked\n")
  io.stdout:flush()
  os.execute("sleep " .. tostring(event.seconds))
  while true do end -- stopped here, on the way back into Lua
end

-- Sleeps (time.sleep) for event.seconds.
function M.sleeping(event, context)
  io.write("sleeping\n")
  io.stdout:flush()
  require("moonrun.time").sleep(event.seconds)
  return "slept"
end

return M
