"""End-to-end tests for the moonrun binary against a real HTTP Runtime API.

Run from the repository root with either of::

    python3 -m unittest -v tests/test_runtime.py
    python3 tests/test_runtime.py

Environment:

* ``MOONRUN_BIN``: the binary to test (default ``build/moonrun`` in the repo).
* ``MOONRUN_WRAPPER``: a command prefix, e.g.
  ``valgrind --error-exitcode=99 --leak-check=full``.  When set, the RSS test
  is skipped (RSS is meaningless under a wrapper).
* ``MOONRUN_TIMEOUT_SCALE``: float multiplier for every wait (default 1).
* ``MOONRUN_SKIP_RSS``: set to 1 to skip the RSS test (e.g. ASan builds).
"""

import json
import math
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from preload_fixtures import preload_env  # noqa: E402
from runtime_api import RuntimeAPI, WaitTimeout, NEXT_PATH, INIT_ERROR_PATH  # noqa: E402

REPO = os.path.dirname(HERE)
HANDLERS = os.path.join(HERE, "handlers")
SCALE = float(os.environ.get("MOONRUN_TIMEOUT_SCALE") or "1")
WRAPPER = shlex.split(os.environ.get("MOONRUN_WRAPPER") or "")

ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"
ERROR_TYPE_HEADER_RE = re.compile(r"^(Runtime|Function)\.[A-Z][a-zA-Z]+$")

FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "moonrun-test",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/moonrun-test",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]0123456789abcdef",
}


def T(seconds):
    """Scale a timeout by MOONRUN_TIMEOUT_SCALE."""
    return seconds * SCALE


def moonrun_bin():
    path = os.environ.get("MOONRUN_BIN")
    if path:
        return os.path.abspath(path)
    return os.path.join(REPO, "build", "moonrun")


def setUpModule():  # noqa: N802 - unittest hook
    path = moonrun_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError("moonrun binary not found or not executable: %s "
                           "(build it or set MOONRUN_BIN)" % path)


class OutputCollector:
    """Reads a pipe on a background thread and keeps everything it got."""

    def __init__(self, pipe, name):
        self._pipe = pipe
        self._data = bytearray()
        self._cond = threading.Condition()
        self._eof = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        fd = self._pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._data += chunk
                self._cond.notify_all()

    def data(self):
        with self._cond:
            return bytes(self._data)

    def text(self):
        return self.data().decode("utf-8", "replace")

    def __len__(self):
        with self._cond:
            return len(self._data)

    def wait_for(self, needle, timeout):
        """Wait until ``needle`` (bytes) has been read; returns True/False."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while needle not in self._data:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    return needle in self._data
                self._cond.wait(min(remaining, 0.1))
            return True

    def join(self, timeout):
        self._thread.join(timeout)
        try:
            self._pipe.close()
        except OSError:
            pass


class Moonrun:
    """A moonrun process with captured stdout/stderr."""

    def __init__(self, api_address, handler, task_root=HANDLERS, env=None, unset=(), args=()):
        full_env = {}
        for key, value in os.environ.items():
            if key.startswith("AWS_") or key.startswith("LAMBDA_"):
                continue
            if key in ("_HANDLER", "_X_AMZN_TRACE_ID", "MOONRUN_MEMORY_LIMIT_MB"):
                continue
            full_env[key] = value
        full_env.update(FUNCTION_ENV)
        full_env["AWS_LAMBDA_RUNTIME_API"] = api_address
        full_env["LAMBDA_TASK_ROOT"] = task_root
        if handler is not None:
            full_env["_HANDLER"] = handler
        full_env.update(env or {})
        for key in unset:
            full_env.pop(key, None)
        self.argv = WRAPPER + [moonrun_bin()] + list(args)
        self.proc = subprocess.Popen(
            self.argv, env=full_env, cwd="/", stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self.proc.pid
        self.stdout = OutputCollector(self.proc.stdout, "moonrun-stdout")
        self.stderr = OutputCollector(self.proc.stderr, "moonrun-stderr")

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Wait for exit; returns the exit code or None on timeout."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.stdout.join(T(5))
        self.stderr.join(T(5))
        return rc

    def terminate(self, timeout=None):
        """SIGTERM, then wait; returns the exit code or None if it hung."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return self.wait(T(15) if timeout is None else timeout)

    def kill(self):
        """Cleanup: make sure nothing we started survives."""
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    self.proc.kill()
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(T(10))
        except subprocess.TimeoutExpired:
            pass
        self.stdout.join(1)
        self.stderr.join(1)

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/%d/status" % self.pid)


