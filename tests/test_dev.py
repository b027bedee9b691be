"""End-to-end tests of `moonrun dev`: the whole service of a SAM template on this machine.

Each test writes a small template and its handler folder to a temporary directory, starts
`moonrun dev TEMPLATE --port 0 --sqs-port 0 --state DIR` as a subprocess, reads the ports it
chose from its banner, drives it with real clients (boto3's lambda and sqs clients, the AWS CLI,
plain HTTP), and stops it with SIGTERM, checking that it exits 0.

Until the embedded SQS endpoint (lua/moonrun/dev/sqs/api.lua) exists, dev is pointed at moto's
server with --sqs-endpoint; the tests that need the embedded endpoint itself (messages kept
across a restart, its port's binding) or the SQS triggers (lua/moonrun/dev/poller.lua) run once
those modules exist.

Run from the repository root: python3 -m unittest -v tests/test_dev.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import MotoServer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun")))
SCALE = float(os.environ.get("MOONRUN_TIMEOUT_SCALE") or "1")
DEV_LUA = os.path.join(REPO, "lua", "moonrun", "dev")
EMBEDDED = os.path.exists(os.path.join(DEV_LUA, "sqs", "api.lua"))
TRIGGERS = os.path.exists(os.path.join(DEV_LUA, "poller.lua"))
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
        dev = Dev(argv, client_env(**(env or {})), cwd or self.tmp)
        self.devs.append(dev)
        self.addCleanup(self._cleanup_dev, dev)
        if ready:
            dev.wait_ready()
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


class TestInvokeEndpoint(DevTestCase):
    """The invoke endpoint, as Lambda's Invoke API (and AWS's Runtime Interface Emulator) serve it."""

    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", ECHO_LUA)
        self.dev = self.start_dev(self.template(ONE_FUNCTION))

    def test_boto3_invoke_returns_the_handlers_result(self):
        response, result = self.invoke(self.dev, "Echo", {"hello": "world", "n": [1, 2]})
        self.assertEqual(response["StatusCode"], 200)
        self.assertNotIn("FunctionError", response)
        self.assertEqual(response.get("ExecutedVersion"), "$LATEST")
        self.assertEqual(result, {"event": {"hello": "world", "n": [1, 2]}, "name": "Echo"})
        self.dev.wait_for(r"Echo\s+invoke\s.*\bok\b")
        self.stop_dev(self.dev)

    def test_log_type_tail_returns_the_invocations_log(self):
        from botocore.exceptions import ClientError
        self.write("fn/app.lua", ECHO_LUA.replace("return {event = event",
                                                  'print("tail line " .. tostring(event.n))\n  return {event = event'))
        client = self.lambda_client(self.dev)
        for n in (1, 2):  # the second log holds its own invocation's lines only
            response = client.invoke(FunctionName="Echo", Payload=json.dumps({"n": n}).encode(), LogType="Tail")
            self.assertEqual(json.loads(response["Payload"].read())["event"], {"n": n})
            log = base64.b64decode(response["LogResult"]).decode()
            request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
            self.assertRegex(log, r"^START RequestId: %s Version: \$LATEST\n" % request_id)
            self.assertIn("tail line %d\n" % n, log)
            self.assertNotIn("tail line %d\n" % (3 - n), log)
            self.assertRegex(log, r"\nEND RequestId: %s\nREPORT RequestId: %s\tDuration: [0-9.]+ ms\t" % (request_id, request_id))
        with self.assertRaises(ClientError) as caught:
            client.invoke(FunctionName="Echo", Payload=b"{}", LogType="Everything")
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidParameterValueException")
        self.stop_dev(self.dev)

    def test_an_arn_names_the_function_too(self):
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Echo"
        self.assertEqual(self.invoke_ok(self.dev, arn, {"x": 1})["event"], {"x": 1})
        self.assertEqual(self.invoke_ok(self.dev, "Echo:$LATEST", {"x": 2})["event"], {"x": 2})
        self.stop_dev(self.dev)

    def test_aws_cli_invoke(self):
        out = self.path("out.json")
        p = subprocess.run(["aws", "lambda", "invoke", "--endpoint-url", self.dev.front, "--region", REGION,
                            "--function-name", "Echo", "--payload", '{"from": "cli"}', out],
                           capture_output=True, text=True, env=client_env(), timeout=seconds(60))
        self.assertEqual(p.returncode, 0, p.stderr + self.dev.output())
        meta = json.loads(p.stdout)
        self.assertEqual(meta["StatusCode"], 200)
        self.assertNotIn("FunctionError", meta)
        with open(out) as f:
            self.assertEqual(json.load(f), {"event": {"from": "cli"}, "name": "Echo"})
        self.stop_dev(self.dev)

    def test_aws_cli_invoke_of_a_failing_handler(self):
        out = self.path("out.json")
        p = subprocess.run(["aws", "lambda", "invoke", "--endpoint-url", self.dev.front, "--region", REGION,
                            "--function-name", "Echo", "--payload", '{"fail": "cli"}', out],
                           capture_output=True, text=True, env=client_env(), timeout=seconds(60))
        self.assertEqual(p.returncode, 0, p.stderr + self.dev.output())
        self.assertEqual(json.loads(p.stdout).get("FunctionError"), "Unhandled")
        with open(out) as f:
            error = json.load(f)
        self.assertEqual(error["errorType"], "ValidationError")
        self.stop_dev(self.dev)

    def test_a_handler_error_is_an_unhandled_function_error(self):
        error = self.invoke_error(self.dev, "Echo", {"fail": "yes"})
        self.assertEqual(error["errorType"], "ValidationError")
        self.assertEqual(error["errorMessage"], "failed on purpose: yes")
        self.dev.wait_for(r"Echo\s+invoke\s.*ValidationError: failed on purpose: yes")
        # the instance survives a handled error
        self.assertEqual(self.invoke_ok(self.dev, "Echo", {"after": 1})["event"], {"after": 1})
        self.stop_dev(self.dev)

    def test_the_raw_http_answer_of_a_function_error(self):
        status, headers, body = http_request(self.dev.front + "/2015-03-31/functions/Echo/invocations", "POST",
                                             b'{"fail": "raw"}', [("Content-Type", "application/json")])
        self.assertEqual(status, 200)
        self.assertEqual(header(headers, "X-Amz-Function-Error"), "Unhandled")
        self.assertEqual(json.loads(body)["errorType"], "ValidationError")
        self.stop_dev(self.dev)

    def test_an_unknown_function_is_resource_not_found(self):
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as caught:
            self.invoke(self.dev, "Nope", {})
        error = caught.exception.response
        self.assertEqual(error["Error"]["Code"], "ResourceNotFoundException", error)
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assertIn("Nope", error["Error"]["Message"])
        self.stop_dev(self.dev)

    def test_a_payload_that_is_not_json_is_invalid_request_content(self):
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as caught:
            self.invoke(self.dev, "Echo", raw=b'{"unclosed": ')
        error = caught.exception.response
        self.assertEqual(error["Error"]["Code"], "InvalidRequestContentException", error)
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.stop_dev(self.dev)

    def test_invocation_type_event_answers_202_and_runs_the_handler(self):
        mark = self.path("ran.txt")
        response = self.lambda_client(self.dev).invoke(FunctionName="Echo", InvocationType="Event",
                                                       Payload=json.dumps({"mark": mark}).encode())
        self.assertEqual(response["StatusCode"], 202)
        self.assertEqual(response["Payload"].read(), b"")
        wait_until(lambda: os.path.exists(mark), 20, "the asynchronous invocation to run the handler")
        self.dev.wait_for(r"Echo\s+invoke \(async\)")
        self.stop_dev(self.dev)

    def test_many_asynchronous_invocations_all_run(self):
        marks = [self.path(f"ran-{i}.txt") for i in range(30)]
        client = self.lambda_client(self.dev)
        for mark in marks:
            self.assertEqual(client.invoke(FunctionName="Echo", InvocationType="Event",
                                           Payload=json.dumps({"mark": mark}).encode())["StatusCode"], 202)
        wait_until(lambda: all(os.path.exists(m) for m in marks), 30, "every asynchronous invocation to run")
        self.assertEqual(self.invoke_ok(self.dev, "Echo", {"x": 1})["event"], {"x": 1})
        self.stop_dev(self.dev)

    def test_unicode_payloads(self):
        event = {"text": "h\u00e9llo \U0001F319 \u4e16\u754c", "escaped": "tab\tnewline\n\"quote\""}
        self.assertEqual(self.invoke_ok(self.dev, "Echo", event)["event"], event)
        self.stop_dev(self.dev)

    def test_invocation_type_dry_run_answers_204_without_running(self):
        mark = self.path("ran.txt")
        response = self.lambda_client(self.dev).invoke(FunctionName="Echo", InvocationType="DryRun",
                                                       Payload=json.dumps({"mark": mark}).encode())
        self.assertEqual(response["StatusCode"], 204)
        time.sleep(0.5)
        self.assertFalse(os.path.exists(mark), "DryRun must not run the handler")
        self.stop_dev(self.dev)

    def test_an_empty_body_is_an_empty_event(self):
        status, _, body = http_request(self.dev.front + "/2015-03-31/functions/Echo/invocations", "POST", b"")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["event"], {})
        self.stop_dev(self.dev)

    def test_other_methods_and_invocation_types(self):
        status, headers, _ = http_request(self.dev.front + "/2015-03-31/functions/Echo/invocations", "GET")
        self.assertEqual(status, 405)
        status, headers, body = http_request(self.dev.front + "/2015-03-31/functions/Echo/invocations", "POST",
                                             b"{}", [("X-Amz-Invocation-Type", "Sometimes")])
        self.assertEqual(status, 400)
        self.assertEqual(header(headers, "x-amzn-ErrorType"), "InvalidParameterValueException")
        self.stop_dev(self.dev)

    def test_the_name_function_is_the_only_function_as_the_rie_names_it(self):
        self.assertEqual(self.invoke_ok(self.dev, "function", {"rie": True}),
                         {"event": {"rie": True}, "name": "Echo"})
        # curl as the RIE's documentation shows it
        status, _, body = http_request(self.dev.front + "/2015-03-31/functions/function/invocations", "POST", b"{}")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["name"], "Echo")
        self.stop_dev(self.dev)


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


class TestInvocationsTogether(DevTestCase):
    """Invocations of one function at once run on instances of their own (each takes one event at
    a time, as a Lambda instance does); none is lost. tests/test_dev_scaling.py tests the limit."""

    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", SLOW_LUA.replace("VERSION", "old"))
        self.dev = self.start_dev(self.template(ONE_FUNCTION.replace("Echo", "Slow") + "      Timeout: 10\n"))

    def test_concurrent_invocations_are_all_answered(self):
        results, errors = {}, []

        def call(n):
            try:
                results[n] = self.invoke_ok(self.dev, "Slow", {"n": n, "sleep": 0.3})
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=call, args=(n,)) for n in range(5)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds(60))
        elapsed = time.monotonic() - started
        self.assertEqual(errors, [])
        self.assertEqual(sorted(results), list(range(5)))
        self.assertTrue(all(results[n]["n"] == n for n in results), results)
        pids = {r["pid"] for r in results.values()}
        self.assertTrue(1 < len(pids) <= 5, f"instances started on demand, one per waiting event: {pids}")
        self.assertLess(elapsed, seconds(1.4), "side by side, not one after another")
        self.stop_dev(self.dev)

    def test_an_edit_during_an_invocation_applies_to_the_next(self):
        answer = {}
        started = self.path("started")
        t = threading.Thread(target=lambda: answer.update(
            self.invoke_ok(self.dev, "Slow", {"n": 1, "sleep": 1, "started": started})))
        t.start()
        deadline = time.monotonic() + seconds(30)  # the edit must come while the handler runs
        while not os.path.exists(started) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.write("fn/app.lua", SLOW_LUA.replace("VERSION", "new"))
        t.join(seconds(30))
        self.assertEqual(answer.get("version"), "old", "the running invocation finishes with its code")
        self.assertEqual(self.invoke_ok(self.dev, "Slow", {"n": 2})["version"], "new")
        self.stop_dev(self.dev)

    def test_large_events_and_answers(self):
        data = "y" * (3 << 20)
        self.assertEqual(self.invoke_ok(self.dev, "Slow", {"n": 1, "data": data})["length"], len(data))
        big = self.invoke_ok(self.dev, "Slow", {"n": 2, "size": 4 << 20})
        self.assertEqual(len(big["text"]), 4 << 20)
        self.stop_dev(self.dev)

    def test_a_chatty_handler(self):
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler(event)
              for i = 1, 20000 do print("line " .. i .. " " .. string.rep("z", 50)) end
              io.stderr:write(string.rep("w", 100000), "\\n")
              return {done = true}
            end
            return M
            """)
        started = time.monotonic()
        self.assertEqual(self.invoke_ok(self.dev, "Slow", {"n": 1}), {"done": True})
        self.assertLess(time.monotonic() - started, seconds(30))
        self.dev.wait_for(r"Slow\s+\| line 20000 z+$")
        self.assertEqual(self.dev.count(r"Slow\s+\| line \d+ "), 20000)
        self.stop_dev(self.dev)

    def test_a_client_that_goes_away_does_not_hurt(self):
        conn = http.client.HTTPConnection("127.0.0.1", int(self.dev.front.rsplit(":", 1)[1]), timeout=5)
        conn.request("POST", "/2015-03-31/functions/Slow/invocations", body=b'{"n": 0, "sleep": 0.5}')
        conn.close()  # before the answer
        self.assertEqual(self.invoke_ok(self.dev, "Slow", {"n": 1})["n"], 1)
        self.stop_dev(self.dev)


