"""moonrun dev's embedded SQS endpoint (`moonrun dev --sqs-only`) against real clients: boto3
and the AWS CLI for every operation and the FIFO, delay, visibility and redrive behaviours, the
JavaScript SDK (tests/npm, after `npm ci --prefix tests/npm`), a restart that loses nothing, and a
differential run of one boto3 script against moto's server and the endpoint that compares the
answers' shapes and error codes.

Run from the repository root: python3 -m unittest -v tests/test_dev_sqs.py
Environment: MOONRUN_BIN (default build/moonrun).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import MOONRUN, ROOT, SCALE, MotoServer, free_port, run_lua, wait_listening  # noqa: E402

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

KEY_ID = "AKIAMOONRUNDEV000000"  # the credentials moonrun dev gives its children
SECRET = "moonrun-dev-secret"
NPM_DIR = os.path.join(ROOT, "tests", "npm")


def require_javascript_sdk(test):
    # a missing SDK fails the test rather than skipping it: setup.sh test installs it
    test.assertTrue(os.path.isdir(os.path.join(NPM_DIR, "node_modules", "@aws-sdk", "client-sqs")),
                    "the AWS SDK for JavaScript is not installed: run npm ci --prefix tests/npm")


class DevSqs:
    """`moonrun dev --sqs-only` on a free port, its state in a directory of its own."""

    def __init__(self, state_dir, verify=False, extra=(), log_dir=None):
        self.state_dir, self.verify, self.extra = state_dir, verify, list(extra)
        self.log_path = os.path.join(log_dir or state_dir, "dev.log")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        command = [MOONRUN, "dev", "--sqs-only", "--sqs-port", str(self.port), "--state", self.state_dir]
        if self.verify:
            command.append("--verify-signatures")
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command + self.extra, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        wait_listening(self.port, self.process, 20 * SCALE, "moonrun dev", lambda: ": " + self.output())
        return self

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def stop(self, kill=False):
        if self.process and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()
        self.process = None

    def client(self, key_id=KEY_ID, secret=SECRET):
        return boto3.client("sqs", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=key_id, aws_secret_access_key=secret)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_code(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as err:
        return err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error")


class EndpointTestCase(unittest.TestCase):
    verify = False

    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix="moonrun-dev-sqs-")
        cls.dev = DevSqs(cls.state, cls.verify).start()
        cls.sqs = cls.dev.client()

    @classmethod
    def tearDownClass(cls):
        cls.dev.stop()
        shutil.rmtree(cls.state, ignore_errors=True)


class Boto3Operations(EndpointTestCase):
    def test_queue_operations(self):
        name = unique("ops")
        url = self.sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"},
                                    tags={"team": "a"})["QueueUrl"]
        self.assertEqual(url, f"{self.dev.url}/000000000000/{name}")
        self.assertEqual(url, self.sqs.get_queue_url(QueueName=name)["QueueUrl"])
        self.assertIn(url, self.sqs.list_queues(QueueNamePrefix=name)["QueueUrls"])
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attributes["VisibilityTimeout"], "45")
        self.assertEqual(attributes["QueueArn"], f"arn:aws:sqs:us-east-1:000000000000:{name}")
        for key in ("CreatedTimestamp", "LastModifiedTimestamp", "ApproximateNumberOfMessages"):
            self.assertTrue(attributes[key].isdigit(), key)
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "2"})
        self.assertEqual(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])
                         ["Attributes"], {"DelaySeconds": "2"})
        self.sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"env": "dev"})
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        self.sqs.purge_queue(QueueUrl=url)
        self.assertEqual(error_code(self.sqs.purge_queue, QueueUrl=url),
                         ("AWS.SimpleQueueService.PurgeQueueInProgress", 403))
        self.sqs.delete_queue(QueueUrl=url)
        self.assertEqual(error_code(self.sqs.get_queue_url, QueueName=name),
                         ("AWS.SimpleQueueService.NonExistentQueue", 400))

    def test_list_queues_pages(self):
        prefix = unique("page")
        for i in range(5):
            self.sqs.create_queue(QueueName=f"{prefix}-{i}")
        paginator = self.sqs.get_paginator("list_queues")
        urls = [u for page in paginator.paginate(QueueNamePrefix=prefix, PaginationConfig={"PageSize": 2})
                for u in page.get("QueueUrls", [])]
        self.assertEqual(len(urls), 5)
        self.assertEqual(urls, sorted(urls))

    def test_messages_with_attributes_and_md5s(self):
        url = self.sqs.create_queue(QueueName=unique("msg"))["QueueUrl"]
        # botocore checks every MD5 the endpoint returns: a wrong one raises here
        sent = self.sqs.send_message(
            QueueUrl=url, MessageBody="héllo ✓",
            MessageAttributes={"s": {"DataType": "String", "StringValue": "v"},
                               "n": {"DataType": "Number", "StringValue": "-1.5e3"},
                               "b": {"DataType": "Binary.gz", "BinaryValue": b"\x00\xff"}},
            MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String",
                                                        "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}})
        self.assertIn("MD5OfMessageSystemAttributes", sent)
        got = self.sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"],
                                       MessageSystemAttributeNames=["All"])["Messages"][0]
        self.assertEqual(got["MessageId"], sent["MessageId"])
        self.assertEqual(got["Body"], "héllo ✓")
        self.assertEqual(got["MessageAttributes"]["b"]["BinaryValue"], b"\x00\xff")
        self.assertEqual(got["Attributes"]["ApproximateReceiveCount"], "1")
        self.assertEqual(got["Attributes"]["SenderId"], KEY_ID)
        self.assertEqual(got["Attributes"]["AWSTraceHeader"], "Root=1-5759e988-bd862e3fe1be46a994272793")
        for key in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
            self.assertTrue(got["Attributes"][key].isdigit())
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"])

    def test_batches(self):
        url = self.sqs.create_queue(QueueName=unique("batch"))["QueueUrl"]
        sent = self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": f"m{i}", "MessageBody": f"body {i}",
             "MessageAttributes": {"i": {"DataType": "Number", "StringValue": str(i)}}} for i in range(10)])
        self.assertEqual(len(sent["Successful"]), 10)
        messages = []
        while len(messages) < 10:
            messages += self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                 MessageAttributeNames=["All"]).get("Messages", [])
        changed = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": f"c{i}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 60}
            for i, m in enumerate(messages)])
        self.assertEqual(len(changed["Successful"]), 10)
        deleted = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages[:9])]
            + [{"Id": "bad", "ReceiptHandle": "not-a-handle"}])
        self.assertEqual(len(deleted["Successful"]), 9)
        self.assertEqual(deleted["Failed"][0]["Code"], "ReceiptHandleIsInvalid")
        self.assertEqual(error_code(self.sqs.send_message_batch, QueueUrl=url, Entries=[
            {"Id": "same", "MessageBody": "a"}, {"Id": "same", "MessageBody": "b"}]),
            ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400))

    def test_visibility_timeout_and_change(self):
        url = self.sqs.create_queue(QueueName=unique("vis"), Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        first = self.sqs.receive_message(QueueUrl=url)["Messages"][0]
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        again = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)["Messages"][0]
        self.assertNotEqual(first["ReceiptHandle"], again["ReceiptHandle"])
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
        self.assertEqual(error_code(self.sqs.change_message_visibility, QueueUrl=url,
                                    ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=5),
                         ("AWS.SimpleQueueService.MessageNotInflight", 400))
        third = self.sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
        self.assertEqual(third["Attributes"]["ApproximateReceiveCount"], "3")

    def test_delay_and_long_polling(self):
        url = self.sqs.create_queue(QueueName=unique("delay"))["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        self.assertEqual(attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"], "1")
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        started = time.time()
        got = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
        waited = time.time() - started
        self.assertEqual(got[0]["Body"], "later")
        self.assertLess(waited, 3.5 * SCALE)  # woken when the delay ended, not at the poll's end
        started = time.time()
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1))
        self.assertGreaterEqual(time.time() - started, 0.9)

    def test_long_poll_woken_by_a_send(self):
        url = self.sqs.create_queue(QueueName=unique("poll"))["QueueUrl"]
        sender = self.dev.client()
        import threading

        def send_soon():
            time.sleep(0.5)
            sender.send_message(QueueUrl=url, MessageBody="wake")
        thread = threading.Thread(target=send_soon)
        started = time.time()
        thread.start()
        got = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15)["Messages"]
        thread.join()
        self.assertEqual(got[0]["Body"], "wake")
        self.assertLess(time.time() - started, 3 * SCALE)

    def test_redrive_to_dead_letter_queue(self):
        dlq_name = unique("dlq")
        dlq = self.sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        src = self.sqs.create_queue(QueueName=unique("src"), Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"], [src])
        self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        self.assertEqual(len(self.sqs.receive_message(QueueUrl=src)["Messages"]), 1)
        self.assertEqual(len(self.sqs.receive_message(QueueUrl=src)["Messages"]), 1)
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=src))
        moved = self.sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"][0]
        self.assertEqual(moved["Body"], "poison")
        self.assertEqual(moved["Attributes"]["DeadLetterQueueSourceArn"].rsplit(":", 1)[1], src.rsplit("/", 1)[1])
        policy = json.loads(self.sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])
                            ["Attributes"]["RedrivePolicy"])
        self.assertEqual(policy, {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})

    def test_fifo(self):
        url = self.sqs.create_queue(QueueName=unique("jobs") + ".fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        sequences = []
        for group, body in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a1")]:  # a1 twice: deduplicated
            sent = self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
            sequences.append(int(sent["SequenceNumber"]))
        self.assertEqual(sequences[3], sequences[0])
        self.assertEqual(sequences[:3], sorted(sequences[:3]))
        first = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1,
                                         MessageSystemAttributeNames=["All"])["Messages"]
        self.assertEqual([m["Body"] for m in first], ["a1"])
        self.assertEqual(first[0]["Attributes"]["MessageGroupId"], "a")
        rest = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in rest], ["b1"])  # group a waits for a1
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        self.assertEqual([m["Body"] for m in self.sqs.receive_message(QueueUrl=url)["Messages"]], ["a2"])
        self.assertEqual(error_code(self.sqs.send_message, QueueUrl=url, MessageBody="x"),
                         ("MissingParameter", 400))

    def test_errors_as_sqs_sends_them(self):
        url = self.sqs.create_queue(QueueName=unique("err"))["QueueUrl"]
        self.assertEqual(error_code(self.sqs.send_message, QueueUrl=url, MessageBody="\x00"),
                         ("InvalidMessageContents", 400))
        self.assertEqual(error_code(self.sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11),
                         ("InvalidParameterValue", 400))
        self.assertEqual(error_code(self.sqs.delete_message, QueueUrl=url, ReceiptHandle="x"),
                         ("ReceiptHandleIsInvalid", 400))
        self.assertEqual(error_code(self.sqs.create_queue, QueueName="bad name"), ("InvalidParameterValue", 400))
        self.assertEqual(error_code(self.sqs.create_queue, QueueName=url.rsplit("/", 1)[1],
                                    Attributes={"VisibilityTimeout": "1"}), ("QueueAlreadyExists", 400))
        self.assertEqual(error_code(self.sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Nope"]),
                         ("InvalidAttributeName", 400))


class AwsCli(EndpointTestCase):
    def aws(self, *args):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
        run = subprocess.run(["aws", "--endpoint-url", self.dev.url, "--output", "json", "sqs", *args],
                             env=env, capture_output=True, text=True, timeout=60 * SCALE)
        if run.returncode != 0:
            return {"error": run.stderr}
        return json.loads(run.stdout) if run.stdout.strip() else {}

    def test_every_message_operation(self):
        name = unique("cli")
        url = self.aws("create-queue", "--queue-name", name)["QueueUrl"]
        self.assertEqual(self.aws("get-queue-url", "--queue-name", name)["QueueUrl"], url)
        self.assertIn(url, self.aws("list-queues")["QueueUrls"])
        sent = self.aws("send-message", "--queue-url", url, "--message-body", "from the cli",
                        "--message-attributes", '{"k":{"DataType":"String","StringValue":"v"}}')
        self.assertIn("MD5OfMessageAttributes", sent)
        self.aws("send-message-batch", "--queue-url", url, "--entries",
                 '[{"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"two"}]')
        got = self.aws("receive-message", "--queue-url", url, "--max-number-of-messages", "10",
                       "--message-attribute-names", "All")["Messages"]
        self.assertEqual(sorted(m["Body"] for m in got), ["from the cli", "one", "two"])
        self.aws("change-message-visibility", "--queue-url", url, "--receipt-handle",
                 got[0]["ReceiptHandle"], "--visibility-timeout", "100")
        self.aws("delete-message", "--queue-url", url, "--receipt-handle", got[0]["ReceiptHandle"])
        entries = json.dumps([{"Id": f"e{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got[1:])])
        self.assertEqual(len(self.aws("delete-message-batch", "--queue-url", url, "--entries", entries)["Successful"]), 2)
        attributes = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
        self.assertEqual(attributes["ApproximateNumberOfMessages"], "0")
        self.aws("set-queue-attributes", "--queue-url", url, "--attributes", "VisibilityTimeout=5")
        self.aws("tag-queue", "--queue-url", url, "--tags", "a=b")
        self.assertEqual(self.aws("list-queue-tags", "--queue-url", url)["Tags"], {"a": "b"})
        self.aws("untag-queue", "--queue-url", url, "--tag-keys", "a")
        self.aws("purge-queue", "--queue-url", url)
        self.assertEqual(self.aws("list-dead-letter-source-queues", "--queue-url", url)["queueUrls"], [])
        self.aws("delete-queue", "--queue-url", url)
        missing = self.aws("get-queue-url", "--queue-name", name)
        self.assertIn("NonExistentQueue", missing["error"])


class JavaScriptSdk(EndpointTestCase):
    def test_scenario(self):
        require_javascript_sdk(self)
        run = subprocess.run(["node", os.path.join(NPM_DIR, "sqs_client.mjs"), self.dev.url],
                             capture_output=True, text=True, timeout=120 * SCALE)
        self.assertEqual(run.returncode, 0, run.stderr)
        out = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertEqual(out["url"], out["found"])
        self.assertEqual(out["bodies"], ["hello from js", "one", "two"])
        self.assertEqual(out["attribute"], "greeting")
        self.assertEqual(out["binary"], [0, 1, 2])
        self.assertEqual(out["batch"], {"ok": 2, "failed": 0})
        self.assertEqual(out["deleted"], 2)
        self.assertEqual(out["tags"], {"by": "js"})
        self.assertEqual(out["missing"], {"name": "QueueDoesNotExist",
                                          "code": "AWS.SimpleQueueService.NonExistentQueue", "status": 400})


class Signatures(EndpointTestCase):
    verify = True

    def test_signed_requests_pass_and_others_fail(self):
        self.assertIn("QueueUrls" if self.sqs.list_queues().get("QueueUrls") else "ResponseMetadata",
                      self.sqs.list_queues())
        self.assertEqual(error_code(self.dev.client(secret="wrong").list_queues), ("SignatureDoesNotMatch", 403))
        self.assertEqual(error_code(self.dev.client(key_id="AKIAOTHER").list_queues), ("InvalidClientTokenId", 403))
        import urllib.request
        request = urllib.request.Request(self.dev.url + "/", data=b"{}", method="POST", headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"})
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        self.assertEqual(caught.exception.code, 403)
        self.assertEqual(caught.exception.headers["x-amzn-query-error"], "MissingAuthenticationToken;Sender")

    def test_moonrun_sqs_signs_as_the_endpoint_checks(self):
        env = dict(os.environ, AWS_ENDPOINT_URL_SQS=self.dev.url, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        answer, _ = run_lua("""
            local sqs = require "moonrun.sqs"
            local url = sqs.create_queue{QueueName = "signed-lua"}.QueueUrl
            sqs.send_message{QueueUrl = url, MessageBody = "signed"}
            return sqs.receive_message{QueueUrl = url}.Messages[1].Body
        """, env)
        self.assertEqual(answer, {"result": "signed"})

    def test_javascript_sdk_signs_as_the_endpoint_checks(self):
        require_javascript_sdk(self)
        run = subprocess.run(["node", os.path.join(NPM_DIR, "sqs_client.mjs"), self.dev.url],
                             capture_output=True, text=True, timeout=120 * SCALE,
                             env=dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET))
        self.assertEqual(run.returncode, 0, run.stderr)
        bad = subprocess.run(["node", os.path.join(NPM_DIR, "sqs_client.mjs"), self.dev.url],
                             capture_output=True, text=True, timeout=120 * SCALE,
                             env=dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY="wrong"))
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("SignatureDoesNotMatch", bad.stderr)


class Restart(unittest.TestCase):
    def test_nothing_is_lost(self):
        state = tempfile.mkdtemp(prefix="moonrun-dev-sqs-restart-")
        try:
            dev = DevSqs(state).start()
            sqs = dev.client()
            url = sqs.create_queue(QueueName="kept", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
            fifo = sqs.create_queue(QueueName="kept.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            for i in range(20):
                sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
            sqs.send_message(QueueUrl=fifo, MessageBody="f1", MessageGroupId="g", MessageDeduplicationId="1")
            in_flight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5)["Messages"]
            dev.stop(kill=True)  # no goodbye: the journal must already hold everything
            dev = DevSqs(state).start()
            sqs = dev.client()
            # same port is not guaranteed: the queue is found by name
            url = sqs.get_queue_url(QueueName="kept")["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            self.assertEqual(attributes["VisibilityTimeout"], "2")
            self.assertEqual(int(attributes["ApproximateNumberOfMessages"]) +
                             int(attributes["ApproximateNumberOfMessagesNotVisible"]), 20)
            bodies = set()
            deadline = time.time() + 15 * SCALE
            while len(bodies) < 20 and time.time() < deadline:
                for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                    bodies.add(m["Body"])
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            self.assertEqual(bodies, {f"m{i}" for i in range(20)})
            self.assertTrue({m["Body"] for m in in_flight} <= bodies)
            fifo = sqs.get_queue_url(QueueName="kept.fifo")["QueueUrl"]
            # the deduplication window survived: the same id is dropped
            sqs.send_message(QueueUrl=fifo, MessageBody="f1 again", MessageGroupId="g", MessageDeduplicationId="1")
            got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
            self.assertEqual([m["Body"] for m in got], ["f1"])
            dev.stop()
        finally:
            shutil.rmtree(state, ignore_errors=True)


def shape(value):
    """A value's shape: dict keys with their shapes, a list's element shapes (deduplicated), or
    the type's name."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        shapes = []
        for item in value:
            s = shape(item)
            if s not in shapes:
                shapes.append(s)
        return shapes
    return type(value).__name__


