"""The harness of the `moonrun dev` suites (tests/test_dev_*.py): each test writes a small template
and its handler folder to a temporary directory, starts `moonrun dev TEMPLATE --port 0 --sqs-port 0
--state DIR` as a subprocess, reads the ports it chose from its banner, drives it with real
clients (boto3's lambda and sqs clients, the AWS CLI, plain HTTP), and stops it with SIGTERM,
checking that it exits 0. Also the handlers and templates more than one suite uses.

The tests that need the embedded SQS endpoint (lua/moonrun/dev/sqs/api.lua) or the SQS triggers
(lua/moonrun/dev/poller.lua) fail when those modules are missing, never skip: EMBEDDED and
TRIGGERS below check the files so that a move of them is caught here. A suite runs moto when
needed by importing setUpModule and tearDownModule.

Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import MotoServer, free_port  # noqa: E402,F401  (free_port: for the suites)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun")))
SCALE = float(os.environ.get("MOONRUN_TIMEOUT_SCALE") or "1")
DEV_LUA = os.path.join(REPO, "lua", "moonrun", "dev")
EMBEDDED = os.path.exists(os.path.join(DEV_LUA, "sqs", "api.lua"))
TRIGGERS = os.path.exists(os.path.join(DEV_LUA, "poller.lua"))
# The modules exist: a test that would need them must never be skipped quietly.
assert EMBEDDED and TRIGGERS, "lua/moonrun/dev/sqs/api.lua or lua/moonrun/dev/poller.lua is missing: update tests/dev_support.py if they moved"
NEEDS_EMBEDDED = "needs the embedded SQS endpoint (lua/moonrun/dev/sqs/api.lua)"
NEEDS_TRIGGERS = "needs the SQS triggers (lua/moonrun/dev/poller.lua)"

ACCOUNT = "000000000000"
REGION = "us-east-1"
KEY_ID, SECRET = "AKIDDEVTEST", "dev-test-secret"

MOTO = None


def setUpModule():
    global MOTO
    if not EMBEDDED:
        # dev writes the queues' ARNs with its own account id: moto takes the same one here
        # (TestExternalSqs checks what happens with another account's SQS)
        MOTO = MotoServer(account=ACCOUNT).start()


def tearDownModule():
    if MOTO:
        MOTO.stop()


def seconds(s):
    return s * SCALE


def client_env(**extra):
    """The environment of dev and of the CLI: dummy credentials, a region, no profile files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION=REGION,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/nonexistent/config",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials", NO_COLOR="1")
    env.update(extra)
    return env


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate until it returns something true; returns that, or fails naming what."""
    deadline = time.monotonic() + seconds(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds(timeout):.0f} s waiting for {what}")
        time.sleep(interval)


def pid_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def children_of(pid):
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid=,args="], capture_output=True, text=True).stdout
    children = []
    for line in out.splitlines():
        parts = line.strip().split(None, 1)
        if parts:
            children.append((int(parts[0]), parts[1] if len(parts) > 1 else ""))
    return children


def group_members(pgid):
    """The live processes of a process group (a function's child leads its own)."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True).stdout
    members = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[1] == str(pgid) and not parts[2].startswith("Z"):
            members.append(line.strip())
    return members


def http_request(url, method="GET", body=None, headers=None, timeout=30):
    """One HTTP request: (status, [(name, value)...] with repeats kept, body bytes)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=seconds(timeout))
    try:
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or []):
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def header(headers, name):
    values = [v for k, v in headers if k.lower() == name.lower()]
    return values[0] if values else None


class Dev:
    """A `moonrun dev` subprocess, its output read line by line as it comes."""

    def __init__(self, argv, env, cwd):
        self.argv = argv
        self.lines = []
        self.errors = []
        self.cond = threading.Condition()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.readers = [threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True),
                        threading.Thread(target=self._read, args=(self.process.stderr, self.errors), daemon=True)]
        for t in self.readers:
            t.start()
        self.front = self.sqs = None

    def _read(self, stream, into):
        for raw in iter(stream.readline, b""):
            with self.cond:
                into.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    @property
    def pid(self):
        return self.process.pid

    def stdout(self):
        with self.cond:
            return "\n".join(self.lines)

    def stderr(self):
        with self.cond:
            return "\n".join(self.errors)

    def output(self):
        return (f"--- moonrun dev ({' '.join(self.argv[1:])}), exit {self.process.poll()} ---\n"
                f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr()}\n---")

    def wait_for(self, pattern, timeout=20, count=1):
        """Waits for count stdout lines matching pattern (a regex); returns their matches."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + seconds(timeout)
        with self.cond:
            while True:
                found = [m for m in (regex.search(line) for line in self.lines) if m]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {count} line(s) matching {pattern!r} within {seconds(timeout):.0f} s "
                                         f"(found {len(found)})\n{self.output()}")
                if self.process.poll() is not None and not any(t.is_alive() for t in self.readers):
                    raise AssertionError(f"moonrun dev exited before a line matching {pattern!r}\n{self.output()}")
                self.cond.wait(min(left, 0.2))

    def count(self, pattern):
        regex = re.compile(pattern)
        with self.cond:
            return sum(1 for line in self.lines if regex.search(line))

    def wait_ready(self, timeout=30):
        self.front = self.wait_for(r"\binvoke\s+(http://[0-9.]+:\d+)/2015-03-31/functions/", timeout)[0].group(1)
        self.sqs = self.wait_for(r"\bsqs\s+(http://[0-9.]+:\d+)", timeout)[0].group(1)
        return self

    def signal(self, sig):
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def wait_exit(self, timeout=15):
        try:
            code = self.process.wait(seconds(timeout))
        except subprocess.TimeoutExpired:
            return None
        for t in self.readers:
            t.join(5)
        return code

    def stop(self, timeout=15):
        """SIGTERM, then the exit status (None if it did not exit in time: it is then killed)."""
        self.signal(signal.SIGTERM)
        code = self.wait_exit(timeout)
        if code is None:
            self.kill_all()
        return code

    def kill_all(self):
        for pid, _ in children_of(self.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class DevTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="moonrun-dev-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.devs = []
        if MOTO:
            MOTO.reset()

    # ---- files ----

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, relpath, text, mode="w"):
        full = self.path(relpath)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, mode) as f:
            f.write(textwrap.dedent(text) if isinstance(text, str) else text)
        return full

    def template(self, text, name="template.yaml"):
        return self.write(name, text)

    # ---- dev ----

    def start_dev(self, template, *args, state=None, env=None, ready=True, cwd=None, embedded=None):
        """Starts dev on template; returns the Dev (ready: its banner read). Stopped at cleanup."""
        use_moto = MOTO is not None if embedded is None else not embedded
        argv = [MOONRUN, "dev"] + ([template] if template else []) + ["--port", "0", "--sqs-port", "0",
                                                                      "--state", state or self.path("state")]
        if use_moto and "--sqs-endpoint" not in args:
            argv += ["--sqs-endpoint", MOTO.url]
        argv += list(args)
        dev = self.launch(argv, client_env(**(env or {})), cwd)
        if ready:
            dev.wait_ready()
        return dev

    def launch(self, argv, env, cwd=None):
        """Any command line of dev (argv as given, env complete) as a Dev, stopped at cleanup."""
        dev = Dev(argv, env, cwd or self.tmp)
        self.devs.append(dev)
        self.addCleanup(self._cleanup_dev, dev)
        return dev

    def _cleanup_dev(self, dev):
        failed = self._has_failed()
        if dev.process.poll() is None:
            dev.stop()
        if failed:
            sys.stderr.write("\n" + dev.output() + "\n")

    def _has_failed(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return True
        return any(test is self or getattr(test, "test_case", None) is self
                   for test, _ in list(result.failures) + list(result.errors))

    def stop_dev(self, dev, timeout=15):
        """SIGTERM; dev must exit 0 within timeout."""
        code = dev.stop(timeout)
        self.assertIsNotNone(code, f"moonrun dev did not exit within {seconds(timeout):.0f} s of SIGTERM\n{dev.output()}")
        self.assertEqual(code, 0, f"moonrun dev's exit status after SIGTERM\n{dev.output()}")
        for word in ("stack traceback", "Traceback", "attempt to ", "internal error"):
            self.assertNotIn(word, dev.stderr(), dev.output())
        # the sanitizers' reports (dev's own on stderr, its children's under their names on stdout)
        for word in ("Sanitizer", "runtime error:"):
            self.assertNotIn(word, dev.stderr() + dev.stdout(), dev.output())

    def run_dev(self, *args, timeout=30, env=None, cwd=None):
        """dev run to its end (for errors): the CompletedProcess."""
        return subprocess.run([MOONRUN, "dev", *args], capture_output=True, text=True,
                              env=client_env(**(env or {})), cwd=cwd or self.tmp, timeout=seconds(timeout))

    # ---- clients ----

    def lambda_client(self, dev):
        import boto3
        from botocore.config import Config
        return boto3.client("lambda", endpoint_url=dev.front, region_name=REGION, aws_access_key_id=KEY_ID,
                            aws_secret_access_key=SECRET,
                            config=Config(retries={"total_max_attempts": 1}, read_timeout=seconds(60),
                                          connect_timeout=seconds(10)))

    def sqs_client(self, dev):
        import boto3
        from botocore.config import Config
        return boto3.client("sqs", endpoint_url=dev.sqs, region_name=REGION, aws_access_key_id=KEY_ID,
                            aws_secret_access_key=SECRET,
                            config=Config(retries={"total_max_attempts": 2}, read_timeout=seconds(60)))

    def invoke(self, dev, name, event=None, raw=None, **kwargs):
        """boto3 Invoke: (response, decoded payload)."""
        payload = raw if raw is not None else json.dumps(event if event is not None else {}).encode()
        response = self.lambda_client(dev).invoke(FunctionName=name, Payload=payload, **kwargs)
        body = response["Payload"].read()
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = body
        return response, decoded

    def invoke_ok(self, dev, name, event=None):
        response, result = self.invoke(dev, name, event)
        self.assertNotIn("FunctionError", response, f"{result}\n{dev.output()}")
        self.assertEqual(response["StatusCode"], 200)
        return result

    def invoke_error(self, dev, name, event=None):
        response, result = self.invoke(dev, name, event)
        self.assertEqual(response.get("FunctionError"), "Unhandled", f"{result}\n{dev.output()}")
        self.assertEqual(response["StatusCode"], 200)
        return result

    def assertNoTraceback(self, text):
        for word in ("stack traceback", "Traceback (most recent", "attempt to index", "attempt to call"):
            self.assertNotIn(word, text)


# A handler that answers with what a test needs of its environment and event.


# A handler that answers with what a test needs of its environment and event.
ECHO_LUA = """\
local json = require "moonrun.json"
local M = {}
function M.handler(event, context)
  if type(event) == "table" and event.fail then
    error({errorType = "ValidationError", errorMessage = "failed on purpose: " .. tostring(event.fail)})
  end
  if type(event) == "table" and event.mark then
    local f = assert(io.open(event.mark, "w")); f:write("ran"); f:close()
  end
  return {event = event, name = context.function_name}
end
return M
"""


ONE_FUNCTION = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
"""


SLOW_LUA = """\
local M = {}
local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
function M.handler(event)
  if event.started then io.open(event.started, "w"):close() end
  if event.sleep then os.execute("sleep " .. event.sleep) end
  if event.size then return {n = event.n, text = string.rep("x", event.size)} end
  return {n = event.n, pid = pid, version = "VERSION", length = event.data and #event.data or 0}
end
return M
"""


CONSUMER_LUA = """\
local json = require "moonrun.json"
local M = {}
function M.handler(event, context)
  local failures = json.array{} -- an empty Lua table would be the JSON object {}, not a list
  for _, record in ipairs(event.Records) do
    print(string.format("got %s %s %s", record.messageId, record.body,
                        record.attributes.ApproximateReceiveCount))
    if record.body:match("^bad") then failures[#failures + 1] = {itemIdentifier = record.messageId} end
  end
  return {batchItemFailures = failures}
end
return M
"""


def queue_template(consumer=True, visibility=1, max_receive=2, batch=10, extra=""):
    text = f"""\
Transform: AWS::Serverless-2016-10-31
Resources:
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: work-dlq
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: work
      VisibilityTimeout: {visibility}
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: {max_receive}
"""
    if consumer:
        text += f"""\
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: consume.handler
      Runtime: provided.al2023
      Timeout: {min(5, visibility)}
      Environment:
        Variables:
          SHUTDOWN_FILE: placeholder
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: {batch}
            FunctionResponseTypes: [ReportBatchItemFailures]
"""
    return text + extra
