"""Tests of moonrun.http, the libcurl client the AWS layer calls AWS with.

Real servers run in this process on 127.0.0.1 (http.server in threads, raw sockets for servers
that misbehave on purpose, TLS with a certificate made here by the openssl CLI), and
`moonrun run` executes a Lua script against them; the script prints its findings as one line of
JSON. What the servers received (methods, paths, headers, body bytes, connections accepted) is
checked on the Python side.

Run from the repository root: python3 -m unittest -v tests/test_http.py
Environment: MOONRUN_BIN (default build/moonrun).
"""

import hashlib
import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from aws_support import free_port  # noqa: E402
from runtime_api import RuntimeAPI  # noqa: E402

ROOT = os.path.dirname(HERE)
MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(ROOT, "build", "moonrun")))
TIMEOUT = 120

PRELUDE = """
local http = require "moonrun.http"
local json = require "moonrun.json"
local digest = require "moonrun.digest"
local time = require "moonrun.time"
local function out(v) io.write(json.encode(v), "\\n") end
local BINARY = {} for i = 0, 255 do BINARY[#BINARY + 1] = string.char(i) end
BINARY = table.concat(BINARY)
"""

BINARY = bytes(range(256))
BIG_REQUEST = BINARY * 20480  # 5 MiB, as the script builds it
BIG_RESPONSE = bytes(reversed(BINARY)) * 20480


def environment(extra=None):
    """The test's environment without proxies (a proxy would take the loopback requests)."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                                "ssl_cert_file", "ssl_cert_dir", "lua_init", "lua_init_5_4")}
    env.update(extra or {})
    return env


def run_lua(code, env=None, args=()):
    """Runs PRELUDE + code with `moonrun run`; returns the CompletedProcess (text)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(PRELUDE + code)
    try:
        return subprocess.run([MOONRUN, "run", script.name, *args], capture_output=True,
                              text=True, errors="replace", env=environment(env), timeout=TIMEOUT)
    finally:
        os.unlink(script.name)


def lua(code, env=None, args=()):
    """Runs the script and returns what its last out(...) printed."""
    p = run_lua(code, env, args)
    if p.returncode != 0:
        raise AssertionError(f"moonrun run failed ({p.returncode}):\n{p.stderr}{p.stdout}")
    return json.loads(p.stdout.splitlines()[-1])


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (aws_support.free_port: below the ephemeral range,
    so no client's connection is handed it meanwhile)."""
    return free_port()


class Seen:
    """One request the recording server received."""

    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def header(self, name):
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None

    def names(self):
        return {k.lower() for k, _ in self.headers}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, list(self.headers.items()), body)
        with self.server.lock:
            self.server.seen.append(seen)
        return seen

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _answer(self):
        seen = self._record()
        path = seen.path
        if path.startswith("/status/"):
            status = int(path.split("/")[2])
            body = json.dumps({"__type": "Oops", "message": "status %d" % status}).encode()
            self._send(status, body, [("Content-Type", "application/x-amz-json-1.0"),
                                      ("x-amzn-RequestId", "req-%d" % status)])
        elif path == "/big":
            self._send(200, BIG_RESPONSE, [("Content-Type", "application/octet-stream")])
        elif path == "/sha":
            self._send(200, hashlib.sha256(seen.body).hexdigest().encode())
        elif path.startswith("/barrier"):
            # Every request waits here until all of them have arrived: they can only all
            # succeed if the client really sent them at the same time.
            try:
                self.server.barrier.wait()
                self._send(200, path.encode())
            except threading.BrokenBarrierError:
                self._send(503, b"not concurrent")
        else:
            self._send(200, b"ok", [("Content-Type", "text/plain"), ("X-Multi", "a"),
                                    ("X-Multi", "b"), ("X-Method", seen.method)])

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls_context=None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.seen = []
        self.connections = 0
        self.barrier = threading.Barrier(10, timeout=10)
        if tls_context:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        pass  # a client that rejects our certificate is what some tests want

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def stop(self):
        self.shutdown()
        self.server_close()


