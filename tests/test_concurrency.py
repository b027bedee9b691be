"""End-to-end tests of moonrun's workers (AWS_LAMBDA_MAX_CONCURRENCY, Lambda Managed Instances)
against the real HTTP Runtime API of tests/runtime_api.py, which holds every worker's GET /next
open on its own connection.

Run from the repository root: python3 -m unittest -v tests/test_concurrency.py

Environment: MOONRUN_BIN (default build/moonrun; the suite also runs against moonrun-asan and
moonrun-tsan, where a sanitizer report on stderr fails the test), MOONRUN_TIMEOUT_SCALE,
MOONRUN_SANITIZER_THREADS (threads a sanitizer adds to a threaded process: 1 for ThreadSanitizer).
"""

import datetime
import hashlib
import http.server
import os
import signal
import sys
import threading
import tempfile
import time
import unittest
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from runtime_api import NEXT_PATH  # noqa: E402
from test_runtime import T, Moonrun, MoonrunTestCase, moonrun_bin  # noqa: E402

TASK_ROOT = os.path.join(HERE, "concurrency")
FAULTS = os.path.join(HERE, "faults")
HANDLERS = os.path.join(HERE, "handlers")
SANITIZER_MARKS = ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")


def setUpModule():  # noqa: N802 - unittest hook
    path = moonrun_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError("moonrun binary not found: %s (build it or set MOONRUN_BIN)" % path)


def botocore_authorization(body):
    """The Authorization header botocore makes for the request workers.lua signs."""
    credentials = botocore.credentials.Credentials("AKIDEXAMPLE", "secret")
    request = botocore.awsrequest.AWSRequest(method="POST", url="https://sqs.us-east-1.amazonaws.com/",
                                             data=body.encode())
    moment = datetime.datetime.fromtimestamp(1700000000, datetime.timezone.utc)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=moment):
        botocore.auth.SigV4Auth(credentials, "sqs", "us-east-1").add_auth(request)
    return request.headers["Authorization"]


def thread_count(pid):
    """The process's threads, without the sanitizer's own (which ThreadSanitizer starts with
    the process's first pthread_create: a single-threaded process has none)."""
    count = len(os.listdir("/proc/%d/task" % pid))
    return count - int(os.environ.get("MOONRUN_SANITIZER_THREADS") or "0") if count > 1 else count


class WorkersTestCase(MoonrunTestCase):

    def start(self, handler="workers.handler", workers=2, task_root=TASK_ROOT, env=None, **kwargs):
        full_env = dict(env or {})
        if workers is not None:
            full_env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(workers)
        proc = Moonrun(self.api.address, handler, task_root=task_root, env=full_env, **kwargs)
        proc.api = self.api
        self.proc = proc
        self.addCleanup(self.check_sanitizers, proc)  # cleanups are LIFO: after the kill
        self.addCleanup(proc.kill)
        return proc

    def check_sanitizers(self, proc):
        text = proc.stderr.text()
        for mark in SANITIZER_MARKS:
            if mark in text:
                self.fail("a sanitizer reported a problem (%s)%s" % (mark, self.describe_proc(proc)))

    def wait_pollers(self, n, timeout=20):
        try:
            self.api.wait_pollers(n, T(timeout), alive=self.proc.alive)
        except Exception as exc:  # WaitTimeout
            self.fail_with_output(str(exc))

    def wait_delivered(self, rid, timeout=10):
        try:
            self.api.wait_delivered(rid, T(timeout), alive=self.proc.alive)
        except Exception as exc:  # WaitTimeout
            self.fail_with_output(str(exc))

    def push_all(self, events):
        """Pushes events while every worker waits, so each worker takes exactly one."""
        return [self.api.push(event) for event in events]

    def stop_workers(self, n):
        """Every worker back in GET /next, then SIGTERM: a clean exit (0)."""
        self.wait_pollers(n)
        rc = self.proc.terminate()
        if rc != 0:
            self.fail_with_output("moonrun exited with %s after SIGTERM (expected 0)" % rc)


