"""Tests of the local commands as a user drives them: invoke (options, --watch) and the REPL,
through a pipe and through a pseudo-terminal (line editing, persistent history).

Run from the repository root: python3 -m unittest -v tests/test_local.py
Environment: MOONRUN_BIN (default build/moonrun).
"""

import json
import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun")))
FIXTURES = os.path.join(HERE, "local")


def moonrun(*args, stdin=None, env=None, cwd=FIXTURES, timeout=30):
    full_env = dict(os.environ, LAMBDA_TASK_ROOT=cwd)
    full_env.pop("AWS_LAMBDA_FUNCTION_TIMEOUT", None)
    full_env.update(env or {})
    return subprocess.run([MOONRUN, *args], input=stdin, capture_output=True, env=full_env, cwd=cwd,
                          timeout=timeout)


class TestInvoke(unittest.TestCase):
    def test_event_file_and_compact_output_on_a_pipe(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"name": "ada"}, f)
        self.addCleanup(os.unlink, f.name)
        p = moonrun("invoke", "greet.handler", "--event", f.name)
        self.assertEqual(p.returncode, 0, p.stderr)
        line = p.stdout.decode().strip()
        self.assertNotIn("\n", line, "compact JSON when stdout is not a terminal")
        out = json.loads(line)
        self.assertEqual(out["name"], "ada")
        self.assertEqual(out["function_name"], "moonrun-local")

    def test_event_from_stdin(self):
        p = moonrun("invoke", "greet.handler", "--event", "-", stdin=b'{"name": "stdin"}')
        self.assertEqual(json.loads(p.stdout)["name"], "stdin")

    def test_an_event_that_is_not_json_is_a_usage_error(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"name": ')
        self.addCleanup(os.unlink, f.name)
        p = moonrun("invoke", "greet.handler", "--event", f.name)
        self.assertEqual(p.returncode, 2)
        self.assertIn(f"the event file '{f.name}' is not JSON: invalid JSON at line 1".encode(), p.stderr)
        self.assertEqual(p.stdout, b"", "the handler did not run")
        p = moonrun("invoke", "greet.handler", "--event", "-", stdin=b"[1,")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"the event on stdin is not JSON", p.stderr)
        p = moonrun("invoke", "greet.handler", "--event", "/nonexistent/event.json")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"cannot read the event file '/nonexistent/event.json': No such file or directory", p.stderr)

    def test_an_sqs_answer_lambda_cannot_read_is_warned_about(self):
        root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, root)
        write(root, "batch.lua", "return {\n"
              "  empty = function() return {batchItemFailures = {}} end,\n"
              "  good = function(e) return {batchItemFailures = {{itemIdentifier = e.Records[1].messageId}}} end,\n"
              "  stranger = function() return {batchItemFailures = {{itemIdentifier = 'not-in-batch'}}} end,\n"
              "}\n")
        event = moonrun("event", "sqs", "--body", "x").stdout
        p = moonrun("invoke", "batch.empty", "--event", "-", stdin=event, cwd=root)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"warning: batchItemFailures is not a list: with ReportBatchItemFailures, Lambda would "
                      b"take the whole batch as failed (an empty list is json.array{}", p.stderr)
        p = moonrun("invoke", "batch.stranger", "--event", "-", stdin=event, cwd=root)
        self.assertIn(b"is not a message of the batch", p.stderr)
        p = moonrun("invoke", "batch.good", "--event", "-", stdin=event, cwd=root)
        self.assertNotIn(b"warning", p.stderr)
        # not an SQS event: nothing to say
        p = moonrun("invoke", "batch.empty", "--event", "-", stdin=b'{"a": 1}', cwd=root)
        self.assertNotIn(b"warning", p.stderr)

    def test_timeout_sets_the_deadline(self):
        out = json.loads(moonrun("invoke", "greet.handler", "--timeout", "60").stdout)
        self.assertGreater(out["remaining"], 55000)
        self.assertLessEqual(out["remaining"], 60000)
        out = json.loads(moonrun("invoke", "greet.handler").stdout)
        self.assertLessEqual(out["remaining"], 3000, "Lambda's default timeout is 3 s")
        out = json.loads(moonrun("invoke", "greet.handler", env={"AWS_LAMBDA_FUNCTION_TIMEOUT": "20"}).stdout)
        self.assertGreater(out["remaining"], 15000)

    def test_timeout_stops_a_handler_that_runs_past_it(self):
        started = time.monotonic()
        p = moonrun("invoke", "overrun.handler", "--timeout", "1")
        elapsed = time.monotonic() - started
        self.assertEqual(p.returncode, 1, p.stderr)
        err = json.loads(p.stdout)
        self.assertEqual(err["errorType"], "Timeout")
        self.assertIn("overrun.lua:5", err["errorMessage"])
        self.assertIn(b"the handler failed with Timeout", p.stderr)
        self.assertGreater(elapsed, 0.75)
        self.assertLess(elapsed, 20)

    def test_env_option(self):
        p = moonrun("invoke", "greet.handler", "--env", "GREETING=hi", "--env", "AWS_LAMBDA_FUNCTION_NAME=fn")
        out = json.loads(p.stdout)
        self.assertEqual((out["greeting"], out["function_name"]), ("hi", "fn"))

    def test_failure_prints_the_error_json_and_exits_1(self):
        p = moonrun("invoke", "greet.fail")
        self.assertEqual(p.returncode, 1)
        err = json.loads(p.stdout)
        self.assertEqual((err["errorType"], err["errorMessage"]), ("ValidationError", "no name"))
        self.assertIn(b"ValidationError", p.stderr)

    def test_init_error_exits_1(self):
        p = moonrun("invoke", "missing.handler")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(p.stdout)["errorType"], "Runtime.ImportModuleError")

    def test_bad_arguments_exit_2_and_name_the_problem(self):
        cases = [(["invoke"], b"which handler"), (["invoke", "greet.handler", "--bogus"], b"--bogus"),
                 (["invoke", "greet.handler", "--timeout", "soon"], b"soon"),
                 (["invoke", "greet.handler", "--env", "NOEQUALS"], b"NOEQUALS"),
                 (["invoke", "greet.handler", "--event"], b"--event needs a value"),
                 (["invoke", "greet.handler", "--event", "/nonexistent.json"], b"/nonexistent.json"),
                 (["invoke", "a.handler", "b.handler"], b"unexpected argument")]
        for args, message in cases:
            p = moonrun(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(message, p.stderr, args)

    def test_help(self):
        p = moonrun("invoke", "--help")
        self.assertEqual(p.returncode, 0)
        for option in (b"--event", b"--timeout", b"--env", b"--watch"):
            self.assertIn(option, p.stdout)

    def test_pretty_output_on_a_terminal(self):
        out = run_in_pty([MOONRUN, "invoke", "greet.handler"], [], env={"LAMBDA_TASK_ROOT": FIXTURES})
        self.assertIn('{\r\n  "', out)


class TestWatch(unittest.TestCase):
    def test_edits_to_the_handler_and_its_modules_are_picked_up(self):
        root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, root)
        write(root, "app.lua", 'local util = require "util"\nreturn {handler = function() return util.v end}\n')
        write(root, "util.lua", "return {v = 1}\n")
        proc = subprocess.Popen([MOONRUN, "invoke", "app.handler", "--watch"], cwd=root, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=dict(os.environ, LAMBDA_TASK_ROOT=root))
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        self.assertEqual(read_line(proc), "1")
        write(root, "util.lua", "return {v = 2}\n")
        self.assertEqual(read_line(proc), "2")
        write(root, "util.lua", "return {v = = 3}\n")  # a syntax error is reported, watching goes on
        self.assertIn("Runtime.ModuleInitError", read_line(proc))
        write(root, "util.lua", "return {v = 4}\n")  # the module that failed is still watched
        self.assertEqual(read_line(proc), "4")
        write(root, "app.lua", "return {handler = function() return 5 end}\n")
        self.assertEqual(read_line(proc), "5")
        self.assertIsNone(proc.poll(), "the watch survives every edit")