class RawServer:
    """A listening socket that misbehaves: answer(conn) does what it wants with each connection;
    without it, connections wait in the backlog and are never answered."""

    def __init__(self, answer=None, backlog=16):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        if answer:
            def serve():
                while True:
                    try:
                        conn, _ = self.sock.accept()
                    except OSError:
                        return
                    threading.Thread(target=answer, args=(conn,), daemon=True).start()
            threading.Thread(target=serve, daemon=True).start()

    def stop(self):
        self.sock.close()


def read_request_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class TestRequests(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.stop)

    def test_get_defaults(self):
        r = lua(f"""
            local res, err = http.request{{url = "{self.server.url}/plain?x=1&y=2"}}
            out({{status = res.status, body = res.body, headers = res.headers, err = err}})""")
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["body"], "ok")
        self.assertNotIn("err", r)
        [seen] = self.server.seen
        self.assertEqual(seen.method, "GET")
        self.assertEqual(seen.path, "/plain?x=1&y=2")
        self.assertEqual(seen.body, b"")
        self.assertEqual(seen.header("Host"), "127.0.0.1:%d" % self.server.server_address[1])
        self.assertTrue(seen.header("User-Agent").startswith("moonrun/"))
        for unasked in ("accept", "expect", "content-type", "content-length"):
            self.assertNotIn(unasked, seen.names(), "libcurl must not add headers nobody set")

    def test_post_with_headers_and_body(self):
        r = lua(f"""
            local res = http.request{{method = "POST", url = "{self.server.url}/queue",
              headers = {{["Content-Type"] = "application/x-amz-json-1.0",
                         ["X-Amz-Target"] = "AmazonSQS.SendMessage", ["X-Empty"] = ""}},
              body = '{{"QueueUrl":"q","MessageBody":"h\\195\\169"}}'}}
            out({{status = res.status, body = res.body}})""")
        self.assertEqual(r, {"status": 200, "body": "ok"})
        [seen] = self.server.seen
        self.assertEqual(seen.method, "POST")
        self.assertEqual(seen.path, "/queue")
        self.assertEqual(seen.header("Content-Type"), "application/x-amz-json-1.0")
        self.assertEqual(seen.header("X-Amz-Target"), "AmazonSQS.SendMessage")
        self.assertEqual(seen.header("X-Empty"), "", "an empty header value is sent as empty")
        self.assertEqual(seen.body, '{"QueueUrl":"q","MessageBody":"hé"}'.encode())
        self.assertEqual(seen.header("Content-Length"), str(len(seen.body)))
        self.assertNotIn("accept", seen.names())
        self.assertNotIn("expect", seen.names())

    def test_caller_headers_replace_defaults(self):
        lua(f"""
            http.request{{url = "{self.server.url}/", method = "POST", body = "x",
              headers = {{Accept = "application/json", ["User-Agent"] = "aws-sdk-lua/1",
                         Host = "sqs.us-east-1.amazonaws.com"}}}}
            out(true)""")
        [seen] = self.server.seen
        self.assertEqual(seen.header("Accept"), "application/json")
        self.assertEqual(seen.header("User-Agent"), "aws-sdk-lua/1")
        self.assertEqual(seen.header("Host"), "sqs.us-east-1.amazonaws.com")
        self.assertEqual([k.lower() for k, _ in seen.headers].count("user-agent"), 1)

    def test_other_methods(self):
        r = lua(f"""
            local u = "{self.server.url}/m"
            local results = {{}}
            for _, req in ipairs{{{{method = "PUT", body = "put-body"}}, {{method = "DELETE"}},
                                {{method = "PATCH", body = "patch"}}, {{method = "HEAD"}},
                                {{method = "POST"}}}} do
              req.url = u
              local res = assert(http.request(req))
              results[#results + 1] = {{res.status, res.body, res.headers["content-length"]}}
            end
            out(results)""")
        self.assertEqual(r, [[200, "ok", "2"]] * 3 + [[200, "", "2"], [200, "ok", "2"]])
        methods = [(s.method, s.body, s.header("Content-Length")) for s in self.server.seen]
        self.assertEqual(methods, [("PUT", b"put-body", "8"), ("DELETE", b"", None),
                                   ("PATCH", b"patch", "5"), ("HEAD", b"", None),
                                   ("POST", b"", "0")])

    def test_binary_and_large_bodies(self):
        r = lua(f"""
            local small = assert(http.request{{method = "POST", url = "{self.server.url}/sha",
                                               body = BINARY}})
            local big = assert(http.request{{method = "POST", url = "{self.server.url}/sha",
                                             body = string.rep(BINARY, 20480)}})
            local down = assert(http.request{{url = "{self.server.url}/big"}})
            out({{small = small.body, big = big.body, down_len = #down.body,
                 down_sha = digest.sha256_hex(down.body),
                 type = down.headers["content-type"]}})""")
        self.assertEqual(r["small"], hashlib.sha256(BINARY).hexdigest())
        self.assertEqual(r["big"], hashlib.sha256(BIG_REQUEST).hexdigest())
        self.assertEqual(r["down_len"], len(BIG_RESPONSE))
        self.assertEqual(r["down_sha"], hashlib.sha256(BIG_RESPONSE).hexdigest())
        self.assertEqual(r["type"], "application/octet-stream")
        big = self.server.seen[1]
        self.assertEqual(len(big.body), 5 * 1024 * 1024)
        self.assertNotIn("expect", big.names(), "no Expect: 100-continue on a large body")

    def test_status_and_headers_pass_through(self):
        r = lua(f"""
            local all = {{}}
            for _, status in ipairs{{200, 400, 500}} do
              local res, err = http.request{{url = "{self.server.url}/status/" .. status}}
              all[#all + 1] = {{status = res.status, headers = res.headers,
                               body = json.decode(res.body), err = err}}
            end
            local plain = http.request{{url = "{self.server.url}/"}}
            out({{all = all, plain = plain.headers}})""")
        for entry, status in zip(r["all"], (200, 400, 500)):
            self.assertEqual(entry["status"], status)
            self.assertNotIn("err", entry, "an HTTP error status is a response, not an error")
            self.assertEqual(entry["body"], {"__type": "Oops", "message": "status %d" % status})
            self.assertEqual(entry["headers"]["x-amzn-requestid"], "req-%d" % status)
            self.assertEqual(entry["headers"]["content-type"], "application/x-amz-json-1.0")
        plain = r["plain"]
        self.assertEqual(plain["x-multi"], "a, b", "repeated headers are joined with ', '")
        self.assertEqual(plain["x-method"], "GET")
        self.assertEqual(plain["content-length"], "2")
        self.assertTrue(all(name == name.lower() for name in plain))