def scenario(sqs, tag):
    """One boto3 script, run against moto and against the embedded endpoint: every step's
    answer shape or error code."""
    results = []

    def step(label, fn, **kwargs):
        try:
            results.append((label, shape(fn(**kwargs))))
        except ClientError as err:
            results.append((label, ("error", err.response["Error"]["Code"],
                                    err.response["ResponseMetadata"]["HTTPStatusCode"])))

    name = f"diff-{tag}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    step("create", sqs.create_queue, QueueName=name)
    step("get_url", sqs.get_queue_url, QueueName=name)
    step("get_url_missing", sqs.get_queue_url, QueueName=name + "-none")
    step("list", sqs.list_queues, QueueNamePrefix=name)
    step("send", sqs.send_message, QueueUrl=url, MessageBody="hello",
         MessageAttributes={"a": {"DataType": "String", "StringValue": "v"}})
    step("send_delay_too_long", sqs.send_message, QueueUrl=url, MessageBody="x", DelaySeconds=901)
    step("send_batch", sqs.send_message_batch, QueueUrl=url,
         Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2"}])
    step("send_batch_empty", sqs.send_message_batch, QueueUrl=url, Entries=[])
    step("send_batch_same_ids", sqs.send_message_batch, QueueUrl=url,
         Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}])
    step("send_batch_too_many", sqs.send_message_batch, QueueUrl=url,
         Entries=[{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)])
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                   AttributeNames=["All"])
    results.append(("receive", shape({"Messages": received["Messages"][:1]})))
    handles = [m["ReceiptHandle"] for m in received["Messages"]]
    step("receive_too_many", sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
    step("change_visibility", sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=handles[0],
         VisibilityTimeout=30)
    step("change_visibility_batch", sqs.change_message_visibility_batch, QueueUrl=url,
         Entries=[{"Id": "a", "ReceiptHandle": handles[1], "VisibilityTimeout": 30}])
    step("delete", sqs.delete_message, QueueUrl=url, ReceiptHandle=handles[0])
    step("delete_bad_handle", sqs.delete_message, QueueUrl=url, ReceiptHandle="garbage")
    step("delete_batch", sqs.delete_message_batch, QueueUrl=url,
         Entries=[{"Id": "a", "ReceiptHandle": handles[1]}])
    step("get_attributes", sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["All"])
    step("get_attribute_unknown", sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Bogus"])
    step("set_attributes", sqs.set_queue_attributes, QueueUrl=url, Attributes={"VisibilityTimeout": "10"})
    step("create_conflict", sqs.create_queue, QueueName=name, Attributes={"VisibilityTimeout": "11"})
    step("tag", sqs.tag_queue, QueueUrl=url, Tags={"a": "b"})
    step("list_tags", sqs.list_queue_tags, QueueUrl=url)
    step("untag", sqs.untag_queue, QueueUrl=url, TagKeys=["a"])
    step("dead_letter_sources", sqs.list_dead_letter_source_queues, QueueUrl=url)
    fifo = sqs.create_queue(QueueName=name + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    step("fifo_send", sqs.send_message, QueueUrl=fifo, MessageBody="x", MessageGroupId="g",
         MessageDeduplicationId="d")
    step("fifo_send_no_group", sqs.send_message, QueueUrl=fifo, MessageBody="x", MessageDeduplicationId="d")
    step("fifo_receive", sqs.receive_message, QueueUrl=fifo, AttributeNames=["MessageGroupId", "SequenceNumber"])
    step("purge", sqs.purge_queue, QueueUrl=url)
    step("delete_queue", sqs.delete_queue, QueueUrl=url)
    step("delete_queue_again", sqs.delete_queue, QueueUrl=url)
    return dict(results)


# Where moto is known to part from SQS, the embedded endpoint follows SQS's documented
# behaviour; these steps are checked against what SQS documents instead of against moto.
SQS_DOCUMENTED = {
    # MessageBody: "The minimum size is one character" (SendMessage); moto takes an empty body
    "send_empty_body": ("error", "MissingParameter", 400),
    # the allowed characters are #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF
    # (SendMessage); moto does not check them
    "send_bad_characters": ("error", "InvalidMessageContents", 400),
    # "Only one PurgeQueue operation on a queue is allowed every 60 seconds" (PurgeQueue), answered
    # with PurgeQueueInProgress; moto purges again
    "purge_again": ("error", "AWS.SimpleQueueService.PurgeQueueInProgress", 403),
    # "You must wait 60 seconds after deleting a queue before you can create another queue with
    # the same name" (CreateQueue, QueueDeletedRecently); moto creates it at once
    "create_after_delete": ("error", "AWS.SimpleQueueService.QueueDeletedRecently", 400),
}


def documented_steps(sqs, tag):
    """The steps where moto parts from SQS (see SQS_DOCUMENTED)."""
    results = {}

    def step(label, fn, **kwargs):
        try:
            results[label] = shape(fn(**kwargs))
        except ClientError as err:
            results[label] = ("error", err.response["Error"]["Code"],
                              err.response["ResponseMetadata"]["HTTPStatusCode"])

    url = sqs.create_queue(QueueName=f"documented-{tag}")["QueueUrl"]
    step("send_empty_body", sqs.send_message, QueueUrl=url, MessageBody="")
    step("send_bad_characters", sqs.send_message, QueueUrl=url, MessageBody="bell \x07")
    sqs.purge_queue(QueueUrl=url)
    step("purge_again", sqs.purge_queue, QueueUrl=url)
    sqs.delete_queue(QueueUrl=url)
    step("create_after_delete", sqs.create_queue, QueueName=f"documented-{tag}")
    return results


class Differential(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix="moonrun-dev-sqs-diff-")
        cls.dev = DevSqs(cls.state).start()
        cls.moto = MotoServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.dev.stop()
        cls.moto.stop()
        shutil.rmtree(cls.state, ignore_errors=True)

    def test_same_shapes_and_error_codes_as_moto(self):
        tag = uuid.uuid4().hex[:8]
        ours = scenario(self.dev.client(), tag)
        theirs = scenario(self.moto.boto3(), tag)
        self.assertEqual(set(ours), set(theirs))
        for label in ours:
            with self.subTest(step=label):
                self.assertEqual(ours[label], theirs[label])

    def test_where_moto_differs_sqs_documented_behaviour(self):
        ours = documented_steps(self.dev.client(), uuid.uuid4().hex[:8])
        self.assertEqual(ours, {label: tuple(expected) for label, expected in SQS_DOCUMENTED.items()})


if __name__ == "__main__":
    unittest.main()