class TestConcurrentPolls(WorkersTestCase):

    def test_each_worker_holds_its_own_poll(self):
        self.start(workers=3)
        self.wait_pollers(3)
        clients = {r.client for r in self.api.requests_matching("GET", NEXT_PATH)}
        self.assertEqual(len(clients), 3, clients)
        self.assertEqual(thread_count(self.proc.pid), 4, "the main thread and three workers")
        self.stop_workers(3)

    def test_results_out_of_order_from_different_connections(self):
        self.start(workers=2)
        self.wait_pollers(2)
        slow = self.api.push({"kind": "count", "ms": 300})
        self.wait_delivered(slow)
        fast = self.api.push({"kind": "count"})
        fast_result = self.result(fast)
        slow_result = self.result(slow)
        self.assertResponse(fast_result)
        self.assertResponse(slow_result)
        self.assertLess(fast_result.time, slow_result.time, "the quick one must not wait")
        self.assertNotEqual(fast_result.client, slow_result.client)
        self.assertEqual(self.api.delivered_to[slow], slow_result.client,
                         "each worker posts on the connection it polled on")
        self.assertEqual(self.api.delivered_to[fast], fast_result.client)
        self.assertNotEqual(fast_result.json()["worker"], slow_result.json()["worker"])
        self.stop_workers(2)

    def test_many_invocations_all_answered(self):
        self.start(workers=4)
        self.wait_pollers(4)
        rids = [self.api.push({"kind": "count", "ms": i % 3}) for i in range(200)]
        results = [self.result(rid, timeout=30) for rid in rids]
        for result in results:
            self.assertResponse(result)
        workers = {r.json()["worker"] for r in results}
        self.assertGreaterEqual(len(workers), 2, "the work is shared")
        self.assertEqual(len(self.api.rejected), 0, self.api.rejected)
        self.stop_workers(4)


class TestSingleWorker(WorkersTestCase):
    """Unset or 1: today's single-threaded loop, trace id in the environment included."""

    def check_single_path(self):
        self.wait_idle()
        time.sleep(T(0.2))  # a second poller, if there were one, has had time to arrive
        self.assertEqual(self.api.pollers(), 1)
        self.assertEqual(thread_count(self.proc.pid), 1, "no thread is created")
        rid = self.api.push({"kind": "trace"})
        body = self.assertResponse(self.result(rid))
        self.assertEqual(body["env"], self.api.trace_id_of(rid))
        self.stop()

    def test_unset(self):
        self.start(workers=None)
        self.check_single_path()
        self.assertNotIn("AWS_LAMBDA_MAX_CONCURRENCY", self.proc.stderr.text())

    def test_one(self):
        self.start(workers=1)
        self.check_single_path()
        self.assertNotIn("AWS_LAMBDA_MAX_CONCURRENCY", self.proc.stderr.text())

    def test_bad_values_fall_back_to_one(self):
        for value in ["0", "-2", "abc", "2.5", "3x", " 2", "99999999999999999999999"]:
            with self.subTest(value=value):
                self.api = self.new_api()
                self.start(workers=value)
                self.check_single_path()
                self.assertIn("ignoring AWS_LAMBDA_MAX_CONCURRENCY=%s: expected a whole number"
                              % value, self.proc.stderr.text())
                self.assertIn("serving one invocation at a time", self.proc.stderr.text())

    def test_too_large_is_capped(self):
        self.start(workers=99999)
        limit = 1024
        deadline = time.monotonic() + T(60)
        while thread_count(self.proc.pid) < limit + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(thread_count(self.proc.pid), limit + 1)
        time.sleep(T(0.3))
        self.assertEqual(thread_count(self.proc.pid), limit + 1, "no more than the cap")
        self.assertIn("AWS_LAMBDA_MAX_CONCURRENCY=99999 is more than moonrun runs in one process; "
                      "serving 1024 invocations at a time", self.proc.stderr.text())
        self.assertResponse(self.invoke({"kind": "count"}, timeout=120))
        rc = self.proc.terminate(T(60))
        if rc != 0:
            self.fail_with_output("exit code %s after SIGTERM (expected 0)" % rc)


