"""End-to-end tests of `moonrun dev`'s function URLs (FunctionUrlConfig): each function's own
port, the function URL event, buffered answers mapped as function URLs map them, and
RESPONSE_STREAM answers relayed to the client chunk by chunk as the function writes them
(timed with a raw socket), stream.http's prelude, an error mid-stream, AuthType AWS_IAM refused,
and the payload limits.

It shares tests/dev_support.py's harness. Run from the repository root:
python3 -m unittest -v tests/test_dev_function_urls.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import base64
import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dev_support as base  # noqa: E402  (the dev harness: tests/dev_support.py)

HANDLER_LUA = r"""
local json = require "moonrun.json"
local stream = require "moonrun.stream"
local time = require "moonrun.time"
local M = {}

-- the event itself, as the body
function M.echo(event)
  return {statusCode = 200, headers = {["content-type"] = "application/json"}, body = json.encode(event)}
end

-- one answer per ?kind=
function M.answers(event)
  local kind = event.queryStringParameters and event.queryStringParameters.kind
  if kind == "custom" then
    return {statusCode = 201, headers = {["x-one"] = "1", ["content-type"] = "text/plain",
                                         ["access-control-allow-origin"] = "https://function.example"},
            cookies = {"a=1; Path=/", "b=2"}, body = "created"}
  elseif kind == "string" then return "just text"
  elseif kind == "table" then return {answer = 42}
  elseif kind == "base64" then
    return {statusCode = 200, headers = {["content-type"] = "application/octet-stream"},
            body = require("moonrun.base64").encode("\0\1\2\255"), isBase64Encoded = true}
  elseif kind == "bad_status" then return {statusCode = "two hundred", body = "x"}
  elseif kind == "error" then error("failed on purpose")
  elseif kind == "huge" then return {statusCode = 200, body = string.rep("x", 6 * 1024 * 1024 + 200)}
  end
  return {statusCode = 200, body = "default"}
end

-- streams: "first", a pause of ?pause= seconds (default 1), "second"; ?fail=1 raises after them,
-- ?fail=early before writing anything
function M.streamer(event)
  local q = event.queryStringParameters or {}
  if q.fail == "early" then error("failed before streaming") end
  return stream.http({statusCode = 202, headers = {["content-type"] = "text/plain", ["x-streamed"] = "yes"},
                      cookies = {"s=1; Path=/", "t=2"}}, function(write)
    write("first\n")
    time.sleep(tonumber(q.pause or "1"))
    write("second\n")
    if q.big then
      for _ = 1, tonumber(q.big) do write(string.rep("b", 1024 * 1024)) end
    end
    if q.fail == "1" then error("broke mid-stream") end
  end)
end

-- a plain stream (no prelude) of its own content type
function M.events(event)
  return stream(function(write)
    write("data: one\n\n")
    write("data: two\n\n")
  end, {content_type = "text/event-stream"})
end

return M
"""

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: provided.al2023
    CodeUri: fn
    Timeout: 10
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.echo
      FunctionUrlConfig:
        AuthType: NONE
  Answers:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.answers
      FunctionUrlConfig:
        AuthType: NONE
        InvokeMode: BUFFERED
        Cors:
          AllowOrigins: [https://app.example]
          AllowMethods: [GET, POST]
          AllowHeaders: [x-custom, content-type]
          ExposeHeaders: [x-one]
          MaxAge: 300
          AllowCredentials: true
  Streamer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.streamer
      FunctionUrlConfig:
        AuthType: NONE
        InvokeMode: RESPONSE_STREAM
        Cors:
          AllowOrigins: ["*"]
  BufferedStreamer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.streamer
      FunctionUrlConfig:
        AuthType: NONE
  Events:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.events
      FunctionUrlConfig:
        AuthType: NONE
        InvokeMode: RESPONSE_STREAM
  Private:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.echo
      FunctionUrlConfig:
        AuthType: AWS_IAM
  NoUrl:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.echo
"""


def raw_get(url, path="/", timeout=20):
    """GET over a raw socket, recording when each piece arrives. Returns (status line, headers
    dict with lower-case names and lists of values, [(seconds since the request, bytes)], the
    whole raw body, whether the server closed the connection)."""
    host, port = re.match(r"http://([0-9.]+):(\d+)", url).groups()
    sock = socket.create_connection((host, int(port)), timeout=base.seconds(timeout))
    start = time.monotonic()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    data, pieces, closed = b"", [], False
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                closed = True
                break
            pieces.append((time.monotonic() - start, piece))
            data += piece
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep and rest.endswith(b"0\r\n\r\n"):
                break
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers, pieces, body, closed


