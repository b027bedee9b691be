"""`moonrun dev`'s function instances: a timeout, a crash or os.exit stop and replace one; the
memory size caps its Lua heap; errors while it loads; and hot reload when its files change.

Run from the repository root: python3 -m unittest -v tests/test_dev_functions.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# setUpModule and tearDownModule: moto, while dev has no SQS endpoint of its own
from dev_support import setUpModule, tearDownModule  # noqa: E402,F401
from dev_support import (  # noqa: E402
    DevTestCase, ECHO_LUA, ONE_FUNCTION, SCALE, http_request, pid_gone, seconds, wait_until)


LIFECYCLE_LUA = """\
local M = {}
local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
function M.handler(event, context)
  if event.spin then while true do end end
  if event.block then os.execute("sleep " .. event.block) end
  if event.exit then os.exit(event.exit) end
  if event.kill then os.execute("kill -KILL " .. pid) end
  return {pid = pid, remaining = context:get_remaining_time_in_millis()}
end
return M
"""


class TestFailuresOfTheFunction(DevTestCase):
    """Timeouts, exits, crashes and init errors: reported, and the next request works."""

    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", LIFECYCLE_LUA)
        self.dev = self.start_dev(self.template(ONE_FUNCTION + "      Timeout: 1\n"))

    def test_a_busy_loop_is_stopped_at_the_timeout(self):
        first = self.invoke_ok(self.dev, "Echo")
        self.assertLessEqual(first["remaining"], 1000, "Timeout: 1 from the template")
        started = time.monotonic()
        error = self.invoke_error(self.dev, "Echo", {"spin": True})
        elapsed = time.monotonic() - started
        self.assertIn(error["errorType"], ("Timeout", "Sandbox.Timedout"), error)
        self.assertIn("timed out", error["errorMessage"])
        self.assertGreater(elapsed, 0.7)
        self.assertLess(elapsed, seconds(10))
        self.dev.wait_for(r"Echo\s+invoke\s.*(Timeout|Sandbox\.Timedout)")
        self.assertIn("pid", self.invoke_ok(self.dev, "Echo"))
        self.stop_dev(self.dev)

    def test_a_handler_stuck_in_c_is_stopped_and_replaced(self):
        # os.execute: the runtime cannot stop a handler inside C; dev's backstop (the timeout
        # and a second) must, and answer then, not when the handler's command ends
        block = round(8 * SCALE)
        first = self.invoke_ok(self.dev, "Echo")
        started = time.monotonic()
        error = self.invoke_error(self.dev, "Echo", {"block": block})
        elapsed = time.monotonic() - started
        self.assertIn(error["errorType"], ("Timeout", "Sandbox.Timedout"), error)
        self.assertLess(elapsed, block - 1, "dev's backstop ends the invocation before the handler would")
        after = self.invoke_ok(self.dev, "Echo")
        self.assertNotEqual(after["pid"], first["pid"], "a fresh instance takes the next request")
        self.stop_dev(self.dev)

    def test_os_exit_is_runtime_exit_error_and_the_next_request_works(self):
        first = self.invoke_ok(self.dev, "Echo")
        error = self.invoke_error(self.dev, "Echo", {"exit": 3})
        self.assertEqual(error["errorType"], "Runtime.ExitError", error)
        after = self.invoke_ok(self.dev, "Echo")
        self.assertNotEqual(after["pid"], first["pid"], "a new instance")
        self.stop_dev(self.dev)

    def test_a_crash_is_runtime_exit_error_and_the_next_request_works(self):
        first = self.invoke_ok(self.dev, "Echo")
        error = self.invoke_error(self.dev, "Echo", {"kill": True})
        self.assertEqual(error["errorType"], "Runtime.ExitError", error)
        self.assertIn("signal", error["errorMessage"])
        self.dev.wait_for(r"Echo\s+invoke\s.*Runtime\.ExitError")
        after = self.invoke_ok(self.dev, "Echo")
        self.assertNotEqual(after["pid"], first["pid"], "a new instance")
        self.stop_dev(self.dev)


class TestMemorySize(DevTestCase):
    def test_memory_size_caps_the_lua_heap(self):
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler(event)
              if event.big then local t = {} for i = 1, 1e8 do t[i] = string.rep("x", 100) .. i end end
              return {ok = true}
            end
            return M
            """)
        dev = self.start_dev(self.template(ONE_FUNCTION + "      MemorySize: 128\n      Timeout: 60\n"))
        error = self.invoke_error(dev, "Echo", {"big": True})
        self.assertEqual(error["errorType"], "OutOfMemory", error)
        self.assertEqual(self.invoke_ok(dev, "Echo"), {"ok": True})
        self.stop_dev(dev)


