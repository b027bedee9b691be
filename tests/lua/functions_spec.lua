-- Specs of moonrun dev's functions (moonrun.dev.functions): instances, the Runtime API they are
-- served, scaling, throttling, timeouts, crashes, init errors, reloads and stopping, with the
-- machine faked (tests/lua/dev_fakes.lua: a child is a task playing the runtime).
-- tests/test_dev*.py run the real thing, with real processes.
-- build/moonrun run /usr/bin/busted tests/lua/functions_spec.lua
local functions = require "moonrun.dev.functions"
local json = require "moonrun.json"
local base64 = require "moonrun.base64"
local loop = require "moonrun.dev.loop"
local fakes = require "tests.lua.dev_fakes"

local CODE = "/project/fn"

-- A function over a fake system; spec_fields and option_fields override the defaults.
local function new_function(h, spec_fields, option_fields)
  local spec = {name = "Echo", logical_id = "Echo", handler = "app.handler", code_dir = CODE, timeout = 3,
                memory = 256}
  for k, v in pairs(spec_fields or {}) do spec[k] = v end
  local view = fakes.view()
  local options = {exe = "/usr/bin/moonrun", env = {PATH = "/usr/bin", GREETING = "base"}, region = "us-east-1",
                   account = "123456789012", view = view, system = h}
  for k, v in pairs(option_fields or {}) do options[k] = v end
  return functions.new(spec, options), view
end

local function decoded(text)
  local ok, value = pcall(json.decode, text)
  assert(ok, "not JSON: " .. tostring(text))
  return value
end

