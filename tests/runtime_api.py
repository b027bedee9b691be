"""A small, real HTTP implementation of the AWS Lambda Runtime API for tests.

Only the Python standard library is used.  It also plays the Extensions API (2020-01-01): ``POST /extension/register``
(recorded in ``extensions``, answered with a ``Lambda-Extension-Identifier``)
and ``GET /extension/event/next``, which, as for an extension registered for
no events, is never answered (recorded in ``extension_waits``).

The server listens on an ephemeral
port on 127.0.0.1, speaks HTTP/1.1 with keep-alive, serves every connection
on its own thread and always answers with a Content-Length.

Typical use from a test::

    api = RuntimeAPI()
    api.start()
    rid = api.push({"hello": "world"})
    ... start the runtime with AWS_LAMBDA_RUNTIME_API=api.address ...
    [result] = api.wait_results(1, timeout=10)
    api.stop()

Fault injection hooks:

* ``fail_next(count, mode="status", status=500)``: the next ``count`` calls
  of ``GET .../invocation/next`` are answered with ``status`` (mode
  ``"status"``) or the connection is closed without an answer (``"close"``).
* ``drop_streams_after(chunks, count=1)``: the next ``count`` streamed
  responses are cut off (the connection closed) once ``chunks`` chunks have
  been read; nothing is recorded as a result.
* ``drop_response_posts(count)``: the next ``count`` POSTs to
  ``.../invocation/{id}/response`` are read completely and then the
  connection is closed without an answer; nothing is recorded as a result.
* ``refuse_extensions``: when set, extension registration is answered with 403.
* ``max_response_size``: a response POST whose body is larger than this is
  answered with 413 and Lambda's JSON error body (6291556 bytes by default, the
  figure Lambda's own message names).  As on Lambda, the invocation is then
  over: a later POST for it (an error, say) is answered with 403.  Streamed
  responses (chunked bodies) are not held to it.

Every invocation carries the headers Lambda sends, each made new as Lambda
makes it (this is the default, not an option): a uuid request id, a deadline,
an X-Ray trace id (``Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0|1``),
and on every fourth invocation a ``Lambda-Runtime-Client-Context`` and a
``Lambda-Runtime-Cognito-Identity`` of a few KB of JSON.  ``push(headers=...)``
overrides any of them (None leaves one out, "" sends it empty, as Lambda
Managed Instances do); ``sent_headers[request_id]`` holds what was sent.

A chunked request body (a streamed response) is read chunk by chunk as it
arrives: its ``Result`` has ``chunks`` (``Chunk`` objects with the bytes, the
size and the arrival time of each) and ``trailers`` (a dict with lower-cased
names).  With ``keep_large_chunks=False`` the bytes of chunks over 1 MiB are
not kept (``data`` is None, they are left out of ``body``), for tests that
stream hundreds of megabytes.

Several runtime workers (Lambda Managed Instances) can poll at once: every
``GET /next`` waits on its own connection, ``wait_pollers(n)`` waits until
``n`` of them are held open, and each ``Request`` and ``Result`` records the
``client`` (address, port) of the connection it came on, so a test can tell
which connection posted what and in which order.
"""

import collections
import random
import http.server
import json
import re
import socket
import socketserver
import sys
import threading
import time
import uuid

API_PREFIX = "/2018-06-01/runtime"
NEXT_PATH = API_PREFIX + "/invocation/next"
INIT_ERROR_PATH = API_PREFIX + "/init/error"
EXTENSION_REGISTER_PATH = "/2020-01-01/extension/register"
EXTENSION_NEXT_PATH = "/2020-01-01/extension/event/next"
_RESULT_RE = re.compile(r"^" + re.escape(API_PREFIX) + r"/invocation/([^/]+)/(response|error)$")

DEFAULT_MAX_RESPONSE_SIZE = 6291556
DEFAULT_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:moonrun-test"
# One invocation in this many carries a client context and an identity.
CONTEXT_EVERY = 4


def new_trace_id(rng=random):
    """An X-Ray trace header value as Lambda sends it, new every time."""
    return "Root=1-%08x-%024x;Parent=%016x;Sampled=%d" % (
        int(time.time()), rng.getrandbits(96), rng.getrandbits(64), rng.getrandbits(1))


def new_client_context(rng=random):
    """A client context as the mobile SDKs send it, with 1 to 4 KB of custom data."""
    return json.dumps({
        "client": {"installation_id": str(uuid.UUID(int=rng.getrandbits(128))), "app_title": "moonrun tests",
                   "app_version_name": "1.0", "app_version_code": "1", "app_package_name": "com.example.tests"},
        "custom": {"pad": "%x" % rng.getrandbits(4 * rng.randint(1024, 4096))},
        "env": {"platform": "Android", "model": "Pixel", "make": "Google", "platform_version": "14",
                "locale": "en_US"},
    }, separators=(",", ":"))


