-- Streaming handlers for tests/test_streaming.py, chosen by event.case; the one process
-- serves them all, so each test also checks that the connection is fine afterwards.
local stream = require "moonrun.stream"
local time = require "moonrun.time"

local M = {}
local kept_write -- a write function kept past its stream

local cases = {}

function cases.chunks(event)
  return stream(function(write)
    for _, piece in ipairs(event.pieces) do write(piece) end
  end)
end

function cases.sleepy(event)
  return stream(function(write)
    write("first")
    time.sleep(event.pause or 0.2)
    write("second")
  end)
end

function cases.typed(event)
  return stream(function(write) write("data: hi\n\n") end, {content_type = "text/event-stream"})
end

function cases.http(event)
  return stream.http(event.prelude, function(write)
    write("<h1>")
    write("hello")
    write("</h1>")
  end)
end

function cases.http_bad(event)
  return stream.http(event.prelude, function(write) write("never") end)
end

function cases.fails_midway(event)
  return stream(function(write)
    write("partial ")
    write("output")
    error({errorType = "BrokenPipeline", errorMessage = "the source went away"})
  end)
end

function cases.fails_plain(event)
  return stream(function(write)
    write("x")
    local t = nil
    return t.field
  end)
end

function cases.fails_before_writing(event)
  return stream(function(write) error("nothing to say") end)
end

function cases.huge_error(event)
  return stream(function(write)
    write("x")
    error(string.rep("e", 100000))
  end)
end

function cases.bad_write(event)
  local value = event.value
  if event.kind == "table" then value = {} elseif event.kind == "function" then value = print end
  return stream(function(write) write("ok") write(value) end)
end

function cases.caught_bad_write(event)
  return stream(function(write)
    local ok, err = pcall(write, 42)
    write(ok and "accepted" or ("refused: " .. tostring(err)))
  end)
end

function cases.empty_writes(event)
  return stream(function(write)
    write("")
    write("a")
    write("")
    write("b")
  end)
end

function cases.keep_write(event)
  return stream(function(write)
    kept_write = write
    write("kept")
  end)
end

function cases.late_write(event)
  kept_write("too late")
  return "unreachable"
end

function cases.write_after_return_in_coroutine(event)
  local co
  local s = stream(function(write)
    co = coroutine.wrap(function() coroutine.yield() write("late") end)
    co()
    write("on time")
  end)
  M.pending = function() co() end
  return s
end

function cases.resume_pending(event)
  M.pending()
  return "unreachable"
end

function cases.not_a_function(event)
  return stream(42)
end

function cases.bad_option(event)
  return stream(function() end, {contenttype = "x"})
end

function cases.bad_content_type(event)
  return stream(function() end, {content_type = event.content_type})
end

function cases.big(event)
  return stream(function(write)
    local block = string.rep("x", event.block)
    for _ = 1, event.count do write(block) end
    write(event.tail or "")
  end)
end

function cases.plain(event)
  return {ok = true, n = event.n}
end

function cases.print_and_stream(event)
  print("log line before the stream")
  return stream(function(write)
    print("log line inside the stream")
    write("body")
  end)
end

function M.handler(event, context)
  local case = cases[event.case]
  if not case then error("no case " .. tostring(event.case)) end
  return case(event, context)
end

return M