class TestConnections(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.stop)

    def test_sequential_requests_reuse_one_connection(self):
        r = lua(f"""
            local statuses = {{}}
            for i = 1, 25 do
              local res = assert(http.request{{method = i % 2 == 0 and "POST" or "GET",
                url = "{self.server.url}/n" .. i, body = i % 2 == 0 and ("body " .. i) or nil}})
              statuses[#statuses + 1] = res.status
            end
            local again = http.request_many{{{{url = "{self.server.url}/many"}}}}
            statuses[#statuses + 1] = again[1].status
            out(statuses)""")
        self.assertEqual(r, [200] * 26)
        self.assertEqual(len(self.server.seen), 26)
        self.assertEqual(self.server.connections, 1, "keep-alive: one TCP connection for all")

    def test_warm_invocations_reuse_the_connection(self):
        with RuntimeAPI() as api:
            env = environment({"AWS_LAMBDA_RUNTIME_API": api.address, "_HANDLER": "fetch.handler",
                               "LAMBDA_TASK_ROOT": os.path.join(HERE, "http")})
            proc = subprocess.Popen([MOONRUN], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            try:
                ids = [api.push({"url": self.server.url + "/inv%d" % i, "body": "b%d" % i})
                       for i in range(5)]
                api.wait_results(len(ids), timeout=60, alive=lambda: proc.poll() is None)
            finally:
                proc.send_signal(signal.SIGTERM)
                _, stderr = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, stderr)
            answers = [api.results_for(i)[0] for i in ids]
            self.assertEqual([a.kind for a in answers], ["response"] * 5)
            self.assertEqual(answers[0].json(), {"status": 200, "body": "ok"})
        self.assertEqual([s.path for s in self.server.seen], ["/inv%d" % i for i in range(5)])
        self.assertEqual(self.server.connections, 1,
                         "the connection survives from one invocation to the next")

    def test_request_many_runs_concurrently_in_order(self):
        refused = closed_port()
        r = lua(f"""
            local reqs = {{}}
            for i = 1, 10 do reqs[#reqs + 1] = {{url = "{self.server.url}/barrier?i=" .. i}} end
            table.insert(reqs, 4, {{url = "http://127.0.0.1:{refused}/nothing"}})
            local t0 = time.monotonic()
            local results = http.request_many(reqs)
            local elapsed = time.monotonic() - t0
            local shown = {{}}
            for i, r in ipairs(results) do
              shown[i] = r.error and {{error = r.error}} or {{status = r.status, body = r.body}}
            end
            out({{results = shown, n = #results, elapsed = elapsed,
                 empty = #http.request_many{{}}}})""")
        self.assertEqual(r["n"], 11)
        self.assertEqual(r["empty"], 0)
        results = r["results"]
        failed = results.pop(3)
        self.assertEqual(failed["error"]["kind"], "connect")
        self.assertEqual(failed["error"]["curl_code"], 7)
        self.assertIn("127.0.0.1:%d" % refused, failed["error"]["message"])
        self.assertEqual(results, [{"status": 200, "body": "/barrier?i=%d" % i}
                                   for i in range(1, 11)],
                         "all ten were held by the server at once, and come back in order")
        self.assertLess(r["elapsed"], 8)
        self.assertGreaterEqual(self.server.connections, 10)