class TestInvokeEndpointTwoFunctions(DevTestCase):
    def test_the_name_function_is_not_found_when_there_are_two(self):
        from botocore.exceptions import ClientError
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION + """\
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
"""))
        self.assertEqual(self.invoke_ok(dev, "Other")["name"], "Other")
        self.assertEqual(self.invoke_ok(dev, "Echo")["name"], "Echo")
        with self.assertRaises(ClientError) as caught:
            self.invoke(dev, "function")
        self.assertEqual(caught.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.stop_dev(dev)


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


LIFECYCLE_LUA = """\
local M = {}
local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
function M.handler(event, context)
  if event.spin then while true do end end
  if event.block then os.execute("sleep " .. event.block) end
  if event.exit then os.exit(event.exit) end
  if event.kill then os.execute("kill -KILL " .. pid) end
  return {pid = pid, remaining = context:get_remaining_time_in_millis()}
end
return M
"""


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


class TestStopDuringAnInvocation(DevTestCase):
    def test_sigterm_while_a_handler_runs(self):
        self.write("fn/app.lua", SLOW_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION + "      Timeout: 10\n"))
        outcome = {}

        def call():
            try:
                outcome["status"] = http_request(dev.front + "/2015-03-31/functions/Echo/invocations", "POST",
                                                 b'{"n": 1, "sleep": 1}')[0]
            except OSError as e:
                outcome["error"] = repr(e)
        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.3)
        self.stop_dev(dev, timeout=15)
        t.join(seconds(15))
        self.assertFalse(t.is_alive(), "the client's request ended with dev")
        self.assertTrue(outcome, outcome)


class TestFailuresOfTheFunction(DevTestCase):
    """Timeouts, exits, crashes and init errors: reported, and the next request works."""

    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", LIFECYCLE_LUA)
        self.dev = self.start_dev(self.template(ONE_FUNCTION + "      Timeout: 1\n"))

    def test_a_busy_loop_is_stopped_at_the_timeout(self):
        first = self.invoke_ok(self.dev, "Echo")
        self.assertLessEqual(first["remaining"], 1000, "Timeout: 1 from the template")
        started = time.monotonic()
        error = self.invoke_error(self.dev, "Echo", {"spin": True})
        elapsed = time.monotonic() - started
        self.assertIn(error["errorType"], ("Timeout", "Sandbox.Timedout"), error)
        self.assertIn("timed out", error["errorMessage"])
        self.assertGreater(elapsed, 0.7)
        self.assertLess(elapsed, seconds(10))
        self.dev.wait_for(r"Echo\s+invoke\s.*(Timeout|Sandbox\.Timedout)")
        self.assertIn("pid", self.invoke_ok(self.dev, "Echo"))
        self.stop_dev(self.dev)

    def test_a_handler_stuck_in_c_is_stopped_and_replaced(self):
        # os.execute: the runtime cannot stop a handler inside C; dev's backstop (the timeout
        # and a second) must, and answer then, not when the handler's command ends
        block = round(8 * SCALE)
        first = self.invoke_ok(self.dev, "Echo")
        started = time.monotonic()
        error = self.invoke_error(self.dev, "Echo", {"block": block})
        elapsed = time.monotonic() - started
        self.assertIn(error["errorType"], ("Timeout", "Sandbox.Timedout"), error)
        self.assertLess(elapsed, block - 1, "dev's backstop ends the invocation before the handler would")
        after = self.invoke_ok(self.dev, "Echo")
        self.assertNotEqual(after["pid"], first["pid"], "a fresh instance takes the next request")
        self.stop_dev(self.dev)

    def test_os_exit_is_runtime_exit_error_and_the_next_request_works(self):
        first = self.invoke_ok(self.dev, "Echo")
        error = self.invoke_error(self.dev, "Echo", {"exit": 3})
        self.assertEqual(error["errorType"], "Runtime.ExitError", error)
        after = self.invoke_ok(self.dev, "Echo")
        self.assertNotEqual(after["pid"], first["pid"], "a new instance")
        self.stop_dev(self.dev)

    def test_a_crash_is_runtime_exit_error_and_the_next_request_works(self):
        first = self.invoke_ok(self.dev, "Echo")
        error = self.invoke_error(self.dev, "Echo", {"kill": True})
        self.assertEqual(error["errorType"], "Runtime.ExitError", error)
        self.assertIn("signal", error["errorMessage"])
        self.dev.wait_for(r"Echo\s+invoke\s.*Runtime\.ExitError")
        after = self.invoke_ok(self.dev, "Echo")
        self.assertNotEqual(after["pid"], first["pid"], "a new instance")
        self.stop_dev(self.dev)


