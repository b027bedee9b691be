-- bench/dev_stream_ttfb.sh's handler: ?chunks=N pieces of ?size=BYTES each, ?pause=SECONDS
-- between them (the work a real handler does between its pieces), as a stream.http response.
local stream = require "moonrun.stream"
local time = require "moonrun.time"

local M = {}

function M.handler(event)
  local q = event.queryStringParameters or {}
  local chunks, size, pause = tonumber(q.chunks or "10"), tonumber(q.size or "1024"), tonumber(q.pause or "0")
  local piece = string.rep("x", size)
  return stream.http({statusCode = 200, headers = {["content-type"] = "text/plain"}}, function(write)
    for i = 1, chunks do
      write(piece)
      if pause > 0 and i < chunks then time.sleep(pause) end
    end
  end)
end

return M
