"""The `moonrun dev` command: the environment the template gives its functions, its options,
its errors on a bad command line or template, its terminal view, and where it listens.

Run from the repository root: python3 -m unittest -v tests/test_dev_command.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# setUpModule and tearDownModule: moto, while dev has no SQS endpoint of its own
from dev_support import setUpModule, tearDownModule  # noqa: E402,F401
from dev_support import (  # noqa: E402
    ACCOUNT, DevTestCase, ECHO_LUA, EMBEDDED, MOONRUN, ONE_FUNCTION, REGION, SECRET, children_of,
    client_env, http_request, queue_template, seconds)
import dev_support  # noqa: E402  (dev_support.MOTO: set by setUpModule)


ENV_LUA = """\
local M = {}
function M.handler(event, context)
  local names = {"GREETING", "FROM_GLOBALS", "QUEUE_URL", "QUEUE_ARN", "QUEUE_NAME", "STAGE", "SUBBED",
                 "EXTRA", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER",
                 "AWS_ENDPOINT_URL_SQS", "AWS_REGION", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_VERSION"}
  local env = {}
  for _, name in ipairs(names) do env[name] = os.getenv(name) or false end
  return {env = env, function_name = context.function_name, memory = context.memory_limit_in_mb,
          remaining = context:get_remaining_time_in_millis()}
end
return M
"""


ENV_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: provided.al2023
    Environment:
      Variables:
        FROM_GLOBALS: global value
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs-queue
  Env:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      MemorySize: 256
      Timeout: 7
      Environment:
        Variables:
          GREETING: hello
          QUEUE_URL: !Ref Jobs
          QUEUE_ARN: !GetAtt Jobs.Arn
          QUEUE_NAME: !GetAtt Jobs.QueueName
          STAGE: !Ref Stage
          SUBBED: !Sub "${Stage}-${Jobs.QueueName}"
"""


class TestEnvironment(DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", ENV_LUA)
        self.template_path = self.template(ENV_TEMPLATE)

    def test_the_template_gives_the_function_its_environment(self):
        dev = self.start_dev(self.template_path)
        result = self.invoke_ok(dev, "Env")
        env = result["env"]
        self.assertEqual(env["GREETING"], "hello")
        self.assertEqual(env["FROM_GLOBALS"], "global value")
        self.assertEqual(env["QUEUE_URL"], f"{dev.sqs}/{ACCOUNT}/jobs-queue")
        self.assertEqual(env["QUEUE_ARN"], f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs-queue")
        self.assertEqual(env["QUEUE_NAME"], "jobs-queue")
        self.assertEqual(env["STAGE"], "dev")
        self.assertEqual(env["SUBBED"], "dev-jobs-queue")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_NAME"], "Env")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST")
        self.assertEqual(env["_HANDLER"], "app.handler")
        self.assertEqual(env["AWS_ENDPOINT_URL_SQS"], dev.sqs)
        self.assertEqual(env["AWS_REGION"], REGION)
        self.assertEqual(os.path.realpath(env["LAMBDA_TASK_ROOT"]), os.path.realpath(self.path("fn")))
        self.assertIs(env["EXTRA"], False)
        self.assertEqual(result["function_name"], "Env")
        self.assertEqual(result["memory"], 256)
        self.assertGreater(result["remaining"], 5000, "Timeout: 7")
        self.assertLessEqual(result["remaining"], 7000)
        self.stop_dev(dev)

    def test_only_lambdas_environment_reaches_the_function(self):
        # the shell's environment stays out, and with the embedded SQS so do the user's credentials
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler()
              local names = {"SHELL_ONLY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                             "MOONRUN_MEMORY_LIMIT_MB", "AWS_LAMBDA_LOG_GROUP_NAME", "PATH", "GREETING"}
              local env = {}
              for _, name in ipairs(names) do env[name] = os.getenv(name) or false end
              return env
            end
            return M
            """)
        dev = self.start_dev(self.template_path, "--env", "GREETING=from the command line",
                             env={"SHELL_ONLY": "secret-ish", "AWS_SESSION_TOKEN": "user-session-token"})
        env = self.invoke_ok(dev, "Env")
        self.assertIs(env["SHELL_ONLY"], False)
        self.assertEqual(env["AWS_ACCESS_KEY_ID"], "AKIAMOONRUNDEV000000")
        self.assertNotEqual(env["AWS_SECRET_ACCESS_KEY"], SECRET)
        self.assertIs(env["AWS_SESSION_TOKEN"], False)
        self.assertEqual(env["MOONRUN_MEMORY_LIMIT_MB"], "256")
        self.assertEqual(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/Env")
        self.assertTrue(env["PATH"])
        self.assertEqual(env["GREETING"], "hello", "the template's own variables win over --env")
        self.stop_dev(dev)

    def test_function_name_and_function_intrinsics(self):
        self.write("fn/app.lua", ENV_LUA)
        dev = self.start_dev(self.template("""\
Transform: AWS::Serverless-2016-10-31
Resources:
  Named:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: my-named-function
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
  Env:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Environment:
        Variables:
          GREETING: !Ref Named
          QUEUE_ARN: !GetAtt Named.Arn
""", name="named.yaml"))
        self.assertEqual(self.invoke_ok(dev, "my-named-function")["function_name"], "my-named-function")
        env = self.invoke_ok(dev, "Env")["env"]
        self.assertEqual(env["GREETING"], "my-named-function")
        self.assertEqual(env["QUEUE_ARN"], f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-named-function")
        self.stop_dev(dev)

    def test_env_and_parameter_options(self):
        dev = self.start_dev(self.template_path, "--env", "EXTRA=from the command line", "--env", "EMPTY=",
                             "--parameter", "Stage=prod")
        env = self.invoke_ok(dev, "Env")["env"]
        self.assertEqual(env["EXTRA"], "from the command line")
        self.assertEqual(env["STAGE"], "prod")
        self.assertEqual(env["SUBBED"], "prod-jobs-queue")
        self.stop_dev(dev)

    def test_the_region_option(self):
        dev = self.start_dev(self.template_path, "--region", "eu-west-1")
        env = self.invoke_ok(dev, "Env")["env"]
        self.assertEqual(env["AWS_REGION"], "eu-west-1")
        self.assertEqual(env["QUEUE_ARN"], f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs-queue")
        self.stop_dev(dev)

    def test_the_template_creates_its_queues(self):
        dev = self.start_dev(self.template_path)
        urls = self.sqs_client(dev).list_queues().get("QueueUrls", [])
        self.assertTrue(any(u.endswith("/jobs-queue") for u in urls), urls)
        self.stop_dev(dev)


class TestCommandLineAndTemplateErrors(DevTestCase):
    """What a user gets wrong: one clear message naming the file, resource and property; no traceback."""

    def check_error(self, p, status, *words):
        text = p.stderr
        self.assertEqual(p.returncode, status, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        for word in words:
            self.assertIn(word, text, f"the message should name {word!r}")
        self.assertNoTraceback(text + p.stdout)
        self.assertLess(len(text.splitlines()), 6, "one short message")

    def endpoint_args(self):
        return ["--sqs-endpoint", dev_support.MOTO.url] if dev_support.MOTO else []

    def test_an_unsupported_event_type(self):
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION + """\
      Events:
        Stream:
          Type: Kinesis
          Properties:
            Stream: arn:aws:kinesis:us-east-1:000000000000:stream/s
""", name="bad-event.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"),
                         *self.endpoint_args())
        self.check_error(p, 1, "bad-event.yaml", "Echo", "Stream", "Kinesis")

    def test_a_missing_code_uri_folder(self):
        path = self.template(ONE_FUNCTION.replace("CodeUri: fn", "CodeUri: not-there"), name="no-code.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"),
                         *self.endpoint_args())
        self.check_error(p, 1, "no-code.yaml", "Echo", "CodeUri", "not-there")

    def test_bad_yaml(self):
        path = self.template("Resources:\n  Echo: [unclosed\n  Other: 1\n", name="broken.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"),
                         *self.endpoint_args())
        self.check_error(p, 1, "broken.yaml")
        self.assertRegex(p.stderr, r"line \d+|:\d+", "the message says where")

    def test_an_unsupported_intrinsic_and_runtime(self):
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION + """\
      Environment:
        Variables:
          OTHER: !ImportValue another-stack-export
""", name="import.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"))
        self.check_error(p, 1, "import.yaml", "Echo", "Environment", "OTHER", "ImportValue")
        path = self.template(ONE_FUNCTION.replace("provided.al2023", "python3.12"), name="python.yaml")
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"))
        self.check_error(p, 1, "python.yaml", "Echo", "Runtime", "python3.12")

    def test_a_missing_template(self):
        p = self.run_dev(self.path("nothing.yaml"), "--port", "0", "--sqs-port", "0", *self.endpoint_args())
        self.check_error(p, 1, "nothing.yaml")
        empty = self.path("empty-dir")
        os.makedirs(empty)
        p = self.run_dev("--port", "0", "--sqs-port", "0", *self.endpoint_args(), cwd=empty)
        self.check_error(p, 1, "template.yaml")

    def test_a_busy_port(self):
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION)
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            p = self.run_dev(path, "--port", str(port), "--sqs-port", "0", "--state", self.path("state"),
                             *self.endpoint_args())
            self.check_error(p, 1, str(port))
            self.assertRegex(p.stderr.lower(), r"in use|busy|cannot listen|bind")
            if EMBEDDED:
                p = self.run_dev(path, "--port", "0", "--sqs-port", str(port), "--state", self.path("state"))
                self.check_error(p, 1, str(port))

    def test_the_same_port_twice(self):
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        p = self.run_dev(path, "--port", str(port), "--sqs-port", str(port), "--state", self.path("state"))
        self.check_error(p, 1, str(port))

    def test_an_unknown_option_is_a_usage_error(self):
        p = self.run_dev("--bogus")
        self.check_error(p, 2, "--bogus")
        p = self.run_dev("--port", "eighty")
        self.check_error(p, 2, "--port", "eighty")
        p = self.run_dev("--port")
        self.check_error(p, 2, "--port")
        p = self.run_dev("--env", "NOEQUALS")
        self.check_error(p, 2, "NOEQUALS")

    def test_help(self):
        p = self.run_dev("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: moonrun dev", p.stdout)
        self.assertIn("--sqs-endpoint", p.stdout)


class TestTerminalView(DevTestCase):
    """On a terminal: colours (unless NO_COLOR) and the queues' depths in a status line at the bottom."""

    def run_on_a_terminal(self, extra_env):
        import pty
        import select
        self.write("fn/app.lua", ECHO_LUA)
        path = self.template(ONE_FUNCTION + queue_template(consumer=False).split("Resources:\n", 1)[1])
        master, slave = pty.openpty()
        env = client_env(**extra_env)
        if "NO_COLOR" not in extra_env:
            env.pop("NO_COLOR", None)
        proc = subprocess.Popen([MOONRUN, "dev", path, "--port", "0", "--sqs-port", "0", "--state", self.path("state")],
                                stdin=slave, stdout=slave, stderr=slave, env=env, cwd=self.tmp)
        os.close(slave)
        output = b""

        def read_until(predicate, timeout):
            nonlocal output
            deadline = time.monotonic() + seconds(timeout)
            while not predicate(output) and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        output += os.read(master, 65536)
                    except OSError:
                        break
            return predicate(output)
        try:
            self.assertTrue(read_until(lambda o: re.search(rb"invoke\s+(\x1b\[[0-9;]*m)?http://127\.0\.0\.1:\d+", o)
                                       and b"queues:" in o, 30), output)
            port = int(re.search(rb"invoke\s+(?:\x1b\[[0-9;]*m)?http://127\.0\.0\.1:(\d+)", output).group(1))
            status, _, _ = http_request(f"http://127.0.0.1:{port}/2015-03-31/functions/Echo/invocations", "POST", b"{}")
            self.assertEqual(status, 200)
            self.assertTrue(read_until(lambda o: re.search(rb"Echo.*invoke.*ok", o), 20), output)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(seconds(15)), 0, output)
            read_until(lambda o: False, 0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        return output.decode(errors="replace")

    def test_a_status_line_and_colours(self):
        text = self.run_on_a_terminal({})
        self.assertIn("\x1b[7m", text, "the status line is shown in reverse video")
        self.assertIn("\r\x1b[K", text, "the status line is redrawn in place")
        self.assertRegex(text, r"\x1b\[7m queues: work 0\s")
        self.assertIn("\x1b[32m", text, "a success is green")
        self.assertTrue(text.rstrip(" \r\n").endswith("\x1b[K") or "\x1b[7m" not in text.splitlines()[-1],
                        "the status line is cleared at exit: " + repr(text[-200:]))

    def test_no_color(self):
        text = self.run_on_a_terminal({"NO_COLOR": "1"})
        self.assertNotRegex(text, r"\x1b\[(1|2|3\d|7)m", "NO_COLOR: no colour, no reverse video")
        self.assertIn("queues: work 0", text)


class TestBinding(DevTestCase):
    def listening(self):
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
        return out.splitlines()

    def test_the_servers_listen_on_loopback_only(self):
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION), embedded=EMBEDDED)
        self.invoke_ok(dev, "Echo")
        front_port = int(dev.front.rsplit(":", 1)[1])
        ports = [front_port]
        if EMBEDDED:
            ports.append(int(dev.sqs.rsplit(":", 1)[1]))
        lines = self.listening()
        for port in ports:
            mine = [line for line in lines if re.search(r"\s\S+:%d\s" % port, line)]
            self.assertTrue(mine, f"nothing listens on port {port}:\n" + "\n".join(lines))
            for line in mine:
                self.assertRegex(line, r"\s127\.0\.0\.1:%d\s" % port, line)
        # every socket dev and its functions listen on is a loopback one
        pids = {dev.pid} | {pid for pid, _ in children_of(dev.pid)}
        owned = [line for line in lines if any(f"pid={pid}," in line for pid in pids)]
        self.assertGreaterEqual(len(owned), len(ports) + 1, "the front, and each function's Runtime API")
        for line in owned:
            self.assertRegex(line, r"\s127\.0\.0\.1:\d+\s", line)
        # and a connection to another address of this machine is refused
        address = self.outside_address()
        if address:
            for port in ports:
                with self.assertRaises(OSError, msg=f"{address}:{port} accepted a connection"):
                    socket.create_connection((address, port), timeout=3).close()
        self.stop_dev(dev)

    def test_host_option_listens_where_asked(self):
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION), "--host", "0.0.0.0")
        self.assertTrue(dev.front.startswith("http://127.0.0.1:"), "the banner gives an address to connect to")
        self.invoke_ok(dev, "Echo")
        port = int(dev.front.rsplit(":", 1)[1])
        self.assertTrue([line for line in self.listening() if re.search(r"\s0\.0\.0\.0:%d\s" % port, line)])
        address = self.outside_address()
        if address:
            socket.create_connection((address, port), timeout=3).close()
        # a function's Runtime API stays on loopback whatever --host says
        public = {port, int(dev.sqs.rsplit(":", 1)[1])}
        runtime_apis = [line for line in self.listening() if f"pid={dev.pid}," in line
                        and not any(re.search(r":%d\s" % p, line) for p in public)]
        self.assertTrue(runtime_apis, self.listening())
        for line in runtime_apis:
            self.assertRegex(line, r"\s127\.0\.0\.1:\d+\s", line)
        self.stop_dev(dev)

    def outside_address(self):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(("192.0.2.1", 9))  # no packet is sent; this picks the outgoing interface
                address = s.getsockname()[0]
        except OSError:
            return None
        return None if address.startswith("127.") else address


if __name__ == "__main__":
    unittest.main()
