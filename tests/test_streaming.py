"""Response streaming end to end: handlers that return moonrun.stream(...) against the real
Runtime API server of tests/runtime_api.py, which reads chunked bodies chunk by chunk and
notes when each chunk arrived; and `moonrun invoke` / `moonrun repl` with such handlers.

Run from the repository root: python3 -m unittest -v tests/test_streaming.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import base64
import json
import os
import select
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from runtime_api import RuntimeAPI  # noqa: E402
from test_runtime import MoonrunTestCase, T, moonrun_bin  # noqa: E402

STREAM_HANDLERS = os.path.join(HERE, "stream")
MIB = 1 << 20
HTTP_TYPE = "application/vnd.awslambda.http-integration-response"
TRAILER = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"


def setUpModule():  # noqa: N802 - unittest hook
    if not os.access(moonrun_bin(), os.X_OK):
        raise RuntimeError("moonrun binary not found: %s (build it or set MOONRUN_BIN)" % moonrun_bin())


class StreamingTestCase(MoonrunTestCase):
    def setUp(self):
        super().setUp()
        self.start("streaming.handler", task_root=STREAM_HANDLERS)

    def streamed(self, event, timeout=10):
        result = self.invoke(event, timeout=timeout)
        if result.kind != "response" or result.chunks is None:
            self.fail_with_output("expected a streamed response, got %r" % (result,))
        self.assertEqual(result.header("lambda-runtime-function-response-mode"), "streaming")
        self.assertEqual(result.header("transfer-encoding"), "chunked")
        self.assertEqual(result.header("trailer"), TRAILER)
        self.assertIsNone(result.header("content-length"))
        return result

    def chunk_data(self, result):
        return [c.data for c in result.chunks]

    def error_trailers(self, result):
        """The error trailers' type and decoded body, after checking the body's shape."""
        kind = result.trailers.get("lambda-runtime-function-error-type")
        encoded = result.trailers.get("lambda-runtime-function-error-body")
        if kind is None or encoded is None:
            self.fail_with_output("expected error trailers, got %r" % (result.trailers,))
        body = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
        self.assertIsInstance(body.get("errorType"), str, body)
        self.assertIsInstance(body.get("errorMessage"), str, body)
        self.assertIsInstance(body.get("stackTrace"), list, body)
        return kind, body

    def assertStillServing(self):
        result = self.invoke({"case": "plain", "n": 7})
        self.assertResponse(result, {"ok": True, "n": 7})


class TestStreamedBody(StreamingTestCase):
    def test_each_write_is_one_chunk(self):
        pieces = ["a", "bb", "ccc\n", "é ünïcode", "x" * 70000]
        result = self.streamed({"case": "chunks", "pieces": pieces})
        self.assertEqual(self.chunk_data(result), [p.encode() for p in pieces])
        self.assertEqual(result.body, "".join(pieces).encode())
        self.assertEqual(result.header("content-type"), "application/octet-stream")
        self.assertEqual(result.trailers, {})

    def test_first_chunk_arrives_before_the_second_is_written(self):
        pause = 0.3
        result = self.streamed({"case": "sleepy", "pause": pause})
        self.assertEqual(self.chunk_data(result), [b"first", b"second"])
        first, second = result.chunks
        # Had the first chunk been held back, both would arrive together.
        self.assertGreater(second.time - first.time, pause / 3, result.chunks)
        self.assertGreater(result.time - first.time, pause / 3)

    def test_content_type_option(self):
        result = self.streamed({"case": "typed"})
        self.assertEqual(result.header("content-type"), "text/event-stream")
        self.assertEqual(result.body, b"data: hi\n\n")

    def test_empty_writes_send_nothing(self):
        # A zero-size chunk would end the body early.
        result = self.streamed({"case": "empty_writes"})
        self.assertEqual(self.chunk_data(result), [b"a", b"b"])
        self.assertEqual(result.trailers, {})

    def test_print_goes_to_the_log_not_the_body(self):
        result = self.streamed({"case": "print_and_stream"})
        self.assertEqual(result.body, b"body")
        self.assertTrue(self.proc.stdout.wait_for(b"log line inside the stream\n", T(5)), self.describe_proc())
        self.assertIn(b"log line before the stream\n", self.proc.stdout.data())

    def test_keep_alive_across_streamed_and_plain_responses(self):
        for i in range(3):
            self.assertEqual(self.streamed({"case": "chunks", "pieces": ["s%d" % i]}).body, b"s%d" % i)
            self.assertResponse(self.invoke({"case": "plain", "n": i}), {"ok": True, "n": i})
        self.wait_idle()
        clients = {r.client for r in self.api.requests}
        self.assertEqual(len(clients), 1, "every request on one connection: %r" % clients)
        self.assertEqual(self.api.rejected, [])
        self.stop()


class TestHttpPrelude(StreamingTestCase):
    def test_prelude_bytes_exactly(self):
        prelude = {"statusCode": 201,
                   "headers": {"X-B": "2", "Content-Type": "text/html", "X-A": "1"},
                   "cookies": ["a=1; Secure", "b=2"]}
        result = self.streamed({"case": "http", "prelude": prelude})
        self.assertEqual(result.header("content-type"), HTTP_TYPE)
        expected = (b'{"statusCode":201,"headers":{"Content-Type":"text/html","X-A":"1","X-B":"2"},'
                    b'"cookies":["a=1; Secure","b=2"]}' + b"\0" * 8)
        self.assertEqual(self.chunk_data(result), [expected, b"<h1>", b"hello", b"</h1>"])
        self.assertEqual(result.body, expected + b"<h1>hello</h1>")

    def test_prelude_defaults_to_status_200(self):
        result = self.streamed({"case": "http", "prelude": {}})
        self.assertEqual(result.chunks[0].data, b'{"statusCode":200}' + b"\0" * 8)

    def test_prelude_escapes_json(self):
        prelude = {"statusCode": 404, "headers": {"X-Quote": 'say "hi"\\ \u00e9'}, "cookies": []}
        result = self.streamed({"case": "http", "prelude": prelude})
        text, separator, rest = result.body.partition(b"\0" * 8)
        self.assertEqual(json.loads(text), prelude)
        self.assertEqual(rest, b"<h1>hello</h1>")

    def test_bad_preludes_are_refused_before_anything_is_sent(self):
        cases = [
            ({"statusCode": 42}, "statusCode must be an integer from 100 to 599, got 42"),
            ({"statusCode": 200.5}, "statusCode must be an integer from 100 to 599, got 200.5"),
            ({"statusCode": "200"}, "statusCode must be an integer from 100 to 599, got 200"),
            ({"headers": {"X-Count": 3}}, "header 'X-Count' must be a string, got number"),
            ({"headers": ["a"]}, "header names must be strings"),
            ({"headers": "x"}, "headers must be a table of name = value, got string"),
            ({"cookies": ["a=1", 2]}, "cookie 2 must be a string, got number"),
            ({"cookies": "a=1"}, "cookies must be an array of strings, got string"),
            ({"status": 200}, "unknown field status (the fields are statusCode, headers, cookies)"),
            ("200", "stream.http expects a table {statusCode, headers, cookies} first, got string"),
        ]
        for prelude, message in cases:
            with self.subTest(prelude=prelude):
                rid = self.api.push({"case": "http_bad", "prelude": prelude})
                result = self.result(rid)
                body = self.assertInvocationError(result, "Error", "Function.Error")
                self.assertIn("stream.http", body["errorMessage"])
                self.assertIn(message, body["errorMessage"])
                posts = [r for r in self.api.requests_matching("POST") if rid in r.path]
                self.assertEqual([p.path.rsplit("/", 1)[1] for p in posts], ["error"])
        self.assertStillServing()


class TestErrors(StreamingTestCase):
    def test_error_mid_stream_goes_in_the_trailers(self):
        result = self.streamed({"case": "fails_midway"})
        self.assertEqual(self.chunk_data(result), [b"partial ", b"output"])
        kind, body = self.error_trailers(result)
        self.assertEqual(kind, "Function.BrokenPipeline")
        self.assertEqual(body["errorType"], "BrokenPipeline")
        self.assertEqual(body["errorMessage"], "the source went away")
        self.assertTrue(any("streaming.lua:" in line for line in body["stackTrace"]), body)
        self.assertTrue(self.proc.stderr.wait_for(b"failed after 14 streamed bytes", T(5)), self.describe_proc())
        self.assertEqual(len(self.api.results_for(result.request_id)), 1, "nothing posted to /error as well")
        self.assertStillServing()

    def test_runtime_fault_mid_stream(self):
        result = self.streamed({"case": "fails_plain"})
        self.assertEqual(result.body, b"x")
        kind, body = self.error_trailers(result)
        self.assertEqual((kind, body["errorType"]), ("Function.Error", "Error"))
        self.assertIn("attempt to index a nil value", body["errorMessage"])

    def test_error_before_any_write(self):
        result = self.streamed({"case": "fails_before_writing"})
        self.assertEqual(result.chunks, [])
        kind, body = self.error_trailers(result)
        self.assertIn("nothing to say", body["errorMessage"])

    def test_error_too_large_for_a_trailer_is_summarised(self):
        result = self.streamed({"case": "huge_error"})
        kind, body = self.error_trailers(result)
        self.assertEqual(kind, "Function.Error")
        self.assertIn("too large for a trailer", body["errorMessage"])
        self.assertLess(len(result.trailers["lambda-runtime-function-error-body"]), 4096)
        self.assertTrue(self.proc.stderr.wait_for(b"e" * 100000, T(5)), "the log has the whole error")
        self.assertStillServing()

    def test_non_string_writes_are_errors(self):
        for kind, event in [("table", {"kind": "table"}), ("function", {"kind": "function"}),
                            ("number", {"value": 42}), ("boolean", {"value": True}), ("nil", {})]:
            with self.subTest(kind=kind):
                result = self.streamed(dict(event, case="bad_write"))
                self.assertEqual(result.body, b"ok")
                error_type, body = self.error_trailers(result)
                self.assertEqual(error_type, "Function.Error")
                self.assertIn("stream: write expects a string, got " + kind, body["errorMessage"])
                self.assertIn("streaming.lua:", body["errorMessage"], "names the handler's line")
        self.assertStillServing()

    def test_a_bad_write_can_be_caught(self):
        result = self.streamed({"case": "caught_bad_write"})
        self.assertEqual(len(result.chunks), 1)
        self.assertIn(b"refused: ", result.body)
        self.assertIn(b"write expects a string, got number", result.body)
        self.assertEqual(result.trailers, {})

    def test_write_after_the_stream_ended(self):
        self.assertEqual(self.streamed({"case": "keep_write"}).body, b"kept")
        body = self.assertInvocationError(self.invoke({"case": "late_write"}), "Error")
        self.assertIn("stream: write after the stream ended", body["errorMessage"])
        self.assertStillServing()

    def test_write_from_a_coroutine_after_the_stream_ended(self):
        self.assertEqual(self.streamed({"case": "write_after_return_in_coroutine"}).body, b"on time")
        body = self.assertInvocationError(self.invoke({"case": "resume_pending"}), "Error")
        self.assertIn("stream: write after the stream ended", body["errorMessage"])

    def test_bad_stream_arguments(self):
        body = self.assertInvocationError(self.invoke({"case": "not_a_function"}), "Error")
        self.assertIn("stream expects a function that writes the response, got number", body["errorMessage"])
        body = self.assertInvocationError(self.invoke({"case": "bad_option"}), "Error")
        self.assertIn("stream: unknown option contenttype (the option is content_type)", body["errorMessage"])
        for content_type in ["", "text/plain\r\nX-Injected: 1", "x" * 257, 42]:
            with self.subTest(content_type=content_type):
                result = self.invoke({"case": "bad_content_type", "content_type": content_type})
                body = self.assertInvocationError(result, "Error")
                self.assertIn("stream: content_type must be a string of 1 to 256 bytes on one line",
                              body["errorMessage"])
        self.assertEqual(self.streamed({"case": "typed"}).header("content-type"), "text/event-stream")

    def test_runtime_api_cutting_the_stream_off(self):
        self.api.drop_streams_after(1)
        rid = self.api.push({"case": "sleepy", "pause": 0.2})
        self.assertTrue(self.proc.stderr.wait_for(rid.encode(), T(10)), self.describe_proc())
        self.assertEqual(self.api.results_for(rid), [])
        self.assertStillServing()
        self.assertTrue(self.proc.alive())

    def test_sigterm_mid_stream_lets_it_finish(self):
        rid = self.api.push({"case": "sleepy", "pause": 0.5})
        self.api.wait_for(lambda: any(rid in p for p, _, _ in self.api.open_posts), T(10), "the stream to start")
        os.kill(self.proc.pid, signal.SIGTERM)
        result = self.result(rid)
        self.assertEqual(result.body, b"firstsecond")
        self.assertEqual(self.proc.wait(T(15)), 0, self.describe_proc())


class TestSizeLimit(StreamingTestCase):
    def setUp(self):
        self.api = self.new_api(keep_large_chunks=False)
        self.proc = None
        self.start("streaming.handler", task_root=STREAM_HANDLERS)

    def test_200_mib_is_accepted_and_one_byte_more_is_not(self):
        result = self.streamed({"case": "big", "block": 50 * MIB, "count": 4, "tail": "y"}, timeout=120)
        self.assertEqual(result.size, 200 * MIB, "the 200 MiB went out, the extra byte did not")
        self.assertEqual([c.size for c in result.chunks], [50 * MIB] * 4)
        kind, body = self.error_trailers(result)
        self.assertEqual((kind, body["errorType"]), ("Function.ResponseSizeTooLarge", "Function.ResponseSizeTooLarge"))
        self.assertIn("past 200 MiB", body["errorMessage"])
        self.assertIn("209715200 bytes were sent", body["errorMessage"])
        self.assertStillServing()

    def test_larger_than_a_buffered_response_is_fine(self):
        result = self.streamed({"case": "big", "block": 1 * MIB, "count": 8}, timeout=60)
        self.assertEqual(result.size, 8 * MIB)
        self.assertEqual(result.trailers, {})


def run_local(args, stdin=b"", timeout=30):
    env = dict(os.environ, LAMBDA_TASK_ROOT=STREAM_HANDLERS)
    return subprocess.run([moonrun_bin(), *args], input=stdin, capture_output=True, env=env,
                          cwd=STREAM_HANDLERS, timeout=T(timeout))


class TestLocal(unittest.TestCase):
    def test_invoke_prints_the_body_as_it_comes(self):
        proc = subprocess.Popen([moonrun_bin(), "invoke", "streaming.handler", "--event", "-"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, LAMBDA_TASK_ROOT=STREAM_HANDLERS), cwd=STREAM_HANDLERS)
        self.addCleanup(proc.kill)
        proc.stdin.write(json.dumps({"case": "sleepy", "pause": 1.0}).encode())
        proc.stdin.close()
        ready, _, _ = select.select([proc.stdout], [], [], T(10))
        self.assertTrue(ready, "nothing on stdout")
        got_at = time.monotonic()
        first = os.read(proc.stdout.fileno(), 100)
        self.assertEqual(first, b"first", "the first chunk alone, before the second is written")
        rest = proc.stdout.read()
        self.assertEqual(rest, b"second")
        self.assertGreater(time.monotonic() - got_at, 0.3)
        self.assertEqual(proc.wait(T(10)), 0)

    def test_invoke_http_stream_describes_the_prelude(self):
        event = {"case": "http", "prelude": {"statusCode": 202, "headers": {"Content-Type": "text/html"}}}
        p = run_local(["invoke", "streaming.handler", "--event", "-"], json.dumps(event).encode())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"<h1>hello</h1>")
        self.assertIn(b'HTTP prelude {"statusCode":202,"headers":{"Content-Type":"text/html"}}', p.stderr)

    def test_invoke_error_mid_stream(self):
        p = run_local(["invoke", "streaming.handler", "--event", "-"], b'{"case": "fails_midway"}')
        self.assertEqual(p.returncode, 1, p.stderr)
        body, newline, error = p.stdout.partition(b"\n")
        self.assertEqual(body, b"partial output")
        self.assertEqual(json.loads(error)["errorType"], "BrokenPipeline")
        self.assertIn(b"the handler failed with BrokenPipeline", p.stderr)

    def test_invoke_applies_the_size_limit(self):
        event = {"case": "big", "block": 100 * MIB, "count": 2, "tail": "z"}
        p = subprocess.run([moonrun_bin(), "invoke", "streaming.handler", "--event", "-"],
                           input=json.dumps(event).encode(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env=dict(os.environ, LAMBDA_TASK_ROOT=STREAM_HANDLERS), cwd=STREAM_HANDLERS,
                           timeout=T(120))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"the handler failed with Function.ResponseSizeTooLarge", p.stderr)

    def test_repl_invoke_streams_and_returns_true(self):
        p = run_local(["repl", "streaming.handler"], b'invoke({case = "chunks", pieces = {"a", "b"}})\n')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"abtrue\n")


if __name__ == "__main__":
    unittest.main()