class TestRepl(unittest.TestCase):
    def repl(self, script, *args):
        return moonrun("repl", *args, stdin=script.encode(), cwd=os.path.join(REPO))

    def test_piped_session(self):
        p = self.repl("x = 40\nx + 2\nfunction double(n)\n  return n * 2\nend\ndouble(21)\n"
                      "json.encode({1, 2})\nerror('bad')\n'still here'\n{b = 2, a = {1, 2}, [1] = 'one'}\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode(),
                         '42\n42\n"[1,2]"\n"still here"\n{\n  "one",\n  a = {\n    1,\n    2,\n  },\n  b = 2,\n}\n')
        self.assertIn(b"stdin:1: bad", p.stderr)

    def test_cycles_and_depth_limit(self):
        p = self.repl("t = {name = 'loop'}\nt.self = t\nt\n{a = {b = {c = {d = {e = {f = {}}}}}}}\n")
        out = p.stdout.decode()
        self.assertIn("self = <cycle>", out)
        self.assertIn("{...}", out)

    def test_handler_invoke_and_reload(self):
        root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, root)
        write(root, "app.lua", "local n = 0\nreturn {handler = function(e) n = n + 1 return {n = n, name = e.name} end}\n")
        script = ("invoke({name = 'a'}).n\ninvoke({name = 'b'}).n\n"
                  "io.open('app.lua', 'w'):write('return {handler = function() error(\"v2\") end}'):close()\n"
                  "reload()\nr, err = invoke({})\nerr.errorType, err.errorMessage\n")
        p = moonrun("repl", "app.handler", stdin=script.encode(), cwd=root)
        lines = p.stdout.decode().splitlines()
        # the file write's close() and reload() each print true
        self.assertEqual(lines[:4], ["1", "2", "true", "true"], p.stderr)
        self.assertEqual(lines[4].split("\t")[0], '"Error"')
        self.assertIn("v2", lines[4])

    def test_help_lists_the_helpers(self):
        out = self.repl(".help\n").stdout
        for word in (b"invoke(event)", b"reload()", b"json"):
            self.assertIn(word, out)
        self.assertIn(b"invoke(event)", self.repl("help()\n").stdout)

    def test_modules_are_globals(self):
        out = self.repl("type(json), json == require('moonrun.json'), type(uuid.v4), type(time.now)\n").stdout.decode()
        self.assertEqual(out.strip(), '"table"\ttrue\t"function"\t"function"')

    def test_line_editing_and_history_through_a_terminal(self):
        history = os.path.join(tempfile.mkdtemp(), "history")
        self.addCleanup(shutil.rmtree, os.path.dirname(history))
        env = {"MOONRUN_HISTORY": history}
        out = run_in_pty([MOONRUN, "repl"], [b"x = 40\r", b"x + 2\r", b"\x1b[A\r", b"y = 1 +\r", b"1\r", b"y\r"], env)
        self.assertEqual(out.count("42"), 2, "up-arrow recalls and reruns the last line: " + out)
        self.assertIn(">> ", out, "an unfinished statement continues")
        self.assertIn("\r\n2\r\n", out)
        with open(history) as f:
            saved = f.read()
        self.assertIn("x\\040+\\0402", saved)
        # a new session recalls the previous one's history
        out = run_in_pty([MOONRUN, "repl"], [b"\x1b[A\x1b[A\x1b[A\r"], env)  # y, y = 1 + ..., x + 2
        self.assertIn("> x + 2", out.replace("\x1b[8G", ""))

    def test_env_options(self):
        p = self.repl('os.getenv("STAGE"), os.getenv("PAIR")\n', "--env", "STAGE=dev", "--env", "PAIR=a=b")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode().strip(), '"dev"\t"a=b"')
        for bad in ("novalue", "=x"):
            p = self.repl("1\n", "--env", bad)
            self.assertEqual(p.returncode, 2)
            self.assertIn(b"--env wants NAME=VALUE, not '" + bad.encode() + b"'", p.stderr)

    def test_tab_completion_through_a_terminal(self):
        history = os.path.join(tempfile.mkdtemp(), "history")
        self.addCleanup(shutil.rmtree, os.path.dirname(history))
        keys = [b"json.enc\t", b"{a = 1})\r",
                b"counter = {hits = 41}\r", b"counter.h\t", b" + 1\r",
                b"string.fo\t", b'"<%d>", 7)\r',
                b"q = setmetatable({}, {__index = {send = function() return 'sent' end}})\r", b"q:se\t", b")\r",
                # looking a name up never runs code: this __index would end the session
                b"trap = setmetatable({}, {__index = function() os.exit(9) end})\r", b"trap.x\t", b"\x15",
                b"'still here'\r"]
        out = run_in_pty([MOONRUN, "repl"], keys, {"MOONRUN_HISTORY": history})
        self.assertIn('"{\\"a\\":1}"', out)
        self.assertIn("\r\n42\r\n", out)
        self.assertIn('"<7>"', out)
        self.assertIn('"sent"', out)
        self.assertIn('"still here"', out)

    def test_bad_arguments(self):
        p = moonrun("repl", "a.handler", "extra")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"extra", p.stderr)


def write(root, name, text):
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write(text)
    # mtime resolution: make sure the watcher sees a new time
    now = time.time()
    os.utime(path, (now, now))


def read_line(proc, timeout=10):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError("no output within %ss" % timeout)
    return proc.stdout.readline().decode().strip()


def run_in_pty(argv, keys, env):
    """Runs argv on a pseudo-terminal, types keys one by one, then Ctrl-D; returns the screen text."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(env)
        os.execv(argv[0], argv)
    chunks = []

    def drain(seconds):
        end = time.time() + seconds
        while time.time() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunks.append(os.read(fd, 4096))
                except OSError:
                    return

    drain(1.0)
    for key in keys:
        os.write(fd, key)
        drain(0.3)
    os.write(fd, b"\x04")
    drain(0.5)
    os.kill(pid, 9) if not os.waitpid(pid, os.WNOHANG)[0] else None
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


if __name__ == "__main__":
    unittest.main()
