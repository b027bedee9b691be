"""Structured logging (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, moonrun.log) and CloudWatch
Embedded Metric Format records (moonrun.metrics), end to end: the real binary against the real
Runtime API server (tests/runtime_api.py), and ``moonrun invoke``. Every line the runtime writes
is parsed; JSON records are checked field by field, EMF records against the specification.

Run from the repository root: python3 -m unittest -v tests/test_logging.py
Environment: MOONRUN_BIN, MOONRUN_TIMEOUT_SCALE (as for tests/test_runtime.py).
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from test_runtime import HANDLERS, MoonrunTestCase, T, moonrun_bin  # noqa: E402

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
EMF_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None"}
JSON_ENV = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}


def setUpModule():  # noqa: N802 - unittest hook
    path = moonrun_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError("moonrun binary not found: %s (build it or set MOONRUN_BIN)" % path)


def parse_lines(data):
    """Every line of a stream as JSON (bytes in, list out); a line that is not JSON fails."""
    records = []
    for line in data.decode("utf-8").split("\n"):
        if line:
            records.append(json.loads(line))
    return records


def is_emf(record):
    return isinstance(record, dict) and "_aws" in record


class LoggingTestCase(MoonrunTestCase):

    def run_steps(self, *invocations, env=None, headers=None):
        """Starts moonrun (logging handler), runs one invocation per list of steps, stops it;
        returns (request ids, stdout records, stderr records, handler results)."""
        proc = self.start("logging.handler", env=env)
        ids, results = [], []
        for steps in invocations:
            rid = self.api.push({"steps": steps}, headers=headers)
            result = self.result(rid)
            ids.append(rid)
            results.append(result)
        self.stop()
        return ids, proc.stdout.data(), proc.stderr.data(), results

    def json_run(self, *invocations, env=None, headers=None):
        ids, out, err, results = self.run_steps(*invocations, env=dict(JSON_ENV, **(env or {})),
                                                headers=headers)
        try:
            return ids, parse_lines(out), parse_lines(err), results
        except ValueError as exc:
            self.fail_with_output("a line is not JSON: %s" % exc)

    def assertRecord(self, record, level, message, request_id=None):
        """The standard members, checked one by one; request_id None: there must be none."""
        self.assertRegex(record.get("timestamp", ""), TIMESTAMP_RE, record)
        stamp = datetime.datetime.strptime(record["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
        stamp = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
        self.assertLess(abs(stamp - time.time()), T(120), record)
        self.assertEqual(record.get("level"), level, record)
        self.assertEqual(record.get("message"), message, record)
        if request_id is None:
            self.assertNotIn("requestId", record)
        else:
            self.assertEqual(record.get("requestId"), request_id, record)

    def assertValidEmf(self, record):
        """The EMF specification's rules for one record; returns its directive."""
        self.assertIsInstance(record, dict)
        aws = record["_aws"]
        self.assertIsInstance(aws["Timestamp"], int)
        self.assertLess(abs(aws["Timestamp"] / 1000 - time.time()), T(120))
        directives = aws["CloudWatchMetrics"]
        self.assertIsInstance(directives, list)
        self.assertEqual(len(directives), 1)
        directive = directives[0]
        self.assertIsInstance(directive["Namespace"], str)
        self.assertTrue(1 <= len(directive["Namespace"]) <= 255)
        self.assertIsInstance(directive["Dimensions"], list)
        for dimension_set in directive["Dimensions"]:
            self.assertIsInstance(dimension_set, list)
            self.assertLessEqual(len(dimension_set), 30)
            for name in dimension_set:
                self.assertIsInstance(record[name], str, "dimension %s" % name)
        metrics = directive["Metrics"]
        self.assertTrue(1 <= len(metrics) <= 100, len(metrics))
        for metric in metrics:
            self.assertLessEqual(set(metric), {"Name", "Unit", "StorageResolution"})
            self.assertIn(metric["Unit"], EMF_UNITS)
            self.assertIn(metric.get("StorageResolution", 60), (1, 60))
            value = record[metric["Name"]]
            if isinstance(value, list):
                self.assertTrue(1 <= len(value) <= 100, len(value))
                for v in value:
                    self.assertIsInstance(v, (int, float))
            else:
                self.assertIsInstance(value, (int, float))
        return directive


