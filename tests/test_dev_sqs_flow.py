"""`moonrun dev`'s SQS triggers end to end: batches reach the consumer, what succeeded is
deleted and what failed is redriven to the dead-letter queue; the seed's service (POST /send).

Run from the repository root: python3 -m unittest -v tests/test_dev_sqs_flow.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# setUpModule and tearDownModule: moto, while dev has no SQS endpoint of its own
from dev_support import setUpModule, tearDownModule  # noqa: E402,F401
from dev_support import (  # noqa: E402
    ACCOUNT, CONSUMER_LUA, DevTestCase, EMBEDDED, NEEDS_EMBEDDED, NEEDS_TRIGGERS, REGION, REPO,
    TRIGGERS, children_of, client_env, http_request, queue_template, seconds, wait_until)


@unittest.skipUnless(TRIGGERS, NEEDS_TRIGGERS)
class TestSqsTrigger(DevTestCase):
    """The event source mapping: batches, deletes what succeeded, and redrive of what failed."""

    def setUp(self):
        super().setUp()
        self.write("fn/consume.lua", CONSUMER_LUA)

    def queue_counts(self, sqs, url):
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
                int(a.get("ApproximateNumberOfMessagesDelayed", "0")))

    def test_a_failing_record_returns_and_then_reaches_the_dead_letter_queue(self):
        dev = self.start_dev(self.template(queue_template(visibility=1, max_receive=2)))
        dev.wait_for(r"trigger\s+sqs work\s+-> Consumer")
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName="work-dlq")["QueueUrl"]
        good = {}
        for i in range(4):
            good[sqs.send_message(QueueUrl=url, MessageBody=f"good-{i}")["MessageId"]] = f"good-{i}"
        bad = sqs.send_message(QueueUrl=url, MessageBody="bad-1")["MessageId"]
        # the bad record is delivered maxReceiveCount times, then moved to the dead-letter queue
        dev.wait_for(r"Consumer\s+\| got %s bad-1 2$" % bad, timeout=30)

        def in_dlq():
            messages = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                           VisibilityTimeout=0).get("Messages", [])
            return messages or None
        messages = wait_until(in_dlq, 30, "the bad record in the dead-letter queue")
        self.assertEqual([(m["MessageId"], m["Body"]) for m in messages], [(bad, "bad-1")])
        for message_id, body in good.items():
            self.assertGreaterEqual(dev.count(r"\| got %s %s 1$" % (message_id, body)), 1)
        wait_until(lambda: self.queue_counts(sqs, url) == (0, 0, 0), 20, "the source queue to be empty")
        time.sleep(2.5)  # longer than the visibility timeout: nothing comes back
        self.assertEqual(dev.count(r"\| got %s " % bad), 2, "delivered maxReceiveCount times, no more")
        for message_id in good:
            self.assertEqual(dev.count(r"\| got %s " % message_id), 1, "a deleted message never returns")
        dev.wait_for(r"Consumer\s+sqs work\s.*ok, 1 failed item")
        self.stop_dev(dev)

    def test_a_function_error_fails_the_whole_batch(self):
        self.write("fn/consume.lua", """\
            local M = {}
            function M.handler(event)
              for _, record in ipairs(event.Records) do
                print(string.format("got %s %s %s", record.messageId, record.body,
                                    record.attributes.ApproximateReceiveCount))
              end
              error("the whole batch failed")
            end
            return M
            """)
        dev = self.start_dev(self.template(queue_template(visibility=1, max_receive=2)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName="work-dlq")["QueueUrl"]
        entries = [{"Id": str(i), "MessageBody": f"doomed-{i}"} for i in range(3)]
        ids = {e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
        got = {}

        def all_dead():
            for m in sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
                got[m["MessageId"]] = m["Body"]
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
            return set(got) == ids
        wait_until(all_dead, 30, "the three messages in the dead-letter queue")
        for message_id in ids:
            self.assertEqual(dev.count(r"\| got %s " % message_id), 2, "delivered maxReceiveCount times")
        dev.wait_for(r"Consumer\s+sqs work\s.*the whole batch failed")
        self.stop_dev(dev)

    def test_a_disabled_trigger_does_not_poll(self):
        self.write("fn/consume.lua", CONSUMER_LUA)
        dev = self.start_dev(self.template(queue_template().replace(
            "            BatchSize: 10\n", "            BatchSize: 10\n            Enabled: false\n")))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="stays")
        time.sleep(1.5)
        self.assertEqual(dev.count(r"\| got "), 0)
        self.assertFalse(any("poller" in args for _, args in children_of(dev.pid)))
        self.assertEqual(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"], "stays")
        self.stop_dev(dev)

    def test_a_message_sent_with_the_aws_cli_reaches_the_consumer(self):
        dev = self.start_dev(self.template(queue_template(visibility=30)))
        url = f"{dev.sqs}/{ACCOUNT}/work"
        p = subprocess.run(["aws", "--endpoint-url", dev.sqs, "--region", REGION, "sqs", "send-message",
                            "--queue-url", url, "--message-body", "from-cli"],
                           capture_output=True, text=True, env=client_env(), timeout=seconds(60))
        self.assertEqual(p.returncode, 0, p.stderr + dev.output())
        message_id = json.loads(p.stdout)["MessageId"]
        dev.wait_for(r"\| got %s from-cli 1$" % message_id, timeout=30)
        self.stop_dev(dev)

    def test_the_trigger_signs_as_verify_signatures_wants(self):
        import boto3
        dev = self.start_dev(self.template(queue_template(visibility=30)), "--verify-signatures")
        sqs = boto3.client("sqs", endpoint_url=dev.sqs, region_name=REGION,
                           aws_access_key_id="AKIAMOONRUNDEV000000", aws_secret_access_key="moonrun-dev-secret")
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        message_id = sqs.send_message(QueueUrl=url, MessageBody="signed")["MessageId"]
        dev.wait_for(r"\| got %s signed 1$" % message_id, timeout=30)
        self.assertEqual(dev.count(r"sqs work \|.*(InvalidClientTokenId|SignatureDoesNotMatch)"), 0, dev.output())
        self.stop_dev(dev)

    def test_an_edited_consumer_takes_the_next_batch(self):
        dev = self.start_dev(self.template(queue_template(visibility=30)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        first = sqs.send_message(QueueUrl=url, MessageBody="before")["MessageId"]
        dev.wait_for(r"\| got %s before 1$" % first, timeout=30)
        self.write("fn/consume.lua", CONSUMER_LUA.replace('"got %s %s %s"', '"v2 got %s %s %s"'))
        second = sqs.send_message(QueueUrl=url, MessageBody="after")["MessageId"]
        dev.wait_for(r"\| v2 got %s after 1$" % second, timeout=30)
        dev.wait_for(r"Consumer: code changed, reloading")
        self.stop_dev(dev)

    def test_a_trigger_that_dies_is_restarted(self):
        dev = self.start_dev(self.template(queue_template(visibility=5)))
        poller = wait_until(lambda: [pid for pid, args in children_of(dev.pid) if "poller" in args], 20,
                            "the trigger's process")[0]
        os.kill(poller, signal.SIGKILL)
        dev.wait_for(r"the trigger of Consumer on work stopped .*restarting it")
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        message_id = sqs.send_message(QueueUrl=url, MessageBody="after-restart")["MessageId"]
        # the killed process's last long poll may have taken it (SQS counts that receive): then it
        # comes back after the visibility timeout, to the new process
        dev.wait_for(r"\| got %s after-restart \d+$" % message_id, timeout=30)
        self.stop_dev(dev)

    def test_a_batching_window_gathers_more_than_ten(self):
        self.write("fn/consume.lua", """\
            local M = {}
            function M.handler(event)
              print("batch " .. #event.Records)
              for _, record in ipairs(event.Records) do print("got " .. record.messageId .. " " .. record.body .. " 1") end
              return {}
            end
            return M
            """)
        template = queue_template(visibility=30, batch=25).replace(
            "            FunctionResponseTypes: [ReportBatchItemFailures]\n",
            "            MaximumBatchingWindowInSeconds: 2\n")
        dev = self.start_dev(self.template(template))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        ids = set()
        for start in range(0, 20, 10):
            entries = [{"Id": str(i), "MessageBody": f"w-{i}"} for i in range(start, start + 10)]
            ids |= {e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
        lines = dev.wait_for(r"\| got (\S+) w-\d+ 1$", timeout=30, count=20)
        self.assertEqual({m.group(1) for m in lines}, ids)
        sizes = [int(m.group(1)) for m in dev.wait_for(r"\| batch (\d+)$")]
        self.assertGreater(max(sizes), 10, f"batches of {sizes}: the window gathers up to BatchSize")
        self.stop_dev(dev)

    def test_fifo_order_within_a_group(self):
        self.write("fn/consume.lua", CONSUMER_LUA)
        template = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: orders.fifo
      FifoQueue: true
      ContentBasedDeduplication: true
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: consume.handler
      Runtime: provided.al2023
      Events:
        Orders:
          Type: SQS
          Properties:
            Queue: !GetAtt Orders.Arn
            BatchSize: 3
"""
        dev = self.start_dev(self.template(template))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="orders.fifo")["QueueUrl"]
        for i in range(12):
            sqs.send_message(QueueUrl=url, MessageBody=f"order-{i}", MessageGroupId="g1")
        sqs.send_message(QueueUrl=url, MessageBody="order-0", MessageGroupId="g1")  # a duplicate: dropped
        lines = dev.wait_for(r"\| got \S+ order-(\d+) 1$", timeout=30, count=12)
        self.assertEqual([int(m.group(1)) for m in lines], list(range(12)))
        time.sleep(1)
        self.assertEqual(dev.count(r"\| got \S+ order-"), 12)
        self.stop_dev(dev)

    def test_batches_reach_the_consumer(self):
        dev = self.start_dev(self.template(queue_template(visibility=30, batch=5)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        ids = set()
        for start in range(0, 20, 10):
            entries = [{"Id": str(i), "MessageBody": f"batch-{i}"} for i in range(start, start + 10)]
            ids |= {e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
        self.assertEqual(len(ids), 20)
        lines = dev.wait_for(r"\| got (\S+) batch-\d+ \d+$", timeout=30, count=20)
        self.assertEqual({m.group(1) for m in lines}, ids)
        wait_until(lambda: self.queue_counts(sqs, url) == (0, 0, 0), 20, "the queue to be empty")
        self.stop_dev(dev)


@unittest.skipUnless(TRIGGERS and EMBEDDED, NEEDS_TRIGGERS + " and " + NEEDS_EMBEDDED)
class TestSeedService(DevTestCase):
    """The seed's service from bootstrap/template.yaml: POST /send -> ten messages -> the consumer."""

    def test_post_send_reaches_the_consumer_ten_times(self):
        template = os.path.join(REPO, "bootstrap", "template.yaml")
        dev = self.start_dev(template, cwd=REPO)
        dev.wait_for(r"http\s+http://127\.0\.0\.1:\d+ POST /send\s+-> Producer")
        dev.wait_for(r"trigger\s+sqs test-queue\s+-> Consumer")
        status, _, body = http_request(dev.front + "/send", "POST", b"")
        self.assertEqual(status, 200, body.decode(errors="replace") + dev.output())
        self.assertEqual(body, b"Sent 10 messages to the test-queue.")
        sent = dev.wait_for(r"Producer\s+\|.*Send message id: (\S+)", count=10)
        received = dev.wait_for(r"Consumer\s+\| message (\S+): Hello from Lambda! - (\d)$", timeout=30, count=10)
        self.assertEqual({m.group(1) for m in received}, {m.group(1) for m in sent})
        self.assertEqual(sorted(int(m.group(2)) for m in received), list(range(10)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="test-queue")["QueueUrl"]

        def empty():
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        wait_until(empty, 20, "test-queue to be empty")
        dlq = sqs.get_queue_url(QueueName="test-queue-dlq")["QueueUrl"]
        self.assertEqual(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                         ["Attributes"]["ApproximateNumberOfMessages"], "0")
        self.stop_dev(dev)


if __name__ == "__main__":
    unittest.main()
