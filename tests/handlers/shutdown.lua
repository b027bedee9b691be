-- A handler module with a shutdown function; event.mode (remembered from the last invocation)
-- chooses how the function behaves. The file it writes is named by SHUTDOWN_MARKER.
local time = require "moonrun.time"

local M = {}
local mode = "write"

function M.handler(event)
  mode = event.mode or mode
  if event.spin then -- busy until stopped, for the SIGTERM tests
    io.write("spinning\n")
    io.stdout:flush()
    while true do end
  end
  return "ok"
end

function M.shutdown()
  local marker = os.getenv("SHUTDOWN_MARKER")
  local f = assert(io.open(marker, "w"))
  f:write("started\n")
  f:flush()
  if mode == "loop" then
    while true do end
  elseif mode == "sleep" then
    time.sleep(100)
  elseif mode == "error" then
    error("cleanup went wrong")
  end
  f:write("done\n")
  f:close()
end

return M