class TestWorkerState(WorkersTestCase):

    def test_module_state_per_worker(self):
        self.start(workers=2)
        counts = {}
        for round_number in range(1, 4):
            self.wait_pollers(2)
            # Both wait: each takes one, and sleeps, so it cannot take the other's too.
            rids = self.push_all([{"kind": "count", "ms": 150}, {"kind": "count", "ms": 150}])
            bodies = [self.assertResponse(self.result(rid)) for rid in rids]
            self.assertNotEqual(bodies[0]["worker"], bodies[1]["worker"])
            for body in bodies:
                counts.setdefault(body["worker"], []).append(body["count"])
        self.assertEqual(sorted(counts.values()), [[1, 2, 3], [1, 2, 3]], counts)
        self.stop_workers(2)

    def test_error_and_out_of_memory_do_not_disturb_others(self):
        self.start(workers=3, env={"MOONRUN_MEMORY_LIMIT_MB": "48"})
        self.wait_pollers(3)
        # the error and the out-of-memory wait 300 ms first, so that no worker can finish one
        # and take another: each of the three goes to its own worker
        slow, failing, hungry = self.push_all([{"kind": "count", "ms": 800},
                                               {"kind": "error", "n": 7, "ms": 300},
                                               {"kind": "oom", "ms": 300}])
        self.assertInvocationError(self.result(failing), "Error")
        self.assertIn("worker failure 7", self.result(failing).json()["errorMessage"])
        self.assertInvocationError(self.result(hungry, timeout=30), "OutOfMemory")
        body = self.assertResponse(self.result(slow))
        self.assertEqual(body["count"], 1)
        self.assertIn("invocation %s failed" % failing, self.proc.stderr.text(),
                      "the runtime's diagnostics name the request id")
        # Every worker goes on serving, its module state intact.
        self.wait_pollers(3)
        rids = self.push_all([{"kind": "count", "ms": 150}] * 3)
        bodies = [self.assertResponse(self.result(rid)) for rid in rids]
        self.assertEqual(sorted(b["count"] for b in bodies), [2, 2, 2])
        self.assertEqual(len({b["worker"] for b in bodies}), 3)
        self.stop_workers(3)


class TestOutput(WorkersTestCase):

    def test_printed_lines_are_never_mixed(self):
        self.start(workers=2)
        self.wait_pollers(2)
        rids = self.push_all([{"kind": "print", "n": 3000, "ms": 300}] * 2)
        workers = [self.assertResponse(self.result(rid, timeout=30))["worker"] for rid in rids]
        self.stop_workers(2)
        lines = self.proc.stdout.text().splitlines()
        for worker in workers:
            expected = ["line\t%s\t%d\t%s\tend" % (worker, i, "y" * 40) for i in range(1, 3001)]
            self.assertEqual([line for line in lines if worker in line], expected)
        self.assertEqual(len(lines), 6000, "every line whole, none mixed with another")


class TestTrace(WorkersTestCase):

    def test_trace_id_on_context_not_in_environment(self):
        self.start(workers=2, env={"_X_AMZN_TRACE_ID": "Root=1-stale"})
        self.wait_pollers(2)
        traces = ["Root=1-00000000-%024d;Sampled=1" % i for i in range(2)]
        rids = [self.api.push({"kind": "trace", "ms": 150}, headers={"Lambda-Runtime-Trace-Id": t})
                for t in traces]
        for rid, trace in zip(rids, traces):
            body = self.assertResponse(self.result(rid))
            self.assertIs(body["env"], False, "_X_AMZN_TRACE_ID is not set with several workers")
            self.assertEqual(body["context"], trace)
            self.assertEqual(body["current"], trace)
            self.assertEqual(body["request_id"], rid)
        self.stop_workers(2)


