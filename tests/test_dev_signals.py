"""Stopping `moonrun dev`: SIGTERM, SIGINT and SIGKILL with and without invocations running,
the functions' shutdown hooks, and the processes its handlers started.

Run from the repository root: python3 -m unittest -v tests/test_dev_signals.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# setUpModule and tearDownModule: moto, while dev has no SQS endpoint of its own
from dev_support import setUpModule, tearDownModule  # noqa: E402,F401
from dev_support import (  # noqa: E402
    CONSUMER_LUA, DevTestCase, ECHO_LUA, ONE_FUNCTION, SCALE, SLOW_LUA, TRIGGERS, children_of,
    group_members, http_request, pid_gone, queue_template, seconds, wait_until)


class TestStopDuringAnInvocation(DevTestCase):
    def test_sigterm_while_a_handler_runs(self):
        self.write("fn/app.lua", SLOW_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION + "      Timeout: 10\n"))
        outcome = {}

        def call():
            try:
                outcome["status"] = http_request(dev.front + "/2015-03-31/functions/Echo/invocations", "POST",
                                                 b'{"n": 1, "sleep": 1}')[0]
            except OSError as e:
                outcome["error"] = repr(e)
        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.3)
        self.stop_dev(dev, timeout=15)
        t.join(seconds(15))
        self.assertFalse(t.is_alive(), "the client's request ended with dev")
        self.assertTrue(outcome, outcome)


SHUTDOWN_LUA = """\
local M = {}
function M.handler(event, context) return {pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")} end
function M.shutdown()
  local f = assert(io.open(os.getenv("SHUTDOWN_FILE"), "a"))
  f:write("shutdown ", os.getenv("AWS_LAMBDA_FUNCTION_NAME"), "\\n")
  f:close()
end
return M
"""


class TestSignals(DevTestCase):
    def test_sigterm_stops_every_child_and_runs_shutdown_functions(self):
        shutdown_file = self.path("shutdown.txt")
        self.write("fn/app.lua", SHUTDOWN_LUA)
        self.write("fn/consume.lua", CONSUMER_LUA)
        text = ONE_FUNCTION + """\
      Environment:
        Variables:
          SHUTDOWN_FILE: %s
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Environment:
        Variables:
          SHUTDOWN_FILE: %s
""" % (shutdown_file, shutdown_file)
        expected_children = 2
        if TRIGGERS:
            text += queue_template(visibility=5).split("Resources:\n", 1)[1]
            expected_children = 4  # Echo, Other, Consumer, the trigger of Consumer on work
        dev = self.start_dev(self.template(text))
        function_pids = {self.invoke_ok(dev, "Echo")["pid"], self.invoke_ok(dev, "Other")["pid"]}
        children = wait_until(lambda: (lambda c: c if len(c) >= expected_children else None)(children_of(dev.pid)),
                              20, f"{expected_children} children of moonrun dev")
        pids = [pid for pid, _ in children]
        self.assertTrue({int(p) for p in function_pids} <= set(pids), (function_pids, children))
        if TRIGGERS:
            self.assertTrue(any("poller" in args for _, args in children), children)
        self.stop_dev(dev, timeout=15)
        for pid, args in children:
            wait_until(lambda: pid_gone(pid), 10, f"child {pid} ({args}) to be gone after dev exited")
        with open(shutdown_file) as f:
            lines = sorted(f.read().splitlines())
        self.assertEqual(lines, ["shutdown Echo", "shutdown Other"])
        dev.wait_for(r"stopping")

    def test_a_reload_runs_the_old_instances_shutdown(self):
        shutdown_file = self.path("shutdown.txt")
        self.write("fn/app.lua", SHUTDOWN_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION), "--env", "SHUTDOWN_FILE=" + shutdown_file)
        first = self.invoke_ok(dev, "Echo")["pid"]
        self.write("fn/app.lua", SHUTDOWN_LUA + "-- edited\n")
        second = self.invoke_ok(dev, "Echo")["pid"]
        self.assertNotEqual(first, second)
        self.assertTrue(pid_gone(int(first)), "the old instance is gone")
        with open(shutdown_file) as f:
            self.assertEqual(f.read(), "shutdown Echo\n")
        self.stop_dev(dev)

    def test_sigkill_of_dev_takes_its_children_along(self):
        self.write("fn/app.lua", SHUTDOWN_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION), "--env", "SHUTDOWN_FILE=" + self.path("s.txt"))
        pid = int(self.invoke_ok(dev, "Echo")["pid"])
        dev.signal(signal.SIGKILL)
        self.assertEqual(dev.wait_exit(10), -signal.SIGKILL)
        wait_until(lambda: pid_gone(pid), 10, "the function's process to end with dev")

    def test_sigterm_right_after_the_banner(self):
        # a supervisor (or a test) may stop dev as soon as it has said where it listens
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION)
        for attempt in range(3):
            dev = self.start_dev(path)
            self.stop_dev(dev)

    def test_sigterm_with_no_function_running(self):
        # nothing to wait for while stopping: a template with a queue alone, and a function
        # whose instance has exited (its init failed)
        dev = self.start_dev(self.template(queue_template(consumer=False), name="queues.yaml"))
        time.sleep(0.5)
        self.stop_dev(dev)
        self.write("fn/app.lua", "return {}\n")
        dev = self.start_dev(self.template(ONE_FUNCTION))
        self.invoke_error(dev, "Echo")
        time.sleep(0.5)
        self.stop_dev(dev)

    def test_a_background_process_of_the_handler_does_not_hold_dev(self):
        # a handler may start a process that outlives it (and inherits its stdout): dev must
        # still notice the function's own exit, stop on SIGTERM and reload
        pid_file = self.path("background.pid")
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler(event)
              os.execute("sleep %d & echo $! > %s")
              return {started = true}
            end
            return M
            """ % (round(20 * SCALE), pid_file))
        dev = self.start_dev(self.template(ONE_FUNCTION + "      Timeout: 3\n"))

        def kill_background():
            try:
                with open(pid_file) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.addCleanup(kill_background)
        self.assertEqual(self.invoke_ok(dev, "Echo"), {"started": True})
        wait_until(lambda: os.path.exists(pid_file), 10, "the background process's pid")
        # an edit: the old instance is stopped, the new one answers
        self.write("fn/app.lua", ECHO_LUA)
        started = time.monotonic()
        self.assertEqual(self.invoke_ok(dev, "Echo", {"x": 1})["event"], {"x": 1})
        self.assertLess(time.monotonic() - started, seconds(10), "the reload waited for the background process")
        self.stop_dev(dev, timeout=15)

    def test_sigterm_just_after_invocations(self):
        # each function's runtime asks for its next event as soon as it has answered: a SIGTERM
        # then finds requests that its Runtime API server has not read yet
        self.write("fn/app.lua", ECHO_LUA)
        text = "Transform: AWS::Serverless-2016-10-31\nResources:\n"
        for i in range(6):
            text += ONE_FUNCTION.split("Resources:\n", 1)[1].replace("Echo:", f"F{i}:")
        path = self.template(text)
        for attempt in range(10):
            dev = self.start_dev(path)
            # failing ones: the runtime logs the error before it asks again, which widens the window
            threads = [threading.Thread(target=self.invoke_error, args=(dev, f"F{i}", {"fail": i})) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(seconds(30))
            self.stop_dev(dev)

    def test_a_second_sigterm_stops_at_once(self):
        self.write("fn/app.lua", SLOW_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION + "      Timeout: 60\n"))
        self.lambda_client(dev).invoke(FunctionName="Echo", InvocationType="Event",
                                       Payload=json.dumps({"n": 1, "sleep": round(30 * SCALE)}).encode())
        pids = wait_until(lambda: [pid for pid, _ in children_of(dev.pid)], 10, "the function's process")
        time.sleep(0.5)
        dev.signal(signal.SIGTERM)
        dev.wait_for(r"stopping")
        started = time.monotonic()
        dev.signal(signal.SIGTERM)
        self.assertEqual(dev.wait_exit(10), 0, dev.output())
        self.assertLess(time.monotonic() - started, seconds(5))
        for pid in pids:
            wait_until(lambda: pid_gone(pid), 10, f"child {pid} to be gone")
            # and what the handler started (its os.execute), in the child's process group
            wait_until(lambda: not group_members(pid), 10, f"the processes of child {pid}'s group to be gone")

    def test_sigkill_of_dev_takes_what_the_handlers_started_along(self):
        pid_file = self.path("background.pid")
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler(event)
              os.execute("sleep %d & echo $! > %s")
              return {pid = io.open("/proc/self/stat"):read("l"):match("^(%%d+)")}
            end
            return M
            """ % (round(30 * SCALE), pid_file))
        dev = self.start_dev(self.template(ONE_FUNCTION))

        def kill_background():
            try:
                with open(pid_file) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.addCleanup(kill_background)
        child = int(self.invoke_ok(dev, "Echo")["pid"])
        wait_until(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file), 10, "the background pid")
        dev.signal(signal.SIGKILL)
        self.assertEqual(dev.wait_exit(10), -signal.SIGKILL)
        wait_until(lambda: pid_gone(child), 10, "the function's process to end with dev")
        wait_until(lambda: not group_members(child), 10, "what the handler started to end with dev")

    def test_sigint_stops_dev_too(self):
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION))
        self.invoke_ok(dev, "Echo")
        dev.signal(signal.SIGINT)
        self.assertEqual(dev.wait_exit(15), 0, dev.output())


if __name__ == "__main__":
    unittest.main()