class TestFailures(unittest.TestCase):
    def failure(self, url, **fields):
        extra = "".join(f", {k} = {v}" for k, v in fields.items())
        return lua(f"""
            local t0 = time.monotonic()
            local res, err = http.request{{url = "{url}"{extra}}}
            out({{res = res, err = err, elapsed = time.monotonic() - t0}})""")

    def test_connection_refused(self):
        port = closed_port()
        r = self.failure(f"http://127.0.0.1:{port}/")
        self.assertNotIn("res", r)
        self.assertEqual(r["err"], {"kind": "connect", "curl_code": 7, "sent": False, "message":
                                    f"cannot connect to 127.0.0.1:{port}: Connection refused"})

    def test_dns_failure(self):
        r = self.failure("http://no-such-host.invalid:8080/x")
        self.assertEqual(r["err"]["kind"], "dns")
        self.assertEqual(r["err"]["curl_code"], 6)
        self.assertIn("no-such-host.invalid:8080", r["err"]["message"])

    def test_timeout(self):
        silent = RawServer()  # accepts into its backlog, never answers
        self.addCleanup(silent.stop)
        r = self.failure(f"http://127.0.0.1:{silent.port}/", timeout=0.5)
        self.assertEqual(r["err"]["kind"], "timeout")
        self.assertEqual(r["err"]["curl_code"], 28)
        self.assertIn(f"127.0.0.1:{silent.port}", r["err"]["message"])
        self.assertIn("timed out", r["err"]["message"])
        self.assertIs(r["err"]["sent"], True, "connected and sent: the outcome is unknown")
        self.assertGreaterEqual(r["elapsed"], 0.45)
        self.assertLess(r["elapsed"], 2.0, "returns within the timeout and a margin")

    def test_connect_timeout(self):
        # A listen queue that is full: the kernel drops the SYN, so the connection never
        # completes and only connect_timeout ends the wait.
        full = RawServer(backlog=0)
        self.addCleanup(full.stop)
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", full.port))
            fillers.append(s)
        time.sleep(0.2)
        self.addCleanup(lambda: [s.close() for s in fillers])
        r = self.failure(f"http://127.0.0.1:{full.port}/", connect_timeout=0.4, timeout=20)
        self.assertEqual(r["err"]["kind"], "timeout", r)
        self.assertIs(r["err"]["sent"], False, "never connected: surely not sent")
        self.assertLess(r["elapsed"], 3.0)

    def test_truncated_body(self):
        def short(conn):
            read_request_head(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
            conn.close()
        server = RawServer(short)
        self.addCleanup(server.stop)
        r = self.failure(f"http://127.0.0.1:{server.port}/")
        self.assertNotIn("res", r)
        self.assertEqual(r["err"]["kind"], "receive")
        self.assertEqual(r["err"]["curl_code"], 18)
        self.assertIn("cut short", r["err"]["message"])

    def test_closed_without_answer(self):
        def hang_up(conn):
            read_request_head(conn)
            conn.close()
        server = RawServer(hang_up)
        self.addCleanup(server.stop)
        r = self.failure(f"http://127.0.0.1:{server.port}/")
        self.assertEqual(r["err"]["kind"], "receive")
        self.assertEqual(r["err"]["curl_code"], 52)

    def test_without_libcurl(self):
        with tempfile.TemporaryDirectory() as lib:
            open(os.path.join(lib, "libcurl.so.4"), "w").close()  # not a library
            p = run_lua('print(pcall(http.request, {url = "http://127.0.0.1:1/"}))',
                        env={"LD_LIBRARY_PATH": lib})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("false\thttp: moonrun needs libcurl.so.4 for HTTP requests: ", p.stdout)


class TestTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.cert = cls.make_cert("server", "DNS:localhost,IP:127.0.0.1")
        cls.other = cls.make_cert("other", "DNS:other.example")
        cls.cert_dir = os.path.join(cls.dir.name, "certs")
        os.mkdir(cls.cert_dir)
        with open(cls.cert[0], "rb") as src, open(os.path.join(cls.cert_dir, "s.pem"), "wb") as dst:
            dst.write(src.read())
        subprocess.run(["openssl", "rehash", cls.cert_dir], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    @classmethod
    def make_cert(cls, name, san):
        cert = os.path.join(cls.dir.name, name + ".pem")
        key = os.path.join(cls.dir.name, name + ".key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=" + name,
                        "-addext", "subjectAltName=" + san], check=True, capture_output=True)
        return cert, key

    def serve(self, cert):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*cert)
        server = Server(context)
        self.addCleanup(server.stop)
        return "https://127.0.0.1:%d" % server.server_address[1], server

    def fetch(self, url, env=None):
        return lua(f"""
            local res, err = http.request{{url = "{url}/secure"}}
            out({{status = res and res.status, body = res and res.body, err = err}})""", env)

    def test_self_signed_certificate_is_refused(self):
        url, server = self.serve(self.cert)
        r = self.fetch(url)
        self.assertNotIn("status", r)
        self.assertEqual(r["err"]["kind"], "tls")
        self.assertEqual(r["err"]["curl_code"], 60)
        self.assertIn("certificate of " + url[len("https://"):] + " could not be verified",
                      r["err"]["message"])
        self.assertEqual(server.seen, [])

    def test_ssl_cert_file_trusts_it(self):
        url, server = self.serve(self.cert)
        r = self.fetch(url, {"SSL_CERT_FILE": self.cert[0]})
        self.assertEqual(r, {"status": 200, "body": "ok"})
        self.assertEqual([s.path for s in server.seen], ["/secure"])

    def test_ssl_cert_dir_trusts_it(self):
        url, _ = self.serve(self.cert)
        r = self.fetch(url, {"SSL_CERT_DIR": self.cert_dir})
        self.assertEqual(r, {"status": 200, "body": "ok"})

    def test_host_name_is_verified(self):
        url, _ = self.serve(self.other)  # trusted, but issued for other.example
        r = self.fetch(url, {"SSL_CERT_FILE": self.other[0]})
        self.assertEqual(r["err"]["kind"], "tls")
        self.assertIn("could not be verified", r["err"]["message"])

    def test_tls_keep_alive(self):
        url, server = self.serve(self.cert)
        r = lua(f"""
            local n = 0
            for i = 1, 5 do n = n + assert(http.request{{url = "{url}/k"}}).status end
            out(n)""", {"SSL_CERT_FILE": self.cert[0]})
        self.assertEqual(r, 1000)
        self.assertEqual(server.connections, 1)