class TestShutdown(WorkersTestCase):

    def test_sigterm_while_idle_stops_every_worker(self):
        self.start(workers=4)
        self.wait_pollers(4)
        started = time.monotonic()
        rc = self.proc.terminate()
        self.assertEqual(rc, 0, self.describe_proc())
        self.assertLess(time.monotonic() - started, T(5), "every poll was woken at once")

    def test_sigterm_stops_every_running_handler(self):
        """Each worker's handler is stopped (sleeping, busy, or waiting on a server that took its
        request and never answers), its error posted, its shutdown run."""
        marker = os.path.join(tempfile.mkdtemp(prefix="moonrun-workers-"), "marker")
        self.addCleanup(lambda: os.path.exists(marker) and os.unlink(marker))
        url = self.silent_server()
        self.start(workers=4, env={"SHUTDOWN_MARKER": marker})
        self.wait_pollers(4)
        rids = self.push_all([{"kind": "count", "ms": 60000}, {"kind": "spin"}, {"kind": "spin"},
                              {"kind": "http", "url": url}])
        for rid in rids[:3]:  # in the handler, not still reading the invocation
            if not self.proc.stdout.wait_for(rid.encode(), T(10)):
                self.fail_with_output("invocation %s did not start" % rid)
        self.request_reaches_silent_server()
        sent = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        rc = self.proc.wait(T(20))
        ended = time.monotonic()
        if rc != 0:
            self.fail_with_output("exit code %s after SIGTERM (expected 0)" % rc)
        for rid in rids:
            self.assertInvocationError(self.result(rid), "Runtime.Shutdown")
        self.assertLess(ended - sent, T(0.5), "errors posted and shutdown run within Lambda's 500 ms")
        with open(marker) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 4, "every worker runs its shutdown function: %r" % lines)
        self.assertEqual(len(set(lines)), 4, lines)
        gets = self.api.requests_matching("GET", NEXT_PATH)
        self.assertEqual(len(gets), 4, "no worker polls again after SIGTERM")

    def test_handler_argument_reaches_every_worker(self):
        self.start("nosuch.handler", workers=2, args=["workers.handler"])
        self.wait_pollers(2)
        rids = self.push_all([{"kind": "count", "ms": 200}] * 2)
        results = [self.assertResponse(self.result(rid)) for rid in rids]
        self.assertNotEqual(results[0]["worker"], results[1]["worker"])
        self.stop_workers(2)


class TestInitErrors(WorkersTestCase):

    def check_posted_once(self, handler, error_type, task_root=HANDLERS):
        self.start(handler, workers=4, task_root=task_root)
        rc = self.proc.wait(T(20))
        if rc != 1:
            self.fail_with_output("exit code %s after an init error (expected 1)" % rc)
        errors = self.api.init_errors()
        self.assertEqual(len(errors), 1, errors)
        body = self.assertErrorBody(errors[0], "init_error")
        self.assertEqual(body["errorType"], error_type)
        self.assertEqual(self.api.requests_matching("GET", NEXT_PATH), [],
                         "no worker asks for an invocation after an init error")
        self.assertEqual(self.proc.stderr.text().count("moonrun: " + error_type), 1, "logged once")

    def test_module_init_error(self):
        self.check_posted_once("init_error.handler", "Runtime.ModuleInitError")

    def test_syntax_error(self):
        self.check_posted_once("syntax_error.handler", "Runtime.UserCodeSyntaxError")

    def test_malformed_name(self):
        self.check_posted_once("no_dot", "Runtime.MalformedHandlerName")

    def test_os_exit_while_loading_exits_with_its_status(self):
        """As with one worker (tests/test_faults.py): the status given to os.exit, posted once."""
        self.start("exit_at_init.handler", workers=2, task_root=os.path.join(HERE, "faults"))
        rc = self.proc.wait(T(20))
        if rc != 4:
            self.fail_with_output("exit code %s after os.exit(4) while loading (expected 4)" % rc)
        [error] = self.api.init_errors()
        self.assertIn("os.exit(4)", error.json()["errorMessage"])
        self.assertEqual(self.api.requests_matching("GET", NEXT_PATH), [])


