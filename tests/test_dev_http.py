"""`moonrun dev`'s HTTP front: the routes of an HTTP API (payload 2.0 and 1.0) and of a REST
API, the events they make and the answers they send, as API Gateway does.

Run from the repository root: python3 -m unittest -v tests/test_dev_http.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import base64
import http.client
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# setUpModule and tearDownModule: moto, while dev has no SQS endpoint of its own
from dev_support import setUpModule, tearDownModule  # noqa: E402,F401
from dev_support import (  # noqa: E402
    ACCOUNT, DevTestCase, ONE_FUNCTION, header, http_request, seconds)


HTTP_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: provided.al2023
    CodeUri: fn
Resources:
  Items:
    Type: AWS::Serverless::Function
    Properties:
      Handler: echo.handler
      Events:
        Post:
          Type: HttpApi
          Properties: {Path: "/items/{id}", Method: POST}
        Files:
          Type: HttpApi
          Properties: {Path: "/files/{path+}", Method: ANY}
  Legacy:
    Type: AWS::Serverless::Function
    Properties:
      Handler: echo.handler
      Events:
        Get:
          Type: Api
          Properties: {Path: "/v1/items/{id}", Method: GET}
        Fail:
          Type: Api
          Properties: {Path: "/v1/fail", Method: GET}
  Answers:
    Type: AWS::Serverless::Function
    Properties:
      Handler: answers.handler
      Events:
        Any:
          Type: HttpApi
          Properties: {Path: "/answer/{kind}", Method: ANY}
"""


HTTP_ECHO_LUA = """\
local json = require "moonrun.json"
local M = {}
function M.handler(event)
  if (event.rawPath or event.path):match("fail$") then error("the handler failed") end
  return {statusCode = 200, headers = {["content-type"] = "application/json"}, body = json.encode(event)}
end
return M
"""


ANSWERS_LUA = """\
local base64 = require "moonrun.base64"
local M = {}
function M.handler(event)
  local kind = event.pathParameters.kind
  if kind == "full" then
    return {statusCode = 201, headers = {["content-type"] = "text/plain", ["x-answer"] = "42"},
            cookies = {"session=abc; Path=/; HttpOnly", "theme=dark"}, body = "created"}
  elseif kind == "binary" then
    return {statusCode = 200, headers = {["content-type"] = "image/png"}, isBase64Encoded = true,
            body = base64.encode("\\137PNG\\0\\1\\2\\255")}
  elseif kind == "string" then
    return "just a string"
  elseif kind == "table" then
    return {hello = "world", list = {1, 2, 3}}
  elseif kind == "error" then
    error("the answer failed")
  elseif kind == "empty" then
    return {statusCode = 204}
  elseif kind == "unicode" then
    return {statusCode = 200, headers = {["content-type"] = "text/plain; charset=utf-8"}, body = "h\\u{e9}llo \\u{1F319}"}
  elseif kind == "malformed" then
    return {statusCode = "not a number"}
  end
  return {statusCode = 404, body = "no such kind"}
end
return M
"""


