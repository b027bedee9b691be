"""`moonrun dev`'s queues: the embedded SQS endpoint as handlers and clients use it, an external
SQS (--sqs-endpoint, moto here), and messages kept across a restart of dev.

Run from the repository root: python3 -m unittest -v tests/test_dev_queues.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# setUpModule and tearDownModule: moto, while dev has no SQS endpoint of its own
from dev_support import setUpModule, tearDownModule  # noqa: E402,F401
from dev_support import (  # noqa: E402
    ACCOUNT, CONSUMER_LUA, DevTestCase, EMBEDDED, KEY_ID, MOONRUN, MotoServer, NEEDS_EMBEDDED,
    NEEDS_TRIGGERS, REGION, TRIGGERS, children_of, client_env, pid_gone, queue_template, seconds,
    wait_until)


PRODUCER_LUA = """\
local sqs = require "moonrun.sqs"
local M = {}
function M.handler(event)
  local sent = sqs.send_message{QueueUrl = os.getenv("QUEUE_URL"), MessageBody = event.body or "from the producer"}
  return {id = sent.MessageId}
end
return M
"""


def producer_template(extra=""):
    return """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Out:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: out-queue
  Producer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: produce.handler
      Runtime: provided.al2023
      Environment:
        Variables:
          QUEUE_URL: !Ref Out
""" + extra


@unittest.skipUnless(EMBEDDED, NEEDS_EMBEDDED)
class TestEmbeddedSqs(DevTestCase):
    """The embedded endpoint as dev serves it: the handlers' SDK, boto3, signatures, --sqs-only."""

    DEV_KEY_ID, DEV_SECRET = "AKIAMOONRUNDEV000000", "moonrun-dev-secret"

    def sqs_with(self, dev, key_id, secret):
        import boto3
        from botocore.config import Config
        return boto3.client("sqs", endpoint_url=dev.sqs, region_name=REGION, aws_access_key_id=key_id,
                            aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))

    def test_a_handler_sends_to_the_embedded_queue_through_its_ref(self):
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_dev(self.template(producer_template()))
        dev.wait_for(r"\(embedded; messages kept in ")
        sent = self.invoke_ok(dev, "Producer", {"body": "hello queue"})["id"]
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="out-queue")["QueueUrl"]
        self.assertEqual(url, f"{dev.sqs}/{ACCOUNT}/out-queue")
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([(m["MessageId"], m["Body"]) for m in messages], [(sent, "hello queue")])
        dev.wait_for(r"queues: .*out-queue (0 \(\+1 in flight\)|1)")
        self.stop_dev(dev)

    def test_a_long_poll_does_not_block_the_rest(self):
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_dev(self.template(producer_template()))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="out-queue")["QueueUrl"]
        received = {}

        def long_poll():
            started = time.monotonic()
            messages = self.sqs_client(dev).receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
            received["messages"], received["after"] = messages, time.monotonic() - started
        threads = [threading.Thread(target=long_poll) for _ in range(1)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        started = time.monotonic()
        sent = self.invoke_ok(dev, "Producer", {"body": "wakes the poll"})["id"]
        self.assertLess(time.monotonic() - started, seconds(3), "the invocation waited for the long poll")
        for t in threads:
            t.join(seconds(20))
        self.assertEqual([m["MessageId"] for m in received["messages"]], [sent])
        self.assertLess(received["after"], 5, "the long poll returned when the message came")
        self.stop_dev(dev)

    def test_sigterm_during_a_long_poll(self):
        dev = self.start_dev(self.template(queue_template(consumer=False)))
        url = self.sqs_client(dev).get_queue_url(QueueName="work")["QueueUrl"]
        outcome = {}

        def long_poll():
            try:
                outcome["answer"] = self.sqs_client(dev).receive_message(QueueUrl=url, WaitTimeSeconds=20)
            except Exception as e:  # noqa: BLE001 - any end will do, as long as it ends
                outcome["error"] = repr(e)
        t = threading.Thread(target=long_poll)
        t.start()
        time.sleep(0.5)
        started = time.monotonic()
        self.stop_dev(dev, timeout=10)
        self.assertLess(time.monotonic() - started, seconds(5), "dev waited for the long poll")
        t.join(seconds(30))
        self.assertTrue(outcome)

    def test_verify_signatures(self):
        from botocore.exceptions import ClientError
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_dev(self.template(producer_template()), "--verify-signatures")
        # the functions sign with dev's credentials: accepted
        sent = self.invoke_ok(dev, "Producer")["id"]
        good = self.sqs_with(dev, self.DEV_KEY_ID, self.DEV_SECRET)
        url = good.get_queue_url(QueueName="out-queue")["QueueUrl"]
        self.assertEqual(good.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]["MessageId"], sent)
        # another key, or the right key with a wrong secret: refused as AWS refuses them
        with self.assertRaises(ClientError) as caught:
            self.sqs_with(dev, "AKIAOTHERKEY00000000", self.DEV_SECRET).list_queues()
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidClientTokenId")
        with self.assertRaises(ClientError) as caught:
            self.sqs_with(dev, self.DEV_KEY_ID, "wrong-secret").list_queues()
        self.assertEqual(caught.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
        self.stop_dev(dev)

    def test_any_credentials_without_verify_signatures(self):
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_dev(self.template(producer_template()))
        urls = self.sqs_with(dev, "AKIAANYTHING", "anything").list_queues()["QueueUrls"]
        self.assertEqual(urls, [f"{dev.sqs}/{ACCOUNT}/out-queue"])
        self.stop_dev(dev)

    def test_sqs_only(self):
        state = self.path("state")
        argv = [MOONRUN, "dev", "--sqs-only", "--sqs-port", "0", "--state", state]
        dev = self.launch(argv, client_env())
        dev.sqs = dev.wait_for(r"moonrun dev: SQS at (http://127\.0\.0\.1:\d+) \(messages kept in ")[0].group(1)
        sqs = self.sqs_client(dev)
        url = sqs.create_queue(QueueName="alone")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="kept")
        self.stop_dev(dev)
        dev = self.launch(argv, client_env())
        dev.sqs = dev.wait_for(r"moonrun dev: SQS at (http://127\.0\.0\.1:\d+) ")[0].group(1)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="alone")["QueueUrl"]
        self.assertEqual([m["Body"] for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]],
                         ["kept"])
        self.stop_dev(dev)

    def test_sqs_only_with_sqs_endpoint_is_a_usage_error(self):
        p = self.run_dev("--sqs-only", "--sqs-endpoint", "http://127.0.0.1:1")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--sqs-only", p.stderr)