class TestInitErrors(DevTestCase):
    def test_a_syntax_error_is_reported_on_invoke_and_fixing_it_is_enough(self):
        self.write("fn/app.lua", "local M = {}\nfunction M.handler( return 1 end\nreturn M\n")
        dev = self.start_dev(self.template(ONE_FUNCTION + """\
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/get", Method: GET}
"""))
        error = self.invoke_error(dev, "Echo")
        self.assertEqual(error["errorType"], "Runtime.UserCodeSyntaxError", error)
        self.assertIn("app.lua:2", error["errorMessage"])
        # twice: the error does not depend on the first instance's timing
        self.assertEqual(self.invoke_error(dev, "Echo")["errorType"], "Runtime.UserCodeSyntaxError")
        status, _, body = http_request(dev.front + "/get")
        self.assertEqual(status, 500, body)
        self.write("fn/app.lua", ECHO_LUA)
        self.assertEqual(self.invoke_ok(dev, "Echo", {"fixed": 1})["event"], {"fixed": 1})
        status, _, body = http_request(dev.front + "/get")
        self.assertEqual(status, 200, body)
        self.stop_dev(dev)

    def test_a_module_that_raises_while_loading(self):
        self.write("fn/app.lua", 'error("no config")\n')
        dev = self.start_dev(self.template(ONE_FUNCTION))
        error = self.invoke_error(dev, "Echo")
        self.assertEqual(error["errorType"], "Runtime.ModuleInitError", error)
        self.assertIn("no config", error["errorMessage"])
        self.write("fn/app.lua", ECHO_LUA)
        self.assertEqual(self.invoke_ok(dev, "Echo")["name"], "Echo")
        self.stop_dev(dev)

    def test_a_missing_handler_function(self):
        self.write("fn/app.lua", "return {}\n")
        dev = self.start_dev(self.template(ONE_FUNCTION))
        self.assertEqual(self.invoke_error(dev, "Echo")["errorType"], "Runtime.HandlerNotFound")
        self.stop_dev(dev)


COUNTER_LUA = """\
local helper = require "helper"
local count = 0
local M = {}
function M.handler()
  count = count + 1
  return {version = "%s", helper = helper.word, count = count}
end
return M
"""


class TestHotReload(DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", COUNTER_LUA % "one")
        self.write("fn/helper.lua", 'return {word = "first"}\n')
        self.dev = self.start_dev(self.template(ONE_FUNCTION + """\
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/count", Method: GET}
"""))

    def test_an_edit_takes_effect_on_the_next_request_with_fresh_state(self):
        self.assertEqual(self.invoke_ok(self.dev, "Echo"), {"version": "one", "helper": "first", "count": 1})
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 2, "module state kept between requests")
        self.write("fn/app.lua", COUNTER_LUA % "second")
        self.assertEqual(self.invoke_ok(self.dev, "Echo"), {"version": "second", "helper": "first", "count": 1})
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 2)
        self.dev.wait_for(r"Echo: code changed, reloading")
        self.stop_dev(self.dev)

    def test_an_edit_of_a_required_module_reloads_too(self):
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["helper"], "first")
        self.write("fn/helper.lua", 'return {word = "changed"}\n')
        self.assertEqual(self.invoke_ok(self.dev, "Echo"), {"version": "one", "helper": "changed", "count": 1})
        self.stop_dev(self.dev)

    def test_two_functions_sharing_a_folder_both_reload(self):
        path = self.template(ONE_FUNCTION + """\
  Twin:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
""", name="twins.yaml")
        dev = self.start_dev(path, state=self.path("state-twins"))
        self.assertEqual(self.invoke_ok(dev, "Echo")["version"], "one")
        self.assertEqual(self.invoke_ok(dev, "Twin")["version"], "one")
        self.write("fn/app.lua", COUNTER_LUA % "both")
        self.assertEqual(self.invoke_ok(dev, "Echo")["version"], "both")
        self.assertEqual(self.invoke_ok(dev, "Twin")["version"], "both")
        self.stop_dev(dev)
        self.stop_dev(self.dev)

    def test_reload_through_an_http_route(self):
        status, _, body = http_request(self.dev.front + "/count")
        self.assertEqual(json.loads(body)["version"], "one")
        self.write("fn/app.lua", COUNTER_LUA % "via-http")
        status, _, body = http_request(self.dev.front + "/count")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"version": "via-http", "helper": "first", "count": 1})
        self.stop_dev(self.dev)

    def test_new_and_removed_files_reload_hidden_ones_do_not(self):
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 1)
        self.write("fn/.cache/notes.txt", "a hidden folder")
        self.write("fn/.hidden.lua", "-- a hidden file")
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 2, "hidden files do not reload")
        self.write("fn/sub/new.lua", "return 1\n")
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 1, "a new file reloads")
        os.unlink(self.path("fn/sub/new.lua"))
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 1, "a removed file reloads")
        self.stop_dev(self.dev)

    def test_an_instance_killed_from_outside_is_replaced(self):
        self.write("fn/app.lua", LIFECYCLE_LUA)
        first = self.invoke_ok(self.dev, "Echo")["pid"]
        second = self.invoke_ok(self.dev, "Echo")["pid"]
        os.kill(int(second), signal.SIGKILL)
        wait_until(lambda: pid_gone(int(second)), 10, "the instance to die")
        third = self.invoke_ok(self.dev, "Echo")["pid"]
        self.assertNotEqual(third, second)
        self.stop_dev(self.dev)

    def test_a_broken_edit_then_a_fix(self):
        self.assertEqual(self.invoke_ok(self.dev, "Echo")["count"], 1)
        self.write("fn/app.lua", "local M = {\n")
        self.assertEqual(self.invoke_error(self.dev, "Echo")["errorType"], "Runtime.UserCodeSyntaxError")
        self.write("fn/app.lua", COUNTER_LUA % "fixed")
        self.assertEqual(self.invoke_ok(self.dev, "Echo"), {"version": "fixed", "helper": "first", "count": 1})
        self.stop_dev(self.dev)


if __name__ == "__main__":
    unittest.main()
