"""Faults the runtime loop must survive, each a test: handlers that call os.exit or yield where
they cannot, an invocation without a request id, and a Runtime API that resets a connection in
the middle of an answer, sends its headers slowly, or restarts.

The handler faults use the Runtime API server of tests/runtime_api.py; the connection faults use
a raw-socket server here, which controls every byte and every close.

Run from the repository root: python3 -m unittest -v tests/test_faults.py
Environment: MOONRUN_BIN, MOONRUN_TIMEOUT_SCALE (see tests/test_runtime.py).
"""

import json
import os
import socket
import struct
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_runtime import T, Moonrun, MoonrunTestCase  # noqa: E402

FAULTS = os.path.join(HERE, "faults")
NEXT = "/2018-06-01/runtime/invocation/next"


class HandlerFaults(MoonrunTestCase):
    def start_faults(self, handler="faults.handler"):
        return self.start(handler, task_root=FAULTS)

    def test_os_exit_posts_an_error_then_exits_with_its_status(self):
        self.start_faults()
        self.assertResponse(self.invoke({"kind": "ok", "n": 1}), {"ok": 1})
        body = self.assertInvocationError(self.invoke({"kind": "os_exit"}), "Runtime.ExitError",
                                          "Runtime.ExitError")
        self.assertIn("os.exit(3)", body["errorMessage"])
        self.assertEqual(self.proc.wait(T(10)), 3, self.describe_proc())

    def test_os_exit_true_is_status_0(self):
        self.start_faults()
        self.assertInvocationError(self.invoke({"kind": "os_exit_true"}), "Runtime.ExitError")
        self.assertEqual(self.proc.wait(T(10)), 0, self.describe_proc())

    def test_os_exit_caught_still_exits_after_answering(self):
        self.start_faults()
        self.assertResponse(self.invoke({"kind": "os_exit_caught"}), {"caught": True})
        self.assertEqual(self.proc.wait(T(10)), 5, self.describe_proc())

    def test_os_exit_while_loading(self):
        proc = self.start("exit_at_init.handler", task_root=FAULTS)
        self.assertEqual(proc.wait(T(10)), 4, self.describe_proc(proc))
        init_errors = [r for r in self.api.results if r.kind == "init_error"]
        self.assertEqual(len(init_errors), 1, self.api.results)
        self.assertIn("os.exit(4)", init_errors[0].json()["errorMessage"])

    def test_os_exit_status_is_the_one_the_system_keeps(self):
        """exit keeps the low 8 bits: os.exit(-1) is 255 (with workers too: test_concurrency.py)."""
        self.start_faults()
        self.assertInvocationError(self.invoke({"kind": "os_exit_with", "status": -1}), "Runtime.ExitError")
        self.assertEqual(self.proc.wait(T(10)), 255, self.describe_proc())

    def test_os_exit_negative_while_loading(self):
        proc = self.start("exit_status_at_init.handler", task_root=FAULTS, env={"FAULT_EXIT_STATUS": "-1"})
        self.assertEqual(proc.wait(T(10)), 255, self.describe_proc(proc))
        init_errors = [r for r in self.api.results if r.kind == "init_error"]
        self.assertEqual(len(init_errors), 1, self.api.results)
        self.assertIn("os.exit(-1)", init_errors[0].json()["errorMessage"])

    def test_yield_outside_a_coroutine(self):
        self.start_faults()
        body = self.assertInvocationError(self.invoke({"kind": "yield_outside"}), "Error")
        self.assertIn("outside a coroutine", body["errorMessage"])
        self.assertResponse(self.invoke({"kind": "ok", "n": 2}), {"ok": 2})
        self.stop()

    def test_yield_across_a_c_call(self):
        self.start_faults()
        body = self.assertInvocationError(self.invoke({"kind": "yield_across_c"}), "Error")
        self.assertIn("C-call boundary", body["errorMessage"])
        self.assertResponse(self.invoke({"kind": "ok", "n": 3}), {"ok": 3})
        self.stop()

    def test_invocation_without_a_request_id_is_skipped(self):
        self.start_faults()
        self.api.push({"kind": "ok", "n": 0}, headers={"Lambda-Runtime-Aws-Request-Id": None})
        self.assertResponse(self.invoke({"kind": "ok", "n": 4}), {"ok": 4})
        self.assertTrue(self.proc.stderr.wait_for(b"without a usable Lambda-Runtime-Aws-Request-Id header", T(5)),
                        self.proc.stderr.text())
        self.assertEqual([r.kind for r in self.api.results], ["response"])
        self.stop()