def dechunk(body):
    """The chunked body's bytes and whether it ended with the terminating chunk."""
    out = b""
    while body:
        size_text, sep, rest = body.partition(b"\r\n")
        if not sep:
            return out, False
        size = int(size_text, 16)
        if size == 0:
            return out, True
        out += rest[:size]
        body = rest[size + 2:]
    return out, False


class FunctionUrlTest(base.DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/h.lua", HANDLER_LUA)

    def start_urls(self, template=TEMPLATE):
        dev = self.start_dev(self.template(template), "--function-url-port", "0", embedded=True)
        urls = {m.group(2): m.group(1) for m in dev.wait_for(r"\burl\s+(http://[0-9.]+:\d+)/\s+-> (\w+)", count=6)}
        return dev, urls

    def test_each_function_url_is_its_own_port_and_gets_the_function_url_event(self):
        dev, urls = self.start_urls()
        self.assertEqual(sorted(urls), ["Answers", "BufferedStreamer", "Echo", "Events", "Private", "Streamer"])
        self.assertEqual(len(set(urls.values())), 6, "a port per function URL")
        self.assertNotIn("NoUrl", dev.stdout())
        status, headers, body = base.http_request(
            urls["Echo"] + "/a/b%20c?x=1&x=2&y=", "POST", b'{"k": "v"}',
            [("Content-Type", "application/json"), ("Cookie", "c1=v1; c2=v2"), ("X-Custom", "Yes")])
        self.assertEqual(status, 200, body)
        event = json.loads(body)
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "$default")
        self.assertEqual(event["rawPath"], "/a/b%20c")
        self.assertEqual(event["rawQueryString"], "x=1&x=2&y=")
        self.assertEqual(event["queryStringParameters"], {"x": "1,2", "y": ""})
        self.assertEqual(event["cookies"], ["c1=v1", "c2=v2"])
        self.assertEqual(event["headers"]["x-custom"], "Yes")
        self.assertNotIn("cookie", event["headers"])
        self.assertEqual(event["body"], '{"k": "v"}')
        self.assertIs(event["isBase64Encoded"], False)
        ctx = event["requestContext"]
        url_id = ctx["apiId"]
        self.assertRegex(url_id, r"^[a-z0-9]{32}$")
        self.assertEqual(ctx["domainPrefix"], url_id)
        self.assertEqual(ctx["domainName"], f"{url_id}.lambda-url.us-east-1.on.aws")
        self.assertEqual(ctx["accountId"], "anonymous")
        self.assertEqual(ctx["routeKey"], "$default")
        self.assertEqual(ctx["stage"], "$default")
        self.assertEqual(ctx["http"]["method"], "POST")
        self.assertEqual(ctx["http"]["path"], "/a/b%20c")
        self.assertEqual(ctx["http"]["sourceIp"], "127.0.0.1")
        self.assertNotIn("authorizer", ctx)
        # a binary body is base64-encoded, as for an HTTP API
        status, _, body = base.http_request(urls["Echo"] + "/bin", "POST", b"\x00\xff\x01",
                                            [("Content-Type", "application/octet-stream")])
        event = json.loads(body)
        self.assertTrue(event["isBase64Encoded"])
        self.assertEqual(base64.b64decode(event["body"]), b"\x00\xff\x01")
        # the id is the same at the next start
        self.stop_dev(dev)
        dev, urls = self.start_urls()
        _, _, body = base.http_request(urls["Echo"] + "/")
        self.assertEqual(json.loads(body)["requestContext"]["apiId"], url_id)
        dev.wait_for(r"Echo\s+url GET /\s.*200")
        self.stop_dev(dev)

    def test_buffered_answers_are_mapped_as_function_urls_map_them(self):
        dev, urls = self.start_urls()
        url = urls["Answers"]
        status, headers, body = base.http_request(url + "/?kind=custom")
        self.assertEqual((status, body), (201, b"created"))
        self.assertEqual(base.header(headers, "x-one"), "1")
        self.assertEqual(sorted(v for k, v in headers if k.lower() == "set-cookie"), ["a=1; Path=/", "b=2"])
        status, headers, body = base.http_request(url + "/?kind=string")
        self.assertEqual((status, body), (200, b"just text"))
        self.assertEqual(base.header(headers, "content-type"), "application/json")
        status, headers, body = base.http_request(url + "/?kind=table")
        self.assertEqual((status, json.loads(body)), (200, {"answer": 42}))
        status, headers, body = base.http_request(url + "/?kind=base64")
        self.assertEqual((status, body), (200, b"\x00\x01\x02\xff"))
        for kind in ("bad_status", "error", "huge"):
            status, headers, body = base.http_request(url + "/?kind=" + kind)
            self.assertEqual((status, body), (502, b"Internal Server Error"), kind)
        dev.wait_for(r"Answers\s+url GET /\s.*Error: .*failed on purpose")
        dev.wait_for(r"Answers\s+url GET /\s.*Function.ResponseSizeTooLarge")
        dev.wait_for(r"Answers\s+url GET /\s.*502: malformed Lambda proxy response: statusCode")
        self.stop_dev(dev)

    def test_a_streamed_answer_reaches_the_client_before_the_handler_finishes(self):
        dev, urls = self.start_urls()
        status_line, headers, pieces, body, closed = raw_get(urls["Streamer"], "/?pause=1.5")
        self.assertEqual(status_line, "HTTP/1.1 202 Accepted")
        self.assertEqual(headers["transfer-encoding"], ["chunked"])
        self.assertEqual(headers["content-type"], ["text/plain"])
        self.assertEqual(headers["x-streamed"], ["yes"])
        self.assertEqual(sorted(headers["set-cookie"]), ["s=1; Path=/", "t=2"])
        self.assertNotIn("content-length", headers)
        content, complete = dechunk(body)
        self.assertEqual(content, b"first\nsecond\n")
        self.assertTrue(complete, "the stream ends with its terminating chunk")
        received, first_at = b"", None
        for t, piece in pieces:
            received += piece
            if first_at is None and b"first" in received:
                first_at = t
        last_at = pieces[-1][0]
        # "first" came while the handler slept its 1.5 s, not with the rest at its end
        self.assertGreater(last_at - first_at, 1.2, pieces)
        dev.wait_for(r"Streamer\s+url GET /\s.*202 streamed, 13 bytes")
        self.stop_dev(dev)

    def test_the_same_handler_buffered_answers_whole_at_the_end(self):
        dev, urls = self.start_urls()
        started = time.monotonic()
        status_line, headers, pieces, body, closed = raw_get(urls["BufferedStreamer"], "/?pause=1")
        self.assertEqual(status_line, "HTTP/1.1 202 Accepted")
        self.assertNotIn("transfer-encoding", headers)
        self.assertEqual(headers["content-length"], [str(len(b"first\nsecond\n"))])
        self.assertEqual(sorted(headers["set-cookie"]), ["s=1; Path=/", "t=2"])
        self.assertEqual(headers["x-streamed"], ["yes"])
        self.assertGreaterEqual(pieces[0][0], 0.9, "nothing before the handler has finished")
        self.assertLess(time.monotonic() - started, base.seconds(10))
        self.assertTrue(b"".join(p for _, p in pieces).endswith(b"first\nsecond\n"))
        # buffered, a stream is held whole up to Lambda's 6 MB, and more is an error
        status, _, body = base.http_request(urls["BufferedStreamer"] + "/?pause=0&big=7")
        self.assertEqual((status, body), (502, b"Internal Server Error"))
        dev.wait_for(r"BufferedStreamer\s+url GET /\s.*502: the response is \d+ bytes, more than the 6291556")
        # while RESPONSE_STREAM streams it
        status_line, _, _, body, _ = raw_get(urls["Streamer"], "/?pause=0&big=7")
        self.assertEqual(dechunk(body), (b"first\nsecond\n" + b"b" * 7 * 1024 * 1024, True))
        self.stop_dev(dev)

    def test_a_plain_stream_keeps_its_content_type(self):
        dev, urls = self.start_urls()
        status_line, headers, pieces, body, closed = raw_get(urls["Events"])
        self.assertEqual(status_line, "HTTP/1.1 200 OK")
        self.assertEqual(headers["content-type"], ["text/event-stream"])
        self.assertEqual(dechunk(body), (b"data: one\n\ndata: two\n\n", True))
        self.stop_dev(dev)

    def test_an_error_mid_stream_cuts_the_response(self):
        dev, urls = self.start_urls()
        status_line, headers, pieces, body, closed = raw_get(urls["Streamer"], "/?fail=1&pause=0.2")
        self.assertEqual(status_line, "HTTP/1.1 202 Accepted")
        content, complete = dechunk(body)
        self.assertEqual(content, b"first\nsecond\n", "what was written before the error stays")
        self.assertFalse(complete, "no terminating chunk: the client can tell the response is cut")
        self.assertTrue(closed, "the connection is closed")
        dev.wait_for(r"Streamer\s+url GET /\s.*202, stream cut after 13 bytes: Error: .*broke mid-stream")
        # an error before anything was streamed is a 502, as a buffered one is
        status, _, body = base.http_request(urls["Streamer"] + "/?fail=early")
        self.assertEqual((status, body), (502, b"Internal Server Error"))
        # and the function goes on serving
        status_line, _, _, body, _ = raw_get(urls["Streamer"], "/?pause=0")
        self.assertEqual(dechunk(body), (b"first\nsecond\n", True))
        self.stop_dev(dev)

    def test_a_client_that_goes_away_mid_stream_leaves_dev_serving(self):
        dev, urls = self.start_urls()
        host, port = re.match(r"http://([0-9.]+):(\d+)", urls["Streamer"]).groups()
        sock = socket.create_connection((host, int(port)), timeout=base.seconds(10))
        sock.sendall(f"GET /?pause=1 HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        self.assertIn(b"202 Accepted", sock.recv(4096))
        sock.close()
        dev.wait_for(r"Streamer\s+url GET /\s.*202")
        status_line, _, _, body, _ = raw_get(urls["Streamer"], "/?pause=0")
        self.assertEqual(dechunk(body), (b"first\nsecond\n", True))
        self.stop_dev(dev)

    def test_a_stream_may_outlast_the_request_timeout(self):
        # the request timeout cuts a request whose body has not arrived in time: a function's
        # streamed response is such a body, and lasts as long as the function writes
        dev = self.start_dev(self.template(TEMPLATE), "--function-url-port", "0", embedded=True,
                             env={"MOONRUN_DEV_REQUEST_TIMEOUT": "1"})
        urls = {m.group(2): m.group(1) for m in dev.wait_for(r"\burl\s+(http://[0-9.]+:\d+)/\s+-> (\w+)", count=6)}
        status_line, _, _, body, _ = raw_get(urls["Streamer"], "/?pause=2.5")
        self.assertEqual(dechunk(body), (b"first\nsecond\n", True))
        status, _, body = base.http_request(urls["BufferedStreamer"] + "/?pause=2.5")
        self.assertEqual((status, body), (202, b"first\nsecond\n"))
        self.stop_dev(dev)

    def test_cors_preflight_and_headers_as_the_url_configures_them(self):
        dev, urls = self.start_urls()
        preflight = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"),
                     ("Access-Control-Request-Headers", "x-custom")]
        status, headers, body = base.http_request(urls["Answers"] + "/any", "OPTIONS", None, preflight)
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(base.header(headers, "access-control-allow-origin"), "https://app.example")
        self.assertEqual(base.header(headers, "access-control-allow-methods"), "GET,POST")
        self.assertEqual(base.header(headers, "access-control-allow-headers"), "x-custom,content-type")
        self.assertEqual(base.header(headers, "access-control-max-age"), "300")
        self.assertEqual(base.header(headers, "access-control-allow-credentials"), "true")
        # another origin: answered, without the headers a browser needs
        status, headers, _ = base.http_request(urls["Answers"] + "/any", "OPTIONS", None,
                                               [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")])
        self.assertEqual(status, 200)
        self.assertIsNone(base.header(headers, "access-control-allow-origin"))
        self.assertEqual(dev.count(r"Answers\s+url OPTIONS"), 0, "a preflight does not invoke the function")
        # an answer to an allowed origin: the configured headers replace the function's own
        status, headers, body = base.http_request(urls["Answers"] + "/?kind=custom", "GET", None,
                                                  [("Origin", "https://app.example")])
        self.assertEqual((status, body), (201, b"created"))
        self.assertEqual([v for k, v in headers if k.lower() == "access-control-allow-origin"], ["https://app.example"])
        self.assertEqual(base.header(headers, "access-control-expose-headers"), "x-one")
        self.assertEqual(base.header(headers, "access-control-allow-credentials"), "true")
        self.assertEqual(base.header(headers, "x-one"), "1")
        # without an Origin, the function's headers pass as they are
        _, headers, _ = base.http_request(urls["Answers"] + "/?kind=custom")
        self.assertEqual(base.header(headers, "access-control-allow-origin"), "https://function.example")
        # a URL without Cors passes OPTIONS to the function
        status, _, body = base.http_request(urls["Echo"] + "/", "OPTIONS", None, preflight)
        self.assertEqual(json.loads(body)["requestContext"]["http"]["method"], "OPTIONS")
        # a streamed answer carries them too
        host, port = re.match(r"http://([0-9.]+):(\d+)", urls["Streamer"]).groups()
        with socket.create_connection((host, int(port)), timeout=base.seconds(10)) as sock:
            sock.sendall(f"GET /?pause=0 HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: http://x.example\r\n"
                         "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        self.assertIn(b"\r\naccess-control-allow-origin: *\r\n", data.lower())
        self.stop_dev(dev)

    def test_aws_iam_is_refused_and_said_so(self):
        dev, urls = self.start_urls()
        dev.wait_for(r"warning: Private: its function URL has AuthType AWS_IAM, which moonrun dev does not check")
        status, headers, body = base.http_request(urls["Private"] + "/")
        self.assertEqual(status, 403)
        self.assertEqual(base.header(headers, "x-amzn-errortype"), "AccessDeniedException")
        self.assertIn("AWS_IAM", json.loads(body)["Message"])
        self.stop_dev(dev)

    def test_a_request_over_6_mb_is_refused_without_invoking(self):
        dev, urls = self.start_urls()
        status, headers, body = base.http_request(urls["Echo"] + "/", "POST", b"x" * (6 * 1024 * 1024 + 1))
        self.assertEqual((status, body), (413, b"Request Entity Too Large"))
        status, _, body = base.http_request(urls["Echo"] + "/", "POST", b"x" * (1024 * 1024),
                                            [("Content-Type", "text/plain")])
        self.assertEqual(status, 200)
        self.assertEqual(len(json.loads(body)["body"]), 1024 * 1024)
        self.assertEqual(dev.count(r"Echo\s+url POST"), 1, "the refused request invoked nothing")
        self.stop_dev(dev)

    def test_a_bad_function_url_config_stops_dev_with_its_reason(self):
        cases = [
            ("FunctionUrlConfig:\n        InvokeMode: BUFFERED", r"FunctionUrlConfig.AuthType: missing"),
            ("FunctionUrlConfig:\n        AuthType: OPEN", r"OPEN: AuthType is NONE or AWS_IAM"),
            ("FunctionUrlConfig:\n        AuthType: NONE\n        InvokeMode: STREAM",
             r"STREAM: InvokeMode is BUFFERED or RESPONSE_STREAM"),
            ("FunctionUrlConfig:\n        AuthType: NONE\n        Mode: x", r"FunctionUrlConfig.Mode: not a key"),
        ]
        for config, expected in cases:
            template = self.template("Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
                                     "    Type: AWS::Serverless::Function\n    Properties:\n"
                                     "      Runtime: provided.al2023\n      CodeUri: fn\n      Handler: h.echo\n"
                                     "      " + config + "\n")
            dev = self.start_dev(template, "--function-url-port", "0", embedded=True, ready=False)
            self.assertEqual(dev.wait_exit(), 1, dev.output())
            self.assertRegex(dev.stderr(), expected)

    def test_function_url_port_option(self):
        dev = self.start_dev(self.template(TEMPLATE), "--function-url-port", "x", embedded=True, ready=False)
        self.assertEqual(dev.wait_exit(), 2)
        self.assertIn("--function-url-port takes a port number", dev.stderr())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            taken = s.getsockname()[1]
            s.listen()
            dev = self.start_dev(self.template(TEMPLATE), "--function-url-port", str(taken), embedded=True,
                                 ready=False)
            self.assertEqual(dev.wait_exit(), 1)
            self.assertIn("the function URL of Answers", dev.stderr())
            self.assertIn("--function-url-port", dev.stderr())


if __name__ == "__main__":
    unittest.main()