class TestMemorySize(DevTestCase):
    def test_memory_size_caps_the_lua_heap(self):
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler(event)
              if event.big then local t = {} for i = 1, 1e8 do t[i] = string.rep("x", 100) .. i end end
              return {ok = true}
            end
            return M
            """)
        dev = self.start_dev(self.template(ONE_FUNCTION + "      MemorySize: 128\n      Timeout: 60\n"))
        error = self.invoke_error(dev, "Echo", {"big": True})
        self.assertEqual(error["errorType"], "OutOfMemory", error)
        self.assertEqual(self.invoke_ok(dev, "Echo"), {"ok": True})
        self.stop_dev(dev)


class TestInitErrors(DevTestCase):
    def test_a_syntax_error_is_reported_on_invoke_and_fixing_it_is_enough(self):
        self.write("fn/app.lua", "local M = {}\nfunction M.handler( return 1 end\nreturn M\n")
        dev = self.start_dev(self.template(ONE_FUNCTION + """\
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/get", Method: GET}
"""))
        error = self.invoke_error(dev, "Echo")
        self.assertEqual(error["errorType"], "Runtime.UserCodeSyntaxError", error)
        self.assertIn("app.lua:2", error["errorMessage"])
        # twice: the error does not depend on the first instance's timing
        self.assertEqual(self.invoke_error(dev, "Echo")["errorType"], "Runtime.UserCodeSyntaxError")
        status, _, body = http_request(dev.front + "/get")
        self.assertEqual(status, 500, body)
        self.write("fn/app.lua", ECHO_LUA)
        self.assertEqual(self.invoke_ok(dev, "Echo", {"fixed": 1})["event"], {"fixed": 1})
        status, _, body = http_request(dev.front + "/get")
        self.assertEqual(status, 200, body)
        self.stop_dev(dev)

    def test_a_module_that_raises_while_loading(self):
        self.write("fn/app.lua", 'error("no config")\n')
        dev = self.start_dev(self.template(ONE_FUNCTION))
        error = self.invoke_error(dev, "Echo")
        self.assertEqual(error["errorType"], "Runtime.ModuleInitError", error)
        self.assertIn("no config", error["errorMessage"])
        self.write("fn/app.lua", ECHO_LUA)
        self.assertEqual(self.invoke_ok(dev, "Echo")["name"], "Echo")
        self.stop_dev(dev)

    def test_a_missing_handler_function(self):
        self.write("fn/app.lua", "return {}\n")
        dev = self.start_dev(self.template(ONE_FUNCTION))
        self.assertEqual(self.invoke_error(dev, "Echo")["errorType"], "Runtime.HandlerNotFound")
        self.stop_dev(dev)


COUNTER_LUA = """\
local helper = require "helper"
local count = 0
local M = {}
function M.handler()
  count = count + 1
  return {version = "%s", helper = helper.word, count = count}
end
return M
"""


class TestHotReload(DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", COUNTER_LUA % "one")
        self.write("fn/helper.lua", 'return {word = "first"}\n')
        self.dev = self.start_dev(self.template(ONE_FUNCTION + """\
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/count", Method: GET}
"""))

    def test_an_edit_takes_effect_on_the_next_request_with_fresh_state(self):
        self.assertEqual(self.invoke_ok(self.dev, "Echo"), {"version": "one", "helper": "first", "count": 1})
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 2, "module state kept between requests")
        self.write("fn/app.lua", COUNTER_LUA % "second")
        self.assertEqual(self.invoke_ok(self.dev, "Echo"), {"version": "second", "helper": "first", "count": 1})
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 2)
        self.dev.wait_for(r"Echo: code changed, reloading")
        self.stop_dev(self.dev)

    def test_an_edit_of_a_required_module_reloads_too(self):
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["helper"], "first")
        self.write("fn/helper.lua", 'return {word = "changed"}\n')
        self.assertEqual(self.invoke_ok(self.dev, "Echo"), {"version": "one", "helper": "changed", "count": 1})
        self.stop_dev(self.dev)

    def test_two_functions_sharing_a_folder_both_reload(self):
        path = self.template(ONE_FUNCTION + """\
  Twin:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