class TestHttpRoutes(DevTestCase):
    """The template's HttpApi (payload 2.0) and Api (payload 1.0) routes."""

    def setUp(self):
        super().setUp()
        self.write("fn/echo.lua", HTTP_ECHO_LUA)
        self.write("fn/answers.lua", ANSWERS_LUA)
        self.dev = self.start_dev(self.template(HTTP_TEMPLATE))
        self.base = self.dev.front

    def request(self, method, path, body=None, headers=None):
        return http_request(self.base + path, method, body, headers)

    def echo(self, method, path, body=None, headers=None):
        status, response_headers, raw = self.request(method, path, body, headers)
        self.assertEqual(status, 200, raw.decode(errors="replace") + self.dev.output())
        return json.loads(raw)

    def test_the_banner_lists_the_routes(self):
        for route in (r"POST /items/\{id\}\s+-> Items", r"GET /v1/items/\{id\}\s+-> Legacy",
                      r"ANY /answer/\{kind\}\s+-> Answers"):
            self.dev.wait_for(r"\bhttp\s+http://127\.0\.0\.1:\d+ " + route)
        self.stop_dev(self.dev)

    def test_an_http_api_event_payload_2_0(self):
        event = self.echo("POST", "/items/42?a=1&b=two%20words&a=3",
                          b'{"name": "ada"}',
                          [("Content-Type", "application/json"), ("X-Custom", "custom value"),
                           ("Cookie", "c1=v1; c2=v2")])
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "POST /items/{id}")
        self.assertEqual(event["rawPath"], "/items/42")
        self.assertEqual(event["rawQueryString"], "a=1&b=two%20words&a=3")
        self.assertEqual(event["queryStringParameters"], {"a": "1,3", "b": "two words"})
        self.assertEqual(event["pathParameters"], {"id": "42"})
        self.assertEqual(event["headers"]["x-custom"], "custom value")
        self.assertEqual(event["headers"]["content-type"], "application/json")
        self.assertNotIn("cookie", event["headers"])
        self.assertEqual(event["cookies"], ["c1=v1", "c2=v2"])
        self.assertEqual(event["body"], '{"name": "ada"}')
        self.assertIs(event["isBase64Encoded"], False)
        self.assertEqual(event["requestContext"]["http"]["method"], "POST")
        self.assertEqual(event["requestContext"]["http"]["path"], "/items/42")
        self.assertEqual(event["requestContext"]["http"]["sourceIp"], "127.0.0.1")
        self.assertEqual(event["requestContext"]["stage"], "$default")
        self.assertEqual(event["requestContext"]["accountId"], ACCOUNT)
        self.dev.wait_for(r"Items\s+http POST /items/42\s.*\b200\b")
        self.stop_dev(self.dev)

    def test_a_binary_body_arrives_base64_encoded(self):
        data = bytes(range(256))
        event = self.echo("POST", "/items/bin", data, [("Content-Type", "application/octet-stream")])
        self.assertIs(event["isBase64Encoded"], True)
        self.assertEqual(base64.b64decode(event["body"]), data)
        self.stop_dev(self.dev)

    def test_percent_encoded_paths(self):
        event = self.echo("POST", "/items/a%20b%2Fc?q=%C3%A9t%C3%A9", b"{}", [("Content-Type", "application/json")])
        self.assertEqual(event["rawPath"], "/items/a%20b%2Fc")
        self.assertEqual(event["pathParameters"], {"id": "a b/c"})
        self.assertEqual(event["queryStringParameters"], {"q": "\u00e9t\u00e9"})
        self.stop_dev(self.dev)

    def test_a_greedy_path_parameter(self):
        event = self.echo("GET", "/files/a/b/c.txt")
        self.assertEqual(event["pathParameters"], {"path": "a/b/c.txt"})
        self.assertEqual(event["routeKey"], "ANY /files/{path+}")
        self.assertNotIn("body", event)
        self.stop_dev(self.dev)

    def test_an_api_event_payload_1_0(self):
        event = self.echo("GET", "/v1/items/7?a=1&a=3&b=x", None, [("X-Custom", "one")])
        self.assertEqual(event["httpMethod"], "GET")
        self.assertEqual(event["path"], "/v1/items/7")
        self.assertEqual(event["resource"], "/v1/items/{id}")
        self.assertEqual(event["pathParameters"], {"id": "7"})
        self.assertEqual(event["queryStringParameters"], {"a": "3", "b": "x"})
        self.assertEqual(event["multiValueQueryStringParameters"], {"a": ["1", "3"], "b": ["x"]})
        headers = {k.lower(): v for k, v in event["headers"].items()}
        self.assertEqual(headers["x-custom"], "one")
        multi = {k.lower(): v for k, v in event["multiValueHeaders"].items()}
        self.assertEqual(multi["x-custom"], ["one"])
        self.assertIsNone(event["body"])
        self.assertIs(event["isBase64Encoded"], False)
        self.assertEqual(event["requestContext"]["httpMethod"], "GET")
        self.assertEqual(event["requestContext"]["resourcePath"], "/v1/items/{id}")
        self.assertNotIn("rawPath", event)
        self.stop_dev(self.dev)

    def test_the_answer_with_status_headers_and_cookies(self):
        status, headers, body = self.request("GET", "/answer/full")
        self.assertEqual(status, 201)
        self.assertEqual(body, b"created")
        self.assertEqual(header(headers, "x-answer"), "42")
        self.assertEqual(header(headers, "content-type"), "text/plain")
        cookies = [v for k, v in headers if k.lower() == "set-cookie"]
        self.assertEqual(cookies, ["session=abc; Path=/; HttpOnly", "theme=dark"])
        self.stop_dev(self.dev)

    def test_a_base64_answer_is_sent_as_bytes(self):
        status, headers, body = self.request("GET", "/answer/binary")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"\x89PNG\x00\x01\x02\xff")
        self.assertEqual(header(headers, "content-type"), "image/png")
        self.stop_dev(self.dev)

    def test_a_bare_string_or_table_answer(self):
        status, headers, body = self.request("GET", "/answer/string")
        self.assertEqual((status, body), (200, b"just a string"))
        status, headers, body = self.request("GET", "/answer/table")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"hello": "world", "list": [1, 2, 3]})
        self.assertEqual(header(headers, "content-type"), "application/json")
        self.stop_dev(self.dev)

    def test_an_empty_answer_and_unicode(self):
        status, _, body = self.request("GET", "/answer/empty")
        self.assertEqual((status, body), (204, b""))
        status, _, body = self.request("GET", "/answer/unicode")
        self.assertEqual((status, body.decode()), (200, "h\u00e9llo \U0001F319"))
        event = self.echo("POST", "/items/u", "{\"name\": \"\u00e9\U0001F319\"}".encode(),
                          [("Content-Type", "application/json; charset=utf-8")])
        self.assertEqual(json.loads(event["body"]), {"name": "\u00e9\U0001F319"})
        self.stop_dev(self.dev)

    def test_keep_alive_and_chunked_requests(self):
        conn = http.client.HTTPConnection("127.0.0.1", int(self.base.rsplit(":", 1)[1]), timeout=seconds(30))
        try:
            for i in range(3):
                conn.request("POST", f"/items/{i}", body=b'{"n": %d}' % i, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                self.assertEqual(response.status, 200)
                self.assertEqual(json.loads(response.read())["pathParameters"], {"id": str(i)})
            conn.request("POST", "/items/chunked", body=iter([b'{"part": ', b'"one"}']),
                         headers={"Content-Type": "application/json"}, encode_chunked=True)
            response = conn.getresponse()
            self.assertEqual(response.status, 200)
            self.assertEqual(json.loads(json.loads(response.read())["body"]), {"part": "one"})
        finally:
            conn.close()
        self.stop_dev(self.dev)

    def test_repeated_request_headers(self):
        event = self.echo("POST", "/items/h", b"{}", [("Content-Type", "application/json"), ("X-Many", "a"),
                                                       ("X-Many", "b")])
        self.assertEqual(event["headers"]["x-many"], "a,b")
        event = self.echo("GET", "/v1/items/h", None, [("X-Many", "a"), ("X-Many", "b")])
        multi = {k.lower(): v for k, v in event["multiValueHeaders"].items()}
        self.assertEqual(multi["x-many"], ["a", "b"])
        self.assertEqual({k.lower(): v for k, v in event["headers"].items()}["x-many"], "b")
        self.stop_dev(self.dev)

    def test_no_route_is_404(self):
        for method, path in (("GET", "/nowhere"), ("GET", "/items/42"), ("POST", "/items"),
                             ("DELETE", "/v1/items/1")):
            status, _, body = self.request(method, path)
            self.assertEqual(status, 404, f"{method} {path}: {body}")
            self.assertEqual(json.loads(body), {"message": "Not Found"})
        self.stop_dev(self.dev)

    def test_a_handler_error_is_500_internal_server_error(self):
        status, headers, body = self.request("GET", "/answer/error")
        self.assertEqual(status, 500)
        self.assertEqual(json.loads(body), {"message": "Internal Server Error"})
        self.assertNotIn(b"the answer failed", body, "the error is not shown to the client")
        self.dev.wait_for(r"Answers\s+http GET /answer/error\s.*the answer failed")
        status, _, body = self.request("GET", "/answer/malformed")
        self.assertEqual(status, 500)
        # the function still answers
        status, _, body = self.request("GET", "/answer/table")
        self.assertEqual((status, json.loads(body)["hello"]), (200, "world"))
        self.stop_dev(self.dev)

    def test_a_rest_api_handler_error_is_502(self):
        status, _, body = self.request("GET", "/v1/fail")
        self.assertEqual(status, 502)
        self.assertEqual(json.loads(body)["message"], "Internal server error")
        self.stop_dev(self.dev)


class TestDefaultRoute(DevTestCase):
    def test_an_http_api_event_without_path_is_the_default_route(self):
        self.write("fn/echo.lua", HTTP_ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION.replace("app.handler", "echo.handler") + """\
      Events:
        Everything:
          Type: HttpApi
"""))
        for path in ("/", "/any/thing?x=1"):
            status, _, body = http_request(dev.front + path, "PUT", b"{}")
            self.assertEqual(status, 200, body)
            event = json.loads(body)
            self.assertEqual(event["routeKey"], "$default")
            self.assertEqual(event["rawPath"], path.split("?")[0])
        self.stop_dev(dev)


class TestRestApiOnly(DevTestCase):
    def test_no_route_of_a_rest_api_is_403_missing_authentication_token(self):
        # what API Gateway's REST APIs answer for a path they do not have
        self.write("fn/echo.lua", HTTP_ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION.replace("app.handler", "echo.handler") + """\
      Events:
        Get:
          Type: Api
          Properties: {Path: "/v1/items/{id}", Method: GET}
"""))
        status, _, body = http_request(dev.front + "/v1/items/1")
        self.assertEqual(status, 200)
        status, headers, body = http_request(dev.front + "/v1/other")
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body), {"message": "Missing Authentication Token"})
        self.stop_dev(dev)


if __name__ == "__main__":
    unittest.main()