class TestJsonLogging(LoggingTestCase):

    def test_print_becomes_a_record_field_by_field(self):
        ids, out, _, _ = self.json_run([["print", "hello", 42, 2.5]])
        self.assertRecord(out[0], "INFO", "module loading")
        self.assertEqual(out[0]["phase"], "init")
        self.assertRecord(out[1], "INFO", "init print")
        self.assertRecord(out[2], "INFO", "hello\t42\t2.5", ids[0])
        self.assertEqual(len(out), 3, out)
        self.assertEqual(set(out[2]), {"timestamp", "level", "requestId", "message"})

    def test_request_id_is_each_invocations_own_and_absent_at_init(self):
        ids, out, _, results = self.json_run(*[[["print", "call %d" % i], ["log", "info", "x%d" % i]]
                                               for i in range(4)])
        self.assertNotIn("requestId", out[0])
        self.assertNotIn("requestId", out[1])
        for i, rid in enumerate(ids):
            self.assertEqual(results[i].json()["request_id"], rid)
            self.assertRecord(out[2 + 2 * i], "INFO", "call %d" % i, rid)
            self.assertRecord(out[3 + 2 * i], "INFO", "x%d" % i, rid)
        self.assertEqual(len(set(ids)), 4)

    def test_multi_line_messages_are_one_record(self):
        ids, out, _, _ = self.json_run([["print", "one\ntwo\nthree"],
                                        ["log", "warn", "a\nb", {"k": "v\nw"}]])
        self.assertRecord(out[2], "INFO", "one\ntwo\nthree", ids[0])
        self.assertRecord(out[3], "WARN", "a\nb", ids[0])
        self.assertEqual(out[3]["k"], "v\nw")
        self.assertEqual(len(out), 4, out)

    def test_io_write_partial_lines(self):
        ids, out, _, _ = self.json_run(
            [["write", "par", 1, " ", 2.5, " ", 3.0], ["stdout_write", "t\nsecond\nthi"],
             ["write", "rd"], ["print", "+print"], ["write", "left open"]],
            [["write", "next\n"]])
        rid, rid2 = ids
        messages = [(r["message"], r.get("requestId")) for r in out[2:]]
        self.assertEqual(messages, [("par1 2.5 3t", rid), ("second", rid), ("third+print", rid),
                                    ("left open", rid), ("next", rid2)])
        for r in out[2:]:
            self.assertRecord(r, "INFO", r["message"], r["requestId"])

    def test_io_write_to_other_files_is_untouched(self):
        folder = tempfile.mkdtemp(prefix="moonrun-logging-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "out.txt")
        # io.output(file) then io.write, and file:write, go to the file as Lua writes them.
        code = ("local f = assert(io.open(%r, 'w')) f:write('a\\n', 1.0) io.output(f) io.write('b')"
                " io.output():close() io.output(io.stdout) io.write('back\\n')" % path)
        out = subprocess.run([moonrun_bin(), "run", "-e", code], env=dict(os.environ, **JSON_ENV),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=T(30))
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), "a\n1b")
        [record] = parse_lines(out.stdout)
        self.assertRecord(record, "INFO", "back")

    def test_unfinished_line_is_written_when_the_state_closes(self):
        out = subprocess.run([moonrun_bin(), "run", "-e", "io.write('no newline', 1)"],
                             env=dict(os.environ, **JSON_ENV), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=T(30))
        self.assertEqual(out.returncode, 0, out.stderr)
        [record] = parse_lines(out.stdout)
        self.assertRecord(record, "INFO", "no newline1")

    def test_fields_join_the_record(self):
        ids, out, _, _ = self.json_run([["log", "error", "failed order",
                                         {"order": {"id": 7, "items": [1, 2]}, "retry": True,
                                          "ratio": 0.5, "who": "ann"}]])
        r = out[2]
        self.assertRecord(r, "ERROR", "failed order", ids[0])
        self.assertEqual(r["order"], {"id": 7, "items": [1, 2]})
        self.assertIs(r["retry"], True)
        self.assertEqual(r["ratio"], 0.5)
        self.assertEqual(r["who"], "ann")

    def test_reserved_and_bad_fields_are_errors_naming_them(self):
        _, out, _, results = self.json_run([
            ["try", "log", "info", "m", {"level": "x"}],
            ["try", "log", "info", "m", {"requestId": "x"}],
            ["try", "log", "info", "m", {"timestamp": 1}],
            ["try", "log", "info", "m", {"message": "x"}],
            ["try", "log", "info", "m", {"1": "x", "ok": 1}],
            ["try", "log", "info", "m", "not a table"]])
        errors = results[0].json()["errors"]
        for name, err in zip(["level", "requestId", "timestamp", "message"], errors):
            self.assertIn("log: field '%s' is reserved" % name, err)
        self.assertEqual(errors[4], "no error")  # "1" is a string key in JSON, and a fine one
        self.assertIn("table expected, got string", errors[5])
        # nothing half-written reached stdout: only the one valid record
        self.assertEqual([r["message"] for r in out[2:]], ["m"])

    def test_invalid_utf8_still_gives_valid_json(self):
        ids, out, _, _ = self.json_run([["log_bytes", "info", [104, 255, 105, 0xC3], [0xE2, 0x82]],
                                        ["print_bytes", [0xF0, 0x9F, 0x98, 0x80, 0xFE, 10, 9, 1]]])
        self.assertRecord(out[2], "INFO", "h\ufffdi\ufffd", ids[0])
        self.assertEqual(out[2]["raw"], "\ufffd\ufffd")
        self.assertRecord(out[3], "INFO", "\U0001F600\ufffd\n\t\x01", ids[0])

    def test_levels_filter_application_logs(self):
        steps = [["print", "p"], ["write", "w\n"]] + [["log", level.lower(), level] for level in LEVELS]
        cases = {"WARN": ["WARN", "ERROR", "FATAL"], "DEBUG": ["p", "w", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"],
                 "trace": ["p", "w"] + LEVELS, "FATAL": ["FATAL"]}
        for level, expected in cases.items():
            with self.subTest(level=level):
                self.api = self.new_api()
                _, out, _, results = self.json_run(steps, env={"AWS_LAMBDA_LOG_LEVEL": level})
                got = [r["message"] for r in out if "requestId" in r]
                self.assertEqual(got, expected)
                body = results[0].json()
                self.assertEqual(body["level"], level.upper())
                self.assertEqual(body["enabled"]["info"], "INFO" in expected)

    def test_default_level_is_info(self):
        _, out, _, results = self.json_run([["log", "debug", "d"], ["log", "trace", "t"], ["log", "info", "i"]])
        self.assertEqual([r["message"] for r in out if "requestId" in r], ["i"])
        self.assertEqual(results[0].json()["format"], "JSON")

    def test_failed_invocation_is_an_error_record(self):
        ids, _, err, results = self.json_run([["fail", "boom"]])
        self.assertEqual(results[0].kind, "error")
        [record] = [r for r in err if r.get("requestId") == ids[0]]
        self.assertRecord(record, "ERROR", "invocation %s failed" % ids[0], ids[0])
        self.assertEqual(record["logger"], "moonrun")
        posted = results[0].json()
        self.assertEqual(record["errorType"], posted["errorType"])
        self.assertEqual(record["errorMessage"], posted["errorMessage"])
        self.assertEqual(record["stackTrace"], posted["stackTrace"])
        self.assertIn("boom", record["errorMessage"])

    def test_runtime_diagnostics_are_records_with_the_invocations_request_id(self):
        ids, _, err, results = self.json_run([["print", "x"]], env={"MOONRUN_MEMORY_LIMIT_MB": "lots"},
                                             headers={"Lambda-Runtime-Client-Context": "{not json"})
        self.assertEqual(results[0].kind, "response")
        outside = [r for r in err if "MOONRUN_MEMORY_LIMIT_MB" in r["message"]]
        self.assertEqual(len(outside), 1, err)
        self.assertRecord(outside[0], "ERROR", outside[0]["message"])
        inside = [r for r in err if "Client-Context" in r["message"]]
        self.assertEqual(len(inside), 1, err)
        self.assertRecord(inside[0], "ERROR", inside[0]["message"], ids[0])
        self.assertTrue(inside[0]["message"].startswith("the Lambda-Runtime-Client-Context header is not valid JSON"))

    def test_a_failing_on_finish_function_is_logged_and_changes_nothing(self):
        ids, out, err, results = self.json_run([["failing_hook", "hook broke"], ["put", "A", 1]],
                                               [["print", "still here"]])
        self.assertEqual([r.kind for r in results], ["response", "response"])
        failures = [r for r in err if "on_finish" in r["message"]]
        self.assertEqual([r["requestId"] for r in failures], ids)  # once per invocation
        for r in failures:
            self.assertRecord(r, "ERROR", "a function registered with invocation.on_finish failed: "
                                          "hook broke", r["requestId"])
        self.assertEqual(len([r for r in out if is_emf(r)]), 1)  # the other functions still ran
        self.assertIn("still here", [r.get("message") for r in out])

    def test_bad_settings_are_named(self):
        _, out, err, _ = self.run_steps([["print", "x"]], env={"AWS_LAMBDA_LOG_FORMAT": "xml",
                                                                "AWS_LAMBDA_LOG_LEVEL": "loud"})
        text = err.decode()
        self.assertIn("moonrun: ignoring AWS_LAMBDA_LOG_FORMAT=xml: expected JSON or Text", text)
        self.assertIn(b"x\n", out)  # text mode: print as it is
        self.api = self.new_api()
        _, _, err, _ = self.json_run([], env={"AWS_LAMBDA_LOG_LEVEL": "loud"})
        [warning] = [r for r in err if "AWS_LAMBDA_LOG_LEVEL" in r["message"]]
        self.assertEqual(warning["message"], "ignoring AWS_LAMBDA_LOG_LEVEL=loud: expected TRACE, DEBUG, "
                                             "INFO, WARN, ERROR or FATAL")


class TestTextLogging(LoggingTestCase):

    def test_print_keeps_a_record_whole_and_io_write_is_unchanged(self):
        # in the Lambda loop a newline inside a print is a carriage return: one CloudWatch record
        _, out, _, _ = self.run_steps([["print", "a", 1], ["write", "b", 2.0, "\n"], ["print", "c\nd"]])
        self.assertIn(b"\na\t1\nb2\nc\rd\n", out)

    def test_log_lines(self):
        ids, out, err, _ = self.run_steps([["log", "warn", "two\nlines", {"n": 3, "s": "a b", "t": {"x": 1}}],
                                           ["write", "open"], ["log", "error", "e"], ["log", "debug", "hidden"]])
        lines = out.decode().split("\n")
        self.assertRegex(lines[0], r"^\[INFO\]\t\S+Z\tmodule loading phase=init$")
        warn = [line for line in lines if line.startswith("[WARN]")]
        self.assertEqual(len(warn), 1, lines)
        level, stamp, rid, rest = warn[0].split("\t")
        self.assertRegex(stamp, TIMESTAMP_RE)
        self.assertEqual(rid, ids[0])
        message, fields = rest.split(" ", 1)
        self.assertEqual(message, "two\rlines")  # one CloudWatch record
        self.assertEqual(sorted(fields.replace('"a b"', "A_B").split(" ")), ['n=3', 's=A_B', 't={"x":1}'])
        # the record after an unfinished io.write line starts a line of its own
        self.assertIn("open", lines)
        self.assertTrue(any(line.startswith("[ERROR]\t") and line.endswith("\te") for line in lines), lines)
        self.assertNotIn("hidden", out.decode())

    def test_failure_log_stays_text(self):
        ids, _, err, _ = self.run_steps([["fail", "boom"]])
        self.assertRegex(err.decode(), r"moonrun: invocation %s failed: \{.*boom" % ids[0])


class TestMetrics(LoggingTestCase):

    def emf(self, records):
        return [r for r in records if is_emf(r)]

    def test_records_are_valid_emf(self):
        ids, out, _, _ = self.json_run([
            ["namespace", "Shop/Orders"], ["dimensions", {"Service": "orders", "Stage": "test"}],
            ["put", "OrdersPlaced", 3, "Count"], ["put", "OrdersPlaced", 2, "Count"],
            ["put", "Latency", 12.5, "Milliseconds", 1], ["put", "Plain", 1],
            ["property", "CustomerId", "c-1"], ["property", "Detail", {"a": [1, 2]}]])
        [record] = self.emf(out)
        directive = self.assertValidEmf(record)
        self.assertEqual(directive["Namespace"], "Shop/Orders")
        self.assertEqual(directive["Dimensions"], [["Service", "Stage"]])
        self.assertEqual(directive["Metrics"], [{"Name": "OrdersPlaced", "Unit": "Count"},
                                                {"Name": "Latency", "Unit": "Milliseconds", "StorageResolution": 1},
                                                {"Name": "Plain", "Unit": "None"}])
        self.assertEqual(record["OrdersPlaced"], [3, 2])
        self.assertEqual(record["Latency"], 12.5)
        self.assertEqual((record["Service"], record["Stage"]), ("orders", "test"))
        self.assertEqual(record["CustomerId"], "c-1")
        self.assertEqual(record["Detail"], {"a": [1, 2]})
        # not wrapped in a log record, even in JSON mode
        self.assertNotIn("level", record)

    def test_flushed_once_per_invocation_and_on_failure(self):
        ids, out, _, results = self.run_steps(
            [["put", "A", 1, "Count"], ["property", "p", 1]],
            [["put", "B", 2, "Seconds"]],
            [],
            [["put", "C", 3, "Bytes"], ["fail", "after putting"]])
        self.assertEqual(results[3].kind, "error")
        records = [json.loads(line) for line in out.decode().split("\n") if line.startswith("{")]
        self.assertEqual(len(records), 3, records)
        for record, name in zip(records, "ABC"):
            directive = self.assertValidEmf(record)
            self.assertEqual([m["Name"] for m in directive["Metrics"]], [name])
            self.assertEqual(directive["Namespace"], "moonrun")
            self.assertEqual(directive["Dimensions"], [[]])
        self.assertEqual(records[0]["p"], 1)
        self.assertNotIn("p", records[1])  # properties go with one record

    def test_explicit_flush_and_persistent_dimensions(self):
        _, out, _, _ = self.json_run(
            [["dimensions", {"Service": "s"}], ["put", "A", 1], ["flush"], ["put", "A", 2]],
            [["put", "A", 3]])
        records = self.emf(out)
        self.assertEqual([r["A"] for r in records], [1, 2, 3])
        for r in records:
            self.assertEqual(self.assertValidEmf(r)["Dimensions"], [["Service"]])
            self.assertEqual(r["Service"], "s")

    def test_limits_split_records(self):
        _, out, _, _ = self.json_run([["put_many", 150, 1, "Count"]], [["put_many", 1, 250, "Count"]])
        records = self.emf(out)
        self.assertEqual(len(records), 5)
        first, second = records[0], records[1]
        self.assertEqual(len(self.assertValidEmf(first)["Metrics"]), 100)
        self.assertEqual(len(self.assertValidEmf(second)["Metrics"]), 50)
        names = [m["Name"] for r in records[:2] for m in r["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        self.assertEqual(names, ["M%03d" % i for i in range(1, 151)])
        values = []
        for r in records[2:]:
            self.assertValidEmf(r)
            values += r["M001"]
        self.assertEqual([len(r["M001"]) for r in records[2:]], [100, 100, 50])
        self.assertEqual(values, list(range(1, 251)))

    def test_bad_input_is_an_error_naming_it(self):
        many = {"D%02d" % i: "v" for i in range(31)}
        _, out, _, results = self.json_run([
            ["try", "put", "X", 1, "Millis"],
            ["try", "put", "X", "many", "Count"],
            ["try", "put", "", 1],
            ["try", "put", "X", 1, "Count", 5],
            ["try", "dimensions", many],
            ["try", "dimensions", {"Service": 3}],
            ["try", "namespace", "AWS/Lambda"],
            ["try", "namespace", "bad\nname"],
            ["put", "Y", 1, "Count"],
            ["try", "put", "Y", 1, "Seconds"],
            ["try", "property", "Y", 1],
            ["try", "dimensions", {"Y": "a"}],
            ["try", "property", "_aws", 1],
            ["try", "put", "Z", 1, "Count"],
        ])
        errors = results[0].json()["errors"]
        self.assertIn("metrics: unknown unit 'Millis' for 'X' (EMF's units: Seconds,", errors[0])
        self.assertIn("metrics: the value of 'X' must be a finite number, got many", errors[1])
        self.assertIn("metrics: a metric name must be a string of 1 to 255 characters", errors[2])
        self.assertIn("metrics: the resolution of 'X' must be 1 or 60 (seconds), got 5", errors[3])
        self.assertIn("metrics: 31 dimensions given; EMF allows at most 30", errors[4])
        self.assertIn("metrics: dimension 'Service' must have a string value, got number", errors[5])
        self.assertIn("not beginning with AWS/", errors[6])
        self.assertIn("metrics: the namespace must be", errors[7])
        self.assertIn("metrics: 'Y' was put with unit Count and resolution 60, now Seconds and 60", errors[8])
        self.assertIn("metrics: 'Y' is already a metric", errors[9])
        self.assertIn("metrics: 'Y' is already a metric", errors[10])
        self.assertIn("'_aws' is EMF's own member", errors[11])
        self.assertEqual(errors[12], "no error")
        # the record still holds what was valid
        [record] = self.emf(out)
        self.assertValidEmf(record)
        self.assertEqual(record["Y"], 1)
        self.assertEqual(record["Z"], 1)

    def test_nan_and_infinity_are_refused(self):
        code = ("local m = require 'moonrun.metrics' "
                "for _, v in ipairs{0/0, 1/0, -1/0} do local ok, e = pcall(m.put, 'X', v) print(e) end "
                "print(m.flush())")
        out = subprocess.run([moonrun_bin(), "run", "-e", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=T(30), env=os.environ)
        lines = out.stdout.decode().splitlines()
        self.assertEqual(len(lines), 4, out)
        for line in lines[:3]:
            self.assertIn("metrics: the value of 'X' must be a finite number", line)
        self.assertEqual(lines[3], "0")


class TestInvoke(LoggingTestCase):

    def invoke(self, steps, env):
        event = json.dumps({"steps": steps})
        full = dict(os.environ, LAMBDA_TASK_ROOT=HANDLERS, **env)
        return subprocess.run([moonrun_bin(), "invoke", "logging.handler", "--event", "-"], input=event.encode(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full, timeout=T(30))

    def test_invoke_in_json_mode(self):
        out = self.invoke([["print", "hi"], ["write", "open"], ["put", "N", 1, "Count"]], JSON_ENV)
        self.assertEqual(out.returncode, 0, out.stderr)
        records = parse_lines(out.stdout)
        response = records[-1]
        rid = response["request_id"]
        self.assertRecord(records[0], "INFO", "module loading")
        self.assertRecord(records[2], "INFO", "hi", rid)
        self.assertRecord(records[3], "INFO", "open", rid)
        self.assertValidEmf(records[4])
        self.assertEqual(len(records), 6)

    def test_invoke_failure_in_json_mode(self):
        out = self.invoke([["fail", "bad"]], JSON_ENV)
        self.assertEqual(out.returncode, 1)
        [record] = parse_lines(out.stderr)
        self.assertRecord(record, "ERROR", "the handler failed with Error")


if __name__ == "__main__":
    unittest.main()