class RawRuntimeAPI:
    """A Runtime API on a raw socket. Each GET /next is answered by `next_behaviour(n)`, which
    returns one of: ("ok", request_id, body), ("reset", partial_bytes), ("slow", request_id,
    body, chunk_size, pause), ("restart", seconds) (close everything, listen again later)."""

    def __init__(self, next_behaviour):
        self.next_behaviour = next_behaviour
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.listener.listen(8)
        self.gets = 0
        self.responses = {}
        self.connections = []
        self.lock = threading.Lock()
        self.running = True
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def read_request(self, conn, buffered):
        while b"\r\n\r\n" not in buffered:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buffered += data
        head, rest = buffered.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            data = conn.recv(65536)
            if not data:
                return None, b""
            rest += data
        return (method, path, rest[:length]), rest[length:]

    def serve(self, conn):
        buffered = b""
        try:
            while True:
                request, buffered = self.read_request(conn, buffered)
                if request is None:
                    return
                method, path, body = request
                if method == "GET" and path == NEXT:
                    with self.lock:
                        self.gets += 1
                        n = self.gets
                    if not self.answer_next(conn, self.next_behaviour(n)):
                        return
                elif method == "POST" and path.endswith("/response"):
                    with self.lock:
                        self.responses[path.split("/")[-2]] = body
                    conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
                else:
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            return
        finally:
            conn.close()

    @staticmethod
    def invocation(request_id, body):
        deadline = int(time.time() * 1000) + 60000
        return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Lambda-Runtime-Aws-Request-Id: {request_id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n"
                f"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def answer_next(self, conn, behaviour):
        kind = behaviour[0]
        if kind == "ok":
            conn.sendall(self.invocation(behaviour[1], behaviour[2]))
        elif kind == "reset":
            conn.sendall(behaviour[1])
            # SO_LINGER with a zero timeout: close sends a RST, not a FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return False
        elif kind == "slow":
            data = self.invocation(behaviour[1], behaviour[2])
            for i in range(0, len(data), behaviour[3]):
                conn.sendall(data[i:i + behaviour[3]])
                time.sleep(behaviour[4])
        elif kind == "restart":
            self.restart(behaviour[1])
            return False
        return True

    def restart(self, seconds):
        """Stops listening and drops every connection, then listens again on the same port."""
        self.listener.close()
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections = []
        time.sleep(seconds)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(8)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def wait_response(self, request_id, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if request_id in self.responses:
                    return self.responses[request_id]
            time.sleep(0.02)
        return None

    def stop(self):
        self.running = False
        self.listener.close()


class ConnectionFaults(unittest.TestCase):
    def run_against(self, behaviour, expected_ids, handler="faults.handler"):
        api = RawRuntimeAPI(behaviour)
        self.addCleanup(api.stop)
        proc = Moonrun(api.address, handler, task_root=FAULTS)
        self.addCleanup(proc.kill)
        for request_id, n in expected_ids:
            body = api.wait_response(request_id, T(20))
            self.assertIsNotNone(body, f"no response for {request_id}; stderr:\n{proc.stderr.text()}")
            self.assertEqual(json.loads(body), {"ok": n})
        self.assertTrue(proc.alive(), proc.stderr.text())
        return api, proc

    def test_reset_in_the_middle_of_an_invocation(self):
        event = json.dumps({"kind": "ok", "n": 1}).encode()

        def behaviour(n):
            if n == 1:  # headers and half the body, then a reset
                return ("reset", RawRuntimeAPI.invocation("lost", event)[:-5])
            if n == 2:
                return ("ok", "rid-2", event)
            return ("slow", "idle", b"", 1, 60)  # keeps the runtime waiting
        api, proc = self.run_against(behaviour, [("rid-2", 1)])
        self.assertNotIn("lost", api.responses)
        self.assertTrue(proc.stderr.wait_for(b"retrying", T(5)), proc.stderr.text())

    def test_slow_headers(self):
        event = json.dumps({"kind": "ok", "n": 2}).encode()

        def behaviour(n):
            if n == 1:  # the answer arrives a few bytes every 20 ms (over a second in all)
                return ("slow", "rid-slow", event, 4, 0.02)
            return ("slow", "idle", b"", 1, 60)
        self.run_against(behaviour, [("rid-slow", 2)])

    def test_api_restarting(self):
        def behaviour(n):
            if n == 1:
                return ("ok", "before", json.dumps({"kind": "ok", "n": 1}).encode())
            if n == 2:
                return ("restart", 0.8)  # shorter than the ~2.3 s moonrun keeps retrying
            if n == 3:
                return ("ok", "after", json.dumps({"kind": "ok", "n": 3}).encode())
            return ("slow", "idle", b"", 1, 60)
        api, proc = self.run_against(behaviour, [("before", 1), ("after", 3)])
        self.assertTrue(proc.stderr.wait_for(b"retrying", T(5)), proc.stderr.text())


if __name__ == "__main__":
    unittest.main()