class TestExternalSqs(DevTestCase):
    """--sqs-endpoint: an SQS dev does not own (moto here, with its own account id, as AWS would have)."""

    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer(account="123456789012").start()  # moto's own default: not dev's

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def setUp(self):
        super().setUp()
        self.moto.reset()

    def start_external(self, template, *args):
        return self.start_dev(template, "--sqs-endpoint", self.moto.url, *args, embedded=True)

    def test_the_queues_are_created_there_and_a_ref_is_their_real_url(self):
        self.write("fn/produce.lua", PRODUCER_LUA)
        dev = self.start_external(self.template(producer_template()))
        self.assertEqual(dev.sqs, self.moto.url)
        sqs = self.moto.boto3()
        real_url = sqs.get_queue_url(QueueName="out-queue")["QueueUrl"]
        sent = self.invoke_ok(dev, "Producer", {"body": "to moto"})["id"]
        messages = sqs.receive_message(QueueUrl=real_url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([(m["MessageId"], m["Body"]) for m in messages], [(sent, "to moto")])
        env_lua = 'return {handler = function() return {url = os.getenv("QUEUE_URL")} end}\n'
        self.write("fn/produce.lua", env_lua)
        self.assertEqual(self.invoke_ok(dev, "Producer")["url"], real_url,
                         "!Ref of a queue is its URL as that SQS gives it")
        self.stop_dev(dev)

    def test_the_functions_get_the_environments_credentials(self):
        self.write("fn/produce.lua", 'return {handler = function() return {key = os.getenv("AWS_ACCESS_KEY_ID"), '
                                     'endpoint = os.getenv("AWS_ENDPOINT_URL_SQS")} end}\n')
        dev = self.start_external(self.template(producer_template()))
        self.assertEqual(self.invoke_ok(dev, "Producer"), {"key": KEY_ID, "endpoint": self.moto.url})
        self.stop_dev(dev)

    def test_a_redrive_policy_names_the_dead_letter_queue_in_that_account(self):
        self.write("fn/consume.lua", CONSUMER_LUA)
        dev = self.start_external(self.template(queue_template(visibility=1, max_receive=2)))
        sqs = self.moto.boto3()
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName="work-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                            ["Attributes"]["RedrivePolicy"])
        self.assertEqual(policy["deadLetterTargetArn"], dlq_arn)
        self.stop_dev(dev)

    @unittest.skipUnless(TRIGGERS, NEEDS_TRIGGERS)
    def test_a_trigger_polls_that_sqs(self):
        self.write("fn/consume.lua", CONSUMER_LUA)
        template = queue_template(visibility=5).replace("""\
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 2
""", "")
        dev = self.start_external(self.template(template))
        sqs = self.moto.boto3()
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        ids = {sqs.send_message(QueueUrl=url, MessageBody=f"moto-{i}")["MessageId"] for i in range(3)}
        lines = dev.wait_for(r"\| got (\S+) moto-\d 1$", timeout=30, count=3)
        self.assertEqual({m.group(1) for m in lines}, ids)

        def empty():
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        wait_until(empty, 20, "moto's queue to be empty")
        self.stop_dev(dev)


@unittest.skipUnless(EMBEDDED, NEEDS_EMBEDDED)
class TestRestart(DevTestCase):
    """Messages in the embedded queues survive a restart of dev: none lost, none duplicated."""

    def test_the_default_state_is_beside_the_template(self):
        folder = self.path("service")
        os.makedirs(folder)
        path = self.write("service/template.yaml", queue_template(consumer=False))
        argv = [MOONRUN, "dev", "--port", "0", "--sqs-port", "0"]  # no --state, no template: found here
        dev = self.launch(argv, client_env(), folder)
        dev.wait_ready()
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="in .moonrun")
        self.stop_dev(dev)
        self.assertTrue(os.path.isdir(os.path.join(folder, ".moonrun")), os.listdir(folder))
        self.assertTrue(os.listdir(os.path.join(folder, ".moonrun")))
        self.assertTrue(path)

    def test_messages_survive_sigterm_and_restart(self):
        state = self.path("state")
        path = self.template(queue_template(consumer=False, visibility=30))
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sent = {}
        for i in range(25):
            sent[sqs.send_message(QueueUrl=url, MessageBody=f"keep-{i}")["MessageId"]] = f"keep-{i}"
        self.stop_dev(dev)
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        got = {}
        deadline = time.monotonic() + seconds(20)
        while len(got) < len(sent) and time.monotonic() < deadline:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                self.assertNotIn(m["MessageId"], got, "a message received twice within its visibility timeout")
                got[m["MessageId"]] = m["Body"]
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(got, sent)
        self.stop_dev(dev)
        # what was deleted stays deleted
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        self.assertEqual(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []), [])
        self.stop_dev(dev)

    def test_what_was_acknowledged_survives_sigkill(self):
        # a send that was answered is kept, a delete that was answered stays done, even when dev
        # is killed outright right after
        state = self.path("state")
        path = self.template(queue_template(consumer=False, visibility=30))
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sent = {}
        for start in range(0, 20, 10):
            entries = [{"Id": str(i), "MessageBody": f"kill-{i}"} for i in range(start, start + 10)]
            for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]:
                sent[e["MessageId"]] = f"kill-{e['Id']}"
        deleted = set()
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            deleted.add(m["MessageId"])
        self.assertEqual(len(deleted), 5)
        dev.signal(signal.SIGKILL)
        self.assertEqual(dev.wait_exit(10), -signal.SIGKILL)
        dev = self.start_dev(path, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        got = {}
        deadline = time.monotonic() + seconds(20)
        while len(got) < len(sent) - len(deleted) and time.monotonic() < deadline:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                got[m["MessageId"]] = m["Body"]
        self.assertEqual(got, {k: v for k, v in sent.items() if k not in deleted})
        self.stop_dev(dev)

    @unittest.skipUnless(TRIGGERS, NEEDS_TRIGGERS)
    def test_a_restart_in_the_middle_of_consuming_loses_nothing(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with self.subTest(signal=sig.name):
                self.restart_in_the_middle(sig)

    def restart_in_the_middle(self, sig):
        state = self.path("state-" + sig.name)
        self.write("fn/consume.lua", CONSUMER_LUA.replace(
            "local M = {}", 'local M = {}\nlocal function slowly() os.execute("sleep 0.2") end'
        ).replace("for _, record", "slowly()\n  for _, record"))
        with open(self.path("fn/consume.lua")) as f:
            self.assertIn("slowly()\n", f.read())
        # the consumer takes one message at a time, slowly, so dev stops in the middle
        # at most two batches at once (the trigger scales its pollers up to MaximumConcurrency)
        path = self.template(queue_template(visibility=2, max_receive=10, batch=1).replace(
            "            FunctionResponseTypes: [ReportBatchItemFailures]\n",
            "            FunctionResponseTypes: [ReportBatchItemFailures]\n            ScalingConfig: {MaximumConcurrency: 2}\n"),
            name=f"t-{sig.name}.yaml")
        queue_only = self.template(queue_template(consumer=False, visibility=2, max_receive=10),
                                   name=f"q-{sig.name}.yaml")
        dev = self.start_dev(queue_only, state=state)
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sent = set()
        for start in range(0, 30, 10):
            entries = [{"Id": str(i), "MessageBody": f"mid-{i}"} for i in range(start, start + 10)]
            sent |= {e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
        self.stop_dev(dev)
        dev = self.start_dev(path, state=state)
        first = dev.wait_for(r"\| got (\S+) mid-\d+ \d+$", timeout=30, count=5)
        children = children_of(dev.pid)
        dev.signal(sig)
        code = dev.wait_exit(15)
        self.assertEqual(code, 0 if sig == signal.SIGTERM else -signal.SIGKILL, dev.output())
        for pid, args in children:
            wait_until(lambda: pid_gone(pid), 10, f"child {pid} ({args}) to be gone")
        seen_before = [m.group(1) for m in first]
        before = {m.group(1) for m in (re.search(r"\| got (\S+) mid-\d+ \d+$", line) for line in dev.lines) if m}
        self.assertLess(len(before), len(sent), "dev was stopped before the queue was drained")
        dev = self.start_dev(path, state=state)
        missing = sent - before

        def all_seen():
            after = {m.group(1) for m in (re.search(r"\| got (\S+) mid-\d+ \d+$", line) for line in dev.lines) if m}
            return missing <= after and after
        after = wait_until(all_seen, 60, f"the {len(missing)} messages left to be consumed after the restart")
        self.assertTrue(before | after == sent, "only messages that were sent")
        # SQS is at-least-once: only the messages in flight when dev stopped (a batch of one per
        # poller, two pollers at most) may come again
        again = before & after
        self.assertLessEqual(len(again), 2, f"redelivered after the restart: {again}")
        self.assertTrue(set(seen_before) <= before)
        sqs = self.sqs_client(dev)

        def empty():
            a = sqs.get_queue_attributes(QueueUrl=url.replace(url.split("/")[2], dev.sqs.split("/")[2]),
                                         AttributeNames=["All"])["Attributes"]
            return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        wait_until(empty, 20, "the queue to be empty")
        self.stop_dev(dev)


if __name__ == "__main__":
    unittest.main()