def new_identity(rng=random):
    """A Cognito identity as the mobile SDKs send it."""
    return json.dumps({"cognitoIdentityId": "us-east-1:" + str(uuid.UUID(int=rng.getrandbits(128))),
                       "cognitoIdentityPoolId": "us-east-1:" + str(uuid.UUID(int=rng.getrandbits(128)))},
                      separators=(",", ":"))


class WaitTimeout(AssertionError):
    """Raised when something the test waits for does not happen in time."""


LARGE_CHUNK = 1 << 20


class Chunk:
    """One chunk of a chunked request body, with the moment it was read."""

    def __init__(self, data, size):
        self.data = data  # bytes, or None for a large chunk not kept
        self.size = size
        self.time = time.monotonic()

    def __repr__(self):
        shown = self.data if self.data is None or len(self.data) <= 60 else self.data[:60] + b"..."
        return "Chunk(%d, %r)" % (self.size, shown)


class Body:
    """A request body as read: the bytes, and for a chunked one its chunks and trailers."""

    def __init__(self, data, chunks=None, trailers=None, size=None):
        self.data = data
        self.chunks = chunks  # None when the body was not chunked
        self.trailers = trailers or {}
        self.size = len(data) if size is None else size


class Result:
    """One accepted POST from the runtime: a response, an error or an init error."""

    def __init__(self, request_id, kind, headers, body, chunks=None, trailers=None, started=None, size=None,
                 client=None):
        self.request_id = request_id  # None for init errors
        self.kind = kind  # "response", "error" or "init_error"
        self.headers = headers  # dict with lower-cased header names
        self.body = body  # bytes
        self.chunks = chunks  # list of Chunk for a chunked body, else None
        self.trailers = trailers or {}  # lower-cased names
        self.client = client  # (address, port) of the connection it came on
        self.time = time.monotonic()
        self.started = started if started is not None else self.time  # when the head arrived
        self.size = len(body) if size is None else size  # bytes received, kept or not

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        body = self.body
        if len(body) > 300:
            body = body[:300] + b"...(%d bytes)" % len(self.body)
        return "Result(id=%r, kind=%r, headers=%r, body=%r)" % (
            self.request_id, self.kind, self.headers, body)


class Request:
    """Every HTTP request the server saw (recorded before it is answered)."""

    def __init__(self, method, path, headers, body_size=None, client=None):
        self.method = method
        self.path = path
        self.headers = headers
        self.body_size = body_size
        self.client = client  # (address, port) of the connection it came on
        self.time = time.monotonic()

    def __repr__(self):
        return "Request(%s %s)" % (self.method, self.path)


