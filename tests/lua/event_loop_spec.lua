-- Specs of moonrun.event_loop, the one wait of moonrun dev (src/lua_event_loop.c), with its real
-- sources: an HTTP server of moonrun.httpd and child processes of moonrun.process (curl as the
-- client, sh for the children), in this process.
--   build/moonrun run /usr/bin/busted tests/lua/event_loop_spec.lua
local event_loop = require "moonrun.event_loop"
local httpd = require "moonrun.httpd"
local process = require "moonrun.process"
local time = require "moonrun.time"

-- Polls until done() holds; fails after limit_s seconds. Returns how many polls said false.
local function poll_until(done, limit_s, step_s)
  local deadline, stops = time.monotonic() + limit_s, 0
  while not done() do
    assert(time.monotonic() < deadline, "not done after " .. limit_s .. " s")
    if not event_loop.poll(step_s or 0.2) then stops = stops + 1 end
  end
  return stops
end

-- Runs argv as a child; returns a table that fills with its output lines and exit code.
local function run(argv)
  local result = {lines = {}}
  result.child = process.spawn{
    argv = argv,
    on_output = function(stream, line) result.lines[#result.lines + 1] = stream .. ": " .. line end,
    on_exit = function(code, signal) result.code, result.signal, result.exited = code, signal, true end,
  }
  return result
end

describe("moonrun.event_loop.poll", function()
  -- Installs the loop's SIGINT and SIGTERM handlers before any spec sends one.
  setup(function() assert.is_true(event_loop.poll(0)) end)

  it("serves an HTTP server's requests and a child's output in the same wait", function()
    local server = httpd.listen{host = "127.0.0.1", port = 0, handler = function(req)
      httpd.respond(req.id, 200, {["content-type"] = "text/plain"}, "pong " .. req.path)
    end}
    local curl = run{"/usr/bin/curl", "-sS", "http://127.0.0.1:" .. server:port() .. "/now"}
    poll_until(function() return curl.exited end, 20)
    server:close()
    assert.same({"stdout: pong /now"}, curl.lines)
    assert.equal(0, curl.code)
  end)

  it("sends an answer given after the handler returned (a long poll) without waiting for a timeout", function()
    local held
    local server = httpd.listen{host = "127.0.0.1", port = 0, handler = function(req) held = req.id end}
    local curl = run{"/usr/bin/curl", "-sS", "http://127.0.0.1:" .. server:port() .. "/held"}
    poll_until(function() return held ~= nil end, 20)
    assert.is_true(httpd.respond(held, 200, nil, "later"))
    local started = time.monotonic()
    poll_until(function() return curl.exited end, 20, 5)
    server:close()
    assert.same({"stdout: later"}, curl.lines)
    assert.is_true(time.monotonic() - started < 4, "the answer waited for the poll's timeout")
  end)

  it("sees a child's exit at once while something it started still holds its pipes", function()
    local child = run{"/bin/sh", "-c", "sleep 60 & echo started; sleep 0.5; exit 3"}
    local started = time.monotonic()
    poll_until(function() return child.exited end, 30, 10)
    -- without SIGCHLD waking it, the wait would last its whole 10 s once the line is read
    assert.is_true(time.monotonic() - started < 5, "the exit was seen only when the wait timed out")
    assert.equal(3, child.code)
    assert.same({"stdout: started"}, child.lines)
  end)

  for _, signal in ipairs{"TERM", "INT"} do
    it("reports SIG" .. signal .. " once, as false, and goes on serving", function()
      local sender = run{"/bin/sh", "-c", "kill -" .. signal .. " $PPID"}
      local stops = poll_until(function() return sender.exited end, 20)
      -- the signal may land while the poll that sees the exit runs: the next one reports it
      if stops == 0 then stops = event_loop.poll(0) and 0 or 1 end
      assert.equal(1, stops)
      assert.equal(0, sender.code)
      assert.is_true(event_loop.poll(0), "a signal is reported once")
    end)
  end

  it("refuses a timeout that is not a number", function()
    local ok, err = pcall(event_loop.poll, "soon")
    assert.is_false(ok)
    assert.matches("number expected", err)
  end)
end)
