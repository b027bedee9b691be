"""The SQS trigger of `moonrun dev` (lua/moonrun/dev/poller.lua) against a real SQS (moto's
server), with a small HTTP server standing in for the invoke endpoint: it records each event it
receives and answers as the test asks (a result, a function error, a status).

Run from the repository root: python3 -m unittest -v tests/test_dev_poller.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE.
"""

import base64
import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import (MOONRUN, ROOT, SCALE, MotoServer, MotoTestCase, attributes_md5, aws_env,  # noqa: E402
                         free_port)

POLLER = os.path.join(ROOT, "lua", "moonrun", "dev", "poller.lua")


class InvokeEndpoint:
    """An HTTP server on 127.0.0.1 standing in for the invoke endpoint. `answer(event)` returns
    (status, headers, body) for each POST; every request is recorded as (headers, event)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/Consumer/invocations"
        self.requests = []
        self.cond = threading.Condition()
        self.answer = lambda event: (200, {}, b"null")
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                event = json.loads(self.rfile.read(length))
                with endpoint.cond:
                    endpoint.requests.append((dict(self.headers), event, self.path))
                    endpoint.cond.notify_all()
                status, headers, body = endpoint.answer(event)
                if isinstance(body, str):
                    body = body.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def events(self):
        with self.cond:
            return [event for _, event, _ in self.requests]

    def records(self):
        return [record for event in self.events() for record in event["Records"]]

    def wait_for(self, predicate, timeout, what):
        deadline = time.time() + timeout * SCALE
        with self.cond:
            while not predicate(self):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; events so far: {len(self.requests)}")
                self.cond.wait(left)


class Poller:
    """The poller as `moonrun dev` starts it: its own process, its stderr kept in a file."""

    def __init__(self, config, env):
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen([MOONRUN, "run", POLLER, json.dumps(config)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=self.log)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        """SIGTERM; returns the seconds it took to exit."""
        start = time.time()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.time() - start


class PollerTestCase(MotoTestCase):
    def setUp(self):
        super().setUp()
        self.endpoint = InvokeEndpoint().start()
        self.addCleanup(self.endpoint.stop)

    def queue(self, name, **attributes):
        url = self.sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def poller(self, url, arn, env=None, **config):
        settings = {"queue_url": url, "queue_arn": arn, "invoke_url": self.endpoint.url, "batch_size": 10,
                    "window_s": 0, "report_batch_item_failures": False, "region": "us-east-1",
                    "function_timeout_s": 5}
        settings.update(config)
        poller = Poller(settings, env or self.env)
        self.addCleanup(poller.stop)
        return poller

    def depth(self, url):
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        a = attributes["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def wait_empty(self, url, timeout=10):
        deadline = time.time() + timeout * SCALE
        while time.time() < deadline:
            if self.depth(url) == (0, 0):
                return
            time.sleep(0.1)
        self.fail(f"the queue still holds {self.depth(url)} (visible, in flight) messages")

    def assert_come_back(self, url, bodies, timeout=20):
        """Waits until each of these bodies was delivered a second time (it was not deleted and
        its visibility timeout passed), then a little longer, and checks that no other message
        came back (those were deleted). The endpoint then answers success, and the queue must
        empty. (A poller stopped in a long poll cannot be used for this: moto would still hand
        the abandoned poll the messages that come back.)"""
        def again(e):
            return {r["body"] for r in e.records() if r["attributes"]["ApproximateReceiveCount"] != "1"}
        self.endpoint.wait_for(lambda e: again(e) >= set(bodies), timeout, f"{sorted(bodies)} delivered again")
        time.sleep(1.5 * SCALE)
        self.assertEqual(sorted(again(self.endpoint)), sorted(bodies))
        self.endpoint.answer = lambda event: (200, {}, b"null")
        self.wait_empty(url)

    # ---- the event -----------------------------------------------------------------------

    def test_ten_messages_arrive_in_batches_shaped_as_lambda_sends_them_and_are_deleted(self):
        url, arn = self.queue("orders")
        sent = {}
        for i in range(10):
            attributes = {"kind": {"DataType": "String", "StringValue": f"k{i}"},
                          "blob": {"DataType": "Binary", "BinaryValue": bytes([i, 0, 255])},
                          "count": {"DataType": "Number", "StringValue": str(i)}}
            answer = self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}), MessageAttributes=attributes)
            sent[answer["MessageId"]] = (json.dumps({"n": i}), attributes)
        self.sqs.send_message(QueueUrl=url, MessageBody="plain", MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}})
        poller = self.poller(url, arn, batch_size=4)
        self.endpoint.wait_for(lambda e: len(e.records()) >= 11, 20, "11 records")
        self.wait_empty(url)
        self.assertEqual(poller.process.poll(), None, poller.stderr())
        for event in self.endpoint.events():
            self.assertEqual(list(event), ["Records"])
            self.assertLessEqual(len(event["Records"]), 4)
        for headers, event, path in self.endpoint.requests:
            self.assertEqual(headers.get("X-Moonrun-Trigger"), "sqs orders")
            # the poller counts its batch for the view, which shows it after the trigger
            self.assertEqual(headers.get("X-Moonrun-Batch-Records"), str(len(event["Records"])))
            self.assertEqual(headers.get("Content-Type"), "application/json")
            self.assertEqual(path, "/2015-03-31/functions/Consumer/invocations")
        records = self.endpoint.records()
        self.assertEqual(len({r["messageId"] for r in records}), 11)
        for record in records:
            self.assertEqual(record["eventSource"], "aws:sqs")
            self.assertEqual(record["eventSourceARN"], arn)
            self.assertEqual(record["awsRegion"], "us-east-1")
            self.assertEqual(record["md5OfBody"], hashlib.md5(record["body"].encode()).hexdigest())
            self.assertTrue(record["receiptHandle"])
            for name in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"):
                self.assertIsInstance(record["attributes"][name], str, name)
            self.assertEqual(record["attributes"]["ApproximateReceiveCount"], "1")
            self.assertNotIn("MessageGroupId", record["attributes"])
            if record["body"] == "plain":
                self.assertEqual(record["messageAttributes"], {})
                self.assertNotIn("md5OfMessageAttributes", record)
                self.assertEqual(record["attributes"]["AWSTraceHeader"], "Root=1-5759e988-bd862e3fe1be46a994272793")
                continue
            body, attributes = sent[record["messageId"]]
            self.assertEqual(record["body"], body)
            as_sent = {name: dict(a, BinaryValue=base64.b64encode(a["BinaryValue"]).decode()) if "BinaryValue" in a else a
                       for name, a in attributes.items()}
            self.assertEqual(record["md5OfMessageAttributes"], attributes_md5(as_sent))
            self.assertEqual(record["messageAttributes"]["kind"], {
                "stringValue": attributes["kind"]["StringValue"], "stringListValues": [], "binaryListValues": [],
                "dataType": "String"})
            self.assertEqual(record["messageAttributes"]["count"]["dataType"], "Number")
            blob = record["messageAttributes"]["blob"]
            self.assertEqual(base64.b64decode(blob["binaryValue"]), attributes["blob"]["BinaryValue"])
            self.assertEqual(blob["dataType"], "Binary")
            self.assertNotIn("stringValue", blob)

    def test_a_batching_window_gathers_more_than_one_receive_returns(self):
        url, arn = self.queue("window")
        for start in (0, 10):
            self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10) if i < 15])
        self.poller(url, arn, batch_size=20, window_s=2)
        self.endpoint.wait_for(lambda e: len(e.records()) >= 15, 20, "15 records")
        self.assertEqual([len(e["Records"]) for e in self.endpoint.events()], [15])
        self.wait_empty(url)

    # ---- what is deleted -------------------------------------------------------------------

    def test_batch_item_failures_leave_exactly_those_messages(self):
        url, arn = self.queue("partial", VisibilityTimeout=1)
        for i in range(6):
            self.sqs.send_message(QueueUrl=url, MessageBody=("fail-" if i in (1, 4) else "ok-") + str(i))
        self.endpoint.answer = lambda event: (200, {}, json.dumps({"batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("fail")]}))
        self.poller(url, arn, report_batch_item_failures=True)
        self.assert_come_back(url, ["fail-1", "fail-4"])

    def test_without_report_batch_item_failures_a_success_deletes_everything(self):
        url, arn = self.queue("whole", VisibilityTimeout=2)
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        self.endpoint.answer = lambda event: (200, {}, json.dumps({"batchItemFailures": [
            {"itemIdentifier": event["Records"][0]["messageId"]}]}))
        self.poller(url, arn)
        self.endpoint.wait_for(lambda e: len(e.records()) >= 3, 20, "3 records")
        self.wait_empty(url)

    def test_a_function_error_leaves_the_whole_batch(self):
        url, arn = self.queue("failing", VisibilityTimeout=1)
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        self.endpoint.answer = lambda event: (200, {"X-Amz-Function-Error": "Unhandled"},
                                              '{"errorType": "Boom", "errorMessage": "it broke"}')
        poller = self.poller(url, arn, report_batch_item_failures=True)
        self.assert_come_back(url, ["m0", "m1", "m2"])
        self.assertIn("queue failing", poller.stderr())
        self.assertIn("Boom: it broke", poller.stderr())

    def test_an_invoke_endpoint_status_other_than_200_leaves_the_batch(self):
        url, arn = self.queue("status", VisibilityTimeout=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="m")
        self.endpoint.answer = lambda event: (502, {}, '{"message": "bad gateway"}')
        poller = self.poller(url, arn)
        self.assert_come_back(url, ["m"])
        self.assertIn("status 502", poller.stderr())

    def test_invalid_batch_item_failures_fail_the_whole_batch_and_empty_ones_none(self):
        invalid = {
            "unknown id": lambda ids: {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-the-batch"}]},
            "empty id": lambda ids: {"batchItemFailures": [{"itemIdentifier": ""}]},
            "null id": lambda ids: {"batchItemFailures": [{"itemIdentifier": None}]},
            "misspelt key": lambda ids: {"batchItemFailures": [{"itemIdentifer": ids[0]}]},
            "not a list": lambda ids: {"batchItemFailures": {"itemIdentifier": ids[0]}},
            "item not an object": lambda ids: {"batchItemFailures": [ids[0]]},
            "answer not an object": lambda ids: "done",
        }
        valid = {"empty list": lambda ids: {"batchItemFailures": []}, "null list": lambda ids: {"batchItemFailures": None},
                 "empty object": lambda ids: {}, "null": lambda ids: None}
        for case, make in list(invalid.items()) + list(valid.items()):
            with self.subTest(case):
                name = "q-" + case.replace(" ", "-")
                url, arn = self.queue(name, VisibilityTimeout=1)
                self.sqs.send_message(QueueUrl=url, MessageBody="a")
                self.sqs.send_message(QueueUrl=url, MessageBody="b")
                self.endpoint.requests.clear()
                self.endpoint.answer = lambda event, make=make: (
                    200, {}, json.dumps(make([r["messageId"] for r in event["Records"]])))
                poller = self.poller(url, arn, report_batch_item_failures=True)
                if case in invalid:
                    self.assert_come_back(url, ["a", "b"])
                    self.assertIn("the whole batch counts as failed", poller.stderr())
                else:
                    self.endpoint.wait_for(lambda e: len(e.records()) >= 2, 20, "2 records")
                    self.wait_empty(url)
                    time.sleep(1.5 * SCALE)
                    self.assertEqual(len(self.endpoint.records()), 2)
                poller.stop()

    # ---- FIFO and redrive ------------------------------------------------------------------

    def test_fifo_messages_of_a_group_arrive_in_order_with_their_fifo_attributes(self):
        url, arn = self.queue("ordered.fifo", FifoQueue="true", ContentBasedDeduplication="true")
        for i in range(12):
            group = "g1" if i % 3 else "g2"
            self.sqs.send_message(QueueUrl=url, MessageBody=f"{group}-{i}", MessageGroupId=group)
        self.poller(url, arn, batch_size=3)
        self.endpoint.wait_for(lambda e: len(e.records()) >= 12, 30, "12 records")
        self.wait_empty(url)
        records = self.endpoint.records()
        for group in ("g1", "g2"):
            got = [r["body"] for r in records if r["attributes"]["MessageGroupId"] == group]
            self.assertEqual(got, [f"{group}-{i}" for i in range(12) if (i % 3 != 0) == (group == "g1")])
        for record in records:
            # (moto leaves SequenceNumber out; SQS sends it, and the poller passes on what it gets)
            self.assertEqual(record["attributes"]["MessageDeduplicationId"],
                             hashlib.sha256(record["body"].encode()).hexdigest())
            self.assertTrue(record["eventSourceARN"].endswith(":ordered.fifo"))

    def test_a_message_that_keeps_failing_reaches_the_dead_letter_queue(self):
        dlq_url, dlq_arn = self.queue("dead")
        url, arn = self.queue("source", VisibilityTimeout=1, RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
        self.sqs.send_message(QueueUrl=url, MessageBody="poison")
        self.endpoint.answer = lambda event: (200, {"X-Amz-Function-Error": "Unhandled"},
                                              '{"errorType": "Error", "errorMessage": "no"}')
        self.poller(url, arn)
        deadline = time.time() + 20 * SCALE
        moved = []
        while time.time() < deadline and not moved:
            moved = self.sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual([m["Body"] for m in moved], ["poison"])
        counts = [r["attributes"]["ApproximateReceiveCount"] for r in self.endpoint.records()]
        self.assertEqual(counts, ["1", "2"])

    # ---- failures and recovery -------------------------------------------------------------

    def test_the_invoke_endpoint_down_then_back(self):
        url, arn = self.queue("later", VisibilityTimeout=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="m")
        port = free_port()
        poller = self.poller(url, arn, invoke_url=f"http://127.0.0.1:{port}/2015-03-31/functions/F/invocations")
        deadline = time.time() + 15 * SCALE
        while "cannot invoke the function" not in poller.stderr():
            self.assertLess(time.time(), deadline, poller.stderr())
            time.sleep(0.1)
        self.assertIn("queue later", poller.stderr())
        back = InvokeEndpoint(port).start()
        self.addCleanup(back.stop)
        back.wait_for(lambda e: len(e.records()) >= 1, 20, "the message, delivered again")
        self.wait_empty(url)
        self.assertEqual(poller.process.poll(), None)

    def test_the_sqs_endpoint_down_then_back(self):
        port = free_port()
        env = aws_env(f"http://127.0.0.1:{port}")
        url = f"http://127.0.0.1:{port}/123456789012/revived"
        poller = self.poller(url, "arn:aws:sqs:us-east-1:123456789012:revived", env=env)
        deadline = time.time() + 15 * SCALE
        while "cannot receive messages" not in poller.stderr():
            self.assertLess(time.time(), deadline, poller.stderr())
            time.sleep(0.1)
        time.sleep(2)
        lines = [line for line in poller.stderr().splitlines() if "cannot receive" in line]
        self.assertEqual(len(lines), 1, "the same failure is said once, not at every retry:\n" + poller.stderr())
        self.assertIn("queue revived", lines[0])
        self.assertIn(f"127.0.0.1:{port}", lines[0])
        second = MotoServer()
        second.port, second.url = port, f"http://127.0.0.1:{port}"
        second.start()
        self.addCleanup(second.stop)
        client = second.boto3()
        real_url = client.create_queue(QueueName="revived")["QueueUrl"]
        client.send_message(QueueUrl=real_url, MessageBody="after the outage")
        self.endpoint.wait_for(lambda e: len(e.records()) >= 1, 20 + 10, "the message after the outage")
        self.assertEqual(self.endpoint.records()[0]["body"], "after the outage")
        self.assertEqual(poller.process.poll(), None)
        deadline = time.time() + 10 * SCALE
        while "answers again" not in poller.stderr():
            self.assertLess(time.time(), deadline, poller.stderr())
            time.sleep(0.1)

    def test_a_missing_queue_is_reported_and_retried(self):
        url = self.moto.url + "/123456789012/not-yet"
        poller = self.poller(url, "arn:aws:sqs:us-east-1:123456789012:not-yet")
        deadline = time.time() + 15 * SCALE
        while "cannot receive messages" not in poller.stderr():
            self.assertLess(time.time(), deadline, poller.stderr())
            time.sleep(0.1)
        self.assertIn("queue not-yet", poller.stderr())
        self.assertIn("QueueDoesNotExist", poller.stderr())
        self.assertEqual(poller.process.poll(), None)

    # ---- process ---------------------------------------------------------------------------

    def test_sigterm_stops_it_at_once_even_in_a_long_poll(self):
        url, arn = self.queue("idle")
        poller = self.poller(url, arn)
        time.sleep(1.5)
        self.assertIsNone(poller.process.poll(), poller.stderr())
        self.assertLess(poller.stop(), 2)

    def test_it_stops_when_its_parent_has_gone(self):
        # a queue that does not exist keeps the loop turning every few seconds (its backoff)
        config = {"queue_url": self.moto.url + "/123456789012/nothing", "invoke_url": self.endpoint.url}
        log = tempfile.TemporaryFile()
        parent = subprocess.Popen(["sh", "-c", 'exec 3>&2; "$0" run "$1" "$2" & echo $!; sleep 1',
                                   MOONRUN, POLLER, json.dumps(config)], env=self.env,
                                  stdout=subprocess.PIPE, stderr=log)
        pid = int(parent.stdout.readline())
        parent.wait(10)
        deadline = time.time() + 20 * SCALE
        while time.time() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break  # exited, not yet reaped by whoever adopted it
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            self.fail("the poller outlived its parent by 20 s")
        log.seek(0)
        self.assertIn("has gone; stopping", log.read().decode())

    def test_a_bad_configuration_is_an_exit_status_2_naming_the_problem(self):
        cases = [
            ("not json", "{", "not JSON"),
            ("not an object", "[1]", "must be a JSON object"),
            ("no queue", json.dumps({"invoke_url": "http://127.0.0.1:1/"}), "'queue_url' is required"),
            ("no invoke url", json.dumps({"queue_url": "http://h/1/q"}), "'invoke_url' is required"),
            ("unknown key", json.dumps({"queue_url": "http://h/1/q", "invoke_url": "http://h/", "batchsize": 5}),
             "unknown configuration key 'batchsize'"),
            ("big batch without window", json.dumps({"queue_url": "http://h/1/q", "invoke_url": "http://h/",
                                                     "batch_size": 11}), "needs window_s"),
            ("fifo batch", json.dumps({"queue_url": "http://h/1/q.fifo", "invoke_url": "http://h/",
                                       "batch_size": 11, "window_s": 1}), "at most 10"),
            ("fifo window", json.dumps({"queue_url": "http://h/1/q.fifo", "invoke_url": "http://h/",
                                        "window_s": 1}), "cannot have a batching window"),
            ("batch size type", json.dumps({"queue_url": "http://h/1/q", "invoke_url": "http://h/",
                                            "batch_size": "10"}), "'batch_size' must be a number"),
            ("no argument", None, "usage"),
        ]
        for case, config, fragment in cases:
            with self.subTest(case):
                args = [MOONRUN, "run", POLLER] + ([config] if config is not None else [])
                done = subprocess.run(args, env=self.env, capture_output=True, timeout=30)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn(fragment, done.stderr.decode())
                self.assertIn("bad configuration", done.stderr.decode())


if __name__ == "__main__":
    unittest.main()
