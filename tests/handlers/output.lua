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

return M