""", name="twins.yaml")
        dev = self.start_dev(path, state=self.path("state-twins"))
        self.assertEqual(self.invoke_ok(dev, "Echo")["version"], "one")
        self.assertEqual(self.invoke_ok(dev, "Twin")["version"], "one")
        self.write("fn/app.lua", COUNTER_LUA % "both")
        self.assertEqual(self.invoke_ok(dev, "Echo")["version"], "both")
        self.assertEqual(self.invoke_ok(dev, "Twin")["version"], "both")
        self.stop_dev(dev)
        self.stop_dev(self.dev)

    def test_reload_through_an_http_route(self):
        status, _, body = http_request(self.dev.front + "/count")
        self.assertEqual(json.loads(body)["version"], "one")
        self.write("fn/app.lua", COUNTER_LUA % "via-http")
        status, _, body = http_request(self.dev.front + "/count")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"version": "via-http", "helper": "first", "count": 1})
        self.stop_dev(self.dev)

    def test_new_and_removed_files_reload_hidden_ones_do_not(self):
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 1)
        self.write("fn/.cache/notes.txt", "a hidden folder")
        self.write("fn/.hidden.lua", "-- a hidden file")
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 2, "hidden files do not reload")
        self.write("fn/sub/new.lua", "return 1\n")
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 1, "a new file reloads")
        os.unlink(self.path("fn/sub/new.lua"))
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 1, "a removed file reloads")
        self.stop_dev(self.dev)

    def test_an_instance_killed_from_outside_is_replaced(self):
        self.write("fn/app.lua", LIFECYCLE_LUA)
        first = self.invoke_ok(self.dev, "Echo")["pid"]
        second = self.invoke_ok(self.dev, "Echo")["pid"]
        os.kill(int(second), signal.SIGKILL)
        wait_until(lambda: pid_gone(int(second)), 10, "the instance to die")
        third = self.invoke_ok(self.dev, "Echo")["pid"]
        self.assertNotEqual(third, second)
        self.stop_dev(self.dev)

    def test_a_broken_edit_then_a_fix(self):
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 1)
        self.write("fn/app.lua", "local M = {\n")
        self.assertEqual(self.invoke_error(self.dev, "Echo")["errorType"], "Runtime.UserCodeSyntaxError")
        self.write("fn/app.lua", COUNTER_LUA % "fixed")
        self.assertEqual(self.invoke_ok(self.dev, "Echo"), {"version": "fixed", "helper": "first", "count": 1})
        self.stop_dev(self.dev)


ENV_LUA = """\
local M = {}
function M.handler(event, context)
  local names = {"GREETING", "FROM_GLOBALS", "QUEUE_URL", "QUEUE_ARN", "QUEUE_NAME", "STAGE", "SUBBED",
                 "EXTRA", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER",
                 "AWS_ENDPOINT_URL_SQS", "AWS_REGION", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_VERSION"}
  local env = {}
  for _, name in ipairs(names) do env[name] = os.getenv(name) or false end
  return {env = env, function_name = context.function_name, memory = context.memory_limit_in_mb,
          remaining = context:get_remaining_time_in_millis()}
end
return M
"""

ENV_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: provided.al2023
    Environment:
      Variables:
        FROM_GLOBALS: global value
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs-queue
  Env:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      MemorySize: 256
      Timeout: 7
      Environment:
        Variables:
          GREETING: hello
          QUEUE_URL: !Ref Jobs
          QUEUE_ARN: !GetAtt Jobs.Arn
          QUEUE_NAME: !GetAtt Jobs.QueueName
          STAGE: !Ref Stage
          SUBBED: !Sub "${Stage}-${Jobs.QueueName}"
"""


class TestEnvironment(DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", ENV_LUA)
        self.template_path = self.template(ENV_TEMPLATE)

    def test_the_template_gives_the_function_its_environment(self):
        dev = self.start_dev(self.template_path)
        result = self.invoke_ok(dev, "Env")
        env = result["env"]
        self.assertEqual(env["GREETING"], "hello")
        self.assertEqual(env["FROM_GLOBALS"], "global value")
        self.assertEqual(env["QUEUE_URL"], f"{dev.sqs}/{ACCOUNT}/jobs-queue")
        self.assertEqual(env["QUEUE_ARN"], f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs-queue")
        self.assertEqual(env["QUEUE_NAME"], "jobs-queue")
        self.assertEqual(env["STAGE"], "dev")
        self.assertEqual(env["SUBBED"], "dev-jobs-queue")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_NAME"], "Env")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST")
        self.assertEqual(env["_HANDLER"], "app.handler")
        self.assertEqual(env["AWS_ENDPOINT_URL_SQS"], dev.sqs)
        self.assertEqual(env["AWS_REGION"], REGION)
        self.assertEqual(os.path.realpath(env["LAMBDA_TASK_ROOT"]), os.path.realpath(self.path("fn")))
        self.assertIs(env["EXTRA"], False)
        self.assertEqual(result["function_name"], "Env")
        self.assertEqual(result["memory"], 256)
        self.assertGreater(result["remaining"], 5000, "Timeout: 7")
        self.assertLessEqual(result["remaining"], 7000)
        self.stop_dev(dev)

    def test_only_lambdas_environment_reaches_the_function(self):
        # the shell's environment stays out, and with the embedded SQS so do the user's credentials
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler()
              local names = {"SHELL_ONLY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                             "MOONRUN_MEMORY_LIMIT_MB", "AWS_LAMBDA_LOG_GROUP_NAME", "PATH", "GREETING"}
              local env = {}
              for _, name in ipairs(names) do env[name] = os.getenv(name) or false end
              return env
            end
            return M
            """)
        dev = self.start_dev(self.template_path, "--env", "GREETING=from the command line",
                             env={"SHELL_ONLY": "secret-ish", "AWS_SESSION_TOKEN": "user-session-token"})
        env = self.invoke_ok(dev, "Env")
        self.assertIs(env["SHELL_ONLY"], False)
        self.assertEqual(env["AWS_ACCESS_KEY_ID"], "AKIAMOONRUNDEV000000")
        self.assertNotEqual(env["AWS_SECRET_ACCESS_KEY"], SECRET)
        self.assertIs(env["AWS_SESSION_TOKEN"], False)
        self.assertEqual(env["MOONRUN_MEMORY_LIMIT_MB"], "256")
        self.assertEqual(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/Env")
        self.assertTrue(env["PATH"])
        self.assertEqual(env["GREETING"], "hello", "the template's own variables win over --env")
        self.stop_dev(dev)

    def test_function_name_and_function_intrinsics(self):
        self.write("fn/app.lua", ENV_LUA)
        dev = self.start_dev(self.template("""\
Transform: AWS::Serverless-2016-10-31
Resources:
  Named:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: my-named-function
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
  Env:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Environment:
        Variables:
          GREETING: !Ref Named
          QUEUE_ARN: !GetAtt Named.Arn
""", name="named.yaml"))
        self.assertEqual(self.invoke_ok(dev, "my-named-function")["function_name"], "my-named-function")
        env = self.invoke_ok(dev, "Env")["env"]
        self.assertEqual(env["GREETING"], "my-named-function")
        self.assertEqual(env["QUEUE_ARN"], f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-named-function")
        self.stop_dev(dev)

    def test_env_and_parameter_options(self):
        dev = self.start_dev(self.template_path, "--env", "EXTRA=from the command line", "--env", "EMPTY=",
                             "--parameter", "Stage=prod")
        env = self.invoke_ok(dev, "Env")["env"]
        self.assertEqual(env["EXTRA"], "from the command line")
        self.assertEqual(env["STAGE"], "prod")
        self.assertEqual(env["SUBBED"], "prod-jobs-queue")
        self.stop_dev(dev)

    def test_the_region_option(self):
        dev = self.start_dev(self.template_path, "--region", "eu-west-1")
        env = self.invoke_ok(dev, "Env")["env"]
        self.assertEqual(env["AWS_REGION"], "eu-west-1")
        self.assertEqual(env["QUEUE_ARN"], f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs-queue")
        self.stop_dev(dev)

    def test_the_template_creates_its_queues(self):
        dev = self.start_dev(self.template_path)
        urls = self.sqs_client(dev).list_queues().get("QueueUrls", [])
        self.assertTrue(any(u.endswith("/jobs-queue") for u in urls), urls)
        self.stop_dev(dev)


class TestCommandLineAndTemplateErrors(DevTestCase):
    """What a user gets wrong: one clear message naming the file, resource and property; no traceback."""

    def check_error(self, p, status, *words):
        text = p.stderr
        self.assertEqual(p.returncode, status, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        for word in words:
            self.assertIn(word, text, f"the message should name {word!r}")
        self.assertNoTraceback(text + p.stdout)
        self.assertLess(len(text.splitlines()), 6, "one short message")

    def endpoint_args(self):
        return ["--sqs-endpoint", MOTO.url] if MOTO else []

    def test_an_unsupported_event_type(self):
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION + """\
      Events:
        Stream:
          Type: Kinesis
          Properties:
            Stream: arn:aws:kinesis:us-east-1:000000000000:stream/s
""", name="bad-event.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"),
                         *self.endpoint_args())
        self.check_error(p, 1, "bad-event.yaml", "Echo", "Stream", "Kinesis")

    def test_a_missing_code_uri_folder(self):
        path = self.template(ONE_FUNCTION.replace("CodeUri: fn", "CodeUri: not-there"), name="no-code.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"),
                         *self.endpoint_args())
        self.check_error(p, 1, "no-code.yaml", "Echo", "CodeUri", "not-there")

    def test_bad_yaml(self):
        path = self.template("Resources:\n  Echo: [unclosed\n  Other: 1\n", name="broken.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"),
                         *self.endpoint_args())
        self.check_error(p, 1, "broken.yaml")
        self.assertRegex(p.stderr, r"line \d+|:\d+", "the message says where")

    def test_an_unsupported_intrinsic_and_runtime(self):
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION + """\
      Environment:
        Variables:
          OTHER: !ImportValue another-stack-export
""", name="import.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"))
        self.check_error(p, 1, "import.yaml", "Echo", "Environment", "OTHER", "ImportValue")
        path = self.template(ONE_FUNCTION.replace("provided.al2023", "python3.12"), name="python.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"))
        self.check_error(p, 1, "python.yaml", "Echo", "Runtime", "python3.12")

    def test_a_missing_template(self):
        p = self.run_dev(self.path("nothing.yaml"), "--port", "0", "--sqs-port", "0", *self.endpoint_args())
        self.check_error(p, 1, "nothing.yaml")
        empty = self.path("empty-dir")
        os.makedirs(empty)
        p = self.run_dev("--port", "0", "--sqs-port", "0", *self.endpoint_args(), cwd=empty)
        self.check_error(p, 1, "template.yaml")

    def test_a_busy_port(self):
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION)
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            p = self.run_dev(path, "--port", str(port), "--sqs-port", "0", "--state", self.path("state"),
                             *self.endpoint_args())
            self.check_error(p, 1, str(port))
            self.assertRegex(p.stderr.lower(), r"in use|busy|cannot listen|bind")
            if EMBEDDED:
                p = self.run_dev(path, "--port", "0", "--sqs-port", str(port), "--state", self.path("state"))
                self.check_error(p, 1, str(port))

    def test_the_same_port_twice(self):
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        p = self.run_dev(path, "--port", str(port), "--sqs-port", str(port), "--state", self.path("state"))
        self.check_error(p, 1, str(port))

    def test_an_unknown_option_is_a_usage_error(self):
        p = self.run_dev("--bogus")
        self.check_error(p, 2, "--bogus")
        p = self.run_dev("--port", "eighty")
        self.check_error(p, 2, "--port", "eighty")
        p = self.run_dev("--port")
        self.check_error(p, 2, "--port")
        p = self.run_dev("--env", "NOEQUALS")
        self.check_error(p, 2, "NOEQUALS")

    def test_help(self):
        p = self.run_dev("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: moonrun dev", p.stdout)
        self.assertIn("--sqs-endpoint", p.stdout)


SHUTDOWN_LUA = """\
local M = {}
function M.handler(event, context) return {pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")} end
function M.shutdown()
  local f = assert(io.open(os.getenv("SHUTDOWN_FILE"), "a"))
  f:write("shutdown ", os.getenv("AWS_LAMBDA_FUNCTION_NAME"), "\\n")
  f:close()
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


class TestSignals(DevTestCase):
    def test_sigterm_stops_every_child_and_runs_shutdown_functions(self):
        shutdown_file = self.path("shutdown.txt")
        self.write("fn/app.lua", SHUTDOWN_LUA)
        self.write("fn/consume.lua", CONSUMER_LUA)
        text = ONE_FUNCTION + """\
      Environment:
        Variables:
          SHUTDOWN_FILE: %s
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Environment:
        Variables:
          SHUTDOWN_FILE: %s
""" % (shutdown_file, shutdown_file)
        expected_children = 2
        if TRIGGERS:
            text += queue_template(visibility=5).split("Resources:\n", 1)[1]
            expected_children = 4  # Echo, Other, Consumer, the trigger of Consumer on work
        dev = self.start_dev(self.template(text))
        function_pids = {self.invoke_ok(dev, "Echo")["pid"], self.invoke_ok(dev, "Other")["pid"]}
        children = wait_until(lambda: (lambda c: c if len(c) >= expected_children else None)(children_of(dev.pid)),
                              20, f"{expected_children} children of moonrun dev")
        pids = [pid for pid, _ in children]
        self.assertTrue({int(p) for p in function_pids} <= set(pids), (function_pids, children))
        if TRIGGERS:
            self.assertTrue(any("poller" in args for _, args in children), children)
        self.stop_dev(dev, timeout=15)
        for pid, args in children:
            wait_until(lambda: pid_gone(pid), 10, f"child {pid} ({args}) to be gone after dev exited")
        with open(shutdown_file) as f:
            lines = sorted(f.read().splitlines())
        self.assertEqual(lines, ["shutdown Echo", "shutdown Other"])
        dev.wait_for(r"stopping")

    def test_a_reload_runs_the_old_instances_shutdown(self):
        shutdown_file = self.path("shutdown.txt")
        self.write("fn/app.lua", SHUTDOWN_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION), "--env", "SHUTDOWN_FILE=" + shutdown_file)
        first = self.invoke_ok(dev, "Echo")["pid"]
        self.write("fn/app.lua", SHUTDOWN_LUA + "-- edited\n")
        second = self.invoke_ok(dev, "Echo")["pid"]
        self.assertNotEqual(first, second)
        self.assertTrue(pid_gone(int(first)), "the old instance is gone")
        with open(shutdown_file) as f:
            self.assertEqual(f.read(), "shutdown Echo\n")
        self.stop_dev(dev)

    def test_sigkill_of_dev_takes_its_children_along(self):
        self.write("fn/app.lua", SHUTDOWN_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION), "--env", "SHUTDOWN_FILE=" + self.path("s.txt"))
        pid = int(self.invoke_ok(dev, "Echo")["pid"])
        dev.signal(signal.SIGKILL)
        self.assertEqual(dev.wait_exit(10), -signal.SIGKILL)
        wait_until(lambda: pid_gone(pid), 10, "the function's process to end with dev")

    def test_sigterm_right_after_the_banner(self):
        # a supervisor (or a test) may stop dev as soon as it has said where it listens
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION)
        for attempt in range(3):
            dev = self.start_dev(path)
            self.stop_dev(dev)

    def test_sigterm_with_no_function_running(self):
        # nothing to wait for while stopping: a template with a queue alone, and a function
        # whose instance has exited (its init failed)
        dev = self.start_dev(self.template(queue_template(consumer=False), name="queues.yaml"))
        time.sleep(0.5)
        self.stop_dev(dev)
        self.write("fn/app.lua", "return {}\n")
        dev = self.start_dev(self.template(ONE_FUNCTION))
        self.invoke_error(dev, "Echo")
        time.sleep(0.5)
        self.stop_dev(dev)

    def test_a_background_process_of_the_handler_does_not_hold_dev(self):
        # a handler may start a process that outlives it (and inherits its stdout): dev must
        # still notice the function's own exit, stop on SIGTERM and reload
        pid_file = self.path("background.pid")
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler(event)
              os.execute("sleep %d & echo $! > %s")
              return {started = true}
            end
            return M
            """ % (round(20 * SCALE), pid_file))
        dev = self.start_dev(self.template(ONE_FUNCTION + "      Timeout: 3\n"))

        def kill_background():
            try:
                with open(pid_file) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.addCleanup(kill_background)
        self.assertEqual(self.invoke_ok(dev, "Echo"), {"started": True})
        wait_until(lambda: os.path.exists(pid_file), 10, "the background process's pid")
        # an edit: the old instance is stopped, the new one answers
        self.write("fn/app.lua", ECHO_LUA)
        started = time.monotonic()
        self.assertEqual(self.invoke_ok(dev, "Echo", {"x": 1})["event"], {"x": 1})
        self.assertLess(time.monotonic() - started, seconds(10), "the reload waited for the background process")
        self.stop_dev(dev, timeout=15)

    def test_sigterm_just_after_invocations(self):
        # each function's runtime asks for its next event as soon as it has answered: a SIGTERM
        # then finds requests that its Runtime API server has not read yet
        self.write("fn/app.lua", ECHO_LUA)
        text = "Transform: AWS::Serverless-2016-10-31\nResources:\n"
        for i in range(6):
            text += ONE_FUNCTION.split("Resources:\n", 1)[1].replace("Echo:", f"F{i}:")
        path = self.template(text)
        for attempt in range(10):
            dev = self.start_dev(path)
            # failing ones: the runtime logs the error before it asks again, which widens the window
            threads = [threading.Thread(target=self.invoke_error, args=(dev, f"F{i}", {"fail": i})) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(seconds(30))
            self.stop_dev(dev)

    def test_a_second_sigterm_stops_at_once(self):
        self.write("fn/app.lua", SLOW_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION + "      Timeout: 60\n"))
        self.lambda_client(dev).invoke(FunctionName="Echo", InvocationType="Event",
                                       Payload=json.dumps({"n": 1, "sleep": round(30 * SCALE)}).encode())
        pids = wait_until(lambda: [pid for pid, _ in children_of(dev.pid)], 10, "the function's process")
        time.sleep(0.5)
        dev.signal(signal.SIGTERM)
        dev.wait_for(r"stopping")
        started = time.monotonic()
        dev.signal(signal.SIGTERM)
        self.assertEqual(dev.wait_exit(10), 0, dev.output())
        self.assertLess(time.monotonic() - started, seconds(5))
        for pid in pids:
            wait_until(lambda: pid_gone(pid), 10, f"child {pid} to be gone")
            # and what the handler started (its os.execute), in the child's process group
            wait_until(lambda: not group_members(pid), 10, f"the processes of child {pid}'s group to be gone")

    def test_sigkill_of_dev_takes_what_the_handlers_started_along(self):
        pid_file = self.path("background.pid")
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler(event)
              os.execute("sleep %d & echo $! > %s")
              return {pid = io.open("/proc/self/stat"):read("l"):match("^(%%d+)")}
            end
            return M
            """ % (round(30 * SCALE), pid_file))
        dev = self.start_dev(self.template(ONE_FUNCTION))

        def kill_background():
            try:
                with open(pid_file) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.addCleanup(kill_background)
        child = int(self.invoke_ok(dev, "Echo")["pid"])
        wait_until(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file), 10, "the background pid")
        dev.signal(signal.SIGKILL)
        self.assertEqual(dev.wait_exit(10), -signal.SIGKILL)
        wait_until(lambda: pid_gone(child), 10, "the function's process to end with dev")
        wait_until(lambda: not group_members(child), 10, "what the handler started to end with dev")

    def test_sigint_stops_dev_too(self):
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION))
        self.invoke_ok(dev, "Echo")
        dev.signal(signal.SIGINT)
        self.assertEqual(dev.wait_exit(15), 0, dev.output())


