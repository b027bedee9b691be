"""What keeps `moonrun dev` to this machine's own clients: a Host header that is not the listening
address (DNS rebinding) is refused by the front and the embedded SQS endpoint, and a request from
a web page of another origin is refused by the invoke endpoint and the embedded SQS endpoint,
while the HTTP API's routes stay open to pages, as API Gateway's are.

Run from the repository root: python3 -m unittest -v tests/test_dev_security.py
"""

import http.client
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dev_support import ECHO_LUA, DevTestCase  # noqa: E402

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: provided.al2023
      Events:
        Hello:
          Type: HttpApi
          Properties:
            Path: /hello
            Method: POST
  Queue:
    Type: AWS::SQS::Queue
"""

SQS_LIST = {"content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.ListQueues"}


def request(base, path, headers, body=b"{}"):
    """POSTs body to base+path with exactly these headers (Host included); status and body."""
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


class TestLocalGuard(DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", ECHO_LUA)
        self.dev = self.start_dev(self.template(TEMPLATE), embedded=True)
        self.front_port = self.dev.front.rsplit(":", 1)[1]
        self.sqs_port = self.dev.sqs.rsplit(":", 1)[1]

    def invoke(self, headers):
        return request(self.dev.front, "/2015-03-31/functions/Echo/invocations", headers, b'{"n": 1}')

    def test_the_servers_answer_their_own_names(self):
        for name in ("127.0.0.1", "localhost", "LOCALHOST", "[::1]"):
            with self.subTest(name=name):
                status, body = self.invoke({"Host": f"{name}:{self.front_port}"})
                self.assertEqual(status, 200, body)
                status, body = request(self.dev.sqs, "/", dict(SQS_LIST, Host=f"{name}:{self.sqs_port}"))
                self.assertEqual(status, 200, body)
        status, _ = request(self.dev.front, "/hello", {"Host": f"localhost:{self.front_port}"})
        self.assertEqual(status, 200)

    def test_other_host_names_are_refused(self):
        for host in (f"attacker.example:{self.front_port}", "attacker.example", f"127.0.0.1:{int(self.front_port) + 1}"):
            with self.subTest(host=host):
                status, body = self.invoke({"Host": host})
                self.assertEqual(status, 403, body)
                message = json.loads(body)["message"]
                self.assertIn(f"'{host}'", message)
                self.assertIn("DNS rebinding", message)
                status, _ = request(self.dev.front, "/hello", {"Host": host})
                self.assertEqual(status, 403)
        status, body = request(self.dev.sqs, "/", dict(SQS_LIST, Host=f"attacker.example:{self.sqs_port}"))
        self.assertEqual(status, 403, body)
        self.assertEqual(self.dev.count(r"Echo\s+invoke"), 0, "a refused request invoked the function")

    def test_pages_of_other_origins_cannot_invoke_or_send(self):
        host = f"127.0.0.1:{self.front_port}"
        # what a page elsewhere sends: a simple cross-origin POST, no preflight needed
        page = {"Host": host, "Origin": "https://attacker.example", "Content-Type": "text/plain"}
        status, body = self.invoke(page)
        self.assertEqual(status, 403, body)
        self.assertIn("'https://attacker.example'", json.loads(body)["message"])
        status, body = request(self.dev.sqs, "/", dict(SQS_LIST, Host=f"127.0.0.1:{self.sqs_port}",
                                                       Origin="http://attacker.example"))
        self.assertEqual(status, 403, body)
        self.assertEqual(self.dev.count(r"Echo\s+invoke"), 0, "a refused request invoked the function")
        # a page served by moonrun dev itself is of the same origin
        status, body = self.invoke({"Host": host, "Origin": f"http://localhost:{self.front_port}"})
        self.assertEqual(status, 200, body)
        # the API's routes are for pages of any origin, as on API Gateway
        status, body = request(self.dev.front, "/hello", page, b"hi")
        self.assertEqual(status, 200, body)


class TestRuntimeApiOwner(DevTestCase):
    def runtime_api_ports(self, dev):
        """The ports dev listens on besides the front and the SQS endpoint: the Runtime APIs."""
        public = {int(dev.front.rsplit(":", 1)[1]), int(dev.sqs.rsplit(":", 1)[1])}
        lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
        ports = {int(m.group(1)) for line in lines if f"pid={dev.pid}," in line
                 for m in [re.search(r"\s127\.0\.0\.1:(\d+)\s", line)] if m}
        return ports - public

    def test_another_process_cannot_take_or_answer_invocations(self):
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(TEMPLATE), embedded=True)
        status, _ = request(dev.front, "/2015-03-31/functions/Echo/invocations",
                            {"Host": dev.front.split("//", 1)[1]}, b"{}")
        self.assertEqual(status, 200)
        ports = self.runtime_api_ports(dev)
        self.assertEqual(len(ports), 1, "one function, one Runtime API")
        port = ports.pop()
        for method, path in (("GET", "/2018-06-01/runtime/invocation/next"),
                             ("POST", "/2018-06-01/runtime/invocation/some-id/response"),
                             ("POST", "/2018-06-01/runtime/init/error")):
            with self.subTest(path=path):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request(method, path, body=b"{}" if method == "POST" else None)
                response = conn.getresponse()
                body = response.read()
                conn.close()
                self.assertEqual(response.status, 403, body)
                self.assertIn("function's own process only", json.loads(body)["errorMessage"])
        dev.wait_for(r"warning: a connection to Echo's Runtime API from another process than the "
                     r"function's own was refused")
        # the function itself is served as before
        status, body = request(dev.front, "/2015-03-31/functions/Echo/invocations",
                               {"Host": dev.front.split("//", 1)[1]}, b'{"after": true}')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["event"], {"after": True})


if __name__ == "__main__":
    unittest.main()
