-- Specs of moonrun dev's HTTP front (moonrun.dev.front): the invoke endpoint (Lambda's Invoke
-- API) and the template's API routes, with the functions, the asynchronous invoker, the
-- schedules and the view faked; the mapping (apigw), CORS and authorizers are the real ones.
-- tests/test_dev*.py run the real thing over HTTP.
-- build/moonrun run /usr/bin/busted tests/lua/front_spec.lua
local front_module = require "moonrun.dev.front"
local json = require "moonrun.json"
local base64 = require "moonrun.base64"
local fakes = require "tests.lua.dev_fakes"

local INVOKE = "/2015-03-31/functions/%s/invocations"

-- A function that answers each invocation with answer(event, trigger, options) (an outcome
-- table; ok and the payload echoed by default) and records its calls.
local function fake_function(name, http_events, answer)
  local fn = {name = name, spec = {name = name, logical_id = name, memory = 512, http_events = http_events},
              calls = {}}
  function fn:invoke(event, trigger, options)
    self.calls[#self.calls + 1] = {event = event, trigger = trigger, options = options}
    local outcome = answer and answer(event, trigger, options) or {ok = true, payload = event}
    outcome.request_id = outcome.request_id or "req-" .. #self.calls
    outcome.duration_ms = outcome.duration_ms or 1.5
    outcome.log = outcome.log or {}
    return outcome
  end
  return fn
end

local function new_front(functions, apis)
  local view = fakes.view()
  local front = front_module.new{functions = functions, view = view, region = "eu-west-1",
                                 account = "123456789012", apis = apis}
  return front, view
end

local function request(fields)
  local req = {method = "POST", path = "/", query = "", headers = {host = "127.0.0.1:3000"}, body = "",
               remote = "127.0.0.1"}
  for k, v in pairs(fields) do
    if k == "headers" then for name, value in pairs(v) do req.headers[name] = value end else req[k] = v end
  end
  return req
end

local function invoke(front, name, body, headers)
  return front:handle(request{path = INVOKE:format(name), body = body or "{}", headers = headers or {}})
end

local function lambda_error(code, status, headers, body)
  assert.are.equal(code, headers["x-amzn-errortype"])
  assert.are.equal("application/json", headers["content-type"])
  return status, json.decode(body).message
end

describe("moonrun.dev.front", function()
  describe("the invoke endpoint", function()
    it("invokes the function synchronously and answers as Lambda's Invoke API", function()
      local fn = fake_function("Echo")
      local front, view = new_front{fn}
      local status, headers, body = invoke(front, "Echo", '{"n": 1}')
      assert.are.equal(200, status)
      assert.are.equal('{"n": 1}', body)
      assert.are.same({["content-type"] = "application/json", ["x-amz-executed-version"] = "$LATEST",
                       ["x-amzn-requestid"] = "req-1"}, headers)
      assert.are.same({event = '{"n": 1}', trigger = "invoke", options = {sync = true}}, fn.calls[1])
      assert.are.same({{name = "Echo", trigger = "invoke", duration_ms = 1.5, ok = true, summary = "ok"}},
                      view.invocations)
    end)

    it("names a function by name, ARN or partial ARN, with a qualifier, and 'function' for the only one", function()
      local fn = fake_function("Echo")
      local front = new_front{fn}
      for _, ref in ipairs{"Echo", "Echo:$LATEST", "arn:aws:lambda:eu-west-1:123456789012:function:Echo",
                           "arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3AEcho%3Aprod",
                           "123456789012:function:Echo", "function"} do
        assert.are.equal(200, (invoke(front, ref)), ref)
      end
      assert.are.equal(6, #fn.calls)
      -- with two functions, 'function' is a name like any other
      local two = new_front{fake_function("A"), fake_function("B")}
      local status, message = lambda_error("ResourceNotFoundException", invoke(two, "function"))
      assert.are.equal(404, status)
      assert.are.equal("Function not found: arn:aws:lambda:eu-west-1:123456789012:function:function", message)
    end)

    it("refuses an unknown function, another method, a body that is not JSON, bad headers", function()
      local fn = fake_function("Echo")
      local front = new_front{fn}
      local status, message = lambda_error("ResourceNotFoundException", invoke(front, "Nope"))
      assert.are.equal(404, status)
      assert.are.equal("Function not found: arn:aws:lambda:eu-west-1:123456789012:function:Nope", message)
      status = lambda_error("MethodNotAllowed", front:handle(request{method = "GET", path = INVOKE:format("Echo")}))
      assert.are.equal(405, status)
      status, message = lambda_error("InvalidRequestContentException", invoke(front, "Echo", "{not json"))
      assert.are.equal(400, status)
      assert.truthy(message:find("the event must be JSON", 1, true))
      status, message = lambda_error("InvalidParameterValueException",
                                     invoke(front, "Echo", "{}", {["x-amz-log-type"] = "All"}))
      assert.are.equal(400, status)
      assert.are.equal("X-Amz-Log-Type must be None or Tail, not All", message)
      status, message = lambda_error("InvalidParameterValueException",
                                     invoke(front, "Echo", "{}", {["x-amz-invocation-type"] = "Later"}))
      assert.are.equal(400, status)
      assert.are.equal("X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not Later", message)
      for _, bad in ipairs{"abc", "0", "-1", "1.5", "", " 2"} do
        status, message = lambda_error("InvalidParameterValueException", invoke(front, "Echo", "{}", {
          ["x-moonrun-trigger"] = "sqs q", ["x-moonrun-batch-records"] = bad}))
        assert.are.equal(400, status)
        assert.are.equal("X-Moonrun-Batch-Records must be a whole number of records (1 or more), not " .. bad, message)
      end
      assert.are.equal(0, #fn.calls, "nothing refused reached the function")
    end)

    it("an empty body is the event {}, and DryRun runs nothing", function()
      local fn = fake_function("Echo")
      local front = new_front{fn}
      local status, _, body = invoke(front, "Echo", "")
      assert.are.equal(200, status)
      assert.are.equal("{}", body)
      status = invoke(front, "Echo", "{}", {["x-amz-invocation-type"] = "DryRun"})
      assert.are.equal(204, status)
      assert.are.equal(1, #fn.calls)
    end)

    it("an Event invocation goes to the asynchronous invoker and answers 202 with its id", function()
      local fn = fake_function("Echo")
      local front = new_front{fn}
      local submitted = {}
      front.async = {submit = function(_, target, event, options)
        submitted[#submitted + 1] = {target.name, event, options}
        return "async-id-1"
      end}
      local status, headers, body = invoke(front, "Echo", '{"later": true}', {["x-amz-invocation-type"] = "Event",
                                                                             ["x-moonrun-trigger"] = "s3 bucket"})
      assert.are.equal(202, status)
      assert.are.equal("async-id-1", headers["x-amzn-requestid"])
      assert.are.equal("", body)
      assert.are.same({{"Echo", '{"later": true}', {trigger = "s3 bucket"}}}, submitted)
      assert.are.equal(0, #fn.calls)
    end)

    it("a function error is a 200 with X-Amz-Function-Error, and the view shows the error", function()
      local err = '{"errorType": "ValueError", "errorMessage": "bad\\ninput"}'
      local fn = fake_function("Echo", nil, function() return {ok = false, payload = err} end)
      local front, view = new_front{fn}
      local status, headers, body = invoke(front, "Echo")
      assert.are.equal(200, status)
      assert.are.equal("Unhandled", headers["x-amz-function-error"])
      assert.are.equal(err, body)
      assert.is_false(view.invocations[1].ok)
      assert.are.equal("ValueError: bad input", view.invocations[1].summary)
    end)

    it("a throttled invocation is 429 TooManyRequestsException with Lambda's reason", function()
      local fn = fake_function("Echo", nil, function()
        return {ok = false, throttled = true, reason = "ConcurrentInvocationLimitExceeded", duration_ms = 0}
      end)
      local front, view = new_front{fn}
      local status, headers, body = invoke(front, "Echo")
      assert.are.equal(429, status)
      assert.are.equal("TooManyRequestsException", headers["x-amzn-errortype"])
      assert.are.same({Reason = "ConcurrentInvocationLimitExceeded", Type = "User", message = "Rate Exceeded."},
                      json.decode(body))
      assert.are.equal("throttled (429 TooManyRequestsException: ConcurrentInvocationLimitExceeded)",
                       view.invocations[1].summary)
    end)

    it("Tail returns the invocation's log as Lambda does, its last 4 KB, base64-encoded", function()
      local lines = {"first line", "second line"}
      local fn = fake_function("Echo", nil, function()
        return {ok = true, payload = "{}", log = lines, duration_ms = 12.25}
      end)
      local front = new_front{fn}
      local _, headers = invoke(front, "Echo", "{}", {["x-amz-log-type"] = "Tail"})
      local log = base64.decode(headers["x-amz-log-result"])
      assert.are.equal("START RequestId: req-1 Version: $LATEST\nfirst line\nsecond line\nEND RequestId: req-1\n" ..
        "REPORT RequestId: req-1\tDuration: 12.25 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\t\n", log)
      for i = 1, 200 do lines[i] = string.rep("x", 40) .. " " .. i end
      _, headers = invoke(front, "Echo", "{}", {["x-amz-log-type"] = "Tail"})
      log = base64.decode(headers["x-amz-log-result"])
      assert.are.equal(4096, #log)
      assert.truthy(log:find("x 200\nEND RequestId: req%-2\nREPORT RequestId: req%-2\t"))
      _, headers = invoke(front, "Echo", "{}", {["x-amz-log-type"] = "None"})
      assert.is_nil(headers["x-amz-log-result"])
    end)

    it("counts the invocations it runs per function and trigger, while they run", function()
      local front
      local seen
      local fn = fake_function("Echo", nil, function()
        seen = {front:running("Echo", "sqs q"), front:running("Echo", "invoke")}
        return {ok = true, payload = "null"}
      end)
      front = new_front{fn}
      invoke(front, "Echo", '{"Records": []}', {["x-moonrun-trigger"] = "sqs q", ["x-moonrun-batch-records"] = "1"})
      assert.are.same({1, 0}, seen)
      assert.are.equal(0, front:running("Echo", "sqs q"))
    end)
  end)

  describe("a poller's batch", function()
    local function batch(...)
      local records = {}
      for i, id in ipairs{...} do records[i] = {messageId = id, eventSource = "aws:sqs", body = "b"} end
      return json.encode{Records = records}
    end

    local function invoke_batch(answer, headers, event)
      local fn = fake_function("Consumer", nil, function() return {ok = true, payload = answer} end)
      local front, view = new_front{fn}
      local all = {["x-moonrun-trigger"] = "sqs orders"}
      for k, v in pairs(headers or {}) do all[k] = v end
      local status, _, body = invoke(front, "Consumer", event or batch("m1", "m2", "m3"), all)
      return view.invocations[1], status, body, fn
    end

    it("shows the number of records the poller says its event holds", function()
      local entry, status, _, fn = invoke_batch("null", {["x-moonrun-batch-records"] = "3"})
      assert.are.equal(200, status)
      assert.are.equal("sqs orders (3)", entry.trigger)
      assert.are.equal("ok", entry.summary)
      assert.are.equal("sqs orders", fn.calls[1].trigger, "the function's trigger is the poller's, without the count")
    end)

    it("does not count records by reading the event: no header, no count", function()
      local entry = invoke_batch("null", nil, batch("m1", "m2"))
      assert.are.equal("sqs orders", entry.trigger)
    end)

    it("with ReportBatchItemFailures, judges the answer as the poller will", function()
      local report = {["x-moonrun-batch-records"] = "3", ["x-moonrun-report-batch-item-failures"] = "true"}
      local entry = invoke_batch('{"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}', report)
      assert.is_true(entry.ok)
      assert.are.equal("ok, 2 failed items", entry.summary)
      entry = invoke_batch('{"batchItemFailures": [{"itemIdentifier": "m1"}]}', report)
      assert.are.equal("ok, 1 failed item", entry.summary)
      entry = invoke_batch('{"batchItemFailures": []}', report)
      assert.are.equal("ok", entry.summary)
      entry = invoke_batch('{"batchItemFailures": [{"itemIdentifier": "m9"}]}', report)
      assert.is_false(entry.ok)
      assert.are.equal("whole batch failed: batchItemFailures[1].itemIdentifier m9 is not a message of the batch",
                       entry.summary)
      entry = invoke_batch("not json", report)
      assert.is_false(entry.ok)
      assert.are.equal("whole batch failed: the function's answer is not JSON", entry.summary)
      -- without the option the answer is not read: the batch succeeded
      entry = invoke_batch('{"batchItemFailures": [{"itemIdentifier": "m9"}]}', {["x-moonrun-batch-records"] = "3"})
      assert.is_true(entry.ok)
      assert.are.equal("ok", entry.summary)
    end)
  end)

  describe("the API routes", function()
    local function routed(answer, extra_events)
      local events = {{name = "Get", type = "HttpApi", method = "GET", path = "/items/{id}"}}
      for _, e in ipairs(extra_events or {}) do events[#events + 1] = e end
      local fn = fake_function("Api", events, answer)
      local front, view = new_front{fn}
      return front, view, fn
    end

    it("a request on a route invokes its function with API Gateway's event and maps its answer", function()
      local front, view, fn = routed(function() return {ok = true, payload = '{"statusCode": 201, "body": "made"}'} end)
      local status, headers, body = front:handle(request{method = "GET", path = "/items/42", query = "a=1"})
      assert.are.equal(201, status)
      assert.are.equal("made", body)
      assert.are.same({}, headers)
      local event = json.decode(fn.calls[1].event)
      assert.are.equal("GET /items/{id}", event.routeKey)
      assert.are.equal("42", event.pathParameters.id)
      assert.are.equal("a=1", event.rawQueryString)
      assert.are.equal("http GET /items/42", fn.calls[1].trigger)
      assert.is_true(fn.calls[1].options.sync)
      assert.are.equal("201", view.invocations[1].summary)
      assert.is_true(view.invocations[1].ok)
    end)

    it("a request no route takes is API Gateway's 404, and no function runs", function()
      local front, view, fn = routed()
      local status, headers, body = front:handle(request{method = "GET", path = "/elsewhere"})
      assert.are.equal(404, status)
      assert.are.equal("application/json", headers["content-type"])
      assert.are.equal('{"message":"Not Found"}', body)
      assert.are.equal(0, #fn.calls)
      assert.are.equal(0, #view.invocations)
    end)

    it("a function error, a malformed answer or a throttle is the HTTP API's 500", function()
      local front, view = routed(function()
        return {ok = false, payload = '{"errorType": "Crash", "errorMessage": "x"}'}
      end)
      local status, _, body = front:handle(request{method = "GET", path = "/items/1"})
      assert.are.equal(500, status)
      assert.are.equal('{"message":"Internal Server Error"}', body)
      assert.is_false(view.invocations[1].ok)
      assert.are.equal("Crash: x", view.invocations[1].summary)
      front, view = routed(function() return {ok = true, payload = '{"statusCode": "200"}'} end)
      status = front:handle(request{method = "GET", path = "/items/1"})
      assert.are.equal(500, status)
      assert.is_false(view.invocations[1].ok)
      assert.are.equal("500: malformed Lambda proxy response: statusCode is not an HTTP status number",
                       view.invocations[1].summary)
      front, view = routed(function() return {ok = false, throttled = true, reason = "R", duration_ms = 0} end)
      status, _, body = front:handle(request{method = "GET", path = "/items/1"})
      assert.are.equal(500, status)
      assert.are.equal('{"message":"Internal Server Error"}', body)
      assert.are.equal("throttled (429 TooManyRequestsException: R)", view.invocations[1].summary)
    end)

    it("a streamed answer in the HTTP integration format gives its status, headers and body", function()
      local prelude = json.encode{statusCode = 202, headers = {["x-kind"] = "stream"}}
      local front = routed(function()
        return {ok = true, streamed = true, content_type = "application/vnd.awslambda.http-integration-response",
                payload = prelude .. string.rep("\0", 8) .. "the body"}
      end)
      local status, headers, body = front:handle(request{method = "GET", path = "/items/1"})
      assert.are.equal(202, status)
      assert.are.equal("stream", headers["x-kind"])
      assert.are.equal("the body", body)
      local broken = routed(function()
        return {ok = true, streamed = true, content_type = "application/vnd.awslambda.http-integration-response",
                payload = "no prelude here"}
      end)
      assert.are.equal(500, (broken:handle(request{method = "GET", path = "/items/1"})))
      local plain = routed(function()
        return {ok = true, streamed = true, content_type = "text/plain", payload = "as it is"}
      end)
      local _
      status, _, body = plain:handle(request{method = "GET", path = "/items/1"})
      assert.are.equal(200, status)
      assert.are.equal("as it is", body)
    end)

    it("a route's Lambda authorizer runs first: refused requests never reach the function", function()
      local authorizer = {kind = "lambda", name = "Gate", function_name = "Gate", api_type = "HttpApi",
                          payload_version = "2.0", simple = true, headers = {"Authorization"}, query = {}, ttl = 0}
      local api = fake_function("Api", {{name = "Get", type = "HttpApi", method = "GET", path = "/secret",
                                         authorizer = authorizer, api = "ServerlessHttpApi"}},
        function(event) return {ok = true, payload = json.encode{statusCode = 200, body = event}} end)
      local gate = fake_function("Gate", nil, function(event)
        local allowed = json.decode(event).headers.authorization == "let-me-in"
        return {ok = true, payload = json.encode{isAuthorized = allowed, context = {user = "ann"}}}
      end)
      local front, view = new_front{api, gate}
      local status = front:handle(request{method = "GET", path = "/secret"})
      assert.are.equal(401, status, "no identity source: 401 without invoking")
      assert.are.equal(0, #gate.calls)
      status = front:handle(request{method = "GET", path = "/secret", headers = {authorization = "wrong"}})
      assert.are.equal(403, status)
      assert.are.equal(0, #api.calls)
      local _, body
      status, _, body = front:handle(request{method = "GET", path = "/secret",
                                             headers = {authorization = "let-me-in"}})
      assert.are.equal(200, status)
      assert.are.same({user = "ann"}, json.decode(body).requestContext.authorizer.lambda)
      assert.are.equal("authorizer Gate", view.invocations[1].trigger, "the authorizer's runs are in the view too")
    end)

    it("an HTTP API's CORS answers preflights itself and adds its headers to the function's answers", function()
      local apis = {ServerlessHttpApi = {type = "HttpApi", cors = {origins = {"https://app.example"}, methods = {"GET"},
                                                                   headers = {}, expose = {}, credentials = false}}}
      local fn = fake_function("Api", {{name = "Get", type = "HttpApi", method = "GET", path = "/items/{id}",
                                        api = "ServerlessHttpApi"}},
        function()
          return {ok = true, payload = '{"statusCode": 200, "headers": {"access-control-allow-origin": "*"}}'}
        end)
      local front = new_front({fn}, apis)
      local status, headers = front:handle(request{method = "OPTIONS", path = "/items/1", headers = {
        origin = "https://app.example", ["access-control-request-method"] = "GET"}})
      assert.are.equal(204, status)
      assert.are.equal("https://app.example", headers["access-control-allow-origin"])
      assert.are.equal(0, #fn.calls)
      status, headers = front:handle(request{method = "GET", path = "/items/1",
                                             headers = {origin = "https://app.example"}})
      assert.are.equal(200, status)
      assert.are.equal("https://app.example", headers["access-control-allow-origin"])
    end)

    it("the schedules' endpoint answers first when it knows the request", function()
      local front, _, fn = routed()
      front.schedules = {handle = function(_, req)
        if req.path == "/schedules" then return 200, {}, "listed" end
      end}
      local status, _, body = front:handle(request{method = "GET", path = "/schedules"})
      assert.are.equal(200, status)
      assert.are.equal("listed", body)
      assert.are.equal(0, #fn.calls)
      assert.are.equal(404, (front:handle(request{method = "GET", path = "/other"})))
    end)
  end)

  it("two routes with the same key are refused when the front is made", function()
    local a = fake_function("A", {{name = "E1", type = "HttpApi", method = "GET", path = "/x"}})
    local b = fake_function("B", {{name = "E2", type = "HttpApi", method = "GET", path = "/x"}})
    local ok, err = pcall(new_front, {a, b})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("the HttpApi route GET /x is declared twice", 1, true), tostring(err))
  end)
end)
