-- Raises a different kind of error depending on event.kind.
-- Every other event (kind == "ok" or missing) succeeds.
local M = {}

local function recurse(n)
  return 1 + recurse(n + 1)
end

local kinds = {}

kinds.error = function()
  error("boom")
end

kinds.assert = function()
  assert(false, "assertion went wrong")
end

kinds.index_nil = function(event)
  local missing = nil
  return missing.field
end

kinds.table = function()
  error({ errorType = "ValidationError", errorMessage = "bad input" })
end

kinds.code = function()
  error({ code = "AccessDenied", message = "access denied by policy" })
end

kinds.bad_type = function()
  error({ errorType = "bad-type", errorMessage = "weird type" })
end

kinds.tostring = function()
  error(setmetatable({}, { __tostring = function() return "custom tostring message" end }))
end

kinds.tostring_raises = function()
  error(setmetatable({}, { __tostring = function() error("tostring itself failed") end }))
end

kinds.number = function()
  error(42)
end

kinds["nil"] = function()
  error(nil)
end

kinds.recursion = function()
  return recurse(1)
end

kinds.oom_rep = function()
  return #string.rep("x", 1 << 30)
end

kinds.oom_table = function()
  local t = {}
  local i = 0
  while true do
    i = i + 1
    t[i] = { i, tostring(i), string.rep("y", 100) .. i }
  end
end

kinds.marshal_function = function()
  return { items = { 1, 2, function() end } }
end

kinds.cycle = function()
  local t = { name = "loop" }
  t.self = t
  return { outer = t }
end

kinds.nan = function()
  return { values = { ok = 1, bad = 0 / 0 } }
end

kinds.inf = function()
  return { values = { big = math.huge } }
end

kinds.neg_inf = function()
  return { values = { small = -math.huge } }
end

kinds.invalid_utf8 = function()
  return { text = "abc\xff\xfedef" }
end

kinds.float_key = function()
  return { [1.5] = "x" }
end

kinds.bool_key = function()
  return { [true] = "x" }
end

kinds.table_key = function()
  return { [{}] = "x" }
end

kinds.userdata = function()
  return { f = io.stdout }
end

kinds.big = function(event)
  return string.rep("x", event.size)
end

kinds.deep = function(event)
  local depth = event.depth
  local root = {}
  local cur = root
  for _ = 2, depth do
    local nxt = {}
    cur[1] = nxt
    cur = nxt
  end
  return root
end

-- Streamed responses: complete, failing mid-stream, a bad write, with an HTTP prelude.
local stream = require "moonrun.stream"

kinds.stream_ok = function(event)
  return stream(function(write) write("streamed ") write(tostring(event.i)) end)
end

kinds.stream_error = function()
  return stream(function(write) write("partial") error("broke mid-stream") end)
end

kinds.stream_bad_write = function()
  return stream(function(write) write({}) end)
end

kinds.stream_http = function()
  return stream.http({statusCode = 201, headers = {["X-A"] = "1"}, cookies = {"c=1"}},
    function(write) write("<p>hi</p>") end)
end

function M.handler(event, context)
  local kind = type(event) == "table" and event.kind or nil
  local f = kind and kinds[kind]
  if f then
    return f(event)
  end
  return { ok = true, kind = kind }
end

return M