class MoonrunTestCase(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.api = self.new_api()
        self.proc = None

    def new_api(self, **kwargs):
        api = RuntimeAPI(**kwargs).start()
        self.addCleanup(api.stop)
        return api

    def start(self, handler, api=None, **kwargs):
        api = api or self.api
        proc = Moonrun(api.address, handler, **kwargs)
        proc.api = api
        self.addCleanup(proc.kill)  # runs before api.stop (cleanups are LIFO)
        if api is self.api:
            self.proc = proc
        return proc

    # -- diagnostics ---------------------------------------------------------

    def describe_proc(self, proc=None):
        proc = proc or self.proc
        if proc is None:
            return ""
        rc = proc.proc.poll()
        return ("\n--- moonrun (%s) ---\n--- stdout ---\n%s\n--- stderr ---\n%s"
                % ("running" if rc is None else "exit code %s" % rc,
                   proc.stdout.text()[-4000:], proc.stderr.text()[-8000:]))

    def fail_with_output(self, message, proc=None):
        self.fail("%s%s" % (message, self.describe_proc(proc)))

    # -- a server that never answers --------------------------------------------

    def silent_server(self):
        """A socket listening on loopback that never answers; its URL."""
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        self.addCleanup(silent.close)
        self.silent = silent
        return "http://127.0.0.1:%d/" % silent.getsockname()[1]

    def request_reaches_silent_server(self):
        """Accepts the request a handler sent to silent_server and returns its connection, left
        open and unanswered."""
        self.silent.settimeout(T(10))
        connection, _ = self.silent.accept()
        self.addCleanup(connection.close)
        connection.settimeout(T(10))
        self.assertIn(b"GET / HTTP/1.1", connection.recv(4096))
        return connection

    # -- waiting ---------------------------------------------------------------

    def result(self, request_id, timeout=10, api=None, proc=None):
        api = api or self.api
        proc = proc or self.proc
        try:
            return api.wait_result(request_id, T(timeout), alive=proc.alive if proc else None)
        except WaitTimeout as exc:
            self.fail_with_output(str(exc), proc)

    def invoke(self, event, headers=None, timeout=10):
        rid = self.api.push(event, headers=headers)
        return self.result(rid, timeout)

    def wait_idle(self, timeout=10):
        try:
            self.api.wait_idle(T(timeout), alive=self.proc.alive)
        except WaitTimeout as exc:
            self.fail_with_output(str(exc))

    def stop(self, proc=None):
        """SIGTERM the runtime and require a clean exit (code 0)."""
        proc = proc or self.proc
        api = getattr(proc, "api", None)
        if api is not None and proc.alive():
            # Signal only once the runtime is back in GET /next, so that this
            # generic check does not depend on the SIGTERM-before-poll race
            # (that race has its own test: test_sigterm_right_after_response).
            try:
                api.wait_idle(T(10), alive=proc.alive)
            except WaitTimeout:
                pass
        rc = proc.terminate()
        if rc is None:
            self.fail_with_output("moonrun did not exit within %.0fs of SIGTERM" % T(15), proc)
        if rc != 0:
            self.fail_with_output("moonrun exited with %s after SIGTERM (expected 0)" % rc, proc)

    # -- assertions --------------------------------------------------------------

    def assertResponse(self, result, expected=None, msg=None):
        if result.kind != "response":
            self.fail_with_output("expected a response, got %r" % (result,))
        if expected is not None:
            self.assertEqual(result.json(), expected, msg)
        return result.json() if expected is None else expected

    def assertErrorBody(self, result, kind="error"):
        """Check the shape shared by invocation and init errors; returns the body."""
        if result.kind != kind:
            self.fail_with_output("expected %s post, got %r" % (kind, result))
        try:
            body = result.json()
        except ValueError as exc:
            self.fail_with_output("error body is not JSON (%s): %r" % (exc, result.body))
        self.assertIsInstance(body, dict, result)
        self.assertIsInstance(body.get("errorMessage"), str, body)
        self.assertIsInstance(body.get("errorType"), str, body)
        self.assertIsInstance(body.get("stackTrace"), list, body)
        for frame in body["stackTrace"]:
            self.assertIsInstance(frame, str, body)
        header = result.header(ERROR_TYPE_HEADER)
        self.assertIsNotNone(header, "missing Lambda-Runtime-Function-Error-Type: %r" % result)
        self.assertRegex(header, ERROR_TYPE_HEADER_RE)
        return body

    def assertInvocationError(self, result, error_type=None, header=None):
        body = self.assertErrorBody(result, "error")
        if error_type is not None:
            self.assertEqual(body["errorType"], error_type, body)
        if header is not None:
            self.assertEqual(result.header(ERROR_TYPE_HEADER), header, body)
        return body


# ---------------------------------------------------------------------------
# Basics
# ---------------------------------------------------------------------------

class TestBasics(MoonrunTestCase):

    def test_echo_round_trips(self):
        self.start("echo.handler")
        events = [
            {"hello": "world", "n": 1, "list": [1, 2, 3], "nested": {"ok": True}},
            [1, "two", {"three": 3}],
            "just a string",
            12345,
            True,
        ]
        for event in events:
            with self.subTest(event=event):
                self.assertResponse(self.invoke(event), event)
        # the runtime used the documented endpoints only
        for req in self.api.requests:
            self.assertTrue(req.path == NEXT_PATH or req.path.endswith("/response"), req)
        self.stop()

    def test_response_posted_to_matching_request_id(self):
        self.start("echo.handler")
        rid = self.api.push({"x": 1}, request_id="my-fixed-request-id-0001")
        r = self.result(rid)
        self.assertEqual(r.request_id, "my-fixed-request-id-0001")
        posts = self.api.requests_matching("POST")
        self.assertEqual([p.path for p in posts],
                         ["/2018-06-01/runtime/invocation/my-fixed-request-id-0001/response"])
        self.assertEqual(self.api.rejected, [])
        self.stop()

    def test_state_survives_between_invocations(self):
        self.start("counter.handler")
        for i in range(1, 6):
            self.assertResponse(self.invoke({}), {"count": i, "global": i})
        self.stop()

    def test_dotted_module_require_and_package_loaded(self):
        self.start("pkg.mod.handler")
        self.assertResponse(self.invoke({"n": 21}),
                            {"doubled": 42, "shared": "shared-module", "registered": True})
        self.stop()

    def test_path_module(self):
        self.start("nested/deep/mod.run")
        self.assertResponse(self.invoke({"x": 7}), "nested:7")
        self.stop()

    def test_global_handler(self):
        self.start("globals_only.handle")
        self.assertResponse(self.invoke({"a": 1}), {"from": "global", "got": {"a": 1}})
        self.stop()

    def test_global_fallback_when_table_lacks_function(self):
        self.start("globals_fallback.fallback")
        self.assertResponse(self.invoke({}), "global fallback")
        self.stop()

    def test_sigterm_while_idle_exits_zero(self):
        self.start("echo.handler")
        self.assertResponse(self.invoke({"a": 1}), {"a": 1})
        self.wait_idle()
        self.stop()

    def test_sigterm_right_after_response(self):
        """SIGTERM may arrive at any moment, e.g. just before the next poll."""
        for i in range(25):
            api = self.new_api()
            proc = self.start("echo.handler", api=api)
            rid = api.push({"i": i})
            self.result(rid, api=api, proc=proc)
            rc = proc.terminate()  # no wait for the runtime to be idle, on purpose
            if rc != 0:
                self.fail_with_output("iteration %d: exit code %s after SIGTERM sent right "
                                      "after the response was posted (None = still running: "
                                      "the signal was lost before the next poll)" % (i, rc), proc)

    def sigterm_when(self, marker, rid):
        if not self.proc.stdout.wait_for(marker, T(10)):
            self.fail_with_output("the handler never printed %r" % marker)
        sent = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        r = self.result(rid, timeout=15)
        rc = self.proc.wait(T(15))
        if rc != 0:
            self.fail_with_output("expected exit code 0 after SIGTERM, got %s" % rc)
        return r, r.time - sent

    def test_sigterm_stops_a_busy_handler(self):
        """Lambda ends the sandbox ~500 ms after SIGTERM: the handler is stopped, its error posted."""
        self.start("output.slow")
        rid = self.api.push({"n": 1, "seconds": 60})
        r, took = self.sigterm_when(b"started 1\n", rid)
        body = self.assertInvocationError(r, "Runtime.Shutdown", "Runtime.Shutdown")
        self.assertRegex(body["errorMessage"], r"^the execution environment is shutting down \(SIGTERM\): the handler "
                         r"was stopped \d+ ms before the invocation's deadline; it was stopped at .*output\.lua:\d+")
        self.assertLess(took, T(0.5), "the error is posted within Lambda's 500 ms")
        self.assertEqual(len(self.api.requests_matching("GET", NEXT_PATH)), 1, "no poll after SIGTERM")
        self.assertIn("invocation %s failed" % rid, self.proc.stderr.text())

    def test_sigterm_stops_a_sleeping_handler(self):
        self.start("output.sleeping")
        rid = self.api.push({"seconds": 60})
        r, took = self.sigterm_when(b"sleeping\n", rid)
        self.assertInvocationError(r, "Runtime.Shutdown")
        self.assertLess(took, T(0.5))

    def test_sigterm_just_before_the_sleep_waits_is_not_slept_through(self):
        """The signal lands between time.sleep's last check and its wait (a gap held open for 300 ms
        by tests/modules/late_wait.c): the sleep still ends at once, not at the deadline."""
        self.start("output.sleeping", env=preload_env("late_wait", LATE_WAIT_MS="300"))
        rid = self.api.push({"seconds": 60})
        r, took = self.sigterm_when(b"sleeping\n", rid)
        self.assertInvocationError(r, "Runtime.Shutdown")
        self.assertLess(took, 0.3 + T(0.5))

    def test_another_signal_does_not_cut_a_sleep_short(self):
        """A signal with a handler that stops nothing (a stray SIGRTMIN, the deadline timer's) wakes
        the wait: the rest is slept, and the handler returns."""
        self.start("output.sleeping")
        rid = self.api.push({"seconds": 0.8})
        if not self.proc.stdout.wait_for(b"sleeping\n", T(10)):
            self.fail_with_output("the handler never started")
        started = time.monotonic()
        for _ in range(4):
            os.kill(self.proc.pid, signal.SIGRTMIN)
            time.sleep(0.1)
        r = self.result(rid, timeout=T(10))
        self.assertEqual(json.loads(r.body), "slept")
        self.assertGreater(r.time - started, 0.7)

    def test_sigterm_abandons_a_request_in_flight(self):
        """A handler waiting on a server that took the request and never answers (timeout 600 s):
        SIGTERM abandons the request, the error is posted within Lambda's 500 ms."""
        url = self.silent_server()
        self.start("deadline.http")
        rid = self.api.push({"url": url})
        connection = self.request_reaches_silent_server()
        sent = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        r = self.result(rid, timeout=15)
        body = self.assertInvocationError(r, "Runtime.Shutdown")
        self.assertTrue(any("deadline.lua:45" in line for line in body["stackTrace"]), body["stackTrace"])
        self.assertLess(r.time - sent, T(0.5))
        self.assertEqual(self.proc.wait(T(15)), 0)
        connection.settimeout(T(5))
        self.assertEqual(connection.recv(4096), b"", "the abandoned request's connection is closed")

    def test_sigterm_stops_a_handler_without_a_deadline(self):
        self.start("output.slow")
        rid = self.api.push({"n": 2, "seconds": 60}, headers={"Lambda-Runtime-Deadline-Ms": None})
        r, _ = self.sigterm_when(b"started 2\n", rid)
        body = self.assertInvocationError(r, "Runtime.Shutdown")
        self.assertRegex(body["errorMessage"], r"^the execution environment is shutting down \(SIGTERM\): "
                         r"the handler was stopped; it was stopped at ")

    def test_sigterm_after_the_deadline_says_so(self):
        """Blocked in C past its deadline, the handler is stopped on its way back: not '200 ms before'."""
        self.start("output.blocked")
        # scaled like the rest: under a sanitizer on a busy machine the handler can take longer
        # than 300 ms to start, and must start before its deadline for this case
        deadline = int(time.time() * 1000) + int(T(300))
        rid = self.api.push({"seconds": T(1.2)}, headers={"Lambda-Runtime-Deadline-Ms": deadline})
        if not self.proc.stdout.wait_for(b"blocked\n", T(10)):
            self.fail_with_output("the handler never started")
        time.sleep(max(0, deadline / 1000 - time.time()) + T(0.3))
        os.kill(self.proc.pid, signal.SIGTERM)
        body = self.assertInvocationError(self.result(rid, timeout=15), "Runtime.Shutdown")
        self.assertRegex(body["errorMessage"], r"stopped \d+ ms after the invocation's deadline")
        self.assertNotIn("before", body["errorMessage"])
        self.assertEqual(self.proc.wait(T(15)), 0)

    def test_timeout_met_late_says_so(self):
        """The deadline met on the way back from a long C call: 'after', with the real figure."""
        self.start("output.blocked")
        deadline = int(time.time() * 1000) + int(T(500))
        rid = self.api.push({"seconds": T(1.2)}, headers={"Lambda-Runtime-Deadline-Ms": deadline})
        body = self.assertInvocationError(self.result(rid, timeout=15), "Timeout")
        self.assertRegex(body["errorMessage"], r"^Task timed out: the handler was still running \d+ ms after "
                         r"the invocation's deadline")
        self.stop()


# ---------------------------------------------------------------------------
# Deadlines
# ---------------------------------------------------------------------------

class TestDeadlines(MoonrunTestCase):
    """A handler still running near its deadline is stopped and reported as a Timeout."""

    def push_with_deadline(self, event, seconds):
        deadline_ms = int(time.time() * 1000 + seconds * 1000)
        rid = self.api.push(event, headers={"Lambda-Runtime-Deadline-Ms": deadline_ms})
        return rid, deadline_ms

    def assertTimedOut(self, rid, deadline_ms, margin_ms=200):
        r = self.result(rid, timeout=30)
        body = self.assertInvocationError(r, "Timeout", "Function.Timeout")
        self.assertIn("%d ms before the invocation's deadline" % margin_ms, body["errorMessage"])
        arrived_ms = time.time() * 1000 - (time.monotonic() - r.time) * 1000
        self.assertLess(arrived_ms, deadline_ms, "the error must reach Lambda before the deadline")
        return body, arrived_ms

    def test_infinite_loop_is_stopped_with_its_traceback_and_the_next_invocation_served(self):
        self.start("deadline.loop")
        rid, deadline_ms = self.push_with_deadline({}, T(1.5))
        body, arrived_ms = self.assertTimedOut(rid, deadline_ms)
        self.assertGreater(arrived_ms, deadline_ms - 200 - 50, "not stopped before its time")
        self.assertIn("deadline.lua:10", body["errorMessage"])
        self.assertTrue(any("deadline.lua:10" in line and "spin" in line for line in body["stackTrace"]),
                        body["stackTrace"])
        self.assertTrue(any("deadline.lua:13" in line for line in body["stackTrace"]), body["stackTrace"])
        self.assertTrue(self.proc.stderr.wait_for(b"invocation %s failed" % rid.encode(), T(5)),
                        self.proc.stderr.text())
        for _ in range(2):  # the state is usable again, and no deadline is left armed
            rid, deadline_ms = self.push_with_deadline({}, T(1.0))
            self.assertTimedOut(rid, deadline_ms)
        self.stop()

    def test_sleep_is_cut_at_the_deadline(self):
        self.start("deadline.sleep")
        started = time.time() * 1000
        rid, deadline_ms = self.push_with_deadline({}, T(1.5))
        body, arrived_ms = self.assertTimedOut(rid, deadline_ms)
        self.assertGreater(arrived_ms - started, T(1.5) * 1000 - 200 - 50)
        self.assertTrue(any("deadline.lua:15" in line for line in body["stackTrace"]), body["stackTrace"])
        self.stop()

    def test_a_caught_timeout_is_raised_again_until_the_handler_returns(self):
        self.start("deadline.swallow")
        for how in ("pcall", "xpcall", "coroutine", "sleep"):
            with self.subTest(how=how):
                rid, deadline_ms = self.push_with_deadline({"how": how}, T(1.0))
                self.assertTimedOut(rid, deadline_ms)
        self.stop()

    def test_code_spinning_in_a_coroutine_is_stopped(self):
        self.start("deadline.in_coroutine")
        for how in ("made at load", "wrap"):
            with self.subTest(how=how):
                rid, deadline_ms = self.push_with_deadline({"how": how}, T(1.0))
                body, _ = self.assertTimedOut(rid, deadline_ms)
                self.assertIn("deadline.lua:10", body["errorMessage"])
        self.stop()

    def test_a_handler_that_catches_the_timeout_cannot_return(self):
        self.start("deadline.caught")
        rid, deadline_ms = self.push_with_deadline({}, T(1.0))
        body, _ = self.assertTimedOut(rid, deadline_ms)
        self.assertIn("stopped at", body["errorMessage"])
        self.stop()

    def test_http_request_waits_no_longer_than_the_deadline(self):
        url = self.silent_server()  # never accepted: the connection is made, no answer ever comes
        self.start("deadline.http")
        rid, deadline_ms = self.push_with_deadline({"url": url}, T(2.0))
        body, _ = self.assertTimedOut(rid, deadline_ms)
        self.assertTrue(any("deadline.lua:45" in line for line in body["stackTrace"]), body["stackTrace"])
        self.stop()

    def test_margin_variable(self):
        self.start("deadline.loop", env={"MOONRUN_DEADLINE_MARGIN_MS": "1500"})
        rid, deadline_ms = self.push_with_deadline({}, T(1.0) + 1.5)
        _, arrived_ms = self.assertTimedOut(rid, deadline_ms, margin_ms=1500)
        self.assertLess(arrived_ms, deadline_ms - 1500 + 400 * SCALE)
        self.stop()

    def test_bad_margin_is_reported_and_the_default_applies(self):
        for bad in ("soon", "-5", "12ms", "99999999"):
            with self.subTest(value=bad):
                api = self.new_api()
                proc = self.start("deadline.loop", api=api, env={"MOONRUN_DEADLINE_MARGIN_MS": bad})
                deadline_ms = int(time.time() * 1000 + T(1.0) * 1000)
                rid = api.push({}, headers={"Lambda-Runtime-Deadline-Ms": deadline_ms})
                r = self.result(rid, timeout=30, api=api, proc=proc)
                body = self.assertInvocationError(r, "Timeout")
                self.assertIn("200 ms before", body["errorMessage"])
                warning = ("ignoring MOONRUN_DEADLINE_MARGIN_MS=%s: expected whole milliseconds" % bad)
                self.assertTrue(proc.stderr.wait_for(warning.encode(), T(5)), proc.stderr.text())
                self.stop(proc)

    def test_the_timer_of_an_invocation_that_ended_in_time_stops_nothing_later(self):
        """moonrun leaves a finished invocation's timer running (one system call less per
        invocation): when it goes off while moonrun waits, or would go off during a later
        invocation, nothing is stopped; a deadline already inside the margin still stops the
        handler at once."""
        self.start("deadline.mixed")
        rid, _ = self.push_with_deadline({"how": "quick"}, T(1.0))  # its timer: at +0.8 s
        self.assertResponse(self.result(rid), {"echo": {"how": "quick"}})
        time.sleep(T(1.2))  # it goes off while moonrun waits for the next invocation
        rid, _ = self.push_with_deadline({"how": "quick", "n": 2}, T(10))
        self.assertResponse(self.result(rid), {"echo": {"how": "quick", "n": 2}})
        rid, _ = self.push_with_deadline({"how": "quick", "n": 3}, T(1.0))  # timer at +0.8 s...
        self.assertResponse(self.result(rid), {"echo": {"how": "quick", "n": 3}})
        rid, _ = self.push_with_deadline({"how": "nap", "seconds": T(1.2)}, T(10))  # ...during this
        self.assertResponse(self.result(rid, timeout=T(30)), {"slept": T(1.2)})
        rid, deadline_ms = self.push_with_deadline({"how": "loop"}, 0.15)  # inside the 200 ms margin
        self.assertTimedOut(rid, deadline_ms)
        self.stop()

    def test_handlers_that_finish_in_time_and_invocations_without_a_deadline(self):
        self.start("deadline.quick")
        rid, _ = self.push_with_deadline({"n": 1}, T(5))
        self.assertResponse(self.result(rid), {"echo": {"n": 1}})
        for value in (None, "not-a-number"):  # no usable deadline: nothing is stopped
            r = self.invoke({"n": 2}, headers={"Lambda-Runtime-Deadline-Ms": value})
            self.assertResponse(r, {"echo": {"n": 2}})
        self.stop()


# ---------------------------------------------------------------------------
# Graceful shutdown
# ---------------------------------------------------------------------------

class TestShutdown(MoonrunTestCase):
    """M.shutdown: an internal extension makes Lambda send SIGTERM; the function then runs."""

    def start_with_marker(self, handler="shutdown.handler"):
        marker = os.path.join(tempfile.mkdtemp(prefix="moonrun-shutdown-"), "marker")
        self.addCleanup(lambda: os.path.exists(marker) and os.unlink(marker))
        self.start(handler, env={"SHUTDOWN_MARKER": marker})
        return marker

    def registered(self):
        try:
            self.api.wait_for(lambda: self.api.extension_waits, T(10), "the extension to wait for events",
                              alive=self.proc.alive)
        except WaitTimeout as exc:
            self.fail_with_output(str(exc))
        return self.api.extensions

    def marker_text(self, marker):
        with open(marker) as f:
            return f.read()

    def test_registers_an_internal_extension_before_the_first_poll(self):
        self.start_with_marker()
        [registration] = self.registered()
        self.assertEqual(registration["headers"].get("lambda-extension-name"), "moonrun-shutdown")
        self.assertEqual(json.loads(registration["body"]), {"events": []})
        self.assertEqual(self.api.extension_waits, [registration["identifier"]])
        self.assertResponse(self.invoke({}), "ok")
        paths = [r.path for r in self.api.requests]
        self.assertLess(paths.index("/2020-01-01/extension/register"), paths.index(NEXT_PATH))
        self.stop()

    def test_no_shutdown_function_no_extension(self):
        self.start("echo.handler")
        self.assertResponse(self.invoke({"a": 1}), {"a": 1})
        self.wait_idle()
        self.assertEqual(self.api.extensions, [])
        self.assertEqual(self.api.requests_matching(path="/2020-01-01/extension/register"), [])
        self.stop()

    def test_sigterm_runs_the_shutdown_function_and_exits_0(self):
        marker = self.start_with_marker()
        self.registered()
        self.assertResponse(self.invoke({}), "ok")
        self.stop()
        self.assertEqual(self.marker_text(marker), "started\ndone\n")

    def test_without_a_shutdown_function_sigterm_runs_nothing(self):
        marker = self.start_with_marker("output.slow")  # no shutdown function there
        rid = self.api.push({"n": 1, "seconds": 0.5})
        self.result(rid)
        self.stop()
        self.assertFalse(os.path.exists(marker))

    def test_a_shutdown_function_that_never_ends_is_cut_off(self):
        for mode in ("loop", "sleep"):
            with self.subTest(mode=mode):
                self.api = self.new_api()
                marker = self.start_with_marker()
                self.registered()
                self.assertResponse(self.invoke({"mode": mode}), "ok")
                self.wait_idle()
                started = time.monotonic()
                self.stop()
                self.assertLess(time.monotonic() - started, T(5))
                self.assertEqual(self.marker_text(marker), "started\n")
                self.assertRegex(self.proc.stderr.text(), r"the shutdown function failed: the shutdown function "
                                 r"ran for longer than its (400|39\d) ms")

    def test_sigterm_mid_invocation_posts_its_error_then_runs_shutdown(self):
        marker = self.start_with_marker()
        self.registered()
        rid = self.api.push({"spin": True})
        if not self.proc.stdout.wait_for(b"spinning\n", T(10)):
            self.fail_with_output("the handler never started")
        sent = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        rc = self.proc.wait(T(10))
        ended = time.monotonic()
        if rc != 0:
            self.fail_with_output("exit code %s after SIGTERM (expected 0)" % rc)
        self.assertInvocationError(self.result(rid), "Runtime.Shutdown")
        self.assertEqual(self.marker_text(marker), "started\ndone\n")
        self.assertLess(ended - sent, T(0.5), "within the 500 ms Lambda gives")

    def test_an_error_in_the_shutdown_function_is_logged_not_fatal(self):
        marker = self.start_with_marker()
        self.registered()
        self.assertResponse(self.invoke({"mode": "error"}), "ok")
        self.stop()
        self.assertEqual(self.marker_text(marker), "started\n")
        self.assertIn(b"the shutdown function failed:", self.proc.stderr.data())
        self.assertIn(b"cleanup went wrong", self.proc.stderr.data())

    def test_a_refused_registration_is_logged_and_serving_goes_on(self):
        self.api.refuse_extensions = True
        marker = self.start_with_marker()
        self.assertResponse(self.invoke({}), "ok")
        self.assertTrue(self.proc.stderr.wait_for(b"refused the shutdown extension (status 403)", T(5)),
                        self.proc.stderr.text())
        self.stop()
        self.assertEqual(self.marker_text(marker), "started\ndone\n")


# ---------------------------------------------------------------------------
# Init errors
# ---------------------------------------------------------------------------

class TestInitErrors(MoonrunTestCase):

    def run_init_error(self, handler, expected_type, task_root=HANDLERS, unset=()):
        api = self.new_api()
        proc = self.start(handler, api=api, task_root=task_root, unset=unset)
        try:
            # stop early if the runtime goes on to poll /next instead
            api.wait_for(lambda: api.init_errors() or api.requests_matching("GET", NEXT_PATH),
                         T(10), "an init error", alive=proc.alive)
        except WaitTimeout as exc:
            self.fail_with_output("_HANDLER=%r: %s" % (handler, exc), proc)
        if not api.init_errors():
            self.fail_with_output("_HANDLER=%r: polled /next instead of posting an init error: %r"
                                  % (handler, api.results), proc)
        rc = proc.wait(T(10))
        if rc is None:
            self.fail_with_output("_HANDLER=%r: still running after init error" % handler, proc)
        self.assertNotEqual(rc, 0, "_HANDLER=%r: exit code should be non-zero" % handler)
        [err] = api.init_errors()
        body = self.assertErrorBody(err, "init_error")
        self.assertEqual(body["errorType"], expected_type, (handler, body))
        self.assertEqual(err.header(ERROR_TYPE_HEADER), expected_type, (handler, body))
        self.assertEqual(api.requests_matching("GET", NEXT_PATH), [],
                         "_HANDLER=%r: must not poll /next after an init error" % handler)
        self.assertTrue(proc.stderr.text().strip(),
                        "_HANDLER=%r: expected a message on stderr" % handler)
        self.assertEqual(api.results, [err])
        return body

    def test_malformed_handler_names(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "root")
            os.mkdir(root)
            # a perfectly valid module just outside the task root: if the
            # runtime let "../" through it would load this successfully
            with open(os.path.join(tmp, "escape.lua"), "w") as f:
                f.write("return { handler = function() return 'escaped' end }\n")
            with open(os.path.join(root, "mod.lua"), "w") as f:
                f.write("return { handler = function() return 'ok' end }\n")
            for name in ["nodot", "mod.", ".func", "mod.1bad", "../escape.handler", ""]:
                with self.subTest(handler=name):
                    self.run_init_error(name, "Runtime.MalformedHandlerName", task_root=root)

    def test_handler_unset(self):
        self.run_init_error(None, "Runtime.MalformedHandlerName", unset=("_HANDLER",))

    def test_missing_module(self):
        body = self.run_init_error("missing_module.handler", "Runtime.ImportModuleError")
        self.assertIn("missing_module.lua", body["errorMessage"])

    def test_missing_nested_module(self):
        body = self.run_init_error("no.such.mod.handler", "Runtime.ImportModuleError")
        self.assertIn("no/such/mod.lua", body["errorMessage"])

    def test_syntax_error(self):
        body = self.run_init_error("syntax_error.handler", "Runtime.UserCodeSyntaxError")
        self.assertIn("syntax_error.lua", body["errorMessage"])
        self.assertRegex(body["errorMessage"], r"\b3\b")

    def test_handler_function_missing(self):
        body = self.run_init_error("echo.nosuch", "Runtime.HandlerNotFound")
        self.assertIn("nosuch", body["errorMessage"])

    def test_handler_not_a_function(self):
        self.run_init_error("not_a_function.handler", "Runtime.HandlerNotFound")

    def test_module_init_error(self):
        body = self.run_init_error("init_error.handler", "Runtime.ModuleInitError")
        self.assertIn("module init exploded", body["errorMessage"])


# ---------------------------------------------------------------------------
# Invocation errors (each followed by a successful invocation)
# ---------------------------------------------------------------------------

class TestInvocationErrors(MoonrunTestCase):

    def error_then_ok(self, event, error_type=None, header=None, env=None):
        self.start("errors.handler", env=env)
        rid = self.api.push(event)
        err = self.result(rid, timeout=20)
        body = self.assertInvocationError(err, error_type, header)
        # the same process must keep serving
        self.assertResponse(self.invoke({"kind": "ok"}), {"ok": True, "kind": "ok"})
        self.stop()
        return body

    def assertStackMentionsHandler(self, body):
        self.assertTrue(body["stackTrace"], body)
        self.assertTrue(any("errors.lua" in frame for frame in body["stackTrace"]), body)

    def test_error_string(self):
        body = self.error_then_ok({"kind": "error"}, "Error", "Function.Error")
        self.assertRegex(body["errorMessage"], r"errors\.lua:\d+: boom")
        self.assertStackMentionsHandler(body)

    def test_assert(self):
        body = self.error_then_ok({"kind": "assert"}, "Error", "Function.Error")
        self.assertIn("assertion went wrong", body["errorMessage"])
        self.assertStackMentionsHandler(body)

    def test_runtime_fault_index_nil(self):
        body = self.error_then_ok({"kind": "index_nil"}, "Error", "Function.Error")
        self.assertRegex(body["errorMessage"], r"errors\.lua:\d+: attempt to index")
        self.assertStackMentionsHandler(body)

    def test_error_table(self):
        body = self.error_then_ok({"kind": "table"}, "ValidationError", "Function.ValidationError")
        self.assertEqual(body["errorMessage"], "bad input")

    def test_error_table_with_code(self):
        self.error_then_ok({"kind": "code"}, "AccessDenied", "Function.AccessDenied")

    def test_error_table_with_invalid_type_name(self):
        self.error_then_ok({"kind": "bad_type"}, "bad-type", "Function.Error")

    def test_error_table_with_tostring(self):
        body = self.error_then_ok({"kind": "tostring"})
        self.assertEqual(body["errorMessage"], "custom tostring message")

    def test_error_table_whose_tostring_raises(self):
        self.error_then_ok({"kind": "tostring_raises"})

    def test_error_number(self):
        body = self.error_then_ok({"kind": "number"}, "Error", "Function.Error")
        self.assertIn("42", body["errorMessage"])

    def test_error_nil(self):
        body = self.error_then_ok({"kind": "nil"}, "Error", "Function.Error")
        self.assertIn("nil", body["errorMessage"])

    def test_stack_overflow(self):
        self.error_then_ok({"kind": "recursion"}, "StackOverflow", "Function.StackOverflow")

    def test_out_of_memory_huge_string(self):
        # One 1 GiB allocation against a 64 MB heap cap.  (The spec's example
        # string.rep("x", 1 << 40) cannot be used: Lua 5.4 rejects it with
        # "resulting string too large" before allocating anything.)
        self.error_then_ok({"kind": "oom_rep"}, "OutOfMemory", "Function.OutOfMemory",
                           env={"MOONRUN_MEMORY_LIMIT_MB": "64"})

    def test_out_of_memory_heap_limit(self):
        self.error_then_ok({"kind": "oom_table"}, "OutOfMemory", "Function.OutOfMemory",
                           env={"MOONRUN_MEMORY_LIMIT_MB": "64"})

    def marshal_error(self, kind):
        return self.error_then_ok({"kind": kind}, "Runtime.MarshalError", "Runtime.MarshalError")

    def test_marshal_function_names_path(self):
        body = self.marshal_error("marshal_function")
        self.assertIn("result.items[3]", body["errorMessage"])

    def test_marshal_cycle(self):
        body = self.marshal_error("cycle")
        self.assertIn("cycle", body["errorMessage"].lower())

    def test_marshal_nan(self):
        body = self.marshal_error("nan")
        self.assertIn("nan", body["errorMessage"].lower())
        self.assertIn("result.values.bad", body["errorMessage"])

    def test_marshal_inf(self):
        body = self.marshal_error("inf")
        self.assertIn("inf", body["errorMessage"].lower())
        self.assertIn("result.values.big", body["errorMessage"])

    def test_marshal_negative_inf(self):
        body = self.marshal_error("neg_inf")
        self.assertIn("inf", body["errorMessage"].lower())
        self.assertIn("result.values.small", body["errorMessage"])

    def test_marshal_invalid_utf8(self):
        self.marshal_error("invalid_utf8")

    def test_marshal_bad_keys(self):
        for kind in ["float_key", "bool_key", "table_key"]:
            with self.subTest(kind=kind):
                self.api = self.new_api()
                self.marshal_error(kind)

    def test_marshal_userdata(self):
        self.marshal_error("userdata")

    def test_marshal_too_deep(self):
        self.error_then_ok({"kind": "deep", "depth": 1001},
                           "Runtime.MarshalError", "Runtime.MarshalError")

    def test_marshal_depth_1000_is_fine(self):
        self.start("errors.handler")
        r = self.invoke({"kind": "deep", "depth": 1000})
        self.assertEqual(r.kind, "response", r)
        compact = re.sub(rb"\s+", b"", r.body)
        self.assertEqual(compact, b"[" * 999 + b"{}" + b"]" * 999)
        self.stop()

    def test_all_errors_in_one_process(self):
        """Many different failures back to back must not wear the runtime down."""
        self.start("errors.handler", env={"MOONRUN_MEMORY_LIMIT_MB": "64"})
        kinds = ["error", "assert", "index_nil", "table", "code", "bad_type", "tostring",
                 "tostring_raises", "number", "nil", "recursion", "oom_rep", "oom_table",
                 "marshal_function", "cycle", "nan", "inf", "invalid_utf8", "float_key"]
        for _ in range(3):
            for kind in kinds:
                with self.subTest(kind=kind):
                    r = self.invoke({"kind": kind}, timeout=20)
                    self.assertInvocationError(r)
                    self.assertResponse(self.invoke({"kind": "ok"}), {"ok": True, "kind": "ok"})
        self.stop()


# ---------------------------------------------------------------------------
# Payload sizes
# ---------------------------------------------------------------------------

def _big_text(n):
    pattern = "The quick brown fox jumps over the lazy dog 0123456789. "
    return (pattern * (n // len(pattern) + 1))[:n]


class TestHandlerArgument(MoonrunTestCase):
    """`bootstrap app.handler`, as container images (ENTRYPOINT + CMD) and AWS's emulator start it."""

    def test_argument_wins_over_the_environment(self):
        self.start("errors.handler", args=["echo.handler"])
        self.assertResponse(self.invoke({"via": "argument"}), {"via": "argument"})
        self.stop()

    def test_argument_without_the_environment(self):
        self.start(None, args=["context.handler"])
        got = self.assertResponse(self.invoke({}))
        self.assertEqual(got["function_name"], "moonrun-test")
        self.stop()

    def test_a_bad_handler_argument_is_an_init_error(self):
        proc = self.start("echo.handler", args=["nosuchmodule.handler"])
        [err] = self.api.wait_for(self.api.init_errors, T(10), "an init error", proc.alive)
        self.assertEqual(err.json()["errorType"], "Runtime.ImportModuleError")
        self.assertEqual(proc.wait(T(10)), 1)

    def run_plain(self, *args, env=None):
        full_env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=self.api.address, **(env or {}))
        return subprocess.run([moonrun_bin(), *args], env=full_env, capture_output=True, text=True,
                              timeout=T(10))

    def test_a_word_without_a_dot_is_an_unknown_command(self):
        done = self.run_plain("serve")
        self.assertEqual(done.returncode, 2)
        self.assertIn("unknown command 'serve' (a handler is written module.function, with a '.')", done.stderr)
        self.assertEqual(self.api.requests, [], "nothing was served")

    def test_the_handler_is_the_only_argument(self):
        done = self.run_plain("echo.handler", "extra")
        self.assertEqual(done.returncode, 2)
        self.assertIn("unexpected arguments after the handler 'echo.handler'", done.stderr)
        self.assertEqual(self.api.requests, [])

    def test_without_the_runtime_api_it_says_how_to_invoke(self):
        env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        done = subprocess.run([moonrun_bin(), "echo.handler"], env=env, capture_output=True, text=True,
                              timeout=T(10))
        self.assertEqual(done.returncode, 2)
        self.assertIn("moonrun invoke echo.handler --event FILE", done.stderr)


class TestPayloads(MoonrunTestCase):

    def test_6mb_event_echoed(self):
        self.start("echo.handler")
        event = {"data": _big_text(6_000_000)}
        r = self.invoke(event, timeout=30)
        self.assertEqual(r.kind, "response", r)
        got = r.json()
        self.assertEqual(len(got["data"]), 6_000_000)
        self.assertTrue(got == event, "6 MB event was not echoed intact")
        self.stop()

    def test_6mb_response(self):
        self.start("errors.handler")
        r = self.invoke({"kind": "big", "size": 6_000_000}, timeout=30)
        self.assertEqual(r.kind, "response", r)
        got = r.json()
        self.assertEqual(len(got), 6_000_000)
        self.assertEqual(got, "x" * 6_000_000)
        self.stop()

    def test_response_too_large_is_not_posted(self):
        """Over Lambda's limit, the error Lambda would report is posted instead: nothing refused."""
        self.start("errors.handler")
        rid = self.api.push({"kind": "big", "size": 7_000_000})
        r = self.result(rid, timeout=30)
        body = self.assertInvocationError(r, "Function.ResponseSizeTooLarge")
        self.assertIn("7000002 bytes, more than the 6291556 bytes Lambda accepts", body["errorMessage"])
        self.assertEqual(self.api.rejected, [], "nothing the API refuses is posted")
        self.assertEqual([p.path.rsplit("/", 1)[1] for p in self.api.requests_matching("POST")], ["error"])
        self.assertResponse(self.invoke({"kind": "ok"}), {"ok": True, "kind": "ok"})
        self.stop()
        lines = [line for line in self.proc.stderr.text().splitlines() if rid in line]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("posting the error Function.ResponseSizeTooLarge instead", lines[0])

    def test_response_at_the_limit_is_posted(self):
        self.start("errors.handler")
        r = self.invoke({"kind": "big", "size": 6291556 - 2}, timeout=30)  # a JSON string: 2 quotes more
        self.assertEqual(r.kind, "response", r)
        self.assertEqual(r.size, 6291556)
        self.stop()

    def test_413_from_the_api_is_final(self):
        """An API with a lower limit answers 413: Lambda has answered the caller, nothing more is posted."""
        api = self.new_api(max_response_size=1000)
        proc = self.start("errors.handler", api=api)
        rid = api.push({"kind": "big", "size": 5000})
        api.wait_for(lambda: any(status == 413 for _, status in api.rejected), T(30), "a 413", proc.alive)
        ok = api.push({"kind": "ok"})
        self.assertResponse(self.result(ok, api=api, proc=proc), {"ok": True, "kind": "ok"})
        self.assertEqual([status for _, status in api.rejected], [413], "no error post after the 413")
        self.assertEqual(api.results_for(rid), [])
        self.stop(proc)
        lines = [line for line in proc.stderr.text().splitlines() if rid in line]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("refused the response to invocation %s as too large (5002 bytes)" % rid, lines[0])
        self.assertIn("Lambda reports Function.ResponseSizeTooLarge to the caller itself", lines[0])


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

class TestJson(MoonrunTestCase):

    def test_null_event(self):
        self.start("echo.handler")
        r = self.invoke(b"null")
        self.assertEqual(r.kind, "response", r)
        self.assertEqual(r.body.strip(), b"null")
        self.stop()

    def test_structure_round_trip(self):
        self.start("echo.handler")
        event = {
            "null": None,
            "with_nulls": [1, None, 3],
            "empty_array": [],
            "empty_object": {},
            "array_of_empty_array": [[]],
            "array_of_empty_object": [{}],
            "nested": {"x": {"y": {"z": [1, [2, [3, {"w": []}]]]}}},
            "bools": [True, False],
            "": "empty key",
        }
        self.assertResponse(self.invoke(event), event)
        self.assertResponse(self.invoke([]), [])
        self.assertResponse(self.invoke({}), {})
        self.assertResponse(self.invoke([[], {}]), [[], {}])
        self.stop()

    def test_unicode_round_trip(self):
        self.start("echo.handler")
        raw = ('{"raw":"caf\u00e9 \U0001F600 \u65e5\u672c",'
               '"esc":"caf\\u00e9 \\ud83d\\ude00 \\u65e5\\u672c",'
               '"ctl":"a\\u0001b\\n\\t\\r\\b\\f\\"\\\\\\/ \\u001f",'
               '"nul":"x\\u0000y"}').encode("utf-8")
        r = self.invoke(raw)
        self.assertEqual(r.kind, "response", r)
        got = r.json()
        expected = {
            "raw": "caf\u00e9 \U0001F600 \u65e5\u672c",
            "esc": "caf\u00e9 \U0001F600 \u65e5\u672c",
            "ctl": "a\u0001b\n\t\r\b\f\"\\/ \u001f",
            "nul": "x\u0000y",
        }
        self.assertEqual(got, expected)
        # non-ASCII is written as UTF-8, not as \u escapes
        self.assertEqual(r.body.count("\U0001F600".encode("utf-8")), 2, r.body)
        self.assertEqual(r.body.count("\u65e5\u672c".encode("utf-8")), 2, r.body)
        self.assertNotIn(b"\\ud83d", r.body.lower())
        self.assertNotIn(b"\\u00e9", r.body.lower())
        # control characters are escaped
        self.assertIsNone(re.search(rb"[\x00-\x1f]", r.body), r.body)
        self.stop()

    def test_escaped_surrogate_pair_decodes_to_utf8(self):
        self.start("json_probe.describe")
        raw = b'{"values":{"astral":"\\ud83d\\ude00","bmp":"\\u00e9","nul":"a\\u0000b"}}'
        r = self.invoke(raw)
        got = self.assertResponse(r)
        self.assertEqual(got["astral"], {"t": "string", "len": 4, "bytes": [0xF0, 0x9F, 0x98, 0x80]})
        self.assertEqual(got["bmp"], {"t": "string", "len": 2, "bytes": [0xC3, 0xA9]})
        self.assertEqual(got["nul"], {"t": "string", "len": 3, "bytes": [0x61, 0, 0x62]})
        self.stop()

    def test_number_types_after_decode(self):
        self.start("json_probe.describe")
        raw = (b'{"values":{'
               b'"two53p1":9007199254740993,'
               b'"int64max":9223372036854775807,'
               b'"int64min":-9223372036854775808,'
               b'"zero":0,'
               b'"neg":-42,'
               b'"beyond":9223372036854775808,'
               b'"beyond_neg":-9223372036854775809,'
               b'"huge":123456789012345678901234567890,'
               b'"one_point_zero":1.0,'
               b'"exp":1e2,'
               b'"exp_upper":1E+2,'
               b'"tenth":0.1,'
               b'"null":null'
               b'}}')
        got = self.assertResponse(self.invoke(raw))
        self.assertEqual(got["two53p1"], {"t": "integer", "s": "9007199254740993"})
        self.assertEqual(got["int64max"], {"t": "integer", "s": "9223372036854775807"})
        self.assertEqual(got["int64min"], {"t": "integer", "s": "-9223372036854775808"})
        self.assertEqual(got["zero"], {"t": "integer", "s": "0"})
        self.assertEqual(got["neg"], {"t": "integer", "s": "-42"})
        for key in ["beyond", "beyond_neg", "huge", "one_point_zero", "exp", "exp_upper", "tenth"]:
            self.assertEqual(got[key]["t"], "float", (key, got[key]))
        self.assertEqual(float(got["beyond"]["s"]), 9223372036854775808.0)
        self.assertEqual(float(got["beyond_neg"]["s"]), -9223372036854775809.0)
        self.assertEqual(float(got["huge"]["s"]), 123456789012345678901234567890.0)
        self.assertEqual(float(got["exp"]["s"]), 100.0)
        self.assertEqual(float(got["tenth"]["s"]), 0.1)
        self.assertEqual(got["null"], {"t": "null"})
        self.stop()

    def test_number_round_trip(self):
        self.start("echo.handler")
        raw = (b'[9007199254740993,9223372036854775807,-9223372036854775808,0,-1,'
               b'9223372036854775808,0.1,1e-300,1.0,2.5e+300,-0.0,5e-324,'
               b'1.7976931348623157e308,123.456,-2.2250738585072014e-308,100.0]')
        r = self.invoke(raw)
        self.assertEqual(r.kind, "response", r)
        got = r.json()
        ints = [9007199254740993, 9223372036854775807, -9223372036854775808, 0, -1]
        for i, want in enumerate(ints):
            self.assertIsInstance(got[i], int, (i, r.body))
            self.assertEqual(got[i], want, (i, r.body))
        floats = [9223372036854775808.0, 0.1, 1e-300, 1.0, 2.5e300, -0.0, 5e-324,
                  1.7976931348623157e308, 123.456, -2.2250738585072014e-308, 100.0]
        for j, want in enumerate(floats):
            v = got[len(ints) + j]
            self.assertIsInstance(v, float, (want, r.body))
            self.assertEqual(v, want, r.body)
            self.assertEqual(math.copysign(1.0, v), math.copysign(1.0, want), (want, r.body))
        self.stop()

    def test_result_encoding(self):
        self.start("json_probe.returns")
        cases = {
            "hi": b'"hi"',
            "int": b"42",
            "neg": b"-7",
            "maxint": b"9223372036854775807",
            "minint": b"-9223372036854775808",
            "true": b"true",
            "false": b"false",
            "nil": b"null",
            "none": b"null",
            "null": b"null",
        }
        for what, expected in cases.items():
            with self.subTest(what=what):
                r = self.invoke({"what": what})
                self.assertEqual(r.kind, "response", r)
                self.assertEqual(r.body.strip(), expected)
        floats = {"float_one": 1.0, "float_tenth": 0.1, "tiny": 1e-300}
        for what, expected in floats.items():
            with self.subTest(what=what):
                r = self.invoke({"what": what})
                v = r.json()
                self.assertIsInstance(v, float, r.body)
                self.assertEqual(v, expected)
                self.assertRegex(r.body.strip().decode(), r"[.eE]")
        structured = {
            "empty_table": {},
            "empty_array": [],
            "marked_array": [1, 2],
            "sequence": [1, "two", 3.5, False],
            "int_keys": {"200": "ok", "404": "missing"},
            "sparse": {"1": "a", "3": "c"},
            "nulls": {"a": None, "list": [1, None, 3]},
            "nested": {"a": {"b": {"c": [1, {"d": "e"}]}}},
            "unicode": {"s": "caf\u00e9 \U0001F600 \u65e5\u672c"},
            "escapes": {"s": "q\"b\\s/n\nt\tc\x01d\x1fe\x7f"},
        }
        for what, expected in structured.items():
            with self.subTest(what=what):
                r = self.invoke({"what": what})
                self.assertResponse(r, expected)
                self.assertIsNone(re.search(rb"[\x00-\x1f]", r.body), r.body)
        r = self.invoke({"what": "unicode"})
        self.assertIn("\U0001F600".encode("utf-8"), r.body)
        self.assertNotIn(b"\\u", r.body)
        self.stop()

    def test_json_module(self):
        self.start("json_probe.module")
        got = self.assertResponse(self.invoke({"n": None}))
        self.assertIs(got["same_null"], True)
        self.assertIs(got["event_null_is_sentinel"], True)
        self.assertEqual(json.loads(got["encode_obj"]), {"a": 1})
        self.assertEqual(json.loads(got["encode_arr"]), [1, 2, 3])
        self.assertEqual(json.loads(got["encode_empty_array"]), [])
        self.assertEqual(json.loads(got["encode_str"]), "x\"y")
        self.assertEqual(got["encode_null"].strip(), "null")
        self.assertEqual(got["decoded_k1_type"], "integer")
        self.assertEqual(got["decoded_k2_type"], "float")
        self.assertIs(got["decoded_k4_null"], True)
        self.assertEqual(got["decoded_len"], 5)
        self.assertEqual(got["reencode_empty"].strip(), "[]")
        self.assertIs(got["bad_decode_ok"], False)
        self.assertEqual(got["bad_decode_msg_type"], "string")
        self.assertTrue(got["bad_decode_msg"])
        self.assertIs(got["bad_encode_ok"], False)
        self.assertEqual(got["bad_encode_msg_type"], "string")
        self.stop()

    def unmarshal_cases(self, cases):
        self.start("echo.handler")
        for raw in cases:
            with self.subTest(event=raw[:80]):
                r = self.invoke(raw)
                self.assertInvocationError(r, "Runtime.UnmarshalError", "Runtime.UnmarshalError")
                self.assertResponse(self.invoke({"ok": 1}), {"ok": 1})
        self.stop()

    def test_an_empty_body_is_the_event_object(self):
        """Lambda passes {} for an invocation without a payload, as moonrun dev's invoke endpoint does."""
        self.start("echo.handler")
        r = self.invoke(b"")
        self.assertEqual(r.kind, "response", r)
        self.assertEqual(r.json(), {})
        body = self.assertInvocationError(self.invoke(b"  "), "Runtime.UnmarshalError")
        self.assertIsInstance(body["errorMessage"], str)
        self.stop()

    def test_invalid_utf8_event(self):
        self.unmarshal_cases([
            b'{"s":"abc\xff"}',
            b'{"s":"\xe6\x97"}',          # truncated multi-byte sequence
            b'{"s":"\xc0\xaf"}',          # overlong encoding
            b'{"s":"\xed\xa0\x80"}',      # UTF-8 encoded surrogate
            b'{"s":"\xf4\x90\x80\x80"}',  # beyond U+10FFFF
            b'{"k\xff":1}',               # invalid UTF-8 in a key
        ])

    def test_unpaired_surrogate_escape(self):
        self.unmarshal_cases([
            b'{"s":"\\ud800"}',
            b'{"s":"\\udc00"}',
            b'{"s":"\\ud83dx"}',
            b'{"s":"\\ud83d\\u0041"}',
        ])

    def test_invalid_json(self):
        self.unmarshal_cases([
            b'{"a":',
            b'{"a" 1}',
            b'[1,2,]',
            b'{"a":1,}',
            b'nul',
            b'{"a":1} trailing',
            b"{'a':1}",
            b'{"a":01}',
            b'"raw\x01control"',
            b'"bad \\x41 escape"',
            b'NaN',
            b'[1 2]',
            b'{"a":"unterminated',
        ])

    def test_deep_nesting_event(self):
        self.start("echo.handler")
        ok = b"[" * 1000 + b"]" * 1000
        r = self.invoke(ok)
        self.assertEqual(r.kind, "response", r)
        self.assertEqual(re.sub(rb"\s+", b"", r.body), ok)
        for raw in [b"[" * 1001 + b"]" * 1001,
                    b'{"a":' * 1001 + b"1" + b"}" * 1001,
                    b"[" * 200000 + b"]" * 200000]:
            with self.subTest(size=len(raw)):
                err = self.invoke(raw)
                self.assertInvocationError(err, "Runtime.UnmarshalError", "Runtime.UnmarshalError")
                self.assertResponse(self.invoke({"ok": 1}), {"ok": 1})
        self.stop()


# ---------------------------------------------------------------------------
# Context
# ---------------------------------------------------------------------------

class TestContext(MoonrunTestCase):

    def test_context_fields(self):
        self.start("context.handler")
        deadline = int(time.time() * 1000) + 20000
        client_context = {"client": {"installation_id": "inst-1", "app_title": "App"},
                          "custom": {"k": "v"}, "env": {"platform": "test"}}
        identity = {"cognitoIdentityId": "us-east-1:abc", "cognitoIdentityPoolId": "pool-1"}
        trace = "Root=1-66666666-abcdefabcdefabcdefabcdef;Parent=1234567890abcdef;Sampled=0"
        rid = self.api.push({}, headers={
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-1:111122223333:function:f:alias",
            "Lambda-Runtime-Trace-Id": trace,
            "Lambda-Runtime-Client-Context": json.dumps(client_context),
            "Lambda-Runtime-Cognito-Identity": json.dumps(identity),
            "Lambda-Runtime-Foo-Bar": "baz qux",
        })
        got = self.assertResponse(self.result(rid))
        self.assertEqual(got["aws_request_id"], rid)
        self.assertEqual(got["invoked_function_arn"],
                         "arn:aws:lambda:eu-west-1:111122223333:function:f:alias")
        self.assertEqual(got["deadline_ms"], deadline)
        self.assertEqual(got["deadline_ms_type"], "integer")
        self.assertEqual(got["trace_id"], trace)
        self.assertEqual(got["env_trace"], trace)
        self.assertEqual(got["client_context"], client_context)
        self.assertEqual(got["identity"], identity)
        self.assertEqual(got["function_name"], FUNCTION_ENV["AWS_LAMBDA_FUNCTION_NAME"])
        self.assertEqual(got["function_version"], FUNCTION_ENV["AWS_LAMBDA_FUNCTION_VERSION"])
        self.assertEqual(got["memory_limit_in_mb"], 128)
        self.assertEqual(got["memory_limit_type"], "integer")
        self.assertEqual(got["log_group_name"], FUNCTION_ENV["AWS_LAMBDA_LOG_GROUP_NAME"])
        self.assertEqual(got["log_stream_name"], FUNCTION_ENV["AWS_LAMBDA_LOG_STREAM_NAME"])
        self.assertEqual(got["foo_bar"], "baz qux")
        self.assertEqual(got["remaining_type"], "integer")
        self.assertGreater(got["remaining"], 0)
        self.assertLessEqual(got["remaining"], 20000)
        self.assertGreater(got["remaining"], 20000 - T(10) * 1000)
        self.stop()

    def test_optional_headers_absent(self):
        self.start("context.handler")
        got = self.assertResponse(self.invoke({}, headers={"Lambda-Runtime-Client-Context": None,
                                                           "Lambda-Runtime-Cognito-Identity": None}))
        self.assertIsNone(got["client_context"])
        self.assertIsNone(got["identity"])
        self.assertIsNone(got["foo_bar"])
        self.stop()

    def test_empty_headers_are_absent(self):
        """Lambda Managed Instances send these three empty when there is no value."""
        self.start("context.handler")
        got = self.assertResponse(self.invoke({}, headers={"Lambda-Runtime-Client-Context": "",
                                                           "Lambda-Runtime-Cognito-Identity": "",
                                                           "Lambda-Runtime-Trace-Id": ""}))
        self.assertIsNone(got["client_context"])
        self.assertIsNone(got["identity"])
        self.assertIsNone(got["trace_id"])
        self.assertIsNone(got["env_trace"], "an empty trace header leaves _X_AMZN_TRACE_ID unset")
        self.stop()
        self.assertNotIn("not valid JSON", self.proc.stderr.text())

    def test_trace_env_after_longer_and_shorter_ids(self):
        """The variable's buffer is reused and regrown: every value reads back whole, none stale."""
        self.start("context.handler")
        for trace in ["Root=1-a", "Root=1-" + "b" * 700 + ";Sampled=1", "", "Root=1-c", None,
                      "Root=1-" + "d" * 3000, "Root=1-e"]:
            with self.subTest(length=None if trace is None else len(trace)):
                got = self.assertResponse(self.invoke({}, headers={"Lambda-Runtime-Trace-Id": trace}))
                self.assertEqual(got["env_trace"], trace or None)
        self.stop()

    def test_trace_env_follows_header(self):
        self.start("context.handler")
        first = self.assertResponse(self.invoke({}, headers={"Lambda-Runtime-Trace-Id": "Root=1-aaa"}))
        self.assertEqual(first["trace_id"], "Root=1-aaa")
        self.assertEqual(first["env_trace"], "Root=1-aaa")
        second = self.assertResponse(self.invoke({}, headers={"Lambda-Runtime-Trace-Id": None}))
        self.assertIsNone(second["trace_id"])
        self.assertIsNone(second["env_trace"], "_X_AMZN_TRACE_ID must be unset without a trace header")
        third = self.assertResponse(self.invoke({}, headers={"Lambda-Runtime-Trace-Id": "Root=1-ccc"}))
        self.assertEqual(third["env_trace"], "Root=1-ccc")
        self.stop()

    def test_remaining_time_never_negative(self):
        self.start("context.handler")
        past = int(time.time() * 1000) - 5000
        got = self.assertResponse(self.invoke({}, headers={"Lambda-Runtime-Deadline-Ms": str(past)}))
        self.assertEqual(got["remaining"], 0)
        self.assertEqual(got["deadline_ms"], past)
        self.stop()

    def test_each_invocation_gets_its_own_request_id(self):
        self.start("context.handler")
        for _ in range(3):
            rid = self.api.push({})
            got = self.assertResponse(self.result(rid))
            self.assertEqual(got["aws_request_id"], rid)
        self.stop()


# ---------------------------------------------------------------------------
# Retries and connectivity
# ---------------------------------------------------------------------------

class TestRetries(MoonrunTestCase):

    def next_failures(self, mode, count, status=500):
        self.api.fail_next(count, mode=mode, status=status)
        rid = self.api.push({"after": "failures"})
        self.start("echo.handler")
        self.assertResponse(self.result(rid, timeout=15), {"after": "failures"})
        gets = self.api.requests_matching("GET", NEXT_PATH)
        self.assertGreaterEqual(len(gets), count + 1)
        # and it keeps working afterwards
        self.assertResponse(self.invoke({"again": True}), {"again": True})
        self.stop()

    def test_next_500_retried(self):
        self.next_failures("status", 3, 500)

    def test_next_503_retried(self):
        self.next_failures("status", 2, 503)

    def test_next_dropped_connection_retried(self):
        self.next_failures("close", 3)

    def test_unreachable_api(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens on this port now
        address = "127.0.0.1:%d" % port
        started = time.monotonic()
        proc = Moonrun(address, "echo.handler")
        self.addCleanup(proc.kill)
        rc = proc.wait(T(15))
        elapsed = time.monotonic() - started
        if rc is None:
            self.fail_with_output("still running %.0fs after start with %s unreachable"
                                  % (T(15), address), proc)
        self.assertNotEqual(rc, 0, self.describe_proc(proc))
        self.assertLess(elapsed, T(12), "took %.1fs to give up" % elapsed)
        self.assertIn(address, proc.stderr.text(), self.describe_proc(proc))

    def test_response_post_retried_once_after_drop(self):
        self.start("echo.handler")
        # warm up so that any start-up logging is already on stderr
        self.assertResponse(self.invoke({"warm": 1}), {"warm": 1})
        self.wait_idle()
        stderr_before = len(self.proc.stderr)
        self.api.drop_response_posts(1)
        rid = self.api.push({"retry": "me"})
        self.assertResponse(self.result(rid, timeout=15), {"retry": "me"})
        self.wait_idle()
        self.assertEqual(len(self.api.results_for(rid)), 1)
        posts = [p for p in self.api.requests_matching("POST")
                 if p.path == "/2018-06-01/runtime/invocation/%s/response" % rid]
        self.assertEqual(len(posts), 2, "expected the dropped POST plus exactly one retry")
        self.assertEqual(self.api.rejected, [])
        self.assertResponse(self.invoke({"next": 1}), {"next": 1})
        self.stop()
        self.assertGreater(len(self.proc.stderr), stderr_before,
                           "the retried POST should be logged on stderr")


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

class TestOutput(MoonrunTestCase):

    def test_stdout_line_buffered_and_partial_flushed(self):
        self.start("output.handler")
        self.assertResponse(self.invoke({"n": 1}), 1)
        # nothing else is pushed: the line must already be readable
        if not self.proc.stdout.wait_for(b"line from invocation 1\n", T(5)):
            self.fail_with_output("print() output of invocation 1 did not reach stdout")
        self.assertResponse(self.invoke({"n": 2, "partial": True}), 2)
        if not self.proc.stdout.wait_for(b"partial-2", T(5)):
            self.fail_with_output("io.write partial line not flushed at end of invocation")
        self.assertResponse(self.invoke({"n": 3}), 3)
        if not self.proc.stdout.wait_for(b"line from invocation 3\n", T(5)):
            self.fail_with_output("print() output of invocation 3 did not reach stdout")
        self.stop()
        self.assertEqual(self.proc.stdout.data(),
                         b"line from invocation 1\n"
                         b"line from invocation 2\n"
                         b"partial-2"
                         b"line from invocation 3\n",
                         "stdout must hold the handler's output only")

    def test_a_multi_line_print_stays_one_record(self):
        """Lambda cuts stdout into CloudWatch records at newlines: inside a print they are \\r."""
        self.start("output.multiline")
        self.assertResponse(self.invoke({}), True)
        if not self.proc.stdout.wait_for(b"first\rsecond\tthird\r\n", T(5)):
            self.fail_with_output("a multi-line print was not written as one line")
        self.stop()
        # locally the newlines stay: a terminal shows the lines
        local = subprocess.run([moonrun_bin(), "invoke", "output.multiline"], capture_output=True,
                               env=dict(os.environ, LAMBDA_TASK_ROOT=HANDLERS), timeout=T(30))
        self.assertTrue(local.stdout.startswith(b"first\nsecond\tthird\n\n"), local.stdout)

    def test_a_line_reaches_stdout_while_the_invocation_still_runs(self):
        self.start("output.slow")
        rid = self.api.push({"n": 7, "seconds": 2 * SCALE})
        if not self.proc.stdout.wait_for(b"started 7\n", T(1.5)):
            self.fail_with_output("a printed line waited for the end of the invocation")
        self.assertEqual(self.api.results_for(rid), [], "the line came before the response")
        self.api.wait_result(rid, timeout=T(10), alive=self.proc.alive)
        self.stop()


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------

class TestMemory(MoonrunTestCase):

    @unittest.skipIf(WRAPPER, "RSS is meaningless under MOONRUN_WRAPPER=%s"
                     % os.environ.get("MOONRUN_WRAPPER"))
    @unittest.skipIf(os.environ.get("MOONRUN_SKIP_RSS") == "1", "MOONRUN_SKIP_RSS=1")
    @unittest.skipUnless(os.path.exists("/proc/self/status"), "needs /proc")
    def test_rss_flat_over_30000_invocations_with_lambdas_headers(self):
        """Every invocation has its own request id, deadline and trace id, one in four a client context
        and identity of a few KB (tests/runtime_api.py), one in ten the three sent empty, as Lambda
        Managed Instances do: nothing of them may stay behind (a setenv per trace id once kept ~150 bytes
        per invocation, 4 MB here)."""
        self.start("context.handler")
        empty = {"Lambda-Runtime-Client-Context": "", "Lambda-Runtime-Cognito-Identity": "",
                 "Lambda-Runtime-Trace-Id": ""}

        def push_batch(first, last):
            for i in range(first, last + 1):
                self.api.push({"n": i, "payload": _big_text(1000)}, headers=empty if i % 10 == 0 else None)
            try:
                self.api.wait_results(last, T(120), alive=self.proc.alive)
            except WaitTimeout as exc:
                self.fail_with_output(str(exc)[:2000])
            self.wait_idle()

        started = time.monotonic()
        push_batch(1, 2000)
        rss_warm = self.proc.rss_kb()
        push_batch(2001, 32000)
        rss_end = self.proc.rss_kb()
        elapsed = time.monotonic() - started
        results = self.api.results
        self.assertEqual(len(results), 32000)
        self.assertTrue(all(r.kind == "response" for r in results), [r for r in results if r.kind != "response"][:2])
        last = results[-1]
        self.assertEqual(last.json()["env_trace"], self.api.trace_id_of(last.request_id) or None)
        allowed = 256
        sys.stderr.write("\n[rss] after 2000: %d kB, after 32000: %d kB (+%d kB, %.1f bytes per invocation; "
                         "allowed +%d kB), %.1fs\n" % (rss_warm, rss_end, rss_end - rss_warm,
                                                       (rss_end - rss_warm) * 1024 / 30000, allowed, elapsed))
        self.assertLessEqual(rss_end - rss_warm, allowed, "VmRSS grew from %d kB to %d kB" % (rss_warm, rss_end))
        self.assertNotIn("not valid JSON", self.proc.stderr.text())
        self.stop()

if __name__ == "__main__":
    unittest.main(verbosity=2)
