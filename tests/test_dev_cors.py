"""`moonrun dev`'s CORS, as API Gateway applies an API's configuration: an HTTP API with
CorsConfiguration answers preflights itself (never invoking a function) and puts its headers on
answers in place of the function's own; a REST API with Cors gets SAM's mock OPTIONS method; an
API without CORS adds nothing. Checked with plain HTTP requests, and with headless Chromium
(Debian's `chromium`) running a page served by the front that calls a route of another origin.

Run from the repository root: python3 -m unittest -v tests/test_dev_cors.py
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dev_support import DevTestCase, free_port, header, http_request, seconds  # noqa: E402

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  PageOrigin:
    Type: String
Globals:
  HttpApi:
    CorsConfiguration:
      AllowOrigins: [!Ref PageOrigin]
      AllowMethods: [GET, PUT]
      AllowHeaders: [x-custom, content-type]
      ExposeHeaders: [x-note]
      MaxAge: 600
      AllowCredentials: true
Resources:
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Cors:
        AllowOrigin: "'https://app.example'"
        AllowHeaders: "'x-custom'"
        MaxAge: "'300'"
  App:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: provided.al2023
      Events:
        Page:
          Type: HttpApi
          Properties: {Path: /page, Method: GET}
        Data:
          Type: HttpApi
          Properties: {Path: /data, Method: ANY}
        Legacy:
          Type: Api
          Properties:
            Path: /legacy
            Method: POST
            RestApiId: !Ref Rest
        Plain:
          Type: Api
          Properties: {Path: /plain, Method: GET}
"""

# /page: a page whose script calls ?target= with a PUT and a custom header (so the browser
# sends a preflight first), and writes what happened into #out. Every other route answers with
# CORS headers of its own, which an API with CORS must replace.
APP_LUA = r"""
local function page(target)
  return [[<!doctype html><html><body><div id="out">pending</div><script>
fetch("]] .. target .. [[", {method: "PUT", headers: {"X-Custom": "1"}, body: "{}"})
  .then(function (r) { return r.text().then(function (t) { return r.status + ":" + t + ":" + r.headers.get("x-note"); }); })
  .then(function (t) { document.getElementById("out").textContent = "ok:" + t; },
        function (e) { document.getElementById("out").textContent = "error:" + e.name; });
</script></body></html>]]
end
return {handler = function(event)
  local path = event.rawPath or event.path
  if path == "/page" then
    return {statusCode = 200, headers = {["content-type"] = "text/html"}, body = page(event.queryStringParameters.target)}
  end
  return {statusCode = 200, body = "data-from-" .. path,
          headers = {["Access-Control-Allow-Origin"] = "http://evil.example", ["x-note"] = "noted",
                     ["Access-Control-Allow-Methods"] = "DELETE"}}
end}
"""


