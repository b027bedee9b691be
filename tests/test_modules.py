"""Tests of moonrun.uuid and moonrun.time, driven through `moonrun run`.

Run from the repository root: python3 -m unittest -v tests/test_modules.py
Environment: MOONRUN_BIN (default build/moonrun).
"""

import datetime
import os
import re
import subprocess
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MOONRUN = os.environ.get("MOONRUN_BIN", os.path.join(os.path.dirname(HERE), "build", "moonrun"))


def lua(code):
    """Runs code with uuid and time loaded; returns its stdout lines."""
    prelude = 'local uuid = require "moonrun.uuid"; local time = require "moonrun.time"; '
    p = subprocess.run([MOONRUN, "run", "-e", prelude + code], capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(p.stderr.decode())
    return p.stdout.decode().splitlines()


class TestUuid(unittest.TestCase):
    def test_v4(self):
        ids = lua("for _ = 1, 10000 do print(uuid.v4()) end")
        self.assertEqual(len(set(ids)), 10000)
        for text in ids[:200]:
            self.assertRegex(text, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            self.assertEqual(uuid.UUID(text).version, 4)

    def test_v7_is_time_ordered_and_strictly_increasing(self):
        before = int(time.time() * 1000)
        ids = lua("for _ = 1, 10000 do print(uuid.v7()) end")
        after = int(time.time() * 1000)
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 10000)
        for text in (ids[0], ids[-1]):
            u = uuid.UUID(text)
            self.assertEqual(u.version, 7)
            self.assertEqual(u.variant, uuid.RFC_4122)
            stamp = int(text.replace("-", "")[:12], 16)
            self.assertGreaterEqual(stamp, before - 1)
            self.assertLessEqual(stamp, after + 1000, "the counter may run a little ahead, never far")


class TestTime(unittest.TestCase):
    def test_clocks(self):
        now, now_ms, mono1, mono2, kinds = lua(
            "print(time.now()); print(time.now_ms()); print(time.monotonic()); print(time.monotonic());"
            "print(math.type(time.now()), math.type(time.now_ms()))")
        self.assertLess(abs(float(now) - time.time()), 1.0)
        self.assertLess(abs(int(now_ms) - time.time() * 1000), 1000)
        self.assertLessEqual(float(mono1), float(mono2))
        self.assertEqual(kinds, "float\tinteger")

    def test_format(self):
        default, fixed, pattern, percent = lua(
            "print(time.format()); print(time.format(1717243200.123456));"
            "print(time.format(1717243200.5, '%H:%M:%S.%f')); print(time.format(0, '100%% at %Y'))")
        self.assertRegex(default, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
        self.assertEqual(fixed, "2024-06-01 12:00:00.123456")
        self.assertEqual(pattern, "12:00:00.500000")
        self.assertEqual(percent, "100% at 1970")
        shown = datetime.datetime.strptime(default, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        self.assertLess(abs(shown.timestamp() - time.time()), 2)

    def test_iso8601(self):
        fixed, current = lua("print(time.iso8601(1717243200.123456)); print(time.iso8601())")
        self.assertEqual(fixed, "2024-06-01T12:00:00.123Z")
        self.assertRegex(current, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_sleep(self):
        (elapsed,) = lua("local t = time.monotonic(); time.sleep(0.05); print(time.monotonic() - t)")
        self.assertGreaterEqual(float(elapsed), 0.05)
        self.assertLess(float(elapsed), 1.0)

    def test_bad_arguments_are_named(self):
        lines = lua("for _, f in ipairs{function() time.format('x') end, function() time.sleep(-1) end,"
                    " function() time.iso8601(0/0) end} do print(select(2, pcall(f))) end")
        self.assertIn("bad argument #1", lines[0])
        self.assertIn("number expected, got string", lines[0])
        self.assertIn("seconds must be between 0 and 1e9", lines[1])
        self.assertIn("not a time", lines[2])


if __name__ == "__main__":
    unittest.main()