class TestTerminalView(DevTestCase):
    """On a terminal: colours (unless NO_COLOR) and the queues' depths in a status line at the bottom."""

    def run_on_a_terminal(self, extra_env):
        import pty
        import select
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION + queue_template(consumer=False).split("Resources:\n", 1)[1])
        master, slave = pty.openpty()
        env = client_env(**extra_env)
        if "NO_COLOR" not in extra_env:
            env.pop("NO_COLOR", None)
        proc = subprocess.Popen([MOONRUN, "dev", path, "--port", "0", "--sqs-port", "0", "--state", self.path("state")],
                                stdin=slave, stdout=slave, stderr=slave, env=env, cwd=self.tmp)
        os.close(slave)
        output = b""

        def read_until(predicate, timeout):
            nonlocal output
            deadline = time.monotonic() + seconds(timeout)
            while not predicate(output) and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        output += os.read(master, 65536)
                    except OSError:
                        break
            return predicate(output)
        try:
            self.assertTrue(read_until(lambda o: re.search(rb"invoke\s+(\x1b\[[0-9;]*m)?http://127\.0\.0\.1:\d+", o)
                                       and b"queues:" in o, 30), output)
            port = int(re.search(rb"invoke\s+(?:\x1b\[[0-9;]*m)?http://127\.0\.0\.1:(\d+)", output).group(1))
            status, _, _ = http_request(f"http://127.0.0.1:{port}/2015-03-31/functions/Echo/invocations", "POST", b"{}")
            self.assertEqual(status, 200)
            self.assertTrue(read_until(lambda o: re.search(rb"Echo.*invoke.*ok", o), 20), output)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(seconds(15)), 0, output)
            read_until(lambda o: False, 0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        return output.decode(errors="replace")

    def test_a_status_line_and_colours(self):
        text = self.run_on_a_terminal({})
        self.assertIn("\x1b[7m", text, "the status line is shown in reverse video")
        self.assertIn("\r\x1b[K", text, "the status line is redrawn in place")
        self.assertRegex(text, r"\x1b\[7m queues: work 0\s")
        self.assertIn("\x1b[32m", text, "a success is green")
        self.assertTrue(text.rstrip(" \r\n").endswith("\x1b[K") or "\x1b[7m" not in text.splitlines()[-1],
                        "the status line is cleared at exit: " + repr(text[-200:]))

    def test_no_color(self):
        text = self.run_on_a_terminal({"NO_COLOR": "1"})
        self.assertNotRegex(text, r"\x1b\[(1|2|3\d|7)m", "NO_COLOR: no colour, no reverse video")
        self.assertIn("queues: work 0", text)


class TestBinding(DevTestCase):
    def listening(self):
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
        return out.splitlines()

    def test_the_servers_listen_on_loopback_only(self):
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION), embedded=EMBEDDED)
        self.invoke_ok(dev, "Echo")
        front_port = int(dev.front.rsplit(":", 1)[1])
        ports = [front_port]
        if EMBEDDED:
            ports.append(int(dev.sqs.rsplit(":", 1)[1]))
        lines = self.listening()
        for port in ports:
            mine = [line for line in lines if re.search(r"\s\S+:%d\s" % port, line)]
            self.assertTrue(mine, f"nothing listens on port {port}:\n" + "\n".join(lines))
            for line in mine:
                self.assertRegex(line, r"\s127\.0\.0\.1:%d\s" % port, line)
        # every socket dev and its functions listen on is a loopback one
        pids = {dev.pid} | {pid for pid, _ in children_of(dev.pid)}
        owned = [line for line in lines if any(f"pid={pid}," in line for pid in pids)]
        self.assertGreaterEqual(len(owned), len(ports) + 1, "the front, and each function's Runtime API")
        for line in owned:
            self.assertRegex(line, r"\s127\.0\.0\.1:\d+\s", line)
        # and a connection to another address of this machine is refused
        address = self.outside_address()
        if address:
            for port in ports:
                with self.assertRaises(OSError, msg=f"{address}:{port} accepted a connection"):
                    socket.create_connection((address, port), timeout=3).close()
        self.stop_dev(dev)

    def test_host_option_listens_where_asked(self):
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION), "--host", "0.0.0.0")
        self.assertTrue(dev.front.startswith("http://127.0.0.1:"), "the banner gives an address to connect to")
        self.invoke_ok(dev, "Echo")
        port = int(dev.front.rsplit(":", 1)[1])
        self.assertTrue([line for line in self.listening() if re.search(r"\s0\.0\.0\.0:%d\s" % port, line)])
        address = self.outside_address()
        if address:
            socket.create_connection((address, port), timeout=3).close()
        # a function's Runtime API stays on loopback whatever --host says
        public = {port, int(dev.sqs.rsplit(":", 1)[1])}
        runtime_apis = [line for line in self.listening() if f"pid={dev.pid}," in line
                        and not any(re.search(r":%d\s" % p, line) for p in public)]
        self.assertTrue(runtime_apis, self.listening())
        for line in runtime_apis:
            self.assertRegex(line, r"\s127\.0\.0\.1:\d+\s", line)
        self.stop_dev(dev)

    def outside_address(self):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(("192.0.2.1", 9))  # no packet is sent; this picks the outgoing interface
                address = s.getsockname()[0]
        except OSError:
            return None
        return None if address.startswith("127.") else address


