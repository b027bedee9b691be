"""Tests of moonrun's C modules (moonrun.uuid, moonrun.time, moonrun.digest) and of
`moonrun event`.

The modules are exercised through `moonrun invoke` with the fixture handlers in tests/modules/
(LAMBDA_TASK_ROOT points there): probe.lua runs the Lua chunk it is sent and returns the result,
so one process checks many calls. Python's uuid, time, hashlib, hmac and base64 are the
reference.

Run from the repository root: python3 -m unittest -v tests/test_modules.py
Environment: MOONRUN_BIN (default build/moonrun).
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import pty
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MOONRUN = os.environ.get("MOONRUN_BIN", os.path.join(ROOT, "build", "moonrun"))
FIXTURES = os.path.join(HERE, "modules")

sys.path.insert(0, HERE)
from preload_fixtures import preload_env  # noqa: E402

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CLF_TIME_RE = r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$"


def environment(**extra):
    env = dict(os.environ, LAMBDA_TASK_ROOT=FIXTURES)
    env.pop("AWS_REGION", None)
    env.update(extra)
    return env


def run(args, stdin=None, **env):
    return subprocess.run([MOONRUN, *args], input=stdin, capture_output=True, timeout=120,
                          env=environment(**env))


def probe(code, **env):
    """Runs the Lua chunk code in the probe handler; returns its result, or raises with the
    error it raised."""
    p = run(["invoke", "probe.handler", "--event", "-"], json.dumps({"code": code}).encode(), **env)
    if p.returncode != 0:
        raise AssertionError(f"invoke failed ({p.returncode}): {p.stderr.decode()}{p.stdout.decode()}")
    answer = json.loads(p.stdout.decode().splitlines()[-1])
    if "error" in answer:
        raise AssertionError("the chunk raised: " + answer["error"])
    return answer.get("result")


def probe_error(code, **env):
    """The message of the error the chunk raises."""
    p = run(["invoke", "probe.handler", "--event", "-"], json.dumps({"code": code}).encode(), **env)
    answer = json.loads(p.stdout.decode().splitlines()[-1])
    if "error" not in answer:
        raise AssertionError(f"no error; the chunk returned {answer!r}")
    return answer["error"]


def lua_string(data: bytes) -> str:
    """A Lua expression for any bytes (the event itself must be UTF-8 JSON)."""
    if not data:
        return '""'
    if len(data) > 200 and len(set(data)) == 1:
        return f"string.rep(string.char({data[0]}), {len(data)})"
    parts = [f"string.char({','.join(str(b) for b in data[i:i + 200])})" for i in range(0, len(data), 200)]
    return "(" + " .. ".join(parts) + ")"


def frozen_clock_env(ms):
    """Environment that stops moonrun's wall clock at ms (tests/modules/frozen_clock.c)."""
    return preload_env("frozen_clock", FROZEN_CLOCK_MS=str(ms))


