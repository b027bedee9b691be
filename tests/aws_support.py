"""Peers for the AWS layer's tests: moto's SQS server, a fault-injecting AWS endpoint, and a
runner for Lua snippets inside moonrun.

- MotoServer: starts `moto_server -H 127.0.0.1 -p PORT` on a free port and stops it.
- FaultServer: an HTTP/1.1 server on 127.0.0.1 that answers each request with the next step of
  a plan (a status and body, a truncated body, a connection closed, a hang), and by default as
  SQS would (SendMessage with the right MD5s), recording every request it saw.
- run_lua(code, env): runs code with `moonrun run -` and returns what it returned, decoded
  from JSON (or the error it raised, as {"error": text, "code": ...}).
"""

import base64
import hashlib
import http.server
import json
import os
import random
import socket
import socketserver
import struct
import subprocess
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MOONRUN = os.environ.get("MOONRUN_BIN", os.path.join(ROOT, "build", "moonrun"))
SCALE = float(os.environ.get("MOONRUN_TIMEOUT_SCALE") or "1")

TEST_KEY_ID = "AKIDTESTMOONRUN"
TEST_SECRET = "moonrun-test-secret-0123456789abcdefABCDEF"
TEST_SESSION_TOKEN = "moonrun-test-session-token-FwoGZXIvYXdzEJr"
# Strings that must never appear in anything moonrun prints: every run through this module is
# checked (secrets in a log, an error message or a traceback reach CloudWatch, and whoever reads it).
SECRETS = (TEST_SECRET, TEST_SESSION_TOKEN)


def assert_no_secrets(*outputs):
    for output in outputs:
        text = output.decode(errors="replace") if isinstance(output, bytes) else output
        for secret in SECRETS:
            if secret in text:
                raise AssertionError(f"a secret appears in moonrun's output:\n{text[-2000:]}")


_GIVEN_PORTS = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A port on 127.0.0.1 that nothing listens on, for a server started later. It is taken below
    the kernel's ephemeral range: a port that bind(0) handed out and that was closed again can be
    handed out again at once, to a client's connection or to a server started with port 0 (moonrun
    dev's own), and the server meant for it then fails with "Address already in use". A port is
    never given twice in one process."""
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = random.randint(min(20000, high - 1000), high)
        if port in _GIVEN_PORTS:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN_PORTS.add(port)
        return port
    with socket.socket() as s:  # the range below is full: the kernel's choice, as before
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, timeout, what, detail=lambda: ""):
    """Returns once something listens on 127.0.0.1:port; raises, with detail(), if process exits
    first or timeout seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited at start" + detail())
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen within {timeout:.0f} s" + detail())