class TestArguments(unittest.TestCase):
    CASES = [
        ('{url = "ftp://x"}', "http: 'url' must be an http or https URL, got 'ftp://x'"),
        ("{}", "http: 'url' is required (an http or https URL)"),
        ("{url = 42}", "http: 'url' must be an http or https URL, got 42"),
        ('{url = "http://"}', "http: 'url' must be an http or https URL, got 'http://'"),
        ('{url = "http://a b/"}', "http: 'url' must not contain spaces or control characters"),
        ('{url = "http://x/", headers = {X = 1}}', "http: header 'X' must be a string, got number"),
        ('{url = "http://x/", headers = {["Bad Name"] = "v"}}',
         "http: header name 'Bad Name' is not a valid HTTP header name"),
        ('{url = "http://x/", headers = {X = "a\\r\\nInjected: 1"}}',
         "http: header 'X' must not contain line breaks"),
        ('{url = "http://x/", headers = {"v"}}', "http: 'headers' must map names to strings"),
        ('{url = "http://x/", headers = "X: 1"}', "http: 'headers' must be a table"),
        ('{url = "http://x/", body = {}}', "http: 'body' must be a string, got table"),
        ('{url = "http://x/", method = "G T"}', "http: 'method' must be an HTTP method"),
        ('{url = "http://x/", timeout = 0}', "http: 'timeout' must be a number of seconds above 0"),
        ('{url = "http://x/", timeout = "5"}', "http: 'timeout' must be a number of seconds"),
        ('{url = "http://x/", connect_timeout = -1}', "http: 'connect_timeout' must be a number"),
        ('{url = "http://x/", verify = false}', "http: unknown field 'verify' in the request"),
    ]

    def test_bad_arguments_raise(self):
        calls = ",\n".join(f"function() return http.request{c} end" for c, _ in self.CASES)
        r = lua(f"""
            local messages = {{}}
            for i, f in ipairs{{{calls}}} do
              local ok, message = pcall(f)
              messages[i] = ok and "no error" or message
            end
            out(messages)""")
        for (case, expected), message in zip(self.CASES, r):
            self.assertTrue(message.startswith(expected), f"{case}: {message!r}")

    def test_bad_request_many_arguments(self):
        r = lua("""
            local _, a = pcall(http.request_many, {{url = "http://x/"}, "nope"})
            local _, b = pcall(http.request_many, {{url = "http://x/"}, {url = "file:///etc"}})
            local _, c = pcall(http.request, "http://x/")
            out({a, b, c})""")
        self.assertEqual(r[0], "http: request_many's request 2 must be a table, got string")
        self.assertEqual(r[1], "http: request 2: 'url' must be an http or https URL, got "
                               "'file:///etc'")
        self.assertIn("table expected", r[2])

    def test_client_works_after_a_bad_call(self):
        server = Server()
        self.addCleanup(server.stop)
        r = lua(f"""
            pcall(http.request_many, {{{{url = "{server.url}/a"}}, {{url = 1}}}})
            local res = assert(http.request{{url = "{server.url}/b"}})
            out({{res.status, res.body}})""")
        self.assertEqual(r, [200, "ok"])
        self.assertEqual([s.path for s in server.seen], ["/b"])


if __name__ == "__main__":
    unittest.main()