class TestExitStatus(WorkersTestCase):
    """os.exit with workers ends the process with the status one worker would (tests/test_faults.py):
    every worker starts, serves and stops through the same runtime instance."""

    def exits_with(self, expected, what):
        rc = self.proc.wait(T(20))
        if rc != expected:
            self.fail_with_output("exit code %s after %s (expected %s)" % (rc, what, expected))

    def test_os_exit_in_a_handler_stops_every_worker(self):
        self.start("faults.handler", workers=2, task_root=FAULTS)
        self.wait_pollers(2)
        body = self.assertInvocationError(self.invoke({"kind": "os_exit"}), "Runtime.ExitError")
        self.assertIn("os.exit(3)", body["errorMessage"])
        self.exits_with(3, "os.exit(3) in a handler")

    def test_negative_status_in_a_handler_is_255(self):
        self.start("faults.handler", workers=2, task_root=FAULTS)
        self.wait_pollers(2)
        self.assertInvocationError(self.invoke({"kind": "os_exit_with", "status": -1}), "Runtime.ExitError")
        self.exits_with(255, "os.exit(-1) in a handler")

    def test_negative_status_while_loading_is_255(self):
        self.start("exit_status_at_init.handler", workers=2, task_root=FAULTS, env={"FAULT_EXIT_STATUS": "-1"})
        self.exits_with(255, "os.exit(-1) while loading")
        [error] = self.api.init_errors()
        self.assertIn("os.exit(-1)", error.json()["errorMessage"])
        self.assertEqual(self.api.requests_matching("GET", NEXT_PATH), [])


class TestSharedLibraries(WorkersTestCase):
    """What the workers share is the process: lazily loaded libraries and process-wide state."""

    def test_uuid_v7_counter_shared_by_workers(self):
        self.start(workers=2)
        self.wait_pollers(2)
        rids = self.push_all([{"kind": "uuid7", "n": 20000, "ms": 300}] * 2)
        results = [self.assertResponse(self.result(rid, timeout=60)) for rid in rids]
        self.assertNotEqual(results[0]["worker"], results[1]["worker"])
        ids = results[0]["ids"] + results[1]["ids"]
        # millisecond and counter: handed out once each, whichever worker asks
        prefixes = {i[:18] for i in ids}
        self.assertEqual(len(prefixes), len(ids))
        for one in results:
            self.assertEqual(one["ids"], sorted(one["ids"]))
        self.stop_workers(2)

    def test_first_use_of_libcurl_and_libcrypto_in_every_worker_at_once(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = "http://127.0.0.1:%d/hello" % server.server_address[1]
        self.start(workers=4)
        self.wait_pollers(4)
        # each invocation first sleeps 300 ms, so no worker can take a second one: four workers,
        # then all four make their first request (and signatures) at about the same moment
        rids = self.push_all([{"kind": "http", "url": url, "ms": 300}] * 4)
        bodies = [self.assertResponse(self.result(rid, timeout=30)) for rid in rids]
        self.assertEqual(len({b["worker"] for b in bodies}), 4)
        for body in bodies:
            self.assertEqual((body["status"], body["body"]), (200, "hello from loopback"))
        self.wait_pollers(4)
        rids = self.push_all([{"kind": "sign", "n": 300, "body": "payload %d" % i, "ms": 300} for i in range(4)])
        bodies = [self.assertResponse(self.result(rid, timeout=30)) for rid in rids]
        self.assertEqual(len({b["worker"] for b in bodies}), 4)
        for i, body in enumerate(bodies):
            payload = ("payload %d" % i).encode()
            self.assertEqual(body["sha256"], hashlib.sha256(payload).hexdigest())
            self.assertEqual(body["authorization"], botocore_authorization("payload %d" % i))
        self.stop_workers(4)


class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"hello from loopback"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002
        pass


if __name__ == "__main__":
    unittest.main()