class TestUuid(unittest.TestCase):
    def test_v4_format_version_variant_and_uniqueness(self):
        ids = probe("local t = {} for i = 1, 10000 do t[i] = uuid.v4() end return t")
        self.assertEqual(len(ids), 10000)
        self.assertEqual(len(set(ids)), 10000)
        for text in ids:
            self.assertRegex(text, UUID_RE)
            parsed = uuid.UUID(text)
            self.assertEqual(parsed.version, 4, text)
            self.assertEqual(parsed.variant, uuid.RFC_4122, text)
            self.assertEqual(str(parsed), text)  # lowercase canonical form

    def test_v4_bits_look_random(self):
        # 122 random bits per id: over 2,000 ids each free bit is set about half the time.
        ids = probe("local t = {} for i = 1, 2000 do t[i] = uuid.v4() end return t")
        values = [uuid.UUID(text).int for text in ids]
        fixed = {127 - 48, 127 - 49, 127 - 50, 127 - 51, 127 - 64, 127 - 65}  # version, variant bits
        for bit in range(128):
            if bit in fixed:
                continue
            ones = sum(v >> bit & 1 for v in values)
            self.assertTrue(800 < ones < 1200, f"bit {bit} set {ones} times out of 2000")

    def test_v7_format_time_and_strict_order(self):
        before = int(time.time() * 1000)
        ids = probe("local t = {} for i = 1, 10000 do t[i] = uuid.v7() end return t")
        after = int(time.time() * 1000)
        self.assertEqual(len(ids), 10000)
        for earlier, later in zip(ids, ids[1:]):
            self.assertLess(earlier, later, "v7 ids made one after another must sort in that order")
        for text in ids:
            self.assertRegex(text, UUID_RE)
            parsed = uuid.UUID(text)
            self.assertEqual(parsed.version, 7, text)
            self.assertEqual(parsed.variant, uuid.RFC_4122, text)
            stamp = parsed.int >> 80
            self.assertGreaterEqual(stamp, before - 1)
            self.assertLessEqual(stamp, after + 1000, "within a second of now")
        self.assertLess(abs((uuid.UUID(ids[0]).int >> 80) - before), 1000)

    def test_v7_order_holds_when_the_counter_runs_out(self):
        # 100,000 ids in a tight loop: well over 4,096 per millisecond on a fast machine, so the
        # 12-bit counter overflows and the timestamp is carried forward.
        result = probe("""
            local previous, count, stamps = uuid.v7(), 0, {}
            for i = 1, 100000 do
              local id = uuid.v7()
              if id <= previous then return {bad = previous .. ' then ' .. id} end
              previous = id
            end
            return {last = previous, now = time.now_ms()}""")
        self.assertNotIn("bad", result)
        stamp = uuid.UUID(result["last"]).int >> 80
        self.assertLessEqual(stamp, result["now"] + 1000, "the timestamp runs ahead of the clock by little")

    def test_v7_counter_overflow_carries_the_timestamp(self):
        # With the clock stopped, every id falls in one millisecond: the 12-bit counter (seeded
        # below 2048 each millisecond) runs out every 2048 to 4096 ids and the timestamp moves on.
        frozen = 1717243200123
        env = frozen_clock_env(frozen)
        ids = probe("local t = {} for i = 1, 20000 do t[i] = uuid.v7() end return t", **env)
        stamps = [uuid.UUID(text).int >> 80 for text in ids]
        counters = [uuid.UUID(text).int >> 64 & 0xFFF for text in ids]
        for earlier, later in zip(ids, ids[1:]):
            self.assertLess(earlier, later)
        self.assertEqual(stamps[0], frozen)
        self.assertLess(counters[0], 0x800, "a new millisecond's counter starts below 2048")
        self.assertGreaterEqual(stamps[-1], frozen + 20000 // 4096)
        self.assertLessEqual(stamps[-1], frozen + 20000 // 2048)
        for ms in set(stamps):
            self.assertGreaterEqual(stamps.count(ms), 2048 - 1 if ms != stamps[-1] else 1)
        self.assertEqual(probe("return time.now_ms()", **env), frozen)
        self.assertEqual(probe("return time.format()", **env), "2024-06-01 12:00:00.123000")

    def test_is_valid(self):
        self.assertEqual(probe("""return {uuid.is_valid(uuid.v4()), uuid.is_valid(uuid.v7()),
            uuid.is_valid('6BA7B810-9DAD-11D1-80B4-00C04FD430C8'), uuid.is_valid('not a uuid'),
            uuid.is_valid('6ba7b810-9dad-11d1-80b4-00c04fd430c'), uuid.is_valid('6ba7b8109dad-11d1-80b4-00c04fd430c8a'),
            uuid.is_valid('6ba7b810-9dad-11d1-80b4-00c04fd430cg'), uuid.is_valid(42), uuid.is_valid()}"""),
            [True, True, True, False, False, False, False, False, False])


class TestTime(unittest.TestCase):
    def test_now(self):
        result = probe("return {now = time.now(), kind = math.type(time.now())}")
        self.assertEqual(result["kind"], "float")
        self.assertLess(abs(result["now"] - time.time()), 1.0)
        micros = result["now"] * 1e6
        self.assertLess(abs(micros - round(micros)), 0.5, "microsecond resolution, no finer")

    def test_now_ms(self):
        result = probe("return {ms = time.now_ms(), kind = math.type(time.now_ms())}")
        self.assertEqual(result["kind"], "integer")
        self.assertIsInstance(result["ms"], int)
        self.assertLess(abs(result["ms"] - time.time() * 1000), 1000)

    def test_monotonic_never_goes_back(self):
        result = probe("""
            local last = time.monotonic()
            for i = 1, 10000 do
              local t = time.monotonic()
              if t < last then return {back = true} end
              last = t
            end
            return {kind = math.type(last), back = false}""")
        self.assertEqual(result, {"kind": "float", "back": False})

    def test_format(self):
        self.assertEqual(probe("""return {
            time.format(1717243200.123456),
            time.format(1717243200.5, '%H:%M:%S.%f'),
            time.format(0, '100%% at %Y'),
            time.format(1717243200.9999996),
            time.format(-0.5),
            time.format(1717243200, '%d/%b/%Y:%H:%M:%S +0000'),
            time.format(1717243200, '%f|%-d|%j|%A'),
            time.format(1717243200, ''),
        }"""), ["2024-06-01 12:00:00.123456", "12:00:00.500000", "100% at 1970",
                "2024-06-01 12:00:01.000000", "1969-12-31 23:59:59.500000",
                "01/Jun/2024:12:00:00 +0000", "000000|1|153|Saturday", ""])

    def test_format_defaults_to_now(self):
        shown = probe("return time.format()")
        self.assertRegex(shown, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
        parsed = datetime.datetime.strptime(shown, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        self.assertLess(abs(parsed.timestamp() - time.time()), 2)
        self.assertRegex(probe("return time.format(nil, '%f')"), r"^\d{6}$")

    def test_format_is_utc_unless_local_is_asked(self):
        result = probe("return {time.format(0, '%H:%M'), time.format(0, '%H:%M', true), time.format(0, '%H:%M', false)}",
                       TZ="JST-9")
        self.assertEqual(result, ["00:00", "09:00", "00:00"])

    def test_long_format(self):
        self.assertEqual(probe("return #time.format(0, string.rep('%Y-%m-%d ', 5000))"), 11 * 5000)

    def test_iso8601(self):
        fixed, now, rounded = probe("return {time.iso8601(1717243200.123456), time.iso8601(), time.iso8601(1717243200.9999)}")
        self.assertEqual(fixed, "2024-06-01T12:00:00.123Z")
        self.assertEqual(rounded, "2024-06-01T12:00:00.999Z")
        self.assertRegex(now, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        parsed = datetime.datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        self.assertLess(abs(parsed.timestamp() - time.time()), 2)

    def test_sleep(self):
        started = time.monotonic()
        elapsed = probe("local t = time.monotonic(); time.sleep(0.05); return time.monotonic() - t")
        self.assertGreaterEqual(elapsed, 0.05)
        self.assertLess(elapsed, 1.0)
        self.assertGreaterEqual(time.monotonic() - started, 0.05)
        self.assertEqual(probe("time.sleep(0); time.sleep(0.0001); return 'ok'"), "ok")

    def test_argument_errors_name_the_argument(self):
        cases = {
            "time.format('x')": "bad argument #1 to 'format' (number expected, got string)",
            "time.format(0/0)": "bad argument #1 to 'format' (not a time (seconds since the epoch))",
            "time.format(1e300)": "bad argument #1 to 'format' (not a time",
            "time.format(0, {})": "bad argument #2 to 'format' (string expected, got table)",
            "time.format(0, '%Q')": "bad argument #2 to 'format' (unknown conversion '%Q' in the pattern",
            "time.format(0, 'ends in %')": "bad argument #2 to 'format' (unknown conversion",
            "time.iso8601('soon')": "bad argument #1 to 'iso8601' (number expected, got string)",
            "time.iso8601(1/0)": "bad argument #1 to 'iso8601' (not a time",
            "time.sleep()": "bad argument #1 to 'sleep' (number expected, got no value)",
            "time.sleep(-1)": "bad argument #1 to 'sleep' (seconds must be a number from 0 to 1e9)",
            "time.sleep(0/0)": "bad argument #1 to 'sleep' (seconds must be a number from 0 to 1e9)",
        }
        code = "local out = {} " + " ".join(
            f"out[#out + 1] = select(2, pcall(function() {call} end))" for call in cases) + " return out"
        for (call, expected), message in zip(cases.items(), probe(code)):
            self.assertIn(expected, message, call)


class TestDigest(unittest.TestCase):
    SAMPLES = [b"", b"a", b"abc", b"hello world", "héllo ✓".encode(), bytes(range(256)), b"x" * 100000]

    def test_md5_and_sha256_against_hashlib(self):
        exprs = [lua_string(s) for s in self.SAMPLES]
        code = "local out = {} " + " ".join(
            f"local s = {e}; out[#out + 1] = {{digest.md5_hex(s), digest.sha256_hex(s),"
            f" (digest.md5(s):gsub('.', function(c) return string.format('%02x', c:byte()) end)),"
            f" #digest.md5(s), #digest.sha256(s)}}" for e in exprs) + " return out"
        for sample, (md5_hex, sha256_hex, md5_raw_hex, md5_len, sha_len) in zip(self.SAMPLES, probe(code)):
            self.assertEqual(md5_hex, hashlib.md5(sample).hexdigest())
            self.assertEqual(sha256_hex, hashlib.sha256(sample).hexdigest())
            self.assertEqual(md5_raw_hex, md5_hex)
            self.assertEqual((md5_len, sha_len), (16, 32))

    def test_hmac_sha256_against_hmac(self):
        pairs = [(b"key", b"The quick brown fox jumps over the lazy dog"), (b"", b""), (b"k" * 100, b"data"),
                 (bytes(range(64)), bytes(range(256))), ("clé".encode(), "données".encode())]
        code = "local out = {} " + " ".join(
            f"local k, d = {lua_string(k)}, {lua_string(d)}; out[#out + 1] = {{digest.hmac_sha256_hex(k, d),"
            f" (digest.hmac_sha256(k, d):gsub('.', function(c) return string.format('%02x', c:byte()) end))}}"
            for k, d in pairs) + " return out"
        for (key, data), (hex_text, raw_as_hex) in zip(pairs, probe(code)):
            expected = hmac.new(key, data, hashlib.sha256).hexdigest()
            self.assertEqual(hex_text, expected)
            self.assertEqual(raw_as_hex, expected)

    def test_first_use_in_a_fresh_process(self):
        # each function must load libcrypto itself, whatever was (not) used before it
        self.assertEqual(probe("return digest.md5_hex('abc')"), hashlib.md5(b"abc").hexdigest())
        self.assertEqual(probe("return digest.sha256_hex('abc')"), hashlib.sha256(b"abc").hexdigest())
        self.assertEqual(probe("return digest.hmac_sha256_hex('k', 'abc')"),
                         hmac.new(b"k", b"abc", hashlib.sha256).hexdigest())
        self.assertRegex(probe("return uuid.v7()"), UUID_RE)

    def test_argument_errors(self):
        cases = {
            "digest.md5_hex()": "bad argument #1 to 'md5_hex' (string expected, got no value)",
            "digest.sha256_hex({})": "bad argument #1 to 'sha256_hex' (string expected, got table)",
            "digest.hmac_sha256('key')": "bad argument #2 to 'hmac_sha256' (string expected, got no value)",
            "digest.hmac_sha256_hex(nil, 'x')": "bad argument #1 to 'hmac_sha256_hex' (string expected, got nil)",
        }
        code = "local out = {} " + " ".join(
            f"out[#out + 1] = select(2, pcall(function() {call} end))" for call in cases) + " return out"
        for (call, expected), message in zip(cases.items(), probe(code)):
            self.assertIn(expected, message, call)

    def test_numbers_are_digested_as_their_text(self):
        self.assertEqual(probe("return digest.md5_hex(42)"), hashlib.md5(b"42").hexdigest())

    def test_missing_libcrypto_is_named(self):
        with tempfile.TemporaryDirectory() as libdir:
            with open(os.path.join(libdir, "libcrypto.so.3"), "w") as f:
                f.write("not a library")  # found first on LD_LIBRARY_PATH, cannot be loaded
            for call, purpose in (("digest.md5_hex('x')", "MD5"), ("uuid.v4()", "random bytes"),
                                  ("digest.hmac_sha256('k', 'x')", "HMAC-SHA256")):
                message = probe_error(f"return {call}", LD_LIBRARY_PATH=libdir)
                self.assertIn(f"moonrun needs libcrypto.so.3 (OpenSSL 3) for {purpose}: ", message)
                self.assertIn(libdir, message, "dlerror's reason is included")
            p = run(["event", "sqs"], LD_LIBRARY_PATH=libdir)
            self.assertEqual(p.returncode, 1)
            self.assertIn("moonrun needs libcrypto.so.3 (OpenSSL 3)", p.stderr.decode())

    def test_libcrypto_loads_on_first_use_only(self):
        result = probe("""
            local function loaded()
              local maps = assert(io.open('/proc/self/maps')):read('a')
              return maps:find('libcrypto', 1, true) ~= nil
            end
            local before = loaded()
            time.now(); json.encode({uuid = 'no'})
            local still = loaded()
            digest.md5_hex('x')
            return {before, still, loaded()}""")
        self.assertEqual(result, [False, False, True])

    def test_libcrypto_is_not_linked(self):
        p = subprocess.run(["ldd", MOONRUN], capture_output=True, text=True)
        if p.returncode == 0:
            self.assertNotIn("libcrypto", p.stdout)


class EventCase(unittest.TestCase):
    def event(self, *args, **env):
        p = run(["event", *args], **env)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        text = p.stdout.decode()
        self.assertEqual(text.count("\n"), 1, "one line when stdout is not a terminal")
        return json.loads(text), text

    def usage_error(self, *args):
        p = run(["event", *args])
        self.assertEqual(p.returncode, 2, p.stdout.decode())
        self.assertEqual(p.stdout, b"")
        return p.stderr.decode()

    def assert_recent_ms(self, ms):
        self.assertIsInstance(ms, int)
        self.assertLess(abs(ms - time.time() * 1000), 5000)


class TestSqsEvent(EventCase):
    RECORD_KEYS = {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                   "eventSource", "eventSourceARN", "awsRegion"}

    def test_default(self):
        event, text = self.event("sqs")
        self.assertEqual(list(event), ["Records"])
        self.assertEqual(len(event["Records"]), 1)
        record = event["Records"][0]
        self.assertEqual(set(record), self.RECORD_KEYS)
        self.assertEqual(record["body"], "Hello from SQS!")
        self.assertEqual(uuid.UUID(record["messageId"]).version, 4)
        self.assertTrue(record["receiptHandle"].startswith("AQEB"))
        base64.b64decode(record["receiptHandle"], validate=True)
        self.assertEqual(record["messageAttributes"], {})
        self.assertIn('"messageAttributes":{}', text)
        self.assertEqual(record["md5OfBody"], hashlib.md5(b"Hello from SQS!").hexdigest())
        self.assertEqual(record["eventSource"], "aws:sqs")
        self.assertEqual(record["eventSourceARN"], "arn:aws:sqs:us-east-1:123456789012:my-queue")
        self.assertEqual(record["awsRegion"], "us-east-1")
        attributes = record["attributes"]
        self.assertEqual(set(attributes), {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                           "ApproximateFirstReceiveTimestamp"})
        self.assertEqual(attributes["ApproximateReceiveCount"], "1")
        self.assertRegex(attributes["SenderId"], r"^AIDA[A-Z0-9]{17}$")
        for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
            self.assertIsInstance(attributes[name], str)
            self.assert_recent_ms(int(attributes[name]))
        self.assertGreaterEqual(int(attributes["ApproximateFirstReceiveTimestamp"]), int(attributes["SentTimestamp"]))
        self.assertTrue(text.startswith('{"Records":[{"messageId":'), "fields in AWS's order")

    def test_bodies_make_one_record_each(self):
        bodies = ["first", "héllo ✓ 日本", '{"json": [1, 2]}', ""]
        args = [a for body in bodies for a in ("--body", body)]
        event, _ = self.event("sqs", *args)
        records = event["Records"]
        self.assertEqual([r["body"] for r in records], bodies)
        for record in records:
            self.assertEqual(record["md5OfBody"], hashlib.md5(record["body"].encode()).hexdigest())
        self.assertEqual(len({r["messageId"] for r in records}), len(bodies))
        self.assertEqual(len({r["receiptHandle"] for r in records}), len(bodies))

    def test_count(self):
        event, _ = self.event("sqs", "--count", "5")
        self.assertEqual(len(event["Records"]), 5)
        self.assertEqual({r["body"] for r in event["Records"]}, {"Hello from SQS!"})
        event, _ = self.event("sqs", "--count", "3", "--body", "a", "--body", "b")
        self.assertEqual([r["body"] for r in event["Records"]], ["a", "b", "a"])

    def test_queue_and_region(self):
        event, _ = self.event("sqs", "--queue", "orders", "--region", "eu-west-3")
        record = event["Records"][0]
        self.assertEqual(record["eventSourceARN"], "arn:aws:sqs:eu-west-3:123456789012:orders")
        self.assertEqual(record["awsRegion"], "eu-west-3")
        event, _ = self.event("sqs", AWS_REGION="ap-south-1")
        self.assertEqual(event["Records"][0]["awsRegion"], "ap-south-1")
        event, _ = self.event("sqs", "--region", "us-west-2", AWS_REGION="ap-south-1")
        self.assertEqual(event["Records"][0]["awsRegion"], "us-west-2")

    def test_example_consumer_reports_partial_failures(self):
        made = run(["event", "sqs", "--body", '{"ok": 1}', "--body", "not json"])
        records = json.loads(made.stdout)["Records"]
        p = run(["invoke", "handlers/consume.handler", "--event", "-"], made.stdout, LAMBDA_TASK_ROOT=ROOT)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(json.loads(p.stdout.decode().splitlines()[-1]),
                         {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]})

    def test_piped_into_invoke(self):
        made = run(["event", "sqs", "--body", "x"])
        self.assertEqual(made.returncode, 0)
        p = run(["invoke", "sqs_consumer.handler", "--event", "-"], made.stdout)
        self.assertEqual(p.returncode, 0, p.stderr.decode() + p.stdout.decode())
        answer = json.loads(p.stdout.decode().splitlines()[-1])
        self.assertEqual(answer["count"], 1)
        self.assertEqual(answer["bodies"], ["x"])
        # and through a real shell pipe, as a user types it
        shell = subprocess.run(f"'{MOONRUN}' event sqs --body x --body y | '{MOONRUN}' invoke sqs_consumer.handler --event -",
                               shell=True, capture_output=True, timeout=60, env=environment())
        self.assertEqual(shell.returncode, 0, shell.stderr.decode())
        self.assertEqual(json.loads(shell.stdout.decode().splitlines()[-1])["bodies"], ["x", "y"])

    def test_usage_errors(self):
        self.assertIn("--count wants a whole number from 1 to 10000, not 'many'", self.usage_error("sqs", "--count", "many"))
        self.assertIn("--count wants a whole number", self.usage_error("sqs", "--count", "0"))
        self.assertIn("--count wants a whole number", self.usage_error("sqs", "--count", "1.5"))
        self.assertIn("--count is given twice", self.usage_error("sqs", "--count", "1", "--count", "2"))
        self.assertIn("--body needs a value", self.usage_error("sqs", "--body"))
        self.assertIn("event sqs: unknown option '--method'", self.usage_error("sqs", "--method", "GET"))
        self.assertIn("unknown option 'extra'", self.usage_error("sqs", "extra"))


class TestHttpApiEvent(EventCase):
    def test_default(self):
        event, text = self.event("apigw-http")
        self.assertEqual(set(event), {"version", "routeKey", "rawPath", "rawQueryString", "headers",
                                      "requestContext", "isBase64Encoded"},
                         "no query, body or cookies: those fields are left out, as AWS does")
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "$default")
        self.assertEqual(event["rawPath"], "/")
        self.assertEqual(event["rawQueryString"], "")
        self.assertIs(event["isBase64Encoded"], False)
        for name, value in event["headers"].items():
            self.assertEqual(name, name.lower(), "payload 2.0 header names are lower case")
            self.assertIsInstance(value, str)
        context = event["requestContext"]
        self.assertEqual(set(context), {"accountId", "apiId", "domainName", "domainPrefix", "http", "requestId",
                                        "routeKey", "stage", "time", "timeEpoch"})
        self.assertEqual(context["accountId"], "123456789012")
        self.assertEqual(context["domainName"], context["apiId"] + ".execute-api.us-east-1.amazonaws.com")
        self.assertEqual(context["domainPrefix"], context["apiId"])
        self.assertEqual(event["headers"]["host"], context["domainName"])
        self.assertEqual(context["stage"], "$default")
        self.assertEqual(context["routeKey"], "$default")
        self.assertEqual(context["http"], {"method": "GET", "path": "/", "protocol": "HTTP/1.1",
                                           "sourceIp": "192.0.2.1", "userAgent": event["headers"]["user-agent"]})
        self.assertRegex(context["time"], CLF_TIME_RE)
        self.assert_recent_ms(context["timeEpoch"])
        shown = datetime.datetime.strptime(context["time"], "%d/%b/%Y:%H:%M:%S +0000").replace(tzinfo=datetime.timezone.utc)
        self.assertLess(abs(shown.timestamp() - context["timeEpoch"] / 1000), 1.01)
        self.assertTrue(text.startswith('{"version":"2.0","routeKey":'))

    def test_request_options(self):
        query = "a=1&b=hello+world&a=2&c=%2Fx%3D&flag"
        event, _ = self.event("apigw-http", "--method", "post", "--path", "/items/42", "--query", query,
                              "--header", "X-Custom: one", "--header", "x-custom: two",
                              "--header", "User-Agent: tester/1.0", "--header", "Cookie: s=1; theme=dark",
                              "--body", '{"name": "widget"}', "--region", "eu-central-1")
        self.assertEqual(event["rawPath"], "/items/42")
        self.assertEqual(event["rawQueryString"], query)
        expected = {k: ",".join(v) for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        self.assertEqual(event["queryStringParameters"], expected)
        self.assertEqual(event["headers"]["x-custom"], "one,two")
        self.assertEqual(event["headers"]["user-agent"], "tester/1.0")
        self.assertEqual(event["headers"]["content-type"], "application/json")
        self.assertEqual(event["headers"]["content-length"], str(len('{"name": "widget"}')))
        self.assertNotIn("cookie", event["headers"])
        self.assertEqual(event["cookies"], ["s=1", "theme=dark"])
        self.assertEqual(event["body"], '{"name": "widget"}')
        self.assertIs(event["isBase64Encoded"], False)
        http = event["requestContext"]["http"]
        self.assertEqual((http["method"], http["path"], http["userAgent"]), ("POST", "/items/42", "tester/1.0"))
        self.assertIn("eu-central-1", event["requestContext"]["domainName"])

    def test_query_in_the_path(self):
        event, _ = self.event("apigw-http", "--path", "/search?q=moon")
        self.assertEqual(event["rawPath"], "/search")
        self.assertEqual(event["rawQueryString"], "q=moon")
        self.assertEqual(event["queryStringParameters"], {"q": "moon"})

    def test_base64_body(self):
        body = "binary\u00e9 payload"
        event, _ = self.event("apigw-http", "--method", "PUT", "--body", body, "--base64")
        self.assertIs(event["isBase64Encoded"], True)
        self.assertEqual(base64.b64decode(event["body"], validate=True).decode(), body)
        for sample in ["", "a", "ab", "abc", "abcd"]:
            event, _ = self.event("apigw-http", "--body", sample, "--base64")
            self.assertEqual(event["body"], base64.b64encode(sample.encode()).decode(), sample)

    def test_usage_errors(self):
        self.assertIn("--header wants 'Name: value', not 'nocolon'", self.usage_error("apigw-http", "--header", "nocolon"))
        self.assertIn("--path must begin with '/'", self.usage_error("apigw-http", "--path", "items"))
        self.assertIn("--base64 needs a --body", self.usage_error("apigw-http", "--base64"))
        self.assertIn("--body is given twice", self.usage_error("apigw-http", "--body", "a", "--body", "b"))
        self.assertIn("unknown option '--count'", self.usage_error("apigw-http", "--count", "2"))


class TestRestApiEvent(EventCase):
    KEYS = {"resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
            "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext", "body",
            "isBase64Encoded"}

    def test_default(self):
        event, text = self.event("apigw-rest")
        self.assertEqual(set(event), self.KEYS)
        self.assertEqual((event["resource"], event["path"], event["httpMethod"]), ("/", "/", "GET"))
        for name in ("queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
                     "stageVariables", "body"):
            self.assertIsNone(event[name], f"{name} is null when absent, as AWS writes it")
        self.assertIs(event["isBase64Encoded"], False)
        self.assertEqual(event["multiValueHeaders"], {k: [v] for k, v in event["headers"].items()})
        self.assertIn("Host", event["headers"], "REST payloads keep header names as sent")
        context = event["requestContext"]
        for name in ("accountId", "apiId", "domainName", "domainPrefix", "extendedRequestId", "httpMethod",
                     "identity", "path", "protocol", "requestId", "requestTime", "requestTimeEpoch", "resourceId",
                     "resourcePath", "stage"):
            self.assertIn(name, context)
        self.assertEqual(context["httpMethod"], "GET")
        self.assertEqual(context["path"], "/" + context["stage"] + "/")
        self.assertEqual(uuid.UUID(context["requestId"]).version, 4)
        self.assertRegex(context["requestTime"], CLF_TIME_RE)
        self.assert_recent_ms(context["requestTimeEpoch"])
        self.assertEqual(context["identity"]["sourceIp"], "192.0.2.1")
        self.assertIsNone(context["identity"]["user"])
        self.assertTrue(text.startswith('{"resource":"/","path":"/","httpMethod":"GET","headers":{'))

    def test_request_options(self):
        query = "a=1&a=2&b=x+y"
        event, _ = self.event("apigw-rest", "--method", "delete", "--path", "/things/7", "--query", query,
                              "--header", "X-Trace: 1", "--header", "X-Trace: 2", "--header", "Accept: text/html",
                              "--body", "plain text")
        parsed = urllib.parse.parse_qs(query, keep_blank_values=True)
        self.assertEqual(event["multiValueQueryStringParameters"], parsed)
        self.assertEqual(event["queryStringParameters"], {k: v[-1] for k, v in parsed.items()})
        self.assertEqual(event["headers"]["X-Trace"], "2")
        self.assertEqual(event["multiValueHeaders"]["X-Trace"], ["1", "2"])
        self.assertEqual(event["headers"]["Accept"], "text/html")
        self.assertEqual(event["multiValueHeaders"]["Accept"], ["text/html"], "a --header replaces the default")
        self.assertEqual(event["headers"]["Content-Type"], "text/plain")
        self.assertEqual(event["body"], "plain text")
        self.assertEqual((event["httpMethod"], event["path"], event["resource"]), ("DELETE", "/things/7", "/things/7"))
        self.assertEqual(event["requestContext"]["resourcePath"], "/things/7")

    def test_base64_body(self):
        event, _ = self.event("apigw-rest", "--body", "\x01\x02 bytes", "--base64")
        self.assertIs(event["isBase64Encoded"], True)
        self.assertEqual(base64.b64decode(event["body"]), b"\x01\x02 bytes")


class TestScheduleEvent(EventCase):
    def test_default(self):
        event, text = self.event("schedule")
        self.assertEqual(list(event), ["version", "id", "detail-type", "source", "account", "time", "region",
                                       "resources", "detail"])
        self.assertEqual(event["version"], "0")
        self.assertEqual(uuid.UUID(event["id"]).version, 4)
        self.assertEqual(event["detail-type"], "Scheduled Event")
        self.assertEqual(event["source"], "aws.events")
        self.assertEqual(event["account"], "123456789012")
        self.assertRegex(event["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        shown = datetime.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        self.assertLess(abs(shown.timestamp() - time.time()), 5)
        self.assertEqual(event["region"], "us-east-1")
        self.assertEqual(event["resources"], ["arn:aws:events:us-east-1:123456789012:rule/my-schedule"])
        self.assertEqual(event["detail"], {})
        self.assertIn('"detail":{}', text)

    def test_rule_and_region(self):
        event, _ = self.event("schedule", "--rule", "nightly-report", "--region", "sa-east-1")
        self.assertEqual(event["resources"], ["arn:aws:events:sa-east-1:123456789012:rule/nightly-report"])
        self.assertEqual(event["region"], "sa-east-1")


class TestFunctionUrlEvent(EventCase):
    def test_shape_and_domain(self):
        event, text = self.event("function-url", "--method", "POST", "--path", "/orders?id=7", "--body", '{"n": 1}',
                                 "--header", "Cookie: a=1; b=2", "--region", "eu-west-1")
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "$default")
        self.assertEqual((event["rawPath"], event["rawQueryString"]), ("/orders", "id=7"))
        self.assertEqual(event["queryStringParameters"], {"id": "7"})
        self.assertEqual(event["cookies"], ["a=1", "b=2"])
        context = event["requestContext"]
        self.assertEqual(context["accountId"], "anonymous")
        self.assertRegex(context["apiId"], r"^[a-z0-9]{32}$")
        self.assertEqual(context["domainName"], context["apiId"] + ".lambda-url.eu-west-1.on.aws")
        self.assertEqual(event["headers"]["host"], context["domainName"])
        self.assertEqual(context["domainPrefix"], context["apiId"])
        self.assertEqual((context["http"]["method"], context["http"]["path"]), ("POST", "/orders"))
        self.assertEqual((context["stage"], context["routeKey"]), ("$default", "$default"))
        self.assertEqual(json.loads(event["body"]), {"n": 1})
        self.assertFalse(event["isBase64Encoded"])
        self.assertTrue(text.startswith('{"version":"2.0","routeKey":"$default"'))


class TestNotificationEvents(EventCase):
    def test_sns(self):
        event, _ = self.event("sns", "--message", "one", "--message", '{"two": 2}', "--subject", "Hi",
                              "--topic", "orders", "--region", "eu-west-2")
        records = event["Records"]
        self.assertEqual([r["Sns"]["Message"] for r in records], ["one", '{"two": 2}'])
        for record in records:
            self.assertEqual((record["EventSource"], record["EventVersion"]), ("aws:sns", "1.0"))
            sns = record["Sns"]
            self.assertEqual(sns["TopicArn"], "arn:aws:sns:eu-west-2:123456789012:orders")
            self.assertTrue(record["EventSubscriptionArn"].startswith(sns["TopicArn"] + ":"))
            uuid.UUID(record["EventSubscriptionArn"].rsplit(":", 1)[1])
            self.assertEqual(sns["Type"], "Notification")
            self.assertEqual(uuid.UUID(sns["MessageId"]).version, 4)
            self.assertEqual(sns["Subject"], "Hi")
            self.assertEqual(len(base64.b64decode(sns["Signature"], validate=True)), 256)
            self.assertRegex(sns["Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertTrue(sns["SigningCertUrl"].startswith("https://sns.eu-west-2.amazonaws.com/"))
            self.assertIn("SubscriptionArn=" + record["EventSubscriptionArn"], sns["UnsubscribeUrl"])
        self.assertIsNone(self.event("sns")[0]["Records"][0]["Sns"]["Subject"])

    def test_eventbridge(self):
        event, text = self.event("eventbridge", "--source", "com.shop.orders", "--detail-type", "Order Placed",
                                 "--detail", '{"orderId": 42, "items": ["a"]}', "--resource", "arn:aws:x:1")
        self.assertEqual(event["source"], "com.shop.orders")
        self.assertEqual(event["detail-type"], "Order Placed")
        self.assertEqual(event["detail"], {"orderId": 42, "items": ["a"]})
        self.assertEqual(event["resources"], ["arn:aws:x:1"])
        self.assertEqual((event["version"], event["account"]), ("0", "123456789012"))
        datetime.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
        self.assertTrue(text.startswith('{"version":"0","id":'))
        self.assertEqual(self.event("eventbridge")[0]["detail"], {})
        self.assertIn("--detail wants JSON", self.usage_error("eventbridge", "--detail", "{bad"))
        self.assertIn("--detail wants a JSON object", self.usage_error("eventbridge", "--detail", "[1]"))

    def test_s3(self):
        event, _ = self.event("s3", "--bucket", "photos", "--key", "my trip/day 1+2.jpg", "--body", "abc")
        record = event["Records"][0]
        self.assertEqual((record["eventSource"], record["eventVersion"]), ("aws:s3", "2.1"))
        self.assertEqual(record["eventName"], "ObjectCreated:Put")
        s3 = record["s3"]
        self.assertEqual(s3["bucket"]["name"], "photos")
        self.assertEqual(s3["bucket"]["arn"], "arn:aws:s3:::photos")
        # the key as S3 writes it: URL-encoded, a space as '+'
        self.assertEqual(s3["object"]["key"], "my+trip/day+1%2B2.jpg")
        self.assertEqual(urllib.parse.unquote_plus(s3["object"]["key"]), "my trip/day 1+2.jpg")
        self.assertEqual(s3["object"]["size"], 3)
        self.assertEqual(s3["object"]["eTag"], hashlib.md5(b"abc").hexdigest())
        self.assertRegex(s3["object"]["sequencer"], r"^[0-9A-F]+$")
        removed = self.event("s3", "--event-name", "ObjectRemoved:Delete")[0]["Records"][0]
        self.assertNotIn("eTag", removed["s3"]["object"])
        self.assertIn("--event-name wants one of", self.usage_error("s3", "--event-name", "Put"))

    def test_dynamodb(self):
        event, _ = self.event("dynamodb", "--event-name", "modify", "--table", "orders",
                              "--keys", '{"pk": "o#1", "sk": 7}',
                              "--new-image", '{"pk": "o#1", "total": 9.5, "paid": true, "tags": ["a"], "meta": {"x": null}}')
        record = event["Records"][0]
        self.assertEqual(record["eventName"], "MODIFY")
        self.assertEqual((record["eventSource"], record["eventVersion"]), ("aws:dynamodb", "1.1"))
        self.assertRegex(record["eventSourceARN"],
                         r"^arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$")
        ddb = record["dynamodb"]
        self.assertEqual(ddb["Keys"], {"pk": {"S": "o#1"}, "sk": {"N": "7"}})
        self.assertEqual(ddb["NewImage"], {"pk": {"S": "o#1"}, "total": {"N": "9.5"}, "paid": {"BOOL": True},
                                           "tags": {"L": [{"S": "a"}]}, "meta": {"M": {"x": {"NULL": True}}}})
        self.assertIn("OldImage", ddb)
        self.assertEqual(ddb["StreamViewType"], "NEW_AND_OLD_IMAGES")
        self.assertIsInstance(ddb["SizeBytes"], int)
        self.assertLess(abs(ddb["ApproximateCreationDateTime"] - time.time()), 60)
        self.assertRegex(ddb["SequenceNumber"], r"^[1-9]\d{20}$")
        inserted = self.event("dynamodb")[0]["Records"][0]["dynamodb"]
        self.assertNotIn("OldImage", inserted)
        removed = self.event("dynamodb", "--event-name", "REMOVE")[0]["Records"][0]["dynamodb"]
        self.assertNotIn("NewImage", removed)
        self.assertIn("INSERT, MODIFY or REMOVE", self.usage_error("dynamodb", "--event-name", "UPSERT"))
        self.assertIn("--keys wants a JSON object", self.usage_error("dynamodb", "--keys", '"x"'))

    def test_kinesis(self):
        event, _ = self.event("kinesis", "--data", "first", "--data", '{"n": 2}', "--stream", "clicks",
                              "--partition-key", "user-9")
        records = event["Records"]
        self.assertEqual([base64.b64decode(r["kinesis"]["data"]).decode() for r in records], ["first", '{"n": 2}'])
        numbers = [int(r["kinesis"]["sequenceNumber"]) for r in records]
        self.assertEqual(numbers, sorted(numbers))
        self.assertEqual(len(set(numbers)), 2)
        for record in records:
            self.assertEqual((record["eventSource"], record["eventName"]), ("aws:kinesis", "aws:kinesis:record"))
            self.assertEqual(record["eventSourceARN"], "arn:aws:kinesis:us-east-1:123456789012:stream/clicks")
            self.assertEqual(record["kinesis"]["partitionKey"], "user-9")
            self.assertEqual(record["eventID"], "shardId-000000000000:" + record["kinesis"]["sequenceNumber"])
            self.assertLess(abs(record["kinesis"]["approximateArrivalTimestamp"] - time.time()), 60)


class TestEventCommand(EventCase):
    def test_help(self):
        for args in (["--help"], ["-h"]):
            p = run(["event", *args])
            self.assertEqual(p.returncode, 0)
            text = p.stdout.decode()
            self.assertIn("usage: moonrun event TYPE [OPTIONS]", text)
            for name in ("sqs", "apigw-http", "apigw-rest", "schedule"):
                self.assertIn(name, text)
        p = run(["event", "sqs", "--help"])
        self.assertEqual(p.returncode, 0)
        for option in ("--body TEXT", "--count N", "--queue NAME", "--region R"):
            self.assertIn(option, p.stdout.decode())
        p = run(["event", "apigw-http", "--path", "/x", "-h"])
        self.assertEqual(p.returncode, 0)
        for option in ("--method", "--path", "--query", "--header", "--body", "--base64"):
            self.assertIn(option, p.stdout.decode())

    def test_unknown_type_or_option(self):
        message = self.usage_error("firehose")
        self.assertIn("unknown type 'firehose'", message)
        self.assertIn("sqs, apigw-http, apigw-rest, schedule, function-url, sns, eventbridge, s3, dynamodb, kinesis",
                      message)
        self.assertIn("which type?", self.usage_error())
        self.assertIn("unknown option '--bogus'", self.usage_error("--bogus"))
        self.assertIn("event schedule: unknown option '--body'", self.usage_error("schedule", "--body", "x"))
        self.assertTrue(self.usage_error("firehose").startswith("moonrun: "))

    def test_indented_on_a_terminal(self):
        for kind in ("sqs", "schedule", "apigw-rest"):
            pid, fd = pty.fork()
            if pid == 0:
                os.execve(MOONRUN, [MOONRUN, "event", kind], environment())
            chunks = []
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            text = b"".join(chunks).decode().replace("\r\n", "\n")
            self.assertTrue(text.startswith("{\n  \""), text[:40])
            self.assertGreater(text.count("\n"), 5)
            json.loads(text)

    def test_current_invocation(self):
        p = run(["invoke", "current.handler"])
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        answer = json.loads(p.stdout.decode().splitlines()[-1])
        self.assertEqual(answer["same"], True)
        self.assertEqual(answer["at_load"], True)
        self.assertRegex(answer["id"], r"^[0-9a-f-]{36}$")

    def test_lua_api(self):
        result = probe("""
            local e = events.generate('sqs', {body = {'a', 'b'}, queue = 'q'})
            local ok, err = pcall(events.generate, 'nope', {})
            local ok2, err2 = pcall(events.generate, 'apigw-http', {path = 'relative'})
            return {n = #e.Records, arn = e.Records[2].eventSourceARN, md5 = e.Records[1].md5OfBody,
                    err = err, err2 = err2, text = events.encode(events.generate('schedule', {}), 'schedule'),
                    b64 = events.base64('hello')}""")
        self.assertEqual(result["n"], 2)
        self.assertEqual(result["arn"], "arn:aws:sqs:us-east-1:123456789012:q")
        self.assertEqual(result["md5"], hashlib.md5(b"a").hexdigest())
        self.assertIn("unknown event type 'nope'", result["err"])
        self.assertIn("--path must begin with '/'", result["err2"])
        self.assertTrue(result["text"].startswith('{"version":"0","id":'))
        self.assertEqual(result["b64"], "aGVsbG8=")


if __name__ == "__main__":
    unittest.main()