local function signals_of(h, pid)
  local out = {}
  for _, kill in ipairs(h.kills) do if kill.pid == pid then out[#out + 1] = kill.signal end end
  return out
end

describe("moonrun.dev.functions", function()
  it("a first invocation starts an instance with Lambda's environment and answers its result", function()
    local h = fakes.system()
    local fn = new_function(h, {environment = {GREETING = "hi", AWS_REGION = "eu-west-1"}})
    local before = loop.now_ms()
    local outcome = fakes.run(function()
      local result = fn:invoke('{"a": 1}', "invoke", {request_id = "req-1"})
      fn:stop()
      return result
    end)
    assert.is_true(outcome.ok)
    assert.are.equal('{"a": 1}', outcome.payload)
    assert.are.equal("req-1", outcome.request_id)
    assert.is_true(outcome.cold)
    assert.is_true(outcome.duration_ms >= 0)
    assert.are.equal(1, #h.children)
    local child = h.children[1]
    assert.are.same({"/usr/bin/moonrun"}, child.argv)
    assert.are.equal(CODE, child.cwd)
    local env = child.env
    assert.are.equal("127.0.0.1:" .. child.port, env.AWS_LAMBDA_RUNTIME_API)
    assert.are.equal("app.handler", env._HANDLER)
    assert.are.equal(CODE, env.LAMBDA_TASK_ROOT)
    assert.are.equal("Echo", env.AWS_LAMBDA_FUNCTION_NAME)
    assert.are.equal("$LATEST", env.AWS_LAMBDA_FUNCTION_VERSION)
    assert.are.equal("256", env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE)
    assert.are.equal("256", env.MOONRUN_MEMORY_LIMIT_MB)
    assert.are.equal("/aws/lambda/Echo", env.AWS_LAMBDA_LOG_GROUP_NAME)
    assert.are.equal("eu-west-1", env.AWS_REGION, "the template's variables win over dev's defaults")
    assert.are.equal("us-east-1", env.AWS_DEFAULT_REGION)
    assert.are.equal("hi", env.GREETING, "the template's variables win over the base environment")
    assert.are.equal("/usr/bin", env.PATH)
    assert.are.equal("1", env.MOONRUN_DEV_INSTANCE)
    local headers = child.received[1].headers
    assert.are.equal("req-1", headers["lambda-runtime-aws-request-id"])
    assert.are.equal("arn:aws:lambda:us-east-1:123456789012:function:Echo",
                     headers["lambda-runtime-invoked-function-arn"])
    assert.truthy(headers["lambda-runtime-trace-id"]:match("^Root=1%-%x+%-%x+;Parent=%x+;Sampled=0$"),
                  headers["lambda-runtime-trace-id"])
    local deadline = tonumber(headers["lambda-runtime-deadline-ms"])
    assert.is_true(deadline >= before + 3000 and deadline <= loop.now_ms() + 3000, tostring(deadline))
    assert.are.same({pid = child.pid, signal = "TERM"}, h.kills[1], "stop ends the instance with SIGTERM")
    assert.is_true(child.exited)
    assert.is_nil(next(fn.instances))
  end)

  it("start prewarms one instance, and a warm instance takes the next events", function()
    local h = fakes.system()
    local fn = new_function(h)
    local counts, first, second = fakes.run(function()
      fn:start()
      local a = fn:invoke('"one"', "invoke")
      local b = fn:invoke('"two"', "invoke")
      local c = fn:counts()
      fn:stop()
      return c, a, b
    end)
    assert.is_true(first.ok and second.ok)
    assert.is_false(first.cold, "a prewarmed instance's first event is not a cold start")
    assert.is_false(second.cold)
    assert.are.equal(1, #h.children)
    assert.are.equal(2, #h.children[1].received)
    assert.are.same({instances = 1, running = 0, warm = 1, waiting = 0, cold_starts = 1, throttled = 0}, counts)
  end)

  it("a function error comes back as the runtime posted it, and the instance stays", function()
    local h = fakes.system()
    local err = '{"errorType": "ValueError", "errorMessage": "bad input"}'
    h.behaviour = function(event)
      if event == '"fail"' then return {error = err, type = "ValueError"} end
      return {response = event}
    end
    local fn = new_function(h)
    local failed, later = fakes.run(function()
      local a = fn:invoke('"fail"', "invoke")
      local b = fn:invoke('"fine"', "invoke")
      fn:stop()
      return a, b
    end)
    assert.is_false(failed.ok)
    assert.are.equal(err, failed.payload)
    assert.are.equal("ValueError", failed.error_type)
    assert.is_true(later.ok)
    assert.are.equal(1, #h.children)
    assert.are.equal(202, h.children[1].posted.status)
  end)

  it("an instance that exits during an invocation: Runtime.ExitError, and a new instance for the next", function()
    local h = fakes.system()
    h.behaviour = function(event) if event == '"crash"' then return {exit = 3} end return {response = event} end
    local fn = new_function(h)
    local crashed, later = fakes.run(function()
      local a = fn:invoke('"crash"', "invoke", {request_id = "req-crash"})
      local b = fn:invoke('"after"', "invoke")
      fn:stop()
      return a, b
    end)
    assert.is_false(crashed.ok)
    local answer = decoded(crashed.payload)
    assert.are.equal("Runtime.ExitError", answer.errorType)
    assert.are.equal("RequestId: req-crash Error: Runtime exited with error: exit status 3", answer.errorMessage)
    assert.is_true(later.ok)
    assert.is_true(later.cold)
    assert.are.equal(2, #h.children)
    assert.is_true(h.servers[h.children[1].port].closed, "the gone instance's Runtime API is closed")
  end)

  it("an init error is the answer of every event waiting, as Lambda gives it", function()
    local h = fakes.system()
    local init_error = '{"errorType": "Runtime.ImportModuleError", "errorMessage": "module app not found"}'
    h.init = function() return {error = init_error} end
    local fn = new_function(h, nil, {max_concurrency = 1})
    local results = fakes.run(function()
      local r = fakes.together(function() return fn:invoke('"one"', "invoke") end,
                               function() return fn:invoke('"two"', "invoke") end)
      fn:stop()
      return r
    end)
    for _, outcome in ipairs(results) do
      assert.is_false(outcome.ok)
      assert.are.equal(init_error, outcome.payload)
    end
    assert.are.equal(0, #fn.queue)
  end)

  it("an invocation that outlives its timeout ends as Lambda ends it, and its instance is replaced", function()
    local h = fakes.system()
    h.behaviour = function(event) if event == '"slow"' then return {hang = true} end return {response = event} end
    local fn = new_function(h, {timeout = 0.1})
    local started = loop.monotonic()
    local timed_out, elapsed, later = fakes.run(function()
      local a = fn:invoke('"slow"', "invoke", {request_id = "req-slow"})
      local waited = loop.monotonic() - started
      local b = fn:invoke('"next"', "invoke")
      fn:stop()
      return a, waited, b
    end)
    assert.is_false(timed_out.ok)
    local answer = decoded(timed_out.payload)
    assert.are.equal("Sandbox.Timedout", answer.errorType)
    assert.are.equal("RequestId: req-slow Error: Task timed out after 0.10 seconds", answer.errorMessage)
    -- the runtime enforces the timeout itself; dev's backstop waits one second more
    assert.is_true(elapsed >= 1.1 and elapsed < 5, "timed out after " .. elapsed .. " s")
    assert.are.same({"TERM"}, signals_of(h, h.children[1].pid))
    assert.is_true(later.ok)
    assert.are.equal(2, #h.children)
  end)

  it("the timeout counts from when an instance takes the event, not while it waits for one", function()
    local h = fakes.system()
    h.behaviour = function(event) return {sleep = 0.8, response = event} end
    local fn = new_function(h, {timeout = 0.5, reserved_concurrency = 1})
    local results = fakes.run(function()
      local r = fakes.together(function() return fn:invoke('"first"', "invoke") end,
                               function() return fn:invoke('"second"', "invoke") end)
      fn:stop()
      return r
    end)
    -- the second waited 0.8 s and then ran 0.8 s: more than 0.5 + 1 s, and still in time
    assert.is_true(results[1].ok, tostring(results[1].payload))
    assert.is_true(results[2].ok, tostring(results[2].payload))
    assert.are.equal(1, #h.children)
  end)

  it("a synchronous invocation beyond the reserved concurrency is throttled at once; others wait", function()
    local h = fakes.system()
    h.behaviour = function(event) return {sleep = 0.1, response = event} end
    local changes = 0
    local fn = new_function(h, {reserved_concurrency = 1}, {on_change = function() changes = changes + 1 end})
    local results, counts = fakes.run(function()
      local r = fakes.together(
        function() return fn:invoke('"sync 1"', "invoke", {sync = true}) end,
        function() loop.sleep(0.02); return fn:invoke('"sync 2"', "invoke", {sync = true}) end,
        function() loop.sleep(0.02); return fn:invoke('"async"', "invoke") end)
      local c = fn:counts()
      fn:stop()
      return r, c
    end)
    assert.is_true(results[1].ok)
    assert.are.same({ok = false, throttled = true, reason = "ReservedFunctionConcurrentInvocationLimitExceeded",
                     duration_ms = 0}, results[2])
    assert.is_true(results[3].ok, "an asynchronous invocation waits for the instance instead")
    assert.are.equal(1, #h.children)
    assert.are.equal(1, counts.throttled)
    assert.is_true(changes > 0, "on_change was called")
  end)

  it("without a reservation the limit is dev's --max-concurrency, with Lambda's account-level reason", function()
    local h = fakes.system()
    h.behaviour = function(event) return {sleep = 0.1, response = event} end
    local fn = new_function(h, nil, {max_concurrency = 2})
    local results = fakes.run(function()
      local r = fakes.together(
        function() return fn:invoke('"1"', "invoke", {sync = true}) end,
        function() return fn:invoke('"2"', "invoke", {sync = true}) end,
        function() loop.sleep(0.02); return fn:invoke('"3"', "invoke", {sync = true}) end)
      fn:stop()
      return r
    end)
    assert.is_true(results[1].ok and results[2].ok)
    assert.is_true(results[3].throttled)
    assert.are.equal("ConcurrentInvocationLimitExceeded", results[3].reason)
  end)

  it("a reserved concurrency of 0 starts nothing and throttles every synchronous invocation", function()
    local h = fakes.system()
    local fn = new_function(h, {reserved_concurrency = 0})
    local outcome = fakes.run(function()
      fn:start()
      local result = fn:invoke('"x"', "invoke", {sync = true})
      fn:stop()
      return result
    end)
    assert.is_true(outcome.throttled)
    assert.are.equal(0, #h.children)
  end)

  it("instances scale with the waiting events, up to the limit, and each takes one event at a time", function()
    local h = fakes.system()
    h.behaviour = function(event) return {sleep = 0.05, response = event} end
    local peak = 0
    local fn
    fn = new_function(h, nil, {max_concurrency = 3, on_change = function()
      peak = math.max(peak, fn:counts().running)
    end})
    local results = fakes.run(function()
      local bodies = {}
      for i = 1, 7 do bodies[i] = function() return fn:invoke(string.format('"%d"', i), "invoke") end end
      local r = fakes.together(table.unpack(bodies))
      fn:stop()
      return r
    end)
    for i, outcome in ipairs(results) do
      assert.is_true(outcome.ok)
      assert.are.equal(string.format('"%d"', i), outcome.payload)
    end
    assert.are.equal(3, #h.children)
    assert.are.equal(3, peak)
  end)

  it("an invocation's lines are its log, and the view shows them under the function's name", function()
    local h = fakes.system()
    h.behaviour = function(event) return {print = {"line one", "line two"}, response = event} end
    local fn, view = new_function(h)
    local outcome = fakes.run(function()
      local result = fn:invoke("{}", "invoke")
      fn:stop()
      return result
    end)
    assert.are.same({"line one", "line two"}, outcome.log)
    assert.are.same({{"Echo", "line one"}, {"Echo", "line two"}}, view.lines)
  end)

  it("a streamed response is read as it comes; an error in its trailers fails the invocation", function()
    local h = fakes.system()
    local err = '{"errorType": "StreamError", "errorMessage": "broke midway"}'
    h.behaviour = function(event)
      if event == '"fail"' then
        return {stream = "partial", content_type = "text/plain", trailers = {
          ["lambda-runtime-function-error-type"] = "StreamError",
          ["lambda-runtime-function-error-body"] = base64.encode(err)}}
      end
      return {stream = "first part, second part", content_type = "text/plain"}
    end
    local fn = new_function(h)
    local streamed, failed = fakes.run(function()
      local a = fn:invoke('"ok"', "invoke")
      local b = fn:invoke('"fail"', "invoke")
      fn:stop()
      return a, b
    end)
    assert.is_true(streamed.ok)
    assert.is_true(streamed.streamed)
    assert.are.equal("first part, second part", streamed.payload)
    assert.are.equal("text/plain", streamed.content_type)
    assert.is_false(failed.ok)
    assert.are.equal(err, failed.payload)
  end)

  it("an event whose hand-over finds the runtime gone stays queued, and is delivered once", function()
    local h = fakes.system()
    h.drop_responses = 1
    local fn = new_function(h)
    local outcome = fakes.run(function()
      local result = fn:invoke('"kept"', "invoke")
      fn:stop()
      return result
    end)
    assert.is_true(outcome.ok)
    assert.are.equal('"kept"', outcome.payload)
    assert.are.equal(1, #h.children[1].received)
  end)

  it("the Runtime API answers only the instance's own process, and names what it refuses", function()
    local h = fakes.system()
    local fn, view = new_function(h)
    local answers = fakes.run(function()
      fn:start()
      loop.sleep(0.01)
      local child = h.children[1]
      local stranger = {port = child.port, remote_port = 1234}
      local a = {
        intruder = h:request(stranger, "GET", fakes.NEXT),
        intruder_again = h:request(stranger, "POST", "/2018-06-01/runtime/invocation/x/response", "{}"),
        unknown_id = h:request(child, "POST", "/2018-06-01/runtime/invocation/no-such-id/response", "{}"),
        unknown_path = h:request(child, "GET", "/2018-06-01/runtime/elsewhere"),
        register = h:request(child, "POST", "/2020-01-01/extension/register", "{}"),
      }
      fn:stop()
      return a
    end)
    assert.are.equal(403, answers.intruder.status)
    assert.are.equal("AccessDenied", decoded(answers.intruder.body).errorType)
    assert.are.equal(403, answers.intruder_again.status)
    assert.are.same({"a connection to Echo's Runtime API from another process than the function's own was refused"},
                    view.warnings, "said once")
    assert.are.equal(400, answers.unknown_id.status)
    assert.are.same({errorType = "InvalidRequestID", errorMessage = "no invocation no-such-id is running"},
                    decoded(answers.unknown_id.body))
    assert.are.equal(404, answers.unknown_path.status)
    assert.are.equal("NotFound", decoded(answers.unknown_path.body).errorType)
    assert.are.equal(200, answers.register.status)
    assert.are.equal("Echo", decoded(answers.register.body).functionName)
    assert.truthy(answers.register.headers["lambda-extension-identifier"])
  end)

  it("an edited code folder or a new install of dependencies replaces the instance before its next event", function()
    local h = fakes.system()
    local generation = 1
    local fn, view = new_function(h, nil, {deps_generation = function() return generation end})
    local outcomes = fakes.run(function()
      local r = {fn:invoke('"one"', "invoke")}
      h.stamps[CODE] = "stamp-1"
      r[2] = fn:invoke('"two"', "invoke")
      generation = 2
      r[3] = fn:invoke('"three"', "invoke")
      r[4] = fn:invoke('"four"', "invoke")
      fn:stop()
      return r
    end)
    for i, outcome in ipairs(outcomes) do assert.is_true(outcome.ok, "invocation " .. i) end
    assert.are.equal(3, #h.children)
    assert.are.same({"Echo: code changed, reloading", "Echo: dependencies changed, reloading"}, view.notes)
    assert.are.same({"TERM"}, signals_of(h, h.children[1].pid))
    assert.are.equal(1, #h.children[1].received)
    assert.are.equal(1, #h.children[2].received)
    assert.are.equal(2, #h.children[3].received)
  end)

  it("stop sends SIGTERM, then SIGKILL to an instance that lingers; kill_all kills at once", function()
    local h = fakes.system()
    h.ignore_term = true
    local fn = new_function(h)
    local took = fakes.run(function()
      fn:start()
      loop.sleep(0.01)
      local started = loop.monotonic()
      fn:stop()
      return loop.monotonic() - started
    end)
    assert.are.same({"TERM", "KILL"}, signals_of(h, h.children[1].pid))
    assert.is_true(took >= 2 and took < 6, "stopped in " .. took .. " s")
    assert.is_nil(next(fn.instances))
    local h2 = fakes.system()
    local fn2 = new_function(h2, nil, {max_concurrency = 2})
    fakes.run(function()
      fn2:start()
      loop.sleep(0.01)
      fn2:kill_all()
      while next(fn2.instances) do loop.sleep(0.01) end
    end)
    assert.are.same({"KILL"}, signals_of(h2, h2.children[1].pid))
  end)
end)
