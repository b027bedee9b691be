-- Specs of moonrun.dev.apigw (the HTTP front of `moonrun dev`), for busted run inside moonrun:
-- build/moonrun run /usr/bin/busted tests/lua/apigw_spec.lua
local apigw = require "moonrun.dev.apigw"
local json = require "moonrun.json"
local base64 = require "moonrun.base64"

local null = json.null
local NOW_MS = 1796162280123 -- 01/Dec/2026:21:58:00 +0000, and 123 ms

local function fn(logical_id, events)
  return {logical_id = logical_id, name = logical_id, http_events = events}
end

local function http(name, method, path, version)
  return {name = name, type = "HttpApi", method = method, path = path, payload_version = version}
end

local function rest(name, method, path)
  return {name = name, type = "Api", method = method, path = path}
end

local function error_of(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error, got none")
  return tostring(err)
end

local function request(fields)
  local req = {method = "GET", path = "/", query = "", headers = {host = "127.0.0.1:3000"}, body = "",
               remote = "127.0.0.1"}
  for key, value in pairs(fields or {}) do req[key] = value end
  return req
end

local OPTIONS = {now_ms = NOW_MS, request_id = "fixed-request-id"}

describe("moonrun.dev.apigw", function()
  describe("events of requests that are not UTF-8", function()
    it("turn each stray byte into U+FFFD, so the event is JSON", function()
      local router = apigw.router{fn("P", {http("P", "GET", "/items/{id}")})}
      local req = request{path = "/items/a%FFb\255", headers = {host = "127.0.0.1:3000", ["x-bad"] = "v\200"}}
      local route, params = router:match("GET", req.path)
      local event = json.decode(apigw.event_json(route, req, params, OPTIONS))
      assert.equal("/items/a%FFb\u{FFFD}", event.rawPath)
      assert.equal("a\u{FFFD}b\u{FFFD}", event.pathParameters.id)
      assert.equal("v\u{FFFD}", event.headers["x-bad"])
    end)
  end)

  describe("routing", function()
    -- the example routes of API Gateway's "Routing API requests" for HTTP APIs
    local router = apigw.router{
      fn("Exact", {http("E", "GET", "/pets/dog/1")}),
      fn("Param", {http("P", "GET", "/pets/dog/{id}")}),
      fn("PetsProxy", {http("G", "GET", "/pets/{proxy+}")}),
      fn("AnyProxy", {http("A", "ANY", "/{proxy+}")}),
      fn("Default", {http("D")}),
    }

    local function key_for(method, path)
      local route = router:match(method, path)
      return route and route.route_key
    end

    it("prefers a full match of route and method, then a greedy variable, then $default", function()
      assert.are.equal("GET /pets/dog/1", key_for("GET", "/pets/dog/1"))
      assert.are.equal("GET /pets/dog/{id}", key_for("GET", "/pets/dog/2"))
      assert.are.equal("GET /pets/{proxy+}", key_for("GET", "/pets/cat/1"))
      assert.are.equal("ANY /{proxy+}", key_for("POST", "/test/5"))
      assert.are.equal("ANY /{proxy+}", key_for("POST", "/pets/dog/1"))
      assert.are.equal("$default", key_for("GET", "/"))
    end)

    it("gives the route's function, event and payload version", function()
      local route = router:match("GET", "/pets/dog/7")
      assert.are.equal("Param", route.function_name)
      assert.are.equal("Param", route.fn.logical_id)
      assert.are.equal("P", route.event_name)
      assert.are.equal("2.0", route.payload_version)
      assert.are.equal("/pets/dog/{id}", route.resource)
    end)

    it("gives path parameters, URL-decoded, the greedy one with its slashes", function()
      local _, params = router:match("GET", "/pets/dog/a%20b")
      assert.are.same({id = "a b"}, params)
      _, params = router:match("GET", "/pets/cat/x%2Fy/z%C3%A9")
      assert.are.same({proxy = "cat/x/y/z\xC3\xA9"}, params)
      local route
      route, params = router:match("GET", "/pets/dog/1")
      assert.are.equal("GET /pets/dog/1", route.route_key)
      assert.are.same({}, params)
    end)

    it("does not give a path variable an empty segment", function()
      local only = apigw.router{fn("F", {http("A", "GET", "/items/{id}"), http("B", "GET", "/items")})}
      assert.is_nil(only:match("GET", "/items/"))
      assert.is_nil(only:match("GET", "/items//x"))
      assert.is_nil(only:match("GET", "/items/1/"))
      assert.are.equal("GET /items", only:match("GET", "/items").route_key)
      local greedy = apigw.router{fn("F", {http("A", "ANY", "/files/{path+}")})}
      assert.is_nil(greedy:match("GET", "/files"))
      assert.is_nil(greedy:match("GET", "/files/"))
      assert.are.same({path = "a/"}, select(2, greedy:match("GET", "/files/a/")))
    end)

    it("prefers an exact method to ANY on the same path, and a literal segment to a variable", function()
      local r = apigw.router{
        fn("Any", {http("A", "ANY", "/things/{id}")}),
        fn("Get", {http("G", "get", "/things/{id}")}),
        fn("Left", {http("L", "GET", "/a/{x}")}),
        fn("Right", {http("R", "GET", "/{y}/b")}),
      }
      assert.are.equal("Get", r:match("GET", "/things/1").function_name)
      assert.are.equal("Any", r:match("DELETE", "/things/1").function_name)
      assert.are.equal("Left", r:match("GET", "/a/b").function_name)
      assert.are.equal("Right", r:match("GET", "/z/b").function_name)
    end)

    it("ignores the query string and matches methods in any case", function()
      local r = apigw.router{fn("F", {http("A", "POST", "/send")})}
      assert.are.equal("POST /send", r:match("post", "/send?x=1").route_key)
      assert.is_nil(r:match("GET", "/send"))
    end)

    it("routes REST API resources, with the 1.0 format and the Prod stage", function()
      local r = apigw.router{fn("Rest", {rest("R", "GET", "/items/{id}"), rest("P", "ANY", "/{proxy+}")})}
      local route, params = r:match("GET", "/items/9")
      assert.are.equal("Api", route.type)
      assert.are.equal("1.0", route.payload_version)
      assert.are.equal("Prod", route.stage)
      assert.are.same({id = "9"}, params)
      assert.are.equal("ANY /{proxy+}", r:match("PUT", "/items/9").route_key)
    end)

    it("answers a request no route matches as API Gateway does", function()
      local r = apigw.router{fn("F", {http("A", "POST", "/send")})}
      assert.is_nil(r:match("GET", "/other"))
      local status, headers, body = apigw.not_found(r)
      assert.are.equal(404, status)
      assert.are.equal("application/json", headers["content-type"])
      assert.are.equal('{"message":"Not Found"}', body)
      local only_rest = apigw.router{fn("F", {rest("A", "POST", "/send")})}
      status, headers, body = apigw.not_found(only_rest)
      assert.are.equal(403, status)
      assert.are.equal("MissingAuthenticationTokenException", headers["x-amzn-ErrorType"])
      assert.are.equal('{"message":"Missing Authentication Token"}', body)
      assert.are.equal(404, (apigw.not_found(apigw.router{})))
    end)

    it("refuses a route declared twice in one API, naming both functions", function()
      local message = error_of(function()
        apigw.router{fn("One", {http("A", "GET", "/x")}), fn("Two", {http("B", "GET", "/x")})}
      end)
      assert.truthy(message:find("GET /x", 1, true), message)
      assert.truthy(message:find("One", 1, true) and message:find("Two", 1, true), message)
      -- the same key in the HTTP API and the REST API is two APIs: the HttpApi one wins, with a warning
      local r = apigw.router{fn("One", {http("A", "GET", "/x")}), fn("Two", {rest("B", "GET", "/x")})}
      assert.are.equal("One", r:match("GET", "/x").function_name)
      assert.are.equal(1, #r.warnings)
    end)

    it("refuses bad routes with a message naming the function and event", function()
      local cases = {
        {http("Bad", "GET", "no-slash"), "must begin with '/'"},
        {http("Bad", "GET", "/a/{proxy+}/b"), "must end the path"},
        {http("Bad", "GET", "/a/{b"), "is not a path variable"},
        {http("Bad", "FETCH", "/a"), "unknown method"},
        {http("Bad", "GET", "/a", "3.0"), "PayloadFormatVersion"},
        {rest("Bad", nil, nil), "needs both Path and Method"},
        {{name = "Bad", type = "Sqs", method = "GET", path = "/"}, "unknown HTTP event type"},
      }
      for _, case in ipairs(cases) do
        local message = error_of(function() apigw.router{fn("Fn", {case[1]})} end)
        assert.truthy(message:find(case[2], 1, true), message)
        assert.truthy(message:find("function Fn, event Bad", 1, true), message)
      end
    end)
  end)

  describe("HTTP API events (payload 2.0)", function()
    local router = apigw.router{fn("Items", {http("Get", "GET", "/items/{id}"), http("Post", "POST", "/items")}),
                                fn("Catch", {http("Default")})}

    local function event_for(req)
      local route, params = router:match(req.method, req.path)
      return apigw.event(route, req, params, OPTIONS), route
    end

    it("carries the request as API Gateway's 2.0 format does", function()
      local event = event_for(request{
        path = "/items/a%20b", query = "a=1&a=2&b=x%20y&c",
        header_list = {{"Host", "127.0.0.1:3000"}, {"User-Agent", "curl/8.5.0"}, {"X-Multi", "1"}, {"x-multi", "2"},
                       {"Cookie", "s=1; theme=dark"}, {"Cookie", "k=v"}, {"X-Forwarded-For", "10.0.0.9"}},
        remote = "192.0.2.7",
      })
      assert.are.equal("2.0", event.version)
      assert.are.equal("GET /items/{id}", event.routeKey)
      assert.are.equal("/items/a%20b", event.rawPath)
      assert.are.equal("a=1&a=2&b=x%20y&c", event.rawQueryString)
      assert.are.same({"s=1", "theme=dark", "k=v"}, event.cookies)
      assert.are.equal("1,2", event.headers["x-multi"])
      assert.are.equal("curl/8.5.0", event.headers["user-agent"])
      assert.are.equal("127.0.0.1:3000", event.headers.host)
      assert.is_nil(event.headers.cookie)
      assert.is_nil(event.headers.Host)
      assert.are.equal("10.0.0.9, 192.0.2.7", event.headers["x-forwarded-for"])
      assert.are.equal("http", event.headers["x-forwarded-proto"])
      assert.are.equal("3000", event.headers["x-forwarded-port"])
      assert.truthy(event.headers["x-amzn-trace-id"]:match("^Root=1%-%x%x%x%x%x%x%x%x%-%x+$"))
      assert.are.same({a = "1,2", b = "x y", c = ""}, event.queryStringParameters)
      assert.are.same({id = "a b"}, event.pathParameters)
      assert.is_nil(event.stageVariables)
      assert.is_nil(event.body)
      assert.is_false(event.isBase64Encoded)
      local c = event.requestContext
      assert.are.equal("000000000000", c.accountId)
      assert.are.equal("moonrundev", c.apiId)
      assert.are.equal("127.0.0.1", c.domainName)
      assert.are.equal("127", c.domainPrefix)
      assert.are.same({method = "GET", path = "/items/a%20b", protocol = "HTTP/1.1", sourceIp = "192.0.2.7",
                       userAgent = "curl/8.5.0"}, c.http)
      assert.are.equal("fixed-request-id", c.requestId)
      assert.are.equal("GET /items/{id}", c.routeKey)
      assert.are.equal("$default", c.stage)
      assert.are.equal("01/Dec/2026:21:58:00 +0000", c.time)
      assert.are.equal(NOW_MS, c.timeEpoch)
      assert.are.equal("integer", math.type(c.timeEpoch))
      -- and it travels as JSON
      assert.are.same(event.cookies, json.decode(json.encode(event)).cookies)
    end)

    it("leaves out what the request does not have", function()
      local event = event_for(request{path = "/anything", headers = {host = "localhost:8080"}})
      assert.are.equal("$default", event.routeKey)
      assert.are.equal("", event.rawQueryString)
      assert.is_nil(event.queryStringParameters)
      assert.is_nil(event.cookies)
      assert.is_nil(event.pathParameters)
      assert.is_nil(event.body)
      assert.are.equal("localhost", event.requestContext.domainName)
      assert.are.equal("localhost", event.requestContext.domainPrefix)
      assert.are.equal("", event.requestContext.http.userAgent)
      local text = json.encode(event)
      for _, field in ipairs{"queryStringParameters", "cookies", "pathParameters", "stageVariables", '"body"'} do
        assert.is_nil(text:find(field, 1, true), field)
      end
    end)

    it("uses the joined header map when the server gives no header list", function()
      local event = event_for(request{path = "/x", headers = {host = "h", ["x-multi"] = "1,2", cookie = "a=1; b=2"}})
      assert.are.equal("1,2", event.headers["x-multi"])
      assert.are.same({"a=1", "b=2"}, event.cookies)
    end)

    it("passes text bodies as they are and base64-encodes the others", function()
      local cases = {
        {"application/json", '{"a": 1}', false}, {"text/plain; charset=utf-8", "h\xC3\xA9", false},
        {"application/vnd.api+json", "{}", false}, {"application/xml", "<a/>", false},
        {"application/x-www-form-urlencoded", "a=1&b=2", true}, {"image/png", "\x89PNG\r\n\0", true},
        {nil, "no type", true}, {"text/plain", "\xFF\xFEnot utf-8", true},
      }
      for _, case in ipairs(cases) do
        local headers = {host = "h", ["content-type"] = case[1]}
        local event = event_for(request{method = "POST", path = "/items", headers = headers, body = case[2]})
        assert.are.equal(case[3], event.isBase64Encoded, tostring(case[1]))
        if case[3] then
          assert.are.equal(case[2], base64.decode(event.body))
        else
          assert.are.equal(case[2], event.body)
        end
        json.encode(event) -- every case can travel as JSON
      end
    end)

    it("gives an HTTP API route that asks for 1.0 the 1.0 format, with lower-case names", function()
      local r = apigw.router{fn("Old", {http("V1", "POST", "/old", "1.0")})}
      local route, params = r:match("POST", "/old")
      local event = apigw.event(route, request{method = "POST", path = "/old", query = "x=1&x=2",
        header_list = {{"Host", "h:1"}, {"X-Multi", "1"}, {"X-Multi", "2"}}, body = "hi",
        headers = {}}, params, OPTIONS)
      assert.are.equal("1.0", event.version)
      assert.are.equal("/old", event.resource)
      assert.are.equal("2", event.headers["x-multi"])
      assert.are.same({"1", "2"}, event.multiValueHeaders["x-multi"])
      assert.are.same({x = "2"}, event.queryStringParameters)
      assert.are.same({x = {"1", "2"}}, event.multiValueQueryStringParameters)
      assert.are.equal(null, event.pathParameters)
      assert.are.equal("$default", event.requestContext.stage)
      assert.are.equal("/old", event.requestContext.path)
      assert.are.equal("POST /old", event.requestContext.resourceId)
      assert.is_true(event.isBase64Encoded) -- no content type: not text, as HTTP APIs judge it
      assert.are.equal("hi", base64.decode(event.body))
    end)
  end)

  describe("REST API events (payload 1.0)", function()
    local router = apigw.router{fn("Rest", {rest("Get", "GET", "/items/{id}"), rest("Any", "ANY", "/{proxy+}")})}

    local function event_for(req)
      local route, params = router:match(req.method, req.path)
      return apigw.event(route, req, params, OPTIONS), route
    end

    it("carries the request as a REST API's Lambda proxy integration does", function()
      local event, route = event_for(request{
        path = "/items/7", query = "tag=a&tag=b&q=x+y",
        header_list = {{"Host", "127.0.0.1:3000"}, {"User-Agent", "curl/8.5.0"}, {"X-Multi", "1"}, {"X-Multi", "2"},
                       {"Cookie", "s=1"}},
      })
      assert.is_nil(event.version)
      assert.are.equal("/items/{id}", event.resource)
      assert.are.equal("/items/7", event.path)
      assert.are.equal("GET", event.httpMethod)
      assert.are.equal("2", event.headers["X-Multi"])
      assert.are.same({"1", "2"}, event.multiValueHeaders["X-Multi"])
      assert.are.equal("s=1", event.headers.Cookie)
      assert.are.same({"curl/8.5.0"}, event.multiValueHeaders["User-Agent"])
      assert.are.same({tag = "b", q = "x y"}, event.queryStringParameters)
      assert.are.same({tag = {"a", "b"}, q = {"x y"}}, event.multiValueQueryStringParameters)
      assert.are.same({id = "7"}, event.pathParameters)
      assert.are.equal(null, event.stageVariables)
      assert.are.equal(null, event.body)
      assert.is_false(event.isBase64Encoded)
      local c = event.requestContext
      assert.are.equal("/Prod/items/7", c.path)
      assert.are.equal("Prod", c.stage)
      assert.are.equal("/items/{id}", c.resourcePath)
      assert.are.equal(route.resource_id, c.resourceId)
      assert.are.equal("GET", c.httpMethod)
      assert.are.equal("fixed-request-id", c.requestId)
      assert.are.equal("01/Dec/2026:21:58:00 +0000", c.requestTime)
      assert.are.equal(NOW_MS, c.requestTimeEpoch)
      assert.are.equal("127.0.0.1", c.identity.sourceIp)
      assert.are.equal("curl/8.5.0", c.identity.userAgent)
      assert.are.equal(null, c.identity.user)
      assert.are.equal(null, c.identity.cognitoIdentityId)
      assert.truthy(json.encode(event):find('"queryStringParameters":{', 1, true))
    end)

    it("sends null for what the request does not have", function()
      local event = event_for(request{path = "/other/thing", headers = {host = "h"}})
      assert.are.equal("/{proxy+}", event.resource)
      assert.are.same({proxy = "other/thing"}, event.pathParameters)
      assert.are.equal(null, event.queryStringParameters)
      assert.are.equal(null, event.multiValueQueryStringParameters)
      local text = json.encode(event)
      assert.truthy(text:find('"queryStringParameters":null', 1, true))
      assert.truthy(text:find('"multiValueQueryStringParameters":null', 1, true))
      assert.truthy(text:find('"stageVariables":null', 1, true))
      assert.truthy(text:find('"body":null', 1, true))
    end)

    it("passes text bodies as text and encodes bytes that are not UTF-8", function()
      local event = event_for(request{method = "POST", path = "/x", headers = {host = "h", ["content-type"] = "application/x-www-form-urlencoded"}, body = "a=1"})
      assert.are.equal("a=1", event.body)
      assert.is_false(event.isBase64Encoded)
      event = event_for(request{method = "POST", path = "/x", headers = {host = "h"}, body = "\0\255\1"})
      assert.is_true(event.isBase64Encoded)
      assert.are.equal("\0\255\1", base64.decode(event.body))
    end)
  end)

  describe("responses of an HTTP API (2.0)", function()
    local route = apigw.router{fn("F", {http("A", "GET", "/")})}:match("GET", "/")

    local function respond(payload, ok)
      if ok == nil then ok = true end
      return apigw.response(route, ok, payload)
    end

    local function assert_internal_error(payload)
      local status, headers, body, why = respond(payload)
      assert.are.equal(500, status, payload)
      assert.are.equal('{"message":"Internal Server Error"}', body)
      assert.are.equal("application/json", headers["content-type"])
      assert.truthy(why, "a reason for the log")
    end

    it("takes an answer without statusCode as a 200 JSON body", function()
      local status, headers, body = respond('{"message": "Hello"}')
      assert.are.equal(200, status)
      assert.are.same({["content-type"] = "application/json"}, headers)
      assert.are.equal('{"message": "Hello"}', body)
      assert.are.equal('[1,2]', select(3, respond("[1,2]")))
      assert.are.equal("42", select(3, respond("42")))
      assert.are.equal("null", select(3, respond("null")))
      -- a string answer is the body as it is
      status, headers, body = respond('"Hello from Lambda!"')
      assert.are.equal(200, status)
      assert.are.equal("Hello from Lambda!", body)
      assert.are.equal("application/json", headers["content-type"])
      -- an answer already decoded works too
      assert.are.equal('{"a":1}', select(3, respond({a = 1})))
    end)

    it("uses statusCode, headers, multiValueHeaders, cookies and body", function()
      local status, headers, body = respond(json.encode{
        statusCode = 201, headers = {["Content-Type"] = "text/html", ["X-Count"] = 3, ["X-Ok"] = true},
        multiValueHeaders = {["X-Multi"] = {"a", "b"}}, cookies = {"a=1; Path=/", "b=2"}, body = "<p>hi</p>",
      })
      assert.are.equal(201, status)
      assert.are.equal("integer", math.type(status))
      assert.are.equal("text/html", headers["Content-Type"])
      assert.are.equal("3", headers["X-Count"])
      assert.are.equal("true", headers["X-Ok"])
      assert.are.same({"a", "b"}, headers["X-Multi"])
      assert.are.same({"a=1; Path=/", "b=2"}, headers["set-cookie"])
      assert.are.equal("<p>hi</p>", body)
    end)

    it("decodes a base64 body and takes a missing body as empty", function()
      local status, _, body = respond(json.encode{statusCode = 200, body = base64.encode("\0\1\2\255"), isBase64Encoded = true})
      assert.are.equal(200, status)
      assert.are.equal("\0\1\2\255", body)
      status, _, body = respond('{"statusCode": 204}')
      assert.are.equal(204, status)
      assert.are.equal("", body)
      status, _, body = respond('{"statusCode": 200.0, "body": null, "headers": null}')
      assert.are.equal(200, status)
      assert.are.equal("", body)
    end)

    it("answers 500 for every malformed answer", function()
      for _, payload in ipairs{
        '{"statusCode": "200"}', '{"statusCode": 99}', '{"statusCode": 600}', '{"statusCode": 200.5}',
        '{"statusCode": null}', '{"statusCode": true}',
        '{"statusCode": 200, "body": 5}', '{"statusCode": 200, "body": {"a": 1}}',
        '{"statusCode": 200, "headers": "x"}', '{"statusCode": 200, "headers": ["x"]}',
        '{"statusCode": 200, "headers": {"X": {"a": 1}}}', '{"statusCode": 200, "headers": {"X": "a\\r\\nB: c"}}',
        '{"statusCode": 200, "headers": {"Bad Name": "x"}}',
        '{"statusCode": 200, "multiValueHeaders": {"X": "a"}}', '{"statusCode": 200, "multiValueHeaders": {"X": [{}]}}',
        '{"statusCode": 200, "cookies": "a=1"}', '{"statusCode": 200, "cookies": [1]}',
        '{"statusCode": 200, "isBase64Encoded": "yes", "body": ""}',
        '{"statusCode": 200, "isBase64Encoded": true, "body": "not base64!"}',
        "not JSON at all",
      } do
        assert_internal_error(payload)
      end
    end)

    it("answers 500 when the function failed", function()
      local status, _, body = respond('{"errorMessage": "boom", "errorType": "Error"}', false)
      assert.are.equal(500, status)
      assert.are.equal('{"message":"Internal Server Error"}', body)
    end)
  end)

  describe("responses of a REST API (1.0)", function()
    local route = apigw.router{fn("F", {rest("A", "GET", "/")})}:match("GET", "/")

    local function assert_bad_gateway(payload, ok)
      local status, headers, body = apigw.response(route, ok ~= false, payload)
      assert.are.equal(502, status, tostring(payload))
      assert.are.equal('{"message": "Internal server error"}', body)
      assert.are.equal("application/json", headers["content-type"])
      assert.are.equal("InternalServerErrorException", headers["x-amzn-ErrorType"])
    end

    it("merges headers and multiValueHeaders, the list winning for a name in both", function()
      local status, headers, body = apigw.response(route, true, json.encode{
        statusCode = 200, headers = {["X-One"] = "1", ["X-Both"] = "single", ["Content-Type"] = "text/plain"},
        multiValueHeaders = {["x-both"] = {"m1", "m2"}, ["Set-Cookie"] = {"a=1", "b=2"}}, body = "ok",
      })
      assert.are.equal(200, status)
      assert.are.equal("1", headers["X-One"])
      assert.are.same({"m1", "m2"}, headers["X-Both"])
      assert.are.same({"a=1", "b=2"}, headers["Set-Cookie"])
      assert.are.equal("text/plain", headers["Content-Type"])
      assert.are.equal("ok", body)
      local _, _, decoded = apigw.response(route, true, json.encode{statusCode = 200, body = base64.encode("\255"),
                                                                   isBase64Encoded = true})
      assert.are.equal("\255", decoded)
    end)

    it("ignores cookies, which 1.0 does not have", function()
      local _, headers = apigw.response(route, true, '{"statusCode": 200, "cookies": ["a=1"]}')
      assert.is_nil(headers["set-cookie"])
    end)

    it("answers 502 for an answer without statusCode, or malformed, and for a function error", function()
      for _, payload in ipairs{'{"body": "no status"}', '"a string"', "[1]", "null", "42",
                               '{"statusCode": "200"}', '{"statusCode": 200, "body": 1}',
                               '{"statusCode": 200, "multiValueHeaders": {"X": "1"}}', "{broken"} do
        assert_bad_gateway(payload)
      end
      assert_bad_gateway('{"errorMessage": "boom"}', false)
    end)

    it("answers 500, the HTTP API's error, for an HTTP API route on 1.0", function()
      local v1 = apigw.router{fn("F", {http("A", "GET", "/", "1.0")})}:match("GET", "/")
      local status, _, body = apigw.response(v1, true, '{"body": "no status"}')
      assert.are.equal(500, status)
      assert.are.equal('{"message":"Internal Server Error"}', body)
      assert.are.equal(200, (apigw.response(v1, true, '{"statusCode": 200}')))
    end)
  end)
end)