class MotoServer:
    """moto's server on a free port, for the life of a test class. account: the account id its
    queue URLs and ARNs hold (MOTO_ACCOUNT_ID); None keeps moto's own (123456789012, unless the
    environment sets it)."""

    def __init__(self, account=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.account = account

    def start(self):
        env = dict(os.environ)
        if self.account is not None:
            env["MOTO_ACCOUNT_ID"] = self.account
        self.process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        wait_listening(self.port, self.process, 30, "moto_server")
        return self

    def reset(self):
        """Forgets every queue (moto's reset API)."""
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST")).read()

    def stop(self):
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def boto3(self):
        import boto3
        return boto3.client("sqs", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET)


class MotoTestCase(unittest.TestCase):
    """A test class with moto's server (self.moto, a boto3 client self.sqs), emptied before each
    test, and self.env, the environment that points moonrun at it."""

    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer().start()
        cls.sqs = cls.moto.boto3()

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def setUp(self):
        self.moto.reset()
        self.env = aws_env(self.moto.url)


def attributes_md5(attributes):
    """SQS's digest of message attributes (the reference the Lua code is checked against)."""
    out = b""
    for name in sorted(attributes, key=lambda n: n.encode()):
        a = attributes[name]
        data_type = a["DataType"].encode()
        out += struct.pack(">I", len(name.encode())) + name.encode()
        out += struct.pack(">I", len(data_type)) + data_type
        if "StringValue" in a:
            value = a["StringValue"].encode()
            out += b"\x01" + struct.pack(">I", len(value)) + value
        else:
            value = base64.b64decode(a["BinaryValue"])
            out += b"\x02" + struct.pack(">I", len(value)) + value
    return hashlib.md5(out).hexdigest()


def sqs_answer(target, request):
    """What SQS would answer for the operations the fault tests use."""
    if target == "SendMessage":
        answer = {"MessageId": str(uuid.uuid4()),
                  "MD5OfMessageBody": hashlib.md5(request["MessageBody"].encode()).hexdigest()}
        if request.get("MessageAttributes"):
            answer["MD5OfMessageAttributes"] = attributes_md5(request["MessageAttributes"])
        return answer
    if target == "SendMessageBatch":
        return {"Successful": [{"Id": e["Id"], "MessageId": str(uuid.uuid4()),
                                "MD5OfMessageBody": hashlib.md5(e["MessageBody"].encode()).hexdigest()}
                               for e in request["Entries"]], "Failed": []}
    if target == "GetQueueUrl":
        return {"QueueUrl": "http://127.0.0.1/123456789012/" + request["QueueName"]}
    return {}


class Step:
    """One planned answer. kind: respond | truncate | close | hang."""

    def __init__(self, kind, status=200, body=b"", headers=None, seconds=0.0):
        self.kind, self.status, self.body, self.headers, self.seconds = kind, status, body, headers or {}, seconds


def respond(status, body, headers=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return Step("respond", status, body, headers)


def aws_error(status, type_name, message, query_error=None):
    headers = {"x-amzn-requestid": "req-" + type_name}
    if query_error:
        headers["x-amzn-query-error"] = query_error
    return respond(status, {"__type": "com.amazonaws.sqs#" + type_name, "message": message}, headers)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def _serve(self):
        server = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = {"method": self.command, "path": self.path,
                  "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                  "connection": id(self.connection)}
        with server.lock:
            server.requests.append(record)
            step = server.plan.pop(0) if server.plan else None
        if step is None:
            step = server.default(record)
        if step.kind == "hang":
            time.sleep(step.seconds)
            self.close_connection = True
            return
        if step.kind == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(step.status)
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-requestid": str(uuid.uuid4())}
        headers.update(step.headers)
        for name, value in headers.items():
            self.send_header(name, value)
        if step.kind == "truncate":
            self.send_header("Content-Length", str(len(step.body) + 100))
            self.end_headers()
            self.wfile.write(step.body)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_header("Content-Length", str(len(step.body)))
        self.end_headers()
        self.wfile.write(step.body)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that went away (a timeout test) is expected


class FaultServer:
    """An AWS endpoint on loopback whose answers a test plans, step by step."""

    def __init__(self):
        self.lock = threading.Lock()
        self.plan = []
        self.requests = []
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.owner = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def default(self, record):
        target = record["headers"].get("x-amz-target", "").split(".")[-1]
        try:
            request = json.loads(record["body"] or b"{}")
        except ValueError:
            return respond(400, {"__type": "com.amazonaws.sqs#InvalidRequest", "message": "not JSON"})
        return respond(200, sqs_answer(target, request))

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def expect(self, *steps):
        with self.lock:
            self.plan = list(steps)
            self.requests = []


def aws_env(endpoint=None, **extra):
    """The environment a test runs moonrun in: test credentials, a region, no profile files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=TEST_KEY_ID, AWS_SECRET_ACCESS_KEY=TEST_SECRET,
               AWS_SESSION_TOKEN=TEST_SESSION_TOKEN, AWS_REGION="us-east-1", AWS_CONFIG_FILE="/nonexistent/config",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials", LAMBDA_TASK_ROOT=ROOT)
    if endpoint:
        env["AWS_ENDPOINT_URL_SQS"] = endpoint
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# Wraps a snippet so that it prints one JSON line: its result, or the error it raised.
LUA_WRAPPER = r"""
local json = require "moonrun.json"
local chunk = assert(load(%s, "=snippet"))
local ok, result = pcall(chunk)
local function plain(v)
  if type(v) ~= "table" then return v end
  local copy = {}
  for k, x in pairs(v) do copy[k] = plain(x) end
  return setmetatable(copy, getmetatable(v) == getmetatable(json.array{}) and getmetatable(v) or nil)
end
if ok then
  io.write("\nRESULT ", json.encode({result = plain(result)}), "\n")
else
  local e = {error = tostring(result)}
  if type(result) == "table" then
    for k, v in pairs(result) do if type(v) ~= "table" and type(v) ~= "function" then e[k] = v end end
  end
  io.write("\nRESULT ", json.encode(e), "\n")
end
"""


def lua_quote(text):
    return "[==[" + text + "]==]"


def run_lua_process(code, env, timeout=120):
    script = LUA_WRAPPER % lua_quote(code)
    p = subprocess.run([MOONRUN, "run", "-"], input=script.encode(), capture_output=True,
                       timeout=timeout * SCALE, env=env)
    assert_no_secrets(p.stdout, p.stderr)
    return p


def run_lua(code, env, timeout=120):
    """Runs code (a Lua chunk that may return a value); returns (answer, process)."""
    p = run_lua_process(code, env, timeout)
    lines = [line for line in p.stdout.decode(errors="replace").splitlines() if line.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        raise AssertionError(f"moonrun run failed ({p.returncode}):\n{p.stderr.decode(errors='replace')}"
                             f"\n{p.stdout.decode(errors='replace')}")
    return json.loads(lines[-1][len("RESULT "):]), p
