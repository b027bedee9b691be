"""`moonrun dev`'s invoke endpoint, as Lambda's Invoke API (and AWS's Runtime Interface Emulator)
serve it: boto3 and the AWS CLI against it, function errors, the invocation types, and
invocations of one function at once.

Run from the repository root: python3 -m unittest -v tests/test_dev_invoke.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import base64
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# setUpModule and tearDownModule: moto, while dev has no SQS endpoint of its own
from dev_support import setUpModule, tearDownModule  # noqa: E402,F401
from dev_support import (  # noqa: E402
    ACCOUNT, DevTestCase, ECHO_LUA, ONE_FUNCTION, REGION, SLOW_LUA, client_env, header,
    http_request, seconds, wait_until)


class TestInvokeEndpoint(DevTestCase):
    """The invoke endpoint, as Lambda's Invoke API (and AWS's Runtime Interface Emulator) serve it."""

    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", ECHO_LUA)
        self.dev = self.start_dev(self.template(ONE_FUNCTION))

    def test_boto3_invoke_returns_the_handlers_result(self):
        response, result = self.invoke(self.dev, "Echo", {"hello": "world", "n": [1, 2]})
        self.assertEqual(response["StatusCode"], 200)
        self.assertNotIn("FunctionError", response)
        self.assertEqual(response.get("ExecutedVersion"), "$LATEST")
        self.assertEqual(result, {"event": {"hello": "world", "n": [1, 2]}, "name": "Echo"})
        self.dev.wait_for(r"Echo\s+invoke\s.*\bok\b")
        self.stop_dev(self.dev)

    def test_log_type_tail_returns_the_invocations_log(self):
        from botocore.exceptions import ClientError
        self.write("fn/app.lua", ECHO_LUA.replace("return {event = event",
                                                  'print("tail line " .. tostring(event.n))\n  return {event = event'))
        client = self.lambda_client(self.dev)
        for n in (1, 2):  # the second log holds its own invocation's lines only
            response = client.invoke(FunctionName="Echo", Payload=json.dumps({"n": n}).encode(), LogType="Tail")
            self.assertEqual(json.loads(response["Payload"].read())["event"], {"n": n})
            log = base64.b64decode(response["LogResult"]).decode()
            request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
            self.assertRegex(log, r"^START RequestId: %s Version: \$LATEST\n" % request_id)
            self.assertIn("tail line %d\n" % n, log)
            self.assertNotIn("tail line %d\n" % (3 - n), log)
            self.assertRegex(log, r"\nEND RequestId: %s\nREPORT RequestId: %s\tDuration: [0-9.]+ ms\t" % (request_id, request_id))
        with self.assertRaises(ClientError) as caught:
            client.invoke(FunctionName="Echo", Payload=b"{}", LogType="Everything")
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidParameterValueException")
        self.stop_dev(self.dev)

    def test_an_arn_names_the_function_too(self):
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Echo"
        self.assertEqual(self.invoke_ok(self.dev, arn, {"x": 1})["event"], {"x": 1})
        self.assertEqual(self.invoke_ok(self.dev, "Echo:$LATEST", {"x": 2})["event"], {"x": 2})
        self.stop_dev(self.dev)

    def test_aws_cli_invoke(self):
        out = self.path("out.json")
        p = subprocess.run(["aws", "lambda", "invoke", "--endpoint-url", self.dev.front, "--region", REGION,
                            "--function-name", "Echo", "--payload", '{"from": "cli"}', out],
                           capture_output=True, text=True, env=client_env(), timeout=seconds(60))
        self.assertEqual(p.returncode, 0, p.stderr + self.dev.output())
        meta = json.loads(p.stdout)
        self.assertEqual(meta["StatusCode"], 200)
        self.assertNotIn("FunctionError", meta)
        with open(out) as f:
            self.assertEqual(json.load(f), {"event": {"from": "cli"}, "name": "Echo"})
        self.stop_dev(self.dev)

    def test_aws_cli_invoke_of_a_failing_handler(self):
        out = self.path("out.json")
        p = subprocess.run(["aws", "lambda", "invoke", "--endpoint-url", self.dev.front, "--region", REGION,
                            "--function-name", "Echo", "--payload", '{"fail": "cli"}', out],
                           capture_output=True, text=True, env=client_env(), timeout=seconds(60))
        self.assertEqual(p.returncode, 0, p.stderr + self.dev.output())
        self.assertEqual(json.loads(p.stdout).get("FunctionError"), "Unhandled")
        with open(out) as f:
            error = json.load(f)
        self.assertEqual(error["errorType"], "ValidationError")
        self.stop_dev(self.dev)

    def test_a_handler_error_is_an_unhandled_function_error(self):
        error = self.invoke_error(self.dev, "Echo", {"fail": "yes"})
        self.assertEqual(error["errorType"], "ValidationError")
        self.assertEqual(error["errorMessage"], "failed on purpose: yes")
        self.dev.wait_for(r"Echo\s+invoke\s.*ValidationError: failed on purpose: yes")
        # the instance survives a handled error
        self.assertEqual(self.invoke_ok(self.dev, "Echo", {"after": 1})["event"], {"after": 1})
        self.stop_dev(self.dev)

    def test_the_raw_http_answer_of_a_function_error(self):
        status, headers, body = http_request(self.dev.front + "/2015-03-31/functions/Echo/invocations", "POST",
                                             b'{"fail": "raw"}', [("Content-Type", "application/json")])
        self.assertEqual(status, 200)
        self.assertEqual(header(headers, "X-Amz-Function-Error"), "Unhandled")
        self.assertEqual(json.loads(body)["errorType"], "ValidationError")
        self.stop_dev(self.dev)

    def test_an_unknown_function_is_resource_not_found(self):
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as caught:
            self.invoke(self.dev, "Nope", {})
        error = caught.exception.response
        self.assertEqual(error["Error"]["Code"], "ResourceNotFoundException", error)
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assertIn("Nope", error["Error"]["Message"])
        self.stop_dev(self.dev)

    def test_a_payload_that_is_not_json_is_invalid_request_content(self):
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as caught:
            self.invoke(self.dev, "Echo", raw=b'{"unclosed": ')
        error = caught.exception.response
        self.assertEqual(error["Error"]["Code"], "InvalidRequestContentException", error)
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.stop_dev(self.dev)

    def test_invocation_type_event_answers_202_and_runs_the_handler(self):
        mark = self.path("ran.txt")
        response = self.lambda_client(self.dev).invoke(FunctionName="Echo", InvocationType="Event",
                                                       Payload=json.dumps({"mark": mark}).encode())
        self.assertEqual(response["StatusCode"], 202)
        self.assertEqual(response["Payload"].read(), b"")
        wait_until(lambda: os.path.exists(mark), 20, "the asynchronous invocation to run the handler")
        self.dev.wait_for(r"Echo\s+invoke \(async\)")
        self.stop_dev(self.dev)

    def test_many_asynchronous_invocations_all_run(self):
        marks = [self.path(f"ran-{i}.txt") for i in range(30)]
        client = self.lambda_client(self.dev)
        for mark in marks:
            self.assertEqual(client.invoke(FunctionName="Echo", InvocationType="Event",
                                           Payload=json.dumps({"mark": mark}).encode())["StatusCode"], 202)
        wait_until(lambda: all(os.path.exists(m) for m in marks), 30, "every asynchronous invocation to run")
        self.assertEqual(self.invoke_ok(self.dev, "Echo", {"x": 1})["event"], {"x": 1})
        self.stop_dev(self.dev)

    def test_unicode_payloads(self):
        event = {"text": "h\u00e9llo \U0001F319 \u4e16\u754c", "escaped": "tab\tnewline\n\"quote\""}
        self.assertEqual(self.invoke_ok(self.dev, "Echo", event)["event"], event)
        self.stop_dev(self.dev)

    def test_invocation_type_dry_run_answers_204_without_running(self):
        mark = self.path("ran.txt")
        response = self.lambda_client(self.dev).invoke(FunctionName="Echo", InvocationType="DryRun",
                                                       Payload=json.dumps({"mark": mark}).encode())
        self.assertEqual(response["StatusCode"], 204)
        time.sleep(0.5)
        self.assertFalse(os.path.exists(mark), "DryRun must not run the handler")
        self.stop_dev(self.dev)

    def test_an_empty_body_is_an_empty_event(self):
        status, _, body = http_request(self.dev.front + "/2015-03-31/functions/Echo/invocations", "POST", b"")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["event"], {})
        self.stop_dev(self.dev)

    def test_other_methods_and_invocation_types(self):
        status, headers, _ = http_request(self.dev.front + "/2015-03-31/functions/Echo/invocations", "GET")
        self.assertEqual(status, 405)
        status, headers, body = http_request(self.dev.front + "/2015-03-31/functions/Echo/invocations", "POST",
                                             b"{}", [("X-Amz-Invocation-Type", "Sometimes")])
        self.assertEqual(status, 400)
        self.assertEqual(header(headers, "x-amzn-ErrorType"), "InvalidParameterValueException")
        self.stop_dev(self.dev)

    def test_the_name_function_is_the_only_function_as_the_rie_names_it(self):
        self.assertEqual(self.invoke_ok(self.dev, "function", {"rie": True}),
                         {"event": {"rie": True}, "name": "Echo"})
        # curl as the RIE's documentation shows it
        status, _, body = http_request(self.dev.front + "/2015-03-31/functions/function/invocations", "POST", b"{}")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["name"], "Echo")
        self.stop_dev(self.dev)


class TestInvocationsTogether(DevTestCase):
    """Invocations of one function at once run on instances of their own (each takes one event at
    a time, as a Lambda instance does); none is lost. tests/test_dev_scaling.py tests the limit."""

    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", SLOW_LUA.replace("VERSION", "old"))
        self.dev = self.start_dev(self.template(ONE_FUNCTION.replace("Echo", "Slow") + "      Timeout: 10\n"))

    def test_concurrent_invocations_are_all_answered(self):
        results, errors = {}, []

        def call(n):
            try:
                results[n] = self.invoke_ok(self.dev, "Slow", {"n": n, "sleep": 0.3})
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=call, args=(n,)) for n in range(5)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds(60))
        elapsed = time.monotonic() - started
        self.assertEqual(errors, [])
        self.assertEqual(sorted(results), list(range(5)))
        self.assertTrue(all(results[n]["n"] == n for n in results), results)
        pids = {r["pid"] for r in results.values()}
        self.assertTrue(1 < len(pids) <= 5, f"instances started on demand, one per waiting event: {pids}")
        self.assertLess(elapsed, seconds(1.4), "side by side, not one after another")
        self.stop_dev(self.dev)

    def test_an_edit_during_an_invocation_applies_to_the_next(self):
        answer = {}
        started = self.path("started")
        t = threading.Thread(target=lambda: answer.update(
            self.invoke_ok(self.dev, "Slow", {"n": 1, "sleep": 1, "started": started})))
        t.start()
        deadline = time.monotonic() + seconds(30)  # the edit must come while the handler runs
        while not os.path.exists(started) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.write("fn/app.lua", SLOW_LUA.replace("VERSION", "new"))
        t.join(seconds(30))
        self.assertEqual(answer.get("version"), "old", "the running invocation finishes with its code")
        self.assertEqual(self.invoke_ok(self.dev, "Slow", {"n": 2})["version"], "new")
        self.stop_dev(self.dev)

    def test_large_events_and_answers(self):
        data = "y" * (3 << 20)
        self.assertEqual(self.invoke_ok(self.dev, "Slow", {"n": 1, "data": data})["length"], len(data))
        big = self.invoke_ok(self.dev, "Slow", {"n": 2, "size": 4 << 20})
        self.assertEqual(len(big["text"]), 4 << 20)
        self.stop_dev(self.dev)

    def test_a_chatty_handler(self):
        self.write("fn/app.lua", """\
            local M = {}
            function M.handler(event)
              for i = 1, 20000 do print("line " .. i .. " " .. string.rep("z", 50)) end
              io.stderr:write(string.rep("w", 100000), "\\n")
              return {done = true}
            end
            return M
            """)
        started = time.monotonic()
        self.assertEqual(self.invoke_ok(self.dev, "Slow", {"n": 1}), {"done": True})
        self.assertLess(time.monotonic() - started, seconds(30))
        self.dev.wait_for(r"Slow\s+\| line 20000 z+$")
        self.assertEqual(self.dev.count(r"Slow\s+\| line \d+ "), 20000)
        self.stop_dev(self.dev)

    def test_a_client_that_goes_away_does_not_hurt(self):
        conn = http.client.HTTPConnection("127.0.0.1", int(self.dev.front.rsplit(":", 1)[1]), timeout=5)
        conn.request("POST", "/2015-03-31/functions/Slow/invocations", body=b'{"n": 0, "sleep": 0.5}')
        conn.close()  # before the answer
        self.assertEqual(self.invoke_ok(self.dev, "Slow", {"n": 1})["n"], 1)
        self.stop_dev(self.dev)


class TestInvokeEndpointTwoFunctions(DevTestCase):
    def test_the_name_function_is_not_found_when_there_are_two(self):
        from botocore.exceptions import ClientError
        self.write("fn/app.lua", ECHO_LUA)
        dev = self.start_dev(self.template(ONE_FUNCTION + """\
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
"""))
        self.assertEqual(self.invoke_ok(dev, "Other")["name"], "Other")
        self.assertEqual(self.invoke_ok(dev, "Echo")["name"], "Echo")
        with self.assertRaises(ClientError) as caught:
            self.invoke(dev, "function")
        self.assertEqual(caught.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.stop_dev(dev)


if __name__ == "__main__":
    unittest.main()
