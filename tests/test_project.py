"""A user's own project, end to end in a temporary folder: `moonrun init`, `moonrun test` (busted
with moonrun.testing), `moonrun dev` on the scaffold with a request through its HTTP route
reaching the consumer, `moonrun invoke`/`moonrun repl` with --template and --env-file, and the
scaffold checked by luacheck (Debian's lua-check) and cfn-lint.

Run from the repository root: python3 -m unittest -v tests/test_project.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun")))
SCALE = float(os.environ.get("MOONRUN_TIMEOUT_SCALE") or "1")
SCAFFOLD = os.path.join(REPO, "lua", "moonrun", "scaffold")
BUSTED = "/usr/bin/busted"


def clean_env(**extra):
    """No AWS settings of the machine: the specs and dev must not need any."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "LAMBDA_TASK_ROOT"}
    env.update(AWS_CONFIG_FILE="/nonexistent/config", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
               NO_COLOR="1")
    env.update(extra)
    return env


def run(argv, cwd, timeout=120, env=None, input=None):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout * SCALE,
                          env=env or clean_env(), input=input)


def read(path):
    with open(path) as f:
        return f.read()


def summary(p):
    return f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


class ProjectTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="moonrun-project-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.project = os.path.join(self.tmp, "orders-service")

    def init(self, *args):
        p = run([MOONRUN, "init", self.project, *args], cwd=self.tmp)
        self.assertEqual(p.returncode, 0, summary(p))
        return p

    def write(self, relpath, text):
        path = os.path.join(self.project, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def moonrun_test(self, *args, timeout=120):
        return run([MOONRUN, "test", *args], cwd=self.project, timeout=timeout)


class TestInit(ProjectTestCase):
    def test_writes_the_scaffold_and_names_every_file(self):
        p = self.init()
        written = sorted(os.path.relpath(line.split(None, 1)[1], self.project)
                         for line in p.stdout.splitlines() if line.startswith("wrote"))
        on_disk = sorted(os.path.relpath(os.path.join(d, f), self.project)
                         for d, _, files in os.walk(self.project) for f in files)
        self.assertEqual(written, on_disk)
        for expected in ["template.yaml", "src/producer.lua", "src/consumer.lua", "spec/producer_spec.lua",
                         "spec/consumer_spec.lua", "events/send.json", "events/messages.json", ".gitignore",
                         ".luarc.json", ".luacheckrc", "orders-service-dev-1.rockspec"]:
            self.assertIn(expected, on_disk)
        with open(os.path.join(self.project, ".gitignore")) as f:
            ignored = f.read().split()
        for entry in [".moonrun/", "dist/", "lua_modules/"]:
            self.assertIn(entry, ignored)
        with open(os.path.join(self.project, ".luarc.json")) as f:
            luarc = json.load(f)
        (types,) = luarc["workspace.library"]
        self.assertTrue(os.path.isfile(os.path.join(types, "moonrun", "json.lua")), types)
        self.assertTrue(os.path.isfile(os.path.join(types, "lambda.lua")), types)
        with open(os.path.join(self.project, "orders-service-dev-1.rockspec")) as f:
            rockspec = f.read()
        self.assertIn('package = "orders-service"', rockspec)
        self.assertIn("dependencies = {", rockspec)
        with open(os.path.join(self.project, "template.yaml")) as f:
            self.assertNotIn("{{", f.read())

    def test_refuses_a_folder_that_is_not_empty(self):
        os.makedirs(self.project)
        with open(os.path.join(self.project, "notes.txt"), "w") as f:
            f.write("mine\n")
        p = run([MOONRUN, "init", self.project], cwd=self.tmp)
        self.assertEqual(p.returncode, 1, summary(p))
        self.assertIn("is not empty", p.stderr)
        self.assertIn("notes.txt", p.stderr)
        self.assertIn("--force", p.stderr)
        self.assertEqual(os.listdir(self.project), ["notes.txt"])

    def test_force_writes_into_it_and_names_what_it_replaced(self):
        os.makedirs(self.project)
        with open(os.path.join(self.project, "template.yaml"), "w") as f:
            f.write("old\n")
        p = self.init("--force")
        self.assertRegex(p.stdout, r"(?m)^replaced\s+.*/template\.yaml$")
        with open(os.path.join(self.project, "template.yaml")) as f:
            self.assertIn("ReportBatchItemFailures", f.read())

    def test_the_current_folder_by_default_and_bad_arguments(self):
        os.makedirs(self.project)
        p = run([MOONRUN, "init"], cwd=self.project)
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertTrue(os.path.isfile(os.path.join(self.project, "template.yaml")))
        p = run([MOONRUN, "init", "--frobnicate"], cwd=self.tmp)
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn("unknown option --frobnicate", p.stderr)
        p = run([MOONRUN, "init", "a", "b"], cwd=self.tmp)
        self.assertEqual(p.returncode, 2, summary(p))
        file_path = os.path.join(self.tmp, "a-file")
        open(file_path, "w").close()
        p = run([MOONRUN, "init", file_path], cwd=self.tmp)
        self.assertEqual(p.returncode, 1, summary(p))
        self.assertIn("is not a folder", p.stderr)

    def test_luacheck_finds_the_scaffold_clean(self):
        self.init()
        p = run(["luacheck", "--no-color", "."], cwd=self.project)
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("0 warnings / 0 errors in 4 files", p.stdout)
        # and the configuration does catch a handler's stray global
        self.write("src/sloppy.lua", "function handler() return undefined_name end\n")
        p = run(["luacheck", "--no-color", "."], cwd=self.project)
        self.assertNotEqual(p.returncode, 0, summary(p))
        self.assertIn("undefined_name", p.stdout)

    def test_cfn_lint_passes_the_template(self):
        self.init()
        p = run(["cfn-lint", "template.yaml"], cwd=self.project, timeout=300)
        self.assertEqual(p.returncode, 0, summary(p))
        # the scaffold in the repository, as it is (with the project name still a placeholder)
        p = run(["cfn-lint", os.path.join(SCAFFOLD, "template.yaml")], cwd=self.tmp, timeout=300)
        self.assertEqual(p.returncode, 0, summary(p))


class TestMoonrunTest(ProjectTestCase):
    def setUp(self):
        super().setUp()
        self.init()

    def test_the_scaffold_specs_pass(self):
        p = self.moonrun_test()
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("6 successes / 0 failures / 0 errors", p.stdout)

    def test_a_failing_spec_fails_with_busteds_exit_status(self):
        self.write("spec/broken_spec.lua", """\
            describe("broken", function()
              it("fails once", function() assert.equal(1, 2) end)
              it("fails twice", function() error("boom") end)
            end)
            """)
        p = self.moonrun_test()
        direct = run([MOONRUN, "run", BUSTED], cwd=self.project, env=clean_env(LAMBDA_TASK_ROOT=self.project))
        self.assertNotEqual(p.returncode, 0, summary(p))
        self.assertEqual(p.returncode, direct.returncode, summary(p) + "\n" + summary(direct))
        self.assertIn("6 successes / 1 failure / 1 error", p.stdout)
        # busted's own options pass through: only that file, in another output format
        p = self.moonrun_test("-o", "TAP", "spec/consumer_spec.lua")
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("1..3", p.stdout)

    def test_handlers_see_lambdas_modules_only(self):
        # a module of the machine's Lua paths (here through LUA_PATH) that busted does not need
        machine = os.path.join(self.tmp, "machine")
        os.makedirs(machine)
        with open(os.path.join(machine, "machinemod.lua"), "w") as f:
            f.write("return {}\n")
        self.write("src/uses_machine.lua", """\
            local machinemod = require "machinemod"
            return {handler = function() return machinemod end}
            """)
        self.write("spec/machine_spec.lua", """\
            local testing = require "moonrun.testing"
            describe("a handler requiring a module only this machine has", function()
              it("fails to load, as it would on Lambda", function()
                local answer, err = testing.invoke("src/uses_machine.handler", {})
                assert.is_nil(answer)
                assert.truthy(err.errorMessage:find("installed on this machine", 1, true), err.errorMessage)
              end)
            end)
            """)
        p = run([MOONRUN, "test", "spec/machine_spec.lua"], cwd=self.project,
                env=clean_env(LUA_PATH=machine + "/?.lua;;"))
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("1 success / 0 failures", p.stdout)

    def test_busted_missing_is_named(self):
        p = run([MOONRUN, "test"], cwd=self.project, env=clean_env(MOONRUN_BUSTED="/nonexistent/busted"))
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn("/nonexistent/busted", p.stderr)
        self.assertIn("lua-busted", p.stderr)

    def test_invoke_error_shapes_and_answer_checks(self):
        self.write("src/broken_syntax.lua", "local x = = 1\n")
        self.write("src/raises.lua", """\
            local M = {}
            function M.handler() error({code = "OrderRejected", message = "no stock"}) end
            function M.text() error("plain failure") end
            function M.slow() while true do end end
            function M.context(_, context)
              return {name = context.function_name, memory = context.memory_limit_in_mb,
                      left = context:get_remaining_time_in_millis(), id = context.aws_request_id,
                      arn = context.invoked_function_arn, queue = os.getenv("QUEUE_URL"),
                      root = os.getenv("LAMBDA_TASK_ROOT")}
            end
            return M
            """)
        self.write("spec/shapes_spec.lua", """\
            local json = require "moonrun.json"
            local testing = require "moonrun.testing"

            describe("testing.invoke", function()
              it("gives an error value's code as errorType", function()
                local answer, err = testing.invoke("src/raises.handler", {})
                assert.is_nil(answer)
                assert.equal("OrderRejected", err.errorType)
                assert.equal("no stock", err.errorMessage)
                assert.truthy(err.stackTrace[#err.stackTrace]:find("src/raises.lua:2:", 1, true),
                              table.concat(err.stackTrace, "\\n")) -- ends in the handler, as on Lambda
              end)
              it("gives a string error as Lambda does", function()
                local _, err = testing.invoke("src/raises.text")
                assert.equal("Error", err.errorType)
                assert.truthy(err.errorMessage:find("plain failure", 1, true))
              end)
              it("stops a handler at its deadline", function()
                local _, err = testing.invoke("src/raises.slow", nil, {timeout = 0.5})
                assert.equal("Timeout", err.errorType)
              end)
              it("reports init errors", function()
                local _, err = testing.invoke("src/broken_syntax.handler")
                assert.equal("Runtime.UserCodeSyntaxError", err.errorType)
                _, err = testing.invoke("src/missing.handler")
                assert.equal("Runtime.ImportModuleError", err.errorType)
                _, err = testing.invoke("src/raises.nothing")
                assert.equal("Runtime.HandlerNotFound", err.errorType)
                _, err = testing.invoke("src/raises.")
                assert.equal("Runtime.MalformedHandlerName", err.errorType)
              end)
              it("makes the JSON round trip", function()
                local answer, err = testing.invoke(function(event) return {got = event, empty = json.array{}} end,
                                                   '{"n": 9007199254740993, "list": []}')
                assert.is_nil(err)
                assert.equal(9007199254740993, answer.got.n)
                assert.is_true(json.is_array(answer.got.list))
                local _, bad = testing.invoke(function() return {f = print} end)
                assert.equal("Runtime.MarshalError", bad.errorType)
                local _, unreadable = testing.invoke(function() return 1 end, "{not json")
                assert.equal("Runtime.UnmarshalError", unreadable.errorType)
              end)
              it("gives a template function its context and environment", function()
                local fn = testing.func("Producer")
                testing.configure{template = "template-context.yaml"}
                local answer, err = testing.invoke("Context", {})
                testing.configure{}
                assert.is_nil(err)
                assert.equal("Context", answer.name)
                assert.equal(256, answer.memory)
                assert.truthy(answer.left > 4000 and answer.left <= 5000, tostring(answer.left))
                assert.truthy(answer.arn:find(":function:Context$"))
                assert.equal("https://sqs.us-east-1.amazonaws.com/000000000000/Queue", answer.queue)
                assert.equal(fn.code_dir, answer.root)
                assert.is_nil(os.getenv("QUEUE_URL")) -- put back after the invocation
              end)
              it("loads the task root's own modules, warm until reset", function()
                testing.configure{template = "template-context.yaml", env_file = "env-context.json"}
                finally(function() testing.configure{} end)
                assert.equal("from the file", testing.env("Context").GREETING)
                local first = testing.invoke("Counter", {})
                local second = testing.invoke("Counter", {})
                testing.reset()
                local cold = testing.invoke("Counter", {})
                assert.same({1, 2, 1}, {first.count, second.count, cold.count})
                assert.equal("HELLO", first.shout)
              end)
              it("reports a batch answer Lambda cannot read", function()
                local event = testing.event("sqs", {body = {"a", "b"}})
                local answer, err = testing.invoke(function() return {batchItemFailures = {}} end, event)
                assert.same({}, answer.batchItemFailures)
                assert.equal("Moonrun.InvalidBatchResponse", err.errorType)
                assert.truthy(err.errorMessage:find("batchItemFailures is not a list", 1, true))
                _, err = testing.invoke(function() return {batchItemFailures = {{itemIdentifier = "nope"}}} end, event)
                assert.truthy(err.errorMessage:find("is not a message of the batch", 1, true))
                _, err = testing.invoke(function() return {batchItemFailures = json.array{}} end, event)
                assert.is_nil(err)
                _, err = testing.invoke(function() return {batchItemFailures = {{itemIdentifier = event.Records[2].messageId}}} end, event)
                assert.is_nil(err)
                -- the Consumer's trigger has ReportBatchItemFailures: any answer is checked
                _, err = testing.invoke(function() return "fine" end, event, {report_batch_item_failures = true})
                assert.equal("Moonrun.InvalidBatchResponse", err.errorType)
              end)
              it("builds events with overrides", function()
                local e = testing.event("apigw-http", {method = "POST", path = "/send", body = {a = 1}},
                                        {headers = {["x-tenant"] = "acme"}, cookies = json.null})
                assert.equal("POST", e.requestContext.http.method)
                assert.equal('{"a":1}', e.body)
                assert.equal("acme", e.headers["x-tenant"])
                assert.truthy(e.headers["user-agent"])
                local s = testing.events.schedule{rule = "nightly"}
                assert.truthy(s.resources[1]:find("rule/nightly$"))
                assert.has_error(function() testing.event("firehose") end)
              end)
            end)
            """)
        self.write("template-context.yaml", """\
            AWSTemplateFormatVersion: "2010-09-09"
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Queue:
                Type: AWS::SQS::Queue
              Context:
                Type: AWS::Serverless::Function
                Properties:
                  Runtime: provided.al2023
                  CodeUri: src/
                  Handler: raises.context
                  MemorySize: 256
                  Timeout: 5
                  Environment:
                    Variables:
                      QUEUE_URL: !Ref Queue
                      GREETING: from the template
              Counter:
                Type: AWS::Serverless::Function
                Properties:
                  Runtime: provided.al2023
                  CodeUri: src/
                  Handler: counter.handler
            """)
        self.write("env-context.json", '{"Context": {"GREETING": "from the file"}}')
        self.write("src/lib/shout.lua", "return function(s) return s:upper() end\n")
        self.write("src/counter.lua", """\
            local shout = require "lib.shout"
            local count = 0
            return {handler = function() count = count + 1; return {count = count, shout = shout("hello")} end}
            """)
        p = self.moonrun_test("spec/shapes_spec.lua")
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("9 successes / 0 failures / 0 errors", p.stdout)

    def test_the_embedded_sqs(self):
        self.write("spec/sqs_spec.lua", """\
            local sqs = require "moonrun.sqs"
            local testing = require "moonrun.testing"

            describe("testing.sqs", function()
              it("has the template's queues, with the redrive policy", function()
                local queues = testing.sqs()
                finally(function() queues:close() end)
                local attributes = queues.client:get_queue_attributes{QueueUrl = queues:url("Queue"),
                  AttributeNames = {"RedrivePolicy"}}.Attributes
                assert.truthy(attributes.RedrivePolicy:find("DeadLetterQueue", 1, true))
                assert.equal(queues:url("Queue"), testing.env("Producer").QUEUE_URL)
                assert.has_error(function() queues:url("Nope") end,
                  "testing.sqs: no queue named Nope (the queues: DeadLetterQueue, Queue)")
              end)
              it("serves the handler's own moonrun.sqs calls, signed", function()
                local queues = testing.sqs()
                finally(function() queues:close() end)
                sqs.send_message{QueueUrl = queues:url("Queue"), MessageBody = "direct"}
                assert.same({"direct"}, queues:bodies("Queue"))
                local stranger = sqs.client{endpoint = os.getenv("AWS_ENDPOINT_URL_SQS"), access_key_id = "AKIAOTHER",
                                            secret_access_key = "x", max_attempts = 1}
                local ok, err = pcall(stranger.list_queues, stranger, {})
                assert.is_false(ok)
                assert.equal("InvalidClientTokenId", err.code)
              end)
              it("chains the producer to the consumer", function()
                local queues = testing.sqs()
                finally(function() queues:close() end)
                local answer, err = testing.invoke("Producer", testing.event("apigw-http",
                  {method = "POST", path = "/send", body = {messages = {"one", "two", "three"}}}))
                assert.is_nil(err)
                assert.equal(200, answer.statusCode)
                assert.equal(3, queues:count("Queue").visible)
                local batch = queues:event("Queue")
                assert.equal(3, #batch.Records)
                assert.equal(3, queues:count("Queue").in_flight)
                local result, consumer_err = testing.invoke("Consumer", batch)
                assert.is_nil(consumer_err)
                assert.same({}, result.batchItemFailures)
              end)
              it("puts the environment back when closed", function()
                local before = os.getenv("AWS_ENDPOINT_URL_SQS")
                local queues = testing.sqs()
                assert.has_error(function() testing.sqs() end)
                queues:close()
                assert.equal(before, os.getenv("AWS_ENDPOINT_URL_SQS"))
                assert.is_nil(os.getenv("AWS_ACCESS_KEY_ID"))
              end)
            end)
            """)
        p = self.moonrun_test("spec/sqs_spec.lua")
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("4 successes / 0 failures / 0 errors", p.stdout)

    def test_watch_runs_again_after_an_edit(self):
        out_path = os.path.join(self.tmp, "watch.out")
        with open(out_path, "w") as out:
            proc = subprocess.Popen([MOONRUN, "test", "--watch", "spec/consumer_spec.lua"], cwd=self.project,
                                    stdout=out, stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True)
        try:
            def wait_for(text, count):
                deadline = time.monotonic() + 60 * SCALE
                while time.monotonic() < deadline:
                    with open(out_path) as f:
                        if f.read().count(text) >= count:
                            return
                    time.sleep(0.1)
                with open(out_path) as f:
                    self.fail(f"no {count}x {text!r} in:\n{f.read()}")
            wait_for("watching", 1)
            time.sleep(0.3)
            self.write("src/consumer.lua", "error('edited into a failure')\n")
            wait_for("a file changed", 1)
            wait_for("watching", 2)
            with open(out_path) as f:
                text = f.read()
            self.assertIn("3 successes / 0 failures", text)
            self.assertIn("edited into a failure", text)
            self.assertRegex(text, r"busted exited with status [1-9]")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


class TestDevOnTheScaffold(ProjectTestCase):
    def test_a_request_through_the_route_reaches_the_consumer(self):
        self.init()
        out_path = os.path.join(self.tmp, "dev.out")
        with open(out_path, "w") as out:
            dev = subprocess.Popen([MOONRUN, "dev", "--port", "0", "--sqs-port", "0"], cwd=self.project,
                                   stdout=out, stderr=subprocess.STDOUT, env=clean_env())
        try:
            def wait_for(pattern):
                deadline = time.monotonic() + 30 * SCALE
                while time.monotonic() < deadline:
                    m = re.search(pattern, read(out_path))
                    if m:
                        return m
                    self.assertIsNone(dev.poll(), read(out_path))
                    time.sleep(0.1)
                self.fail(f"no {pattern!r} in:\n{read(out_path)}")
            front = wait_for(r"http\s+(http://127\.0\.0\.1:\d+) POST /send -> Producer").group(1)
            wait_for(r"trigger\s+sqs Queue\s+-> Consumer")
            request = urllib.request.Request(front + "/send", method="POST",
                                             data=json.dumps({"messages": ["hello from the test"]}).encode())
            with urllib.request.urlopen(request, timeout=30 * SCALE) as response:
                self.assertEqual(response.status, 200)
                self.assertEqual(json.load(response)["sent"], 1)
            wait_for(r"Consumer \| message [0-9a-f-]+: hello from the test")
        finally:
            dev.send_signal(signal.SIGTERM)
            self.assertEqual(dev.wait(30 * SCALE), 0, read(out_path))


class TestTemplateOptions(ProjectTestCase):
    def setUp(self):
        super().setUp()
        self.write("app/echo.lua", """\
            local M = {}
            function M.handler(_, context)
              return {greeting = os.getenv("GREETING"), stage = os.getenv("STAGE"),
                      undeclared = os.getenv("UNDECLARED"), name = context.function_name,
                      memory = context.memory_limit_in_mb, left = context:get_remaining_time_in_millis()}
            end
            return M
            """)
        self.write("template.yaml", """\
            AWSTemplateFormatVersion: "2010-09-09"
            Transform: AWS::Serverless-2016-10-31
            Parameters:
              Stage:
                Type: String
                Default: prod
            Resources:
              Echo:
                Type: AWS::Serverless::Function
                Properties:
                  Runtime: provided.al2023
                  CodeUri: app/
                  Handler: echo.handler
                  MemorySize: 512
                  Timeout: 7
                  Environment:
                    Variables:
                      GREETING: hello
                      STAGE: !Ref Stage
            """)
        self.write("env.json", '{"Parameters": {"STAGE": "test"}, "Echo": {"GREETING": "hi", "UNDECLARED": "x"}}')

    def invoke(self, *args):
        return run([MOONRUN, "invoke", *args], cwd=self.project)

    def test_invoke_with_the_template(self):
        p = self.invoke("--template", "template.yaml", "Echo")
        self.assertEqual(p.returncode, 0, summary(p))
        answer = json.loads(p.stdout)
        self.assertEqual(answer["greeting"], "hello")
        self.assertEqual(answer["stage"], "prod")
        self.assertEqual(answer["name"], "Echo")
        self.assertEqual(answer["memory"], 512)
        self.assertTrue(6000 < answer["left"] <= 7000, answer)

    def test_invoke_with_an_env_file(self):
        p = self.invoke("--template", "template.yaml", "Echo", "--env-file", "env.json", "--env", "STAGE=cli")
        self.assertEqual(p.returncode, 0, summary(p))
        answer = json.loads(p.stdout)
        self.assertEqual(answer["greeting"], "hi")     # the function's entry
        self.assertEqual(answer["stage"], "cli")       # --env over the file's Parameters
        self.assertNotIn("undeclared", answer)         # as SAM: only declared variables
        self.assertIn("UNDECLARED is not in Echo's Environment.Variables", p.stderr)
        p = self.invoke("--template", "template.yaml", "Echo", "--env-file", "env.json")
        self.assertEqual(json.loads(p.stdout)["stage"], "test")

    def test_bad_template_options_are_named(self):
        cases = [
            (["--template", "template.yaml", "Nope"], "has no function Nope (its functions: Echo)"),
            (["--template", "missing.yaml", "Echo"], "cannot read the template missing.yaml"),
            (["--template", "template.yaml"], "which function of template.yaml?"),
            (["echo.handler", "--env-file", "env.json"], "--env-file needs --template"),
            (["--template", "template.yaml", "Echo", "--env-file", "nope.json"], "cannot read the env-vars file nope.json"),
        ]
        self.write("bad.json", "[1, 2")
        self.write("list.json", '{"Echo": ["x"]}')
        cases += [
            (["--template", "template.yaml", "Echo", "--env-file", "bad.json"], "the env-vars file bad.json is not JSON"),
            (["--template", "template.yaml", "Echo", "--env-file", "list.json"], "list.json: Echo must be an object"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                p = self.invoke(*args)
                self.assertEqual(p.returncode, 2, summary(p))
                self.assertIn(message, p.stderr)
                self.assertNotIn("traceback", p.stderr)

    def test_repl_with_the_template(self):
        p = run([MOONRUN, "repl", "--template", "template.yaml", "Echo", "--env-file", "env.json"], cwd=self.project,
                input='print(os.getenv("GREETING"))\nprint(invoke({}).stage)\n')
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertEqual(p.stdout.split(), ["hi", "test"])
        p = run([MOONRUN, "repl", "--env-file", "env.json"], cwd=self.project, input="")
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn("--env-file needs --template", p.stderr)


if __name__ == "__main__":
    unittest.main()