class _Invocation:
    def __init__(self, request_id, body, headers):
        self.request_id = request_id
        self.body = body
        self.headers = headers


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1100  # every worker of a process with many may connect at once

    def handle_error(self, request, client_address):
        # A runtime that drops its connection is not a server failure; keep
        # the test output clean.  Anything else is still reported.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeLambdaRuntimeAPI/1.0"
    sys_version = ""

    # The RuntimeAPI instance is attached to the server object.
    @property
    def api(self):
        return self.server.api

    def log_message(self, format, *args):  # noqa: A002 - silence default logging
        pass

    # -- helpers -----------------------------------------------------------

    def _lower_headers(self):
        out = {}
        for key, value in self.headers.items():
            out[key.lower()] = value
        return out

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return Body(b"")
        return Body(self._read_exact(int(length)))

    def _read_chunked(self):
        """Reads chunk by chunk, noting when each arrived, then the trailers."""
        keep_large = self.api.keep_large_chunks
        chunks, trailers = [], {}
        while True:
            line = self.rfile.readline(65537)
            if not line.endswith(b"\n"):
                raise ConnectionError("EOF or overlong line in chunked body: %r" % line[:80])
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            data = self._read_exact(size)
            chunks.append(Chunk(data if keep_large or size <= LARGE_CHUNK else None, size))
            if self.api._take_stream_drop(len(chunks)):
                self._drop()
                raise ConnectionError("stream cut off by drop_streams_after")
            if self.rfile.read(2) != b"\r\n":
                raise ValueError("chunk of %d bytes not followed by CRLF" % size)
        while True:
            line = self.rfile.readline(1 << 20)
            if not line.endswith(b"\n"):
                raise ConnectionError("EOF or overlong line in the trailers: %r" % line[:80])
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            trailers[name.strip().lower()] = value.strip()
        data = b"".join(c.data for c in chunks if c.data is not None)
        return Body(data, chunks, trailers, sum(c.size for c in chunks))

    def _read_exact(self, n):
        parts = []
        remaining = n
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                raise ConnectionError("EOF in body (%d of %d bytes missing)" % (remaining, n))
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def setup(self):
        super().setup()
        # Small writes must not wait for delayed ACKs (Nagle).
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def _send(self, status, body=b"", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        self.send_response(status)
        has_type = False
        for key, value in (headers or {}).items():
            if key.lower() == "content-type":
                has_type = True
            self.send_header(key, value)
        if not has_type:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # Like end_headers(), but headers and body leave in a single write.
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        self.wfile.write(head + body if len(body) < (1 << 16) else head)
        if len(body) >= (1 << 16):
            self.wfile.write(body)
        self.wfile.flush()

    def _drop(self):
        """Close the connection without writing a single byte."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    # -- methods -----------------------------------------------------------

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        self.api._record(Request("GET", path, self._lower_headers(), client=self.client_address))
        if path == EXTENSION_NEXT_PATH:
            self._extension_next()
            return
        if path != NEXT_PATH:
            self._send(404, {"errorMessage": "not found: " + path, "errorType": "NotFound"})
            return
        fault = self.api._take_next_fault()
        if fault is not None:
            mode, status = fault
            if mode == "close":
                self._drop()
            else:
                self._send(status, {"errorMessage": "injected failure",
                                    "errorType": "ServiceException"})
            return
        inv = self.api._wait_invocation(self.client_address)
        if inv is None:  # server shutting down
            self._drop()
            return
        self._send(200, inv.body, inv.headers)

    def _extension_next(self):
        identifier = self.headers.get("Lambda-Extension-Identifier")
        with self.api._cond:
            known = identifier in self.api._extension_ids
            if known:
                self.api.extension_waits.append(identifier)
            self.api._cond.notify_all()
        if not known:
            self._send(403, {"errorMessage": "unknown extension identifier",
                             "errorType": "Extension.InvalidExtensionIdentifier"})
            return
        with self.api._cond:  # no events were registered for: wait until the server stops
            while not self.api._stopping:
                self.api._cond.wait()
        self._drop()

    def _extension_register(self, headers, body):
        if self.api.refuse_extensions:
            self._send(403, {"errorMessage": "registration refused",
                             "errorType": "Extension.Forbidden"})
            return
        identifier = str(uuid.uuid4())
        with self.api._cond:
            self.api._extension_ids.add(identifier)
            self.api.extensions.append({"headers": headers, "body": body, "identifier": identifier})
            self.api._cond.notify_all()
        self._send(200, {"functionName": "moonrun-test", "functionVersion": "$LATEST",
                         "handler": "handler"}, {"Lambda-Extension-Identifier": identifier})

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        headers = self._lower_headers()
        started = time.monotonic()
        self.api._note_post_started(path, headers)
        try:
            body = self._read_body()
        except (ConnectionError, ValueError):
            self.api._record(Request("POST", path, headers, None, self.client_address))
            self.close_connection = True
            return
        self.api._record(Request("POST", path, headers, body.size, self.client_address))

        if path == EXTENSION_REGISTER_PATH:
            self._extension_register(headers, body.data)
            return
        if path == INIT_ERROR_PATH:
            self.api._add_result(Result(None, "init_error", headers, body.data, client=self.client_address))
            self._send(202, {"status": "OK"})
            return

        m = _RESULT_RE.match(path)
        if not m:
            self._send(404, {"errorMessage": "not found: " + path, "errorType": "NotFound"})
            return
        request_id, kind = m.group(1), m.group(2)

        if kind == "response" and self.api._take_response_drop():
            self._drop()
            return

        status, answer = self.api._accept_result(request_id, kind, headers, body, started,
                                                 self.client_address)
        self._send(status, answer)


class RuntimeAPI:
    """In-process Lambda Runtime API server (see module docstring)."""

    def __init__(self, max_response_size=DEFAULT_MAX_RESPONSE_SIZE, keep_large_chunks=True):
        self.max_response_size = max_response_size
        self.keep_large_chunks = keep_large_chunks
        self.open_posts = []  # (path, headers, time) of every POST whose head arrived
        self._cond = threading.Condition()
        self._queue = collections.deque()
        self._states = {}  # request id -> "queued" | "delivered" | "done"
        self._stopping = False
        self._next_faults = collections.deque()
        self._response_drops = 0
        self._stream_drops = collections.deque()
        self._waiting_next = 0
        self.results = []  # accepted results in arrival order
        self.rejected = []  # (Result, status) for POSTs that were refused
        self.requests = []  # every request seen
        self.delivered = []  # request ids handed out by /next, in order
        self.extensions = []  # registrations: {"headers", "body", "identifier"}
        self.extension_waits = []  # identifiers that called GET extension/event/next
        self._extension_ids = set()
        self.refuse_extensions = False
        self.delivered_to = {}  # request id -> client (address, port) it went to
        self.sent_headers = {}  # request id -> the headers its invocation carried
        self._pushed = 0
        self._server = None
        self._thread = None

    # -- lifecycle -----------------------------------------------------------

    def start(self):
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="runtime-api", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    # -- queueing invocations ------------------------------------------------

    def push(self, event, headers=None, request_id=None):
        """Queue an invocation; returns its request id.

        ``event`` may be bytes (sent verbatim) or any JSON-serialisable object
        (a str is sent as a JSON string).  ``headers`` override/extend the defaults; a
        header whose value is None is left out.
        """
        if isinstance(event, (bytes, bytearray)):
            body = bytes(event)
        else:
            body = json.dumps(event).encode("utf-8")
        rid = request_id or str(uuid.uuid4())
        hdrs = {
            "Lambda-Runtime-Aws-Request-Id": rid,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
            "Lambda-Runtime-Invoked-Function-Arn": DEFAULT_FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": new_trace_id(),
        }
        with self._cond:
            self._pushed += 1
            with_context = self._pushed % CONTEXT_EVERY == 0
        if with_context:
            hdrs["Lambda-Runtime-Client-Context"] = new_client_context()
            hdrs["Lambda-Runtime-Cognito-Identity"] = new_identity()
        for key, value in (headers or {}).items():
            for existing in list(hdrs):
                if existing.lower() == key.lower():
                    del hdrs[existing]
            if value is not None:
                hdrs[key] = str(value)
        hdrs["Content-Type"] = "application/json"
        with self._cond:
            self._states[rid] = "queued"
            self.sent_headers[rid] = dict(hdrs)
            self._queue.append(_Invocation(rid, body, hdrs))
            self._cond.notify_all()
        return rid

    def _wait_invocation(self, client=None):
        with self._cond:
            self._waiting_next += 1
            self._cond.notify_all()
            try:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return None
                inv = self._queue.popleft()
                self._states[inv.request_id] = "delivered"
                self.delivered.append(inv.request_id)
                self.delivered_to[inv.request_id] = client
                self._cond.notify_all()
                return inv
            finally:
                self._waiting_next -= 1

    # -- fault hooks ---------------------------------------------------------

    def fail_next(self, count, mode="status", status=500):
        """Make the next ``count`` GET /next calls fail (mode "status" or "close")."""
        if mode not in ("status", "close"):
            raise ValueError(mode)
        with self._cond:
            for _ in range(count):
                self._next_faults.append((mode, status))

    def drop_streams_after(self, chunks, count=1):
        """Cut the next ``count`` streamed responses off after ``chunks`` chunks."""
        with self._cond:
            self._stream_drops.extend([chunks] * count)

    def _take_stream_drop(self, chunks_read):
        with self._cond:
            if self._stream_drops and self._stream_drops[0] == chunks_read:
                self._stream_drops.popleft()
                return True
            return False

    def drop_response_posts(self, count):
        """Close the connection without answering the next ``count`` response POSTs."""
        with self._cond:
            self._response_drops += count

    def _take_next_fault(self):
        with self._cond:
            if self._next_faults:
                return self._next_faults.popleft()
            return None

    def _take_response_drop(self):
        with self._cond:
            if self._response_drops > 0:
                self._response_drops -= 1
                return True
            return False

    # -- recording -------------------------------------------------------------

    def _record(self, request):
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def _note_post_started(self, path, headers):
        with self._cond:
            self.open_posts.append((path, headers, time.monotonic()))
            self._cond.notify_all()

    def _add_result(self, result):
        with self._cond:
            self.results.append(result)
            self._cond.notify_all()

    def _accept_result(self, request_id, kind, headers, body, started=None, client=None):
        result = Result(request_id, kind, headers, body.data, body.chunks, body.trailers, started, body.size,
                        client)
        with self._cond:
            state = self._states.get(request_id)
            if state == "too_large":  # Lambda has already answered the caller
                self.rejected.append((result, 403))
                self._cond.notify_all()
                return 403, {"errorMessage": "Invalid state transition: the response was refused as too large",
                             "errorType": "InvalidStateTransition"}
            if state != "delivered":
                self.rejected.append((result, 400))
                self._cond.notify_all()
                if state is None:
                    return 400, {"errorMessage": "Invalid request ID",
                                 "errorType": "InvalidRequestID"}
                return 400, {"errorMessage": "Invalid state transition (request is %s)" % state,
                             "errorType": "InvalidStateTransition"}
            if kind == "response" and body.chunks is None and body.size > self.max_response_size:
                self._states[request_id] = "too_large"
                self.rejected.append((result, 413))
                self._cond.notify_all()
                return 413, {"errorMessage": "Exceeded maximum allowed payload size (%d bytes)."
                             % self.max_response_size,
                             "errorType": "RequestEntityTooLarge"}
            self._states[request_id] = "done"
            self.results.append(result)
            self._cond.notify_all()
        return 202, {"status": "OK"}

    # -- waiting ---------------------------------------------------------------

    def wait_for(self, predicate, timeout, describe="condition", alive=None):
        """Wait until ``predicate()`` (called with the lock held) is true.

        ``alive`` is an optional callable; when it returns False the wait is
        abandoned early (e.g. the runtime process died).  Raises WaitTimeout.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout("timed out after %.1fs waiting for %s" % (timeout, describe))
                if alive is not None and not alive():
                    # one last look: the process may have posted and then exited
                    value = predicate()
                    if value:
                        return value
                    raise WaitTimeout("process exited while waiting for %s" % describe)
                self._cond.wait(min(remaining, 0.05))

    def wait_results(self, n, timeout=10.0, alive=None):
        """Return the list of all results once at least ``n`` have arrived."""
        try:
            self.wait_for(lambda: len(self.results) >= n, timeout,
                          "%d result(s)" % n, alive)
        except WaitTimeout as exc:
            with self._cond:
                got = list(self.results)
                rejected = list(self.rejected)
            raise WaitTimeout("%s; got %d, last: %r; rejected: %r"
                              % (exc, len(got), got[-3:], rejected[-3:])) from None
        with self._cond:
            return list(self.results)

    def wait_result(self, request_id, timeout=10.0, alive=None):
        """Return the result recorded for ``request_id``."""
        def find():
            for r in self.results:
                if r.request_id == request_id:
                    return r
            return None
        try:
            return self.wait_for(find, timeout, "result for %s" % request_id, alive)
        except WaitTimeout as exc:
            with self._cond:
                got = list(self.results)
                rejected = list(self.rejected)
            raise WaitTimeout("%s; %d result(s), last: %r; rejected: %r"
                              % (exc, len(got), got[-3:], rejected[-3:])) from None

    def wait_idle(self, timeout=10.0, alive=None):
        """Wait until a GET /next is blocked on an empty queue."""
        self.wait_for(lambda: self._waiting_next > 0 and not self._queue, timeout,
                      "the runtime to poll /next on an empty queue", alive)

    def wait_pollers(self, n, timeout=10.0, alive=None):
        """Wait until at least ``n`` GET /next are held open on an empty queue."""
        self.wait_for(lambda: self._waiting_next >= n and not self._queue, timeout,
                      "%d concurrent GET /next on an empty queue" % n, alive)

    def pollers(self):
        with self._cond:
            return self._waiting_next

    def wait_delivered(self, request_id, timeout=10.0, alive=None):
        """Wait until ``request_id`` has been handed out by a GET /next."""
        self.wait_for(lambda: request_id in self.delivered_to, timeout,
                      "invocation %s to be taken" % request_id, alive)

    # -- inspection ------------------------------------------------------------

    def trace_id_of(self, request_id):
        """The Lambda-Runtime-Trace-Id the invocation was sent with (None if none)."""
        with self._cond:
            return self.sent_headers.get(request_id, {}).get("Lambda-Runtime-Trace-Id")

    def results_for(self, request_id):
        with self._cond:
            return [r for r in self.results if r.request_id == request_id]

    def requests_matching(self, method=None, path=None):
        with self._cond:
            return [r for r in self.requests
                    if (method is None or r.method == method)
                    and (path is None or r.path == path)]

    def init_errors(self):
        with self._cond:
            return [r for r in self.results if r.kind == "init_error"]


if __name__ == "__main__":
    # Manual use: run a server and queue the events given on the command line.
    api = RuntimeAPI().start()
    print("AWS_LAMBDA_RUNTIME_API=%s" % api.address, flush=True)
    for arg in sys.argv[1:]:
        api.push(arg)
    try:
        seen = 0
        while True:
            results = api.wait_results(seen + 1, timeout=3600)
            for r in results[seen:]:
                print(r, flush=True)
            seen = len(results)
    except KeyboardInterrupt:
        api.stop()