@unittest.skipUnless(TRIGGERS, NEEDS_TRIGGERS)
class TestSqsTrigger(DevTestCase):
    """The event source mapping: batches, deletes what succeeded, and redrive of what failed."""

    def setUp(self):
        super().setUp()
        self.write("fn/consume.lua", CONSUMER_LUA)

    def queue_counts(self, sqs, url):
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
                int(a.get("ApproximateNumberOfMessagesDelayed", "0")))

    def test_a_failing_record_returns_and_then_reaches_the_dead_letter_queue(self):
        dev = self.start_dev(self.template(queue_template(visibility=1, max_receive=2)))
        dev.wait_for(r"trigger\s+sqs work\s+-> Consumer")
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName="work-dlq")["QueueUrl"]
        good = {}
        for i in range(4):
            good[sqs.send_message(QueueUrl=url, MessageBody=f"good-{i}")["MessageId"]] = f"good-{i}"
        bad = sqs.send_message(QueueUrl=url, MessageBody="bad-1")["MessageId"]
        # the bad record is delivered maxReceiveCount times, then moved to the dead-letter queue
        dev.wait_for(r"Consumer\s+\| got %s bad-1 2$" % bad, timeout=30)

        def in_dlq():
            messages = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                           VisibilityTimeout=0).get("Messages", [])
            return messages or None
        messages = wait_until(in_dlq, 30, "the bad record in the dead-letter queue")
        self.assertEqual([(m["MessageId"], m["Body"]) for m in messages], [(bad, "bad-1")])
        for message_id, body in good.items():
            self.assertGreaterEqual(dev.count(r"\| got %s %s 1$" % (message_id, body)), 1)
        wait_until(lambda: self.queue_counts(sqs, url) == (0, 0, 0), 20, "the source queue to be empty")
        time.sleep(2.5)  # longer than the visibility timeout: nothing comes back
        self.assertEqual(dev.count(r"\| got %s " % bad), 2, "delivered maxReceiveCount times, no more")
        for message_id in good:
            self.assertEqual(dev.count(r"\| got %s " % message_id), 1, "a deleted message never returns")
        dev.wait_for(r"Consumer\s+sqs work\s.*ok, 1 failed item")
        self.stop_dev(dev)

    def test_a_function_error_fails_the_whole_batch(self):
        self.write("fn/consume.lua", """\
            local M = {}
            function M.handler(event)
              for _, record in ipairs(event.Records) do
                print(string.format("got %s %s %s", record.messageId, record.body,
                                    record.attributes.ApproximateReceiveCount))
              end
              error("the whole batch failed")
            end
            return M
            """)
        dev = self.start_dev(self.template(queue_template(visibility=1, max_receive=2)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName="work-dlq")["QueueUrl"]
        entries = [{"Id": str(i), "MessageBody": f"doomed-{i}"} for i in range(3)]
        ids = {e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
        got = {}

        def all_dead():
            for m in sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
                got[m["MessageId"]] = m["Body"]
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
            return set(got) == ids
        wait_until(all_dead, 30, "the three messages in the dead-letter queue")
        for message_id in ids:
            self.assertEqual(dev.count(r"\| got %s " % message_id), 2, "delivered maxReceiveCount times")
        dev.wait_for(r"Consumer\s+sqs work\s.*the whole batch failed")
        self.stop_dev(dev)

    def test_a_disabled_trigger_does_not_poll(self):
        self.write("fn/consume.lua", CONSUMER_LUA)
        dev = self.start_dev(self.template(queue_template().replace(
            "            BatchSize: 10\n", "            BatchSize: 10\n            Enabled: false\n")))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="stays")
        time.sleep(1.5)
        self.assertEqual(dev.count(r"\| got "), 0)
        self.assertFalse(any("poller" in args for _, args in children_of(dev.pid)))
        self.assertEqual(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"], "stays")
        self.stop_dev(dev)

    def test_a_message_sent_with_the_aws_cli_reaches_the_consumer(self):
        dev = self.start_dev(self.template(queue_template(visibility=30)))
        url = f"{dev.sqs}/{ACCOUNT}/work"
        p = subprocess.run(["aws", "--endpoint-url", dev.sqs, "--region", REGION, "sqs", "send-message",
                            "--queue-url", url, "--message-body", "from-cli"],
                           capture_output=True, text=True, env=client_env(), timeout=seconds(60))
        self.assertEqual(p.returncode, 0, p.stderr + dev.output())
        message_id = json.loads(p.stdout)["MessageId"]
        dev.wait_for(r"\| got %s from-cli 1$" % message_id, timeout=30)
        self.stop_dev(dev)

    def test_the_trigger_signs_as_verify_signatures_wants(self):
        import boto3
        dev = self.start_dev(self.template(queue_template(visibility=30)), "--verify-signatures")
        sqs = boto3.client("sqs", endpoint_url=dev.sqs, region_name=REGION,
                           aws_access_key_id="AKIAMOONRUNDEV000000", aws_secret_access_key="moonrun-dev-secret")
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        message_id = sqs.send_message(QueueUrl=url, MessageBody="signed")["MessageId"]
        dev.wait_for(r"\| got %s signed 1$" % message_id, timeout=30)
        self.assertEqual(dev.count(r"sqs work \|.*(InvalidClientTokenId|SignatureDoesNotMatch)"), 0, dev.output())
        self.stop_dev(dev)

    def test_an_edited_consumer_takes_the_next_batch(self):
        dev = self.start_dev(self.template(queue_template(visibility=30)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        first = sqs.send_message(QueueUrl=url, MessageBody="before")["MessageId"]
        dev.wait_for(r"\| got %s before 1$" % first, timeout=30)
        self.write("fn/consume.lua", CONSUMER_LUA.replace('"got %s %s %s"', '"v2 got %s %s %s"'))
        second = sqs.send_message(QueueUrl=url, MessageBody="after")["MessageId"]
        dev.wait_for(r"\| v2 got %s after 1$" % second, timeout=30)
        dev.wait_for(r"Consumer: code changed, reloading")
        self.stop_dev(dev)

    def test_a_trigger_that_dies_is_restarted(self):
        dev = self.start_dev(self.template(queue_template(visibility=5)))
        poller = wait_until(lambda: [pid for pid, args in children_of(dev.pid) if "poller" in args], 20,
                            "the trigger's process")[0]
        os.kill(poller, signal.SIGKILL)
        dev.wait_for(r"the trigger of Consumer on work stopped .*restarting it")
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        message_id = sqs.send_message(QueueUrl=url, MessageBody="after-restart")["MessageId"]
        # the killed process's last long poll may have taken it (SQS counts that receive): then it
        # comes back after the visibility timeout, to the new process
        dev.wait_for(r"\| got %s after-restart \d+$" % message_id, timeout=30)
        self.stop_dev(dev)

    def test_a_batching_window_gathers_more_than_ten(self):
        self.write("fn/consume.lua", """\
            local M = {}
            function M.handler(event)
              print("batch " .. #event.Records)
              for _, record in ipairs(event.Records) do print("got " .. record.messageId .. " " .. record.body .. " 1") end
              return {}
            end
            return M
            """)
        template = queue_template(visibility=30, batch=25).replace(
            "            FunctionResponseTypes: [ReportBatchItemFailures]\n",
            "            MaximumBatchingWindowInSeconds: 2\n")
        dev = self.start_dev(self.template(template))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        ids = set()
        for start in range(0, 20, 10):
            entries = [{"Id": str(i), "MessageBody": f"w-{i}"} for i in range(start, start + 10)]
            ids |= {e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
        lines = dev.wait_for(r"\| got (\S+) w-\d+ 1$", timeout=30, count=20)
        self.assertEqual({m.group(1) for m in lines}, ids)
        sizes = [int(m.group(1)) for m in dev.wait_for(r"\| batch (\d+)$")]
        self.assertGreater(max(sizes), 10, f"batches of {sizes}: the window gathers up to BatchSize")
        self.stop_dev(dev)

    def test_fifo_order_within_a_group(self):
        self.write("fn/consume.lua", CONSUMER_LUA)
        template = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: orders.fifo
      FifoQueue: true
      ContentBasedDeduplication: true
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: consume.handler
      Runtime: provided.al2023
      Events:
        Orders:
          Type: SQS
          Properties:
            Queue: !GetAtt Orders.Arn
            BatchSize: 3
"""
        dev = self.start_dev(self.template(template))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="orders.fifo")["QueueUrl"]
        for i in range(12):
            sqs.send_message(QueueUrl=url, MessageBody=f"order-{i}", MessageGroupId="g1")
        sqs.send_message(QueueUrl=url, MessageBody="order-0", MessageGroupId="g1")  # a duplicate: dropped
        lines = dev.wait_for(r"\| got \S+ order-(\d+) 1$", timeout=30, count=12)
        self.assertEqual([int(m.group(1)) for m in lines], list(range(12)))
        time.sleep(1)
        self.assertEqual(dev.count(r"\| got \S+ order-"), 12)
        self.stop_dev(dev)

    def test_batches_reach_the_consumer(self):
        dev = self.start_dev(self.template(queue_template(visibility=30, batch=5)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        ids = set()
        for start in range(0, 20, 10):
            entries = [{"Id": str(i), "MessageBody": f"batch-{i}"} for i in range(start, start + 10)]
            ids |= {e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
        self.assertEqual(len(ids), 20)
        lines = dev.wait_for(r"\| got (\S+) batch-\d+ \d+$", timeout=30, count=20)
        self.assertEqual({m.group(1) for m in lines}, ids)
        wait_until(lambda: self.queue_counts(sqs, url) == (0, 0, 0), 20, "the queue to be empty")
        self.stop_dev(dev)


@unittest.skipUnless(TRIGGERS and EMBEDDED, NEEDS_TRIGGERS + " and " + NEEDS_EMBEDDED)
class TestSeedService(DevTestCase):
    """The seed's service from bootstrap/template.yaml: POST /send -> ten messages -> the consumer."""

    def test_post_send_reaches_the_consumer_ten_times(self):
        template = os.path.join(REPO, "bootstrap", "template.yaml")
        dev = self.start_dev(template, cwd=REPO)
        dev.wait_for(r"http\s+http://127\.0\.0\.1:\d+ POST /send\s+-> Producer")
        dev.wait_for(r"trigger\s+sqs test-queue\s+-> Consumer")
        status, _, body = http_request(dev.front + "/send", "POST", b"")
        self.assertEqual(status, 200, body.decode(errors="replace") + dev.output())
        self.assertEqual(body, b"Sent 10 messages to the test-queue.")
        sent = dev.wait_for(r"Producer\s+\|.*Send message id: (\S+)", count=10)
        received = dev.wait_for(r"Consumer\s+\| message (\S+): Hello from Lambda! - (\d)$", timeout=30, count=10)
        self.assertEqual({m.group(1) for m in received}, {m.group(1) for m in sent})
        self.assertEqual(sorted(int(m.group(2)) for m in received), list(range(10)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="test-queue")["QueueUrl"]

        def empty():
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        wait_until(empty, 20, "test-queue to be empty")
        dlq = sqs.get_queue_url(QueueName="test-queue-dlq")["QueueUrl"]
        self.assertEqual(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                         ["Attributes"]["ApproximateNumberOfMessages"], "0")
        self.stop_dev(dev)


PRODUCER_LUA = """\
local sqs = require "moonrun.sqs"
local M = {}
function M.handler(event)
  local sent = sqs.send_message{QueueUrl = os.getenv("QUEUE_URL"), MessageBody = event.body or "from the producer"}
  return {id = sent.MessageId}
end
return M
"""


def producer_template(extra=""):
    return """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Out:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: out-queue
  Producer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: produce.handler
      Runtime: provided.al2023
      Environment:
        Variables:
          QUEUE_URL: !Ref Out
""" + extra


@unittest.skipUnless(EMBEDDED, NEEDS_EMBEDDED)
class TestEmbeddedSqs(DevTestCase):
    """The embedded endpoint as dev serves it: the handlers' SDK, boto3, signatures, --sqs-only."""

    DEV_KEY_ID, DEV_SECRET = "AKIAMOONRUNDEV000000", "moonrun-dev-secret"

    def sqs_with(self, dev, key_id, secret):
        import boto3
        from botocore.config import Config
        return boto3.client("sqs", endpoint_url=dev.sqs, region_name=REGION, aws_access_key_id=key_id,
                            aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))

    def test_a_handler_sends_to_the_embedded_queue_through_its_ref(self):
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_dev(self.template(producer_template()))
        dev.wait_for(r"\(embedded; messages kept in ")
        sent = self.invoke_ok(dev, "Producer", {"body": "hello queue"})["id"]
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="out-queue")["QueueUrl"]
        self.assertEqual(url, f"{dev.sqs}/{ACCOUNT}/out-queue")
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([(m["MessageId"], m["Body"]) for m in messages], [(sent, "hello queue")])
        dev.wait_for(r"queues: .*out-queue (0 \(\+1 in flight\)|1)")
        self.stop_dev(dev)

    def test_a_long_poll_does_not_block_the_rest(self):
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_dev(self.template(producer_template()))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="out-queue")["QueueUrl"]
        received = {}

        def long_poll():
            started = time.monotonic()
            messages = self.sqs_client(dev).receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
            received["messages"], received["after"] = messages, time.monotonic() - started
        threads = [threading.Thread(target=long_poll) for _ in range(1)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        started = time.monotonic()
        sent = self.invoke_ok(dev, "Producer", {"body": "wakes the poll"})["id"]
        self.assertLess(time.monotonic() - started, seconds(3), "the invocation waited for the long poll")
        for t in threads:
            t.join(seconds(20))
        self.assertEqual([m["MessageId"] for m in received["messages"]], [sent])
        self.assertLess(received["after"], 5, "the long poll returned when the message came")
        self.stop_dev(dev)

    def test_sigterm_during_a_long_poll(self):
        dev = self.start_dev(self.template(queue_template(consumer=False)))
        url = self.sqs_client(dev).get_queue_url(QueueName="work")["QueueUrl"]
        outcome = {}

        def long_poll():
            try:
                outcome["answer"] = self.sqs_client(dev).receive_message(QueueUrl=url, WaitTimeSeconds=20)
            except Exception as e:  # noqa: BLE001 - any end will do, as long as it ends
                outcome["error"] = repr(e)
        t = threading.Thread(target=long_poll)
        t.start()
        time.sleep(0.5)
        started = time.monotonic()
        self.stop_dev(dev, timeout=10)
        self.assertLess(time.monotonic() - started, seconds(5), "dev waited for the long poll")
        t.join(seconds(30))
        self.assertTrue(outcome)

    def test_verify_signatures(self):
        from botocore.exceptions import ClientError
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_dev(self.template(producer_template()), "--verify-signatures")
        # the functions sign with dev's credentials: accepted
        sent = self.invoke_ok(dev, "Producer")["id"]
        good = self.sqs_with(dev, self.DEV_KEY_ID, self.DEV_SECRET)
        url = good.get_queue_url(QueueName="out-queue")["QueueUrl"]
        self.assertEqual(good.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]["MessageId"], sent)
        # another key, or the right key with a wrong secret: refused as AWS refuses them
        with self.assertRaises(ClientError) as caught:
            self.sqs_with(dev, "AKIAOTHERKEY00000000", self.DEV_SECRET).list_queues()
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidClientTokenId")
        with self.assertRaises(ClientError) as caught:
            self.sqs_with(dev, self.DEV_KEY_ID, "wrong-secret").list_queues()
        self.assertEqual(caught.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
        self.stop_dev(dev)

    def test_any_credentials_without_verify_signatures(self):
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_dev(self.template(producer_template()))
        urls = self.sqs_with(dev, "AKIAANYTHING", "anything").list_queues()["QueueUrls"]
        self.assertEqual(urls, [f"{dev.sqs}/{ACCOUNT}/out-queue"])
        self.stop_dev(dev)

    def test_sqs_only(self):
        state = self.path("state")
        argv = [MOONRUN, "dev", "--sqs-only", "--sqs-port", "0", "--state", state]
        dev = Dev(argv, client_env(), self.tmp)
        self.devs.append(dev)
        self.addCleanup(self._cleanup_dev, dev)
        dev.sqs = dev.wait_for(r"moonrun dev: SQS at (http://127\.0\.0\.1:\d+) \(messages kept in ")[0].group(1)
        sqs = self.sqs_client(dev)
        url = sqs.create_queue(QueueName="alone")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="kept")
        self.stop_dev(dev)
        dev = Dev(argv, client_env(), self.tmp)
        self.devs.append(dev)
        self.addCleanup(self._cleanup_dev, dev)
        dev.sqs = dev.wait_for(r"moonrun dev: SQS at (http://127\.0\.0\.1:\d+) ")[0].group(1)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="alone")["QueueUrl"]
        self.assertEqual([m["Body"] for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]],
                         ["kept"])
        self.stop_dev(dev)

    def test_sqs_only_with_sqs_endpoint_is_a_usage_error(self):
        p = self.run_dev("--sqs-only", "--sqs-endpoint", "http://127.0.0.1:1")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--sqs-only", p.stderr)


class TestExternalSqs(DevTestCase):
    """--sqs-endpoint: an SQS dev does not own (moto here, with its own account id, as AWS would have)."""

    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer(account="123456789012").start()  # moto's own default: not dev's

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def setUp(self):
        super().setUp()
        self.moto.reset()

    def start_external(self, template, *args):
        return self.start_dev(template, "--sqs-endpoint", self.moto.url, *args, embedded=True)

    def test_the_queues_are_created_there_and_a_ref_is_their_real_url(self):
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_external(self.template(producer_template()))
        self.assertEqual(dev.sqs, self.moto.url)
        sqs = self.moto.boto3()
        real_url = sqs.get_queue_url(QueueName="out-queue")["QueueUrl"]
        sent = self.invoke_ok(dev, "Producer", {"body": "to moto"})["id"]
        messages = sqs.receive_message(QueueUrl=real_url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([(m["MessageId"], m["Body"]) for m in messages], [(sent, "to moto")])
        env_lua = 'return {handler = function() return {url = os.getenv("QUEUE_URL")} end}\n'
        self.write("fn/produce.lua", env_lua)
        self.assertEqual(self.invoke_ok(dev, "Producer")["url"], real_url,
                         "!Ref of a queue is its URL as that SQS gives it")
        self.stop_dev(dev)

    def test_the_functions_get_the_environments_credentials(self):
        self.write("fn/produce.lua", 'return {handler = function() return {key = os.getenv("AWS_ACCESS_KEY_ID"), '
                                     'endpoint = os.getenv("AWS_ENDPOINT_URL_SQS")} end}\n')
        dev = self.start_external(self.template(producer_template()))
        self.assertEqual(self.invoke_ok(dev, "Producer"), {"key": KEY_ID, "endpoint": self.moto.url})
        self.stop_dev(dev)

    def test_a_redrive_policy_names_the_dead_letter_queue_in_that_account(self):
        self.write("fn/consume.lua", CONSUMER_LUA)
        dev = self.start_external(self.template(queue_template(visibility=1, max_receive=2)))
        sqs = self.moto.boto3()
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName="work-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                            ["Attributes"]["RedrivePolicy"])
        self.assertEqual(policy["deadLetterTargetArn"], dlq_arn)
        self.stop_dev(dev)

    @unittest.skipUnless(TRIGGERS, NEEDS_TRIGGERS)
    def test_a_trigger_polls_that_sqs(self):
        self.write("fn/consume.lua", CONSUMER_LUA)
        template = queue_template(visibility=5).replace("""\
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 2
""", "")
        dev = self.start_external(self.template(template))
        sqs = self.moto.boto3()
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        ids = {sqs.send_message(QueueUrl=url, MessageBody=f"moto-{i}")["MessageId"] for i in range(3)}
        lines = dev.wait_for(r"\| got (\S+) moto-\d 1$", timeout=30, count=3)
        self.assertEqual({m.group(1) for m in lines}, ids)

        def empty():
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        wait_until(empty, 20, "moto's queue to be empty")
        self.stop_dev(dev)


@unittest.skipUnless(EMBEDDED, NEEDS_EMBEDDED)
class TestRestart(DevTestCase):
    """Messages in the embedded queues survive a restart of dev: none lost, none duplicated."""

    def test_the_default_state_is_beside_the_template(self):
        folder = self.path("service")
        os.makedirs(folder)
        path = self.write("service/template.yaml", queue_template(consumer=False))
        argv = [MOONRUN, "dev", "--port", "0", "--sqs-port", "0"]  # no --state, no template: found here
        dev = Dev(argv, client_env(), folder)
        self.devs.append(dev)
        self.addCleanup(self._cleanup_dev, dev)
        dev.wait_ready()
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="in .moonrun")
        self.stop_dev(dev)
        self.assertTrue(os.path.isdir(os.path.join(folder, ".moonrun")), os.listdir(folder))
        self.assertTrue(os.listdir(os.path.join(folder, ".moonrun")))
        self.assertTrue(path)

    def test_messages_survive_sigterm_and_restart(self):
        state = self.path("state")
        path = self.template(queue_template(consumer=False, visibility=30))
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sent = {}
        for i in range(25):
            sent[sqs.send_message(QueueUrl=url, MessageBody=f"keep-{i}")["MessageId"]] = f"keep-{i}"
        self.stop_dev(dev)
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        got = {}
        deadline = time.monotonic() + seconds(20)
        while len(got) < len(sent) and time.monotonic() < deadline:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                self.assertNotIn(m["MessageId"], got, "a message received twice within its visibility timeout")
                got[m["MessageId"]] = m["Body"]
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(got, sent)
        self.stop_dev(dev)
        # what was deleted stays deleted
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        self.assertEqual(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []), [])
        self.stop_dev(dev)

    def test_what_was_acknowledged_survives_sigkill(self):
        # a send that was answered is kept, a delete that was answered stays done, even when dev
        # is killed outright right after
        state = self.path("state")
        path = self.template(queue_template(consumer=False, visibility=30))
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sent = {}
        for start in range(0, 20, 10):
            entries = [{"Id": str(i), "MessageBody": f"kill-{i}"} for i in range(start, start + 10)]
            for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]:
                sent[e["MessageId"]] = f"kill-{e['Id']}"
        deleted = set()
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            deleted.add(m["MessageId"])
        self.assertEqual(len(deleted), 5)
        dev.signal(signal.SIGKILL)
        self.assertEqual(dev.wait_exit(10), -signal.SIGKILL)
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        got = {}
        deadline = time.monotonic() + seconds(20)
        while len(got) < len(sent) - len(deleted) and time.monotonic() < deadline:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                got[m["MessageId"]] = m["Body"]
        self.assertEqual(got, {k: v for k, v in sent.items() if k not in deleted})
        self.stop_dev(dev)

    @unittest.skipUnless(TRIGGERS, NEEDS_TRIGGERS)
    def test_a_restart_in_the_middle_of_consuming_loses_nothing(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with self.subTest(signal=sig.name):
                self.restart_in_the_middle(sig)

    def restart_in_the_middle(self, sig):
        state = self.path("state-" + sig.name)
        self.write("fn/consume.lua", CONSUMER_LUA.replace(
            "local M = {}", 'local M = {}\nlocal function slowly() os.execute("sleep 0.2") end'
        ).replace("for _, record", "slowly()\n  for _, record"))
        with open(self.path("fn/consume.lua")) as f:
            self.assertIn("slowly()\n", f.read())
        # the consumer takes one message at a time, slowly, so dev stops in the middle
        # at most two batches at once (the trigger scales its pollers up to MaximumConcurrency)
        path = self.template(queue_template(visibility=2, max_receive=10, batch=1).replace(
            "            FunctionResponseTypes: [ReportBatchItemFailures]\n",
            "            FunctionResponseTypes: [ReportBatchItemFailures]\n            ScalingConfig: {MaximumConcurrency: 2}\n"),
            name=f"t-{sig.name}.yaml")
        queue_only = self.template(queue_template(consumer=False, visibility=2, max_receive=10),
                                   name=f"q-{sig.name}.yaml")
        dev = self.start_dev(queue_only, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sent = set()
        for start in range(0, 30, 10):
            entries = [{"Id": str(i), "MessageBody": f"mid-{i}"} for i in range(start, start + 10)]
            sent |= {e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
        self.stop_dev(dev)
        dev = self.start_dev(path, state=state)
        first = dev.wait_for(r"\| got (\S+) mid-\d+ \d+$", timeout=30, count=5)
        children = children_of(dev.pid)
        dev.signal(sig)
        code = dev.wait_exit(15)
        self.assertEqual(code, 0 if sig == signal.SIGTERM else -signal.SIGKILL, dev.output())
        for pid, args in children:
            wait_until(lambda: pid_gone(pid), 10, f"child {pid} ({args}) to be gone")
        seen_before = [m.group(1) for m in first]
        before = {m.group(1) for m in (re.search(r"\| got (\S+) mid-\d+ \d+$", line) for line in dev.lines) if m}
        self.assertLess(len(before), len(sent), "dev was stopped before the queue was drained")
        dev = self.start_dev(path, state=state)
        missing = sent - before

        def all_seen():
            after = {m.group(1) for m in (re.search(r"\| got (\S+) mid-\d+ \d+$", line) for line in dev.lines) if m}
            return missing <= after and after
        after = wait_until(all_seen, 60, f"the {len(missing)} messages left to be consumed after the restart")
        self.assertTrue(before | after == sent, "only messages that were sent")
        # SQS is at-least-once: only the messages in flight when dev stopped (a batch of one per
        # poller, two pollers at most) may come again
        again = before & after
        self.assertLessEqual(len(again), 2, f"redelivered after the restart: {again}")
        self.assertTrue(set(seen_before) <= before)
        sqs = self.sqs_client(dev)

        def empty():
            a = sqs.get_queue_attributes(QueueUrl=url.replace(url.split("/")[2], dev.sqs.split("/")[2]),
                                         AttributeNames=["All"])["Attributes"]
            return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        wait_until(empty, 20, "the queue to be empty")
        self.stop_dev(dev)


if __name__ == "__main__":
    unittest.main()