class CorsCase(DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", APP_LUA)
        # The page's origin is the front's own, so the port is chosen before moonrun dev starts
        # (free_port: below the ephemeral range); should another process take it in between, the
        # start fails with "Address already in use" and another port is tried.
        for attempt in range(5):
            self.port = free_port()
            self.page_origin = f"http://127.0.0.1:{self.port}"
            try:
                self.dev = self.start_dev(self.template(TEMPLATE), "--port", str(self.port),
                                          "--parameter", f"PageOrigin={self.page_origin}", embedded=True)
                return
            except AssertionError as error:
                if "Address already in use" not in str(error) or attempt == 4:
                    raise

    def call(self, method, path, headers=(), host="127.0.0.1"):
        return http_request(f"http://{host}:{self.port}{path}", method=method, headers=list(headers),
                            body=b"{}" if method in ("PUT", "POST") else None)


class TestCorsHttp(CorsCase):
    def test_http_api_preflight_is_answered_without_the_function(self):
        status, hdrs, body = self.call("OPTIONS", "/data", [("Origin", self.page_origin),
                                                            ("Access-Control-Request-Method", "PUT"),
                                                            ("Access-Control-Request-Headers", "x-custom")])
        self.assertEqual((status, body), (204, b""))
        self.assertEqual(header(hdrs, "access-control-allow-origin"), self.page_origin)
        self.assertEqual(header(hdrs, "access-control-allow-methods"), "GET,PUT")
        self.assertEqual(header(hdrs, "access-control-allow-headers"), "x-custom,content-type")
        self.assertEqual(header(hdrs, "access-control-max-age"), "600")
        self.assertEqual(header(hdrs, "access-control-allow-credentials"), "true")
        # a path no route has: still the API's preflight
        status, hdrs, _ = self.call("OPTIONS", "/nowhere", [("Origin", self.page_origin),
                                                            ("Access-Control-Request-Method", "GET")])
        self.assertEqual(status, 204)
        self.assertEqual(header(hdrs, "access-control-allow-origin"), self.page_origin)
        # another origin: 204 without CORS headers, so the browser refuses
        status, hdrs, _ = self.call("OPTIONS", "/data", [("Origin", "http://other.example"),
                                                         ("Access-Control-Request-Method", "PUT")])
        self.assertEqual(status, 204)
        self.assertFalse([k for k, _ in hdrs if k.lower().startswith("access-control-")], hdrs)
        self.assertEqual(self.dev.count(r"http OPTIONS"), 0, "a preflight never invokes the function")

    def test_http_api_answers_carry_the_configured_headers_not_the_functions(self):
        status, hdrs, body = self.call("PUT", "/data", [("Origin", self.page_origin)])
        self.assertEqual((status, body), (200, b"data-from-/data"))
        self.assertEqual(header(hdrs, "access-control-allow-origin"), self.page_origin)
        self.assertEqual(header(hdrs, "access-control-allow-credentials"), "true")
        self.assertEqual(header(hdrs, "access-control-expose-headers"), "x-note")
        self.assertIsNone(header(hdrs, "access-control-allow-methods"))  # the function's, dropped
        status, hdrs, _ = self.call("GET", "/data", [("Origin", "http://other.example")])
        self.assertEqual(status, 200)
        self.assertFalse([k for k, _ in hdrs if k.lower().startswith("access-control-")], hdrs)

    def test_rest_api_cors_is_sams_mock_options_method(self):
        status, hdrs, body = self.call("OPTIONS", "/legacy", [("Origin", "https://app.example")])
        self.assertEqual((status, body), (200, b"{}"))
        self.assertEqual(header(hdrs, "Access-Control-Allow-Origin"), "https://app.example")
        self.assertEqual(header(hdrs, "Access-Control-Allow-Headers"), "x-custom")
        self.assertEqual(header(hdrs, "Access-Control-Allow-Methods"), "OPTIONS,POST")
        self.assertEqual(header(hdrs, "Access-Control-Max-Age"), "300")
        # the function's answer is its own (a Lambda proxy integration)
        status, hdrs, body = self.call("POST", "/legacy", [("Origin", "https://app.example")])
        self.assertEqual((status, body), (200, b"data-from-/legacy"))
        self.assertEqual(header(hdrs, "Access-Control-Allow-Origin"), "http://evil.example")

    def test_api_without_cors_adds_nothing(self):
        status, hdrs, _ = self.call("OPTIONS", "/plain", [("Origin", "https://app.example"),
                                                          ("Access-Control-Request-Method", "GET")])
        # no route has OPTIONS /plain: the front's answer (404, as HTTP API routes share its port)
        self.assertEqual(status, 404)
        self.assertFalse([k for k, _ in hdrs if k.lower().startswith("access-control-")], hdrs)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@unittest.skipUnless(CHROMIUM, "needs Debian's chromium (bootstrap/setup.sh test installs it)")
class TestCorsBrowser(CorsCase):
    def dump(self, url):
        profile = tempfile.mkdtemp(prefix="moonrun-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", url],
                           capture_output=True, text=True, timeout=seconds(90))
        found = re.search(r'<div id="out">(.*?)</div>', p.stdout)
        self.assertTrue(found, p.stdout + p.stderr)
        return found.group(1)

    def test_page_of_an_allowed_origin_reads_the_answer(self):
        target = f"http://localhost:{self.port}/data"
        self.assertEqual(self.dump(f"{self.page_origin}/page?target={target}"), "ok:200:data-from-/data:noted")
        self.dev.wait_for(r"http PUT /data")
        self.assertEqual(self.dev.count(r"http OPTIONS"), 0)

    def test_page_of_another_origin_is_refused_by_the_browser(self):
        target = f"http://127.0.0.1:{self.port}/data"
        self.assertEqual(self.dump(f"http://localhost:{self.port}/page?target={target}"), "error:TypeError")
        self.assertEqual(self.dev.count(r"http PUT /data"), 0, "the browser never sent the PUT")


if __name__ == "__main__":
    unittest.main()
