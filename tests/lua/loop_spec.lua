-- Specs of moonrun dev's scheduler (moonrun.dev.loop): tasks, waits, notifications, timers, and
-- run()'s ending, with a poll function standing in for httpd.poll (it sleeps as the real one
-- would wait for I/O, and says "signal" when told to). Real time: the waits are short.
-- build/moonrun run /usr/bin/busted tests/lua/loop_spec.lua
local loop = require "moonrun.dev.loop"
local time = require "moonrun.time"

-- A poll that waits as httpd.poll does when nothing arrives, records each timeout it was given,
-- and gives up (an error, so a broken spec fails instead of hanging) after max_s seconds.
local function fake_poll(max_s)
  local calls = {}
  local started = time.monotonic()
  local function poll(timeout)
    calls[#calls + 1] = timeout
    if time.monotonic() - started > (max_s or 10) then error("the loop ran too long: a task never ended", 0) end
    if calls.signal_after and #calls >= calls.signal_after then return false end
    time.sleep(math.min(timeout, 0.005))
    return true
  end
  return poll, calls
end

-- Runs body as a task (from inside run(), as dev's tasks run) and the loop until body returns;
-- returns what it returned, or raises what it raised (a failed assertion in it fails the spec).
local function run_task(body)
  local results
  loop.spawn(function()
    loop.sleep(0)
    results = table.pack(pcall(body))
    loop.stop()
  end)
  assert.are.equal("stopped", loop.run((fake_poll())))
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

-- Runs fn with io.stderr replaced by a recorder; returns what was written.
local function capture_stderr(fn)
  local saved, written = io.stderr, {}
  io.stderr = {write = function(self, ...) -- luacheck: ignore 122 (report writes to io.stderr, looked up each time)
    for _, part in ipairs{...} do written[#written + 1] = tostring(part) end
    return self
  end}
  local ok, err = pcall(fn)
  io.stderr = saved -- luacheck: ignore 122
  assert(ok, err)
  return table.concat(written)
end

describe("moonrun.dev.loop", function()
  it("spawn runs a task at once, until it first waits", function()
    local steps = {}
    local key = {}
    loop.spawn(function()
      steps[#steps + 1] = "before"
      steps[#steps + 1] = loop.wait(key)
    end)
    assert.are.same({"before"}, steps)
    loop.notify(key)
    assert.are.same({"before"}, steps, "a notification only readies the task; run() resumes it")
    run_task(function() end)
    assert.are.same({"before", true}, steps)
  end)

  it("notify wakes every task waiting for the key, with true, and no other", function()
    local key, other = {}, {}
    local woken = {}
    for i = 1, 3 do
      loop.spawn(function()
        local answer = loop.wait(key, 0.5)
        woken[#woken + 1] = {i, answer}
      end)
    end
    local stayed = true
    loop.spawn(function() loop.wait(other); stayed = false end)
    run_task(function()
      loop.notify(key)
      loop.sleep(0)
    end)
    table.sort(woken, function(a, b) return a[1] < b[1] end)
    assert.are.same({{1, true}, {2, true}, {3, true}}, woken)
    assert.is_true(stayed)
    loop.notify(other) -- (the task ends with the next run)
    run_task(function() loop.sleep(0) end)
    assert.is_false(stayed)
  end)

  it("notify of a key nobody waits for does nothing", function()
    assert.has_no.errors(function() loop.notify({}) end)
    assert.has_no.errors(function() loop.notify("never-waited") end)
  end)

  it("a wait with a timeout answers false once it has passed, and not before", function()
    local started = time.monotonic()
    local answer = run_task(function() return loop.wait({}, 0.05) end)
    local waited = time.monotonic() - started
    assert.is_false(answer)
    assert.is_true(waited >= 0.05, "woke after " .. waited .. " s")
    assert.is_true(waited < 2, "woke after " .. waited .. " s")
  end)

  it("a negative timeout is a timeout already passed", function()
    assert.is_false(run_task(function() return loop.wait({}, -3) end))
  end)

  it("a notified wait is not woken again by its timer", function()
    local key = {}
    local wakes = 0
    run_task(function()
      loop.spawn(function()
        loop.wait(key, 0.02)
        wakes = wakes + 1
        loop.wait({}, 0.1) -- still suspended here when the first timer comes due
        wakes = wakes + 1
      end)
      loop.notify(key)
      loop.sleep(0.05) -- the first wait's timer fires in here, and must not resume the second wait
      assert.are.equal(1, wakes)
      loop.sleep(0.1)
    end)
    assert.are.equal(2, wakes)
  end)

  it("timers fire in the order they come due, whatever the order they were set in", function()
    local order = {}
    local delays = {0.06, 0.01, 0.04, 0.03, 0.05, 0.02, 0.07, 0.015, 0.035, 0.025}
    run_task(function()
      local done = {}
      for i, delay in ipairs(delays) do
        loop.spawn(function()
          loop.sleep(delay)
          order[#order + 1] = delay
          done[i] = true
          loop.notify(done)
        end)
      end
      while #order < #delays do loop.wait(done, 1) end
    end)
    local sorted = {table.unpack(delays)}
    table.sort(sorted)
    assert.are.same(sorted, order)
  end)

  it("run gives poll the time until the next timer, at most 1 s", function()
    local poll, calls = fake_poll()
    loop.spawn(function()
      loop.sleep(0.2)
      loop.stop()
    end)
    assert.are.equal("stopped", loop.run(poll))
    assert.is_true(#calls >= 1)
    for _, timeout in ipairs(calls) do
      assert.is_true(timeout >= 0 and timeout <= 0.2, "poll was given " .. timeout .. " s")
    end
    local idle_poll
    idle_poll, calls = fake_poll()
    calls.signal_after = 1
    assert.are.equal("signal", loop.run(idle_poll))
    assert.are.equal(1, #calls)
    assert.is_true(calls[1] > 0 and calls[1] <= 1, "with no timer due, poll waits 1 s at most, got " .. calls[1])
  end)

  it("run answers 'signal' when poll reports one, and the tasks stay as they were", function()
    local key = {}
    local resumed = false
    loop.spawn(function() loop.wait(key); resumed = true end)
    local poll, calls = fake_poll()
    calls.signal_after = 1
    assert.are.equal("signal", loop.run(poll))
    assert.is_false(resumed)
    loop.notify(key) -- a second run (dev's shutdown) carries on with them
    run_task(function() loop.sleep(0) end)
    assert.is_true(resumed)
  end)

  it("a stop asked for before run counts once", function()
    loop.stop()
    local poll, calls = fake_poll()
    assert.are.equal("stopped", loop.run(poll))
    assert.are.same({}, calls)
    calls.signal_after = 1
    assert.are.equal("signal", loop.run(poll), "the stop was used up by the first run")
  end)

  it("a task that raises is reported with its traceback, and the others go on", function()
    local key = {}
    local other_done = false
    local written = capture_stderr(function()
      run_task(function()
        loop.spawn(function()
          loop.wait(key)
          error("the task broke")
        end)
        loop.spawn(function()
          loop.wait(key)
          other_done = true
        end)
        loop.notify(key)
        loop.sleep(0.01)
      end)
    end)
    assert.truthy(written:find("moonrun dev: internal error: ", 1, true), written)
    assert.truthy(written:find("the task broke", 1, true), written)
    assert.truthy(written:find("stack traceback", 1, true), written)
    assert.is_true(other_done)
    -- one that fails before it first waits is reported the same way, by spawn itself
    written = capture_stderr(function() loop.spawn(function() error({code = "table error"}) end) end)
    assert.truthy(written:find("moonrun dev: internal error: ", 1, true), written)
  end)

  it("wait outside a task is refused with a message that says so", function()
    local ok, err = pcall(loop.wait, {}, 0)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("moonrun.dev.loop.wait is called from a task", 1, true), tostring(err))
  end)

  it("now_ms is the wall clock in milliseconds and monotonic goes forward", function()
    local before = os.time() * 1000
    local now = loop.now_ms()
    assert.is_true(math.abs(now - before) < 2000)
    local a = loop.monotonic()
    time.sleep(0.01)
    assert.is_true(loop.monotonic() > a)
  end)
end)
