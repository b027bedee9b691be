"""moonrun.sqs against a real SQS implementation (moto's server), with boto3 as the reference
client that sets queues up and checks what they hold afterwards.

Run from the repository root: python3 -m unittest -v tests/test_sqs.py
Environment: MOONRUN_BIN (default build/moonrun).
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import (MOONRUN, ROOT, SCALE, FaultServer, MotoTestCase,  # noqa: E402
                         assert_no_secrets, attributes_md5, aws_env, run_lua)
from runtime_api import RuntimeAPI  # noqa: E402

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def drain(client, url, expected, wait=1):
    """Every message the queue holds (receiving until `expected` have come or it is empty)."""
    messages = []
    for _ in range(20):
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                     MessageAttributeNames=["All"]).get("Messages", [])
        messages += got
        if not got or len(messages) >= expected:
            break
    return messages


class SqsTestCase(MotoTestCase):

    def lua(self, code, **env):
        answer, _ = run_lua(code, dict(self.env, **env) if env else self.env)
        return answer

    def ok(self, code, **env):
        answer = self.lua(code, **env)
        self.assertNotIn("error", answer, answer.get("error"))
        return answer.get("result")

    def invoke(self, handler, event="{}", **env):
        p = subprocess.run([MOONRUN, "invoke", handler, "--event", "-"], input=event.encode(),
                           capture_output=True, timeout=120 * SCALE, env=dict(self.env, **env))
        assert_no_secrets(p.stdout, p.stderr)
        return p


class SeedHandlers(SqsTestCase):
    """The seed's two Python examples, ported: same prints, same queue contents."""

    def test_send_message_handler(self):
        url = self.sqs.create_queue(QueueName="test-queue")["QueueUrl"]
        p = self.invoke("handlers/send_message.handler")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        lines = p.stdout.decode().splitlines()
        self.assertRegex(lines[0], r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertEqual(json.loads(lines[-1]), {"statusCode": 200, "body": "Message sent successfully"})
        messages = drain(self.sqs, url, 1)
        self.assertEqual(len(messages), 1)
        self.assertEqual(messages[0]["MessageId"], lines[0])
        body = json.loads(messages[0]["Body"])
        self.assertEqual(body["body"], "hello world")
        self.assertRegex(body["attributes"]["messageId"], UUID_RE)

    def test_send_messages_handler(self):
        # its dead-letter queue shares the prefix (and comes first in a listing): the messages
        # must still go to test-queue itself
        dlq = self.sqs.create_queue(QueueName="test-queue-dlq")["QueueUrl"]
        url = self.sqs.create_queue(QueueName="test-queue")["QueueUrl"]
        p = self.invoke("handlers/send_messages.handler")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        lines = p.stdout.decode().splitlines()
        self.assertEqual(json.loads(lines[-1]), {"statusCode": 200, "body": "Sent 10 messages to the test-queue."})
        prints = lines[:-1]
        self.assertEqual(len(prints), 10, prints)
        ids = []
        for line in prints:
            match = re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \| Send message id: (\S+)$", line)
            self.assertTrue(match, line)
            ids.append(match.group(1))
        messages = drain(self.sqs, url, 10)
        self.assertEqual(sorted(m["MessageId"] for m in messages), sorted(ids))
        bodies = sorted((json.loads(m["Body"]) for m in messages), key=lambda b: b["body"])
        self.assertEqual([b["body"] for b in bodies], [f"Hello from Lambda! - {i}" for i in range(10)])
        for b in bodies:
            self.assertRegex(b["attributes"]["messageId"], UUID_RE)
            self.assertIsInstance(b["attributes"]["timestamp"], int)
        self.assertEqual(len({b["attributes"]["messageId"] for b in bodies}), 10)
        self.assertEqual(self.sqs.receive_message(QueueUrl=dlq).get("Messages", []), [])

    def test_send_messages_handler_without_the_queue(self):
        p = self.invoke("handlers/send_messages.handler")
        self.assertEqual(p.returncode, 1)
        answer = json.loads(p.stdout.decode().splitlines()[-1])
        self.assertIn("Cannot find a queue named 'test-queue'.", answer["errorMessage"])

    def test_send_message_handler_without_the_queue(self):
        p = self.invoke("handlers/send_message.handler")
        self.assertEqual(p.returncode, 1)
        answer = json.loads(p.stdout.decode().splitlines()[-1])
        self.assertEqual(answer["errorType"], "QueueDoesNotExist")
        self.assertIn("An error occurred (QueueDoesNotExist) when calling the GetQueueUrl operation",
                      answer["errorMessage"])


class Operations(SqsTestCase):
    def test_queue_lifecycle_attributes_tags_permissions(self):
        result = self.ok("""
            local sqs = require "moonrun.sqs"
            local json = require "moonrun.json"
            local r = {}
            local url = sqs.create_queue{QueueName = "orders", Attributes = {VisibilityTimeout = "45"},
                                        tags = {team = "a"}}.QueueUrl
            r.url = url
            r.got = sqs.get_queue_url{QueueName = "orders"}.QueueUrl
            r.attrs = sqs.get_queue_attributes{QueueUrl = url, AttributeNames = {"All"}}.Attributes
            sqs.set_queue_attributes{QueueUrl = url, Attributes = {DelaySeconds = "3"}}
            r.delay = sqs.get_queue_attributes{QueueUrl = url, AttributeNames = {"DelaySeconds"}}.Attributes.DelaySeconds
            sqs.tag_queue{QueueUrl = url, Tags = {env = "test", owner = "me"}}
            sqs.untag_queue{QueueUrl = url, TagKeys = {"owner"}}
            r.tags = sqs.list_queue_tags{QueueUrl = url}.Tags
            r.perm = sqs.add_permission{QueueUrl = url, Label = "l1", AWSAccountIds = {"111122223333"},
                                        Actions = {"SendMessage"}}.ResponseMetadata.HTTPStatusCode
            r.unperm = sqs.remove_permission{QueueUrl = url, Label = "l1"}.ResponseMetadata.HTTPStatusCode
            r.request_id = sqs.list_queues{}.ResponseMetadata.RequestId
            r.listed = sqs.list_queues{QueueNamePrefix = "ord"}.QueueUrls
            r.none = sqs.list_queues{QueueNamePrefix = "nothing"}.QueueUrls
            sqs.delete_queue{QueueUrl = url}
            r.after = sqs.list_queues{}.QueueUrls
            return r
        """)
        self.assertEqual(result["url"], f"{self.moto.url}/123456789012/orders")
        self.assertEqual(result["got"], result["url"])
        self.assertEqual(result["attrs"]["VisibilityTimeout"], "45")
        self.assertIn("QueueArn", result["attrs"])
        self.assertEqual(result["delay"], "3")
        self.assertEqual(result["tags"], {"team": "a", "env": "test"})
        self.assertEqual(result["perm"], 200)
        self.assertEqual(result["unperm"], 200)
        self.assertTrue(result["request_id"])
        self.assertEqual(result["listed"], [result["url"]])
        self.assertEqual(result["none"], [])
        self.assertEqual(result["after"], [])
        self.assertEqual(self.sqs.list_queues().get("QueueUrls", []), [])

    def test_messages_send_receive_visibility_delete(self):
        url = self.sqs.create_queue(QueueName="work")["QueueUrl"]
        result = self.ok(f"""
            local sqs = require "moonrun.sqs"
            local url = "{url}"
            local r = {{}}
            local sent = sqs.send_message{{QueueUrl = url, MessageBody = "héllo ✓ 😀",
              MessageAttributes = {{
                kind = {{DataType = "String", StringValue = "greeting"}},
                count = {{DataType = "Number", StringValue = "3"}},
                blob = {{DataType = "Binary", BinaryValue = "\\0\\1\\2\\255"}}}}}}
            r.sent = sent
            local got = sqs.receive_message{{QueueUrl = url, MaxNumberOfMessages = 10,
              MessageAttributeNames = {{"All"}}, AttributeNames = {{"All"}}, WaitTimeSeconds = 1}}
            r.count = #got.Messages
            local m = got.Messages[1]
            r.body, r.id = m.Body, m.MessageId
            r.kind = m.MessageAttributes.kind.StringValue
            r.blob = m.MessageAttributes.blob.BinaryValue == "\\0\\1\\2\\255"
            r.receive_count = m.Attributes.ApproximateReceiveCount
            sqs.change_message_visibility{{QueueUrl = url, ReceiptHandle = m.ReceiptHandle, VisibilityTimeout = 0}}
            local again = sqs.receive_message{{QueueUrl = url, WaitTimeSeconds = 1}}.Messages
            r.again = #again
            sqs.delete_message{{QueueUrl = url, ReceiptHandle = again[1].ReceiptHandle}}
            r.empty = #sqs.receive_message{{QueueUrl = url, WaitTimeSeconds = 0}}.Messages
            return r
        """)
        sent = result["sent"]
        self.assertEqual(sent["MD5OfMessageBody"], hashlib.md5("héllo ✓ 😀".encode()).hexdigest())
        self.assertEqual(sent["MD5OfMessageAttributes"], attributes_md5({
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "count": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\0\1\2\xff").decode()}}))
        self.assertEqual(result["count"], 1)
        self.assertEqual(result["body"], "héllo ✓ 😀")
        self.assertEqual(result["id"], sent["MessageId"])
        self.assertEqual(result["kind"], "greeting")
        self.assertTrue(result["blob"])
        self.assertEqual(result["receive_count"], "1")
        self.assertEqual(result["again"], 1)
        self.assertEqual(result["empty"], 0)
        self.assertEqual(drain(self.sqs, url, 1, wait=0), [])

    def test_batches_with_failed_entries(self):
        url = self.sqs.create_queue(QueueName="batch")["QueueUrl"]
        result = self.ok(f"""
            local sqs = require "moonrun.sqs"
            local url = "{url}"
            local entries = {{}}
            for i = 1, 10 do entries[i] = {{Id = "m" .. i, MessageBody = "body " .. i}} end
            local r = {{}}
            r.send = sqs.send_message_batch{{QueueUrl = url, Entries = entries}}
            local received = {{}}
            for _ = 1, 10 do
              for _, m in ipairs(sqs.receive_message{{QueueUrl = url, MaxNumberOfMessages = 10}}.Messages) do
                received[#received + 1] = m
              end
              if #received >= 10 then break end
            end
            r.received = #received
            local deletes = {{{{Id = "bad", ReceiptHandle = "bogus"}}}}
            for i = 1, 3 do deletes[#deletes + 1] = {{Id = "d" .. i, ReceiptHandle = received[i].ReceiptHandle}} end
            r.delete = sqs.delete_message_batch{{QueueUrl = url, Entries = deletes}}
            local changes = {{{{Id = "c1", ReceiptHandle = received[4].ReceiptHandle, VisibilityTimeout = 0}},
                             {{Id = "c2", ReceiptHandle = "bogus", VisibilityTimeout = 0}}}}
            r.change = sqs.change_message_visibility_batch{{QueueUrl = url, Entries = changes}}
            local ok, err = pcall(sqs.send_message_batch, {{QueueUrl = url,
              Entries = {{{{Id = "x", MessageBody = "a"}}, {{Id = "x", MessageBody = "b"}}}}}})
            r.duplicate = {{code = err.code, status = err.status}}
            return r
        """)
        self.assertEqual(len(result["send"]["Successful"]), 10)
        self.assertEqual(result["send"]["Failed"], [])
        self.assertEqual(sorted(e["Id"] for e in result["send"]["Successful"]), sorted(f"m{i}" for i in range(1, 11)))
        self.assertEqual(result["received"], 10)
        self.assertEqual(sorted(e["Id"] for e in result["delete"]["Successful"]), ["d1", "d2", "d3"])
        self.assertEqual([(f["Id"], f["Code"]) for f in result["delete"]["Failed"]], [("bad", "ReceiptHandleIsInvalid")])
        self.assertEqual([e["Id"] for e in result["change"]["Successful"]], ["c1"])
        self.assertEqual([f["Id"] for f in result["change"]["Failed"]], ["c2"])
        self.assertEqual(result["duplicate"], {"code": "BatchEntryIdsNotDistinct", "status": 400})

    def test_dead_letter_source_queues(self):
        dlq = self.sqs.create_queue(QueueName="dlq")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        src = self.sqs.create_queue(QueueName="src", Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "1"})})["QueueUrl"]
        result = self.ok(f"""
            local sqs = require "moonrun.sqs"
            local pages = {{}}
            for page in sqs.pages("list_dead_letter_source_queues", {{QueueUrl = "{dlq}"}}) do
              pages[#pages + 1] = page.queueUrls
            end
            return {{direct = sqs.list_dead_letter_source_queues{{QueueUrl = "{dlq}"}}.queueUrls, pages = pages}}
        """)
        self.assertEqual(result["direct"], [src])
        self.assertEqual(result["pages"], [[src]])

    def test_purge_queue(self):
        url = self.sqs.create_queue(QueueName="purge")["QueueUrl"]
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        self.ok(f'require("moonrun.sqs").purge_queue{{QueueUrl = "{url}"}}')
        self.assertEqual(drain(self.sqs, url, 1, wait=0), [])

    def test_fifo_queue(self):
        url = self.sqs.create_queue(QueueName="jobs.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        result = self.ok(f"""
            local sqs = require "moonrun.sqs"
            local a = sqs.send_message{{QueueUrl = "{url}", MessageBody = "one", MessageGroupId = "g"}}
            local b = sqs.send_message{{QueueUrl = "{url}", MessageBody = "one", MessageGroupId = "g"}}
            local c = sqs.send_message{{QueueUrl = "{url}", MessageBody = "two", MessageGroupId = "g"}}
            return {{a = a.MessageId, b = b.MessageId, c = c.MessageId}}
        """)
        # deduplicated by content: the queue holds "one" once, then "two", in order
        self.assertEqual([m["Body"] for m in drain(self.sqs, url, 2, wait=0)], ["one", "two"])


class Errors(SqsTestCase):
    def test_missing_queue_error_value(self):
        result = self.ok("""
            local sqs = require "moonrun.sqs"
            local ok, err = pcall(sqs.get_queue_url, {QueueName = "nope"})
            return {ok = ok, code = err.code, query_code = err.query_code, fault = err.fault,
                    status = err.status, request_id = err.request_id, retryable = err.retryable,
                    message = err.message, text = tostring(err), is_error = require("moonrun.aws").is_error(err)}
        """)
        self.assertFalse(result["ok"])
        self.assertEqual(result["code"], "QueueDoesNotExist")
        self.assertEqual(result["query_code"], "AWS.SimpleQueueService.NonExistentQueue")
        self.assertEqual(result["fault"], "Sender")
        self.assertEqual(result["status"], 400)
        self.assertTrue(result["request_id"])
        self.assertFalse(result["retryable"])
        self.assertTrue(result["is_error"])
        # the same sentence as the AWS CLI prints
        cli = subprocess.run(["aws", "sqs", "get-queue-url", "--queue-name", "nope", "--endpoint-url",
                              self.moto.url], capture_output=True, env=dict(self.env, AWS_DEFAULT_REGION="us-east-1"),
                             timeout=120)
        self.assertNotEqual(cli.returncode, 0)
        cli_text = cli.stderr.decode().strip()
        # the CLI names the query-compatible code; the sentence is otherwise the same
        self.assertEqual(result["text"].replace(result["code"], result["query_code"]), cli_text)
        self.assertTrue(result["text"].startswith(
            "An error occurred (QueueDoesNotExist) when calling the GetQueueUrl operation: "), result["text"])
        self.assertIn("does not exist", result["text"])

    def test_operations_on_a_deleted_queue(self):
        url = f"{self.moto.url}/123456789012/gone"
        for call in ("send_message{QueueUrl = url, MessageBody = 'x'}", "receive_message{QueueUrl = url}",
                     "get_queue_attributes{QueueUrl = url}", "purge_queue{QueueUrl = url}"):
            answer = self.lua(f"local url = '{url}'; return require('moonrun.sqs').{call}")
            self.assertEqual(answer.get("code"), "QueueDoesNotExist", (call, answer))

    def test_unhandled_error_reaches_lambda_with_its_code(self):
        p = self.invoke("tests/sqs/missing_queue.handler")
        self.assertEqual(p.returncode, 1)
        answer = json.loads(p.stdout.decode().splitlines()[-1])
        self.assertEqual(answer["errorType"], "QueueDoesNotExist")
        self.assertTrue(answer["errorMessage"].startswith("An error occurred (QueueDoesNotExist)"))

    def test_checks_before_sending(self):
        url = self.sqs.create_queue(QueueName="checks")["QueueUrl"]
        result = self.ok(f"""
            local sqs = require "moonrun.sqs"
            local url = "{url}"
            local function code(fn, params)
              local ok, err = pcall(fn, params)
              return ok and "no error" or (err.code .. " | " .. tostring(err))
            end
            local eleven = {{}}
            for i = 1, 11 do eleven[i] = {{Id = tostring(i), MessageBody = "x"}} end
            return {{
              too_many = code(sqs.send_message_batch, {{QueueUrl = url, Entries = eleven}}),
              empty_batch = code(sqs.send_message_batch, {{QueueUrl = url, Entries = {{}}}}),
              too_big = code(sqs.send_message, {{QueueUrl = url, MessageBody = string.rep("x", 1048577)}}),
              big_ok = code(sqs.send_message, {{QueueUrl = url, MessageBody = string.rep("x", 1048576)}}),
              batch_too_big = code(sqs.send_message_batch, {{QueueUrl = url, Entries = {{
                {{Id = "a", MessageBody = string.rep("x", 600000)}}, {{Id = "b", MessageBody = string.rep("y", 600000)}}}}}}),
              control = code(sqs.send_message, {{QueueUrl = url, MessageBody = "bell \\7"}}),
              bad_utf8 = code(sqs.send_message, {{QueueUrl = url, MessageBody = "\\xff\\xfe"}}),
              fffe = code(sqs.send_message, {{QueueUrl = url, MessageBody = utf8.char(0xFFFE)}}),
              edges = code(sqs.send_message, {{QueueUrl = url,
                MessageBody = utf8.char(0xD7FF, 0xE000, 0xFFFD, 0x10000, 0x10FFFF) .. "\\t\\r\\n"}}),
              nul = code(sqs.send_message, {{QueueUrl = url, MessageBody = "ok\\0"}}),
              missing = code(sqs.send_message, {{QueueUrl = url}}),
              not_table = code(sqs.send_message, "hello"),
              bad_attr = code(sqs.send_message, {{QueueUrl = url, MessageBody = "x",
                MessageAttributes = {{a = {{DataType = "String", StringValue = "\\1"}}}}}}),
            }}
        """)
        self.assertTrue(result["too_many"].startswith("TooManyEntriesInBatchRequest | "), result["too_many"])
        self.assertIn("11 entries given; a batch holds at most 10 (no request was sent)", result["too_many"])
        self.assertTrue(result["empty_batch"].startswith("EmptyBatchRequest"))
        self.assertTrue(result["too_big"].startswith("InvalidParameterValue"), result["too_big"])
        self.assertIn("1048577 bytes", result["too_big"])
        self.assertEqual(result["big_ok"], "no error")
        self.assertTrue(result["batch_too_big"].startswith("BatchRequestTooLong"), result["batch_too_big"])
        self.assertIn("U+0007 at byte 6", result["control"])
        self.assertEqual(result["edges"], "no error")
        self.assertIn("U+0000 at byte 3", result["nul"])
        self.assertTrue(result["control"].startswith("InvalidMessageContents"))
        self.assertIn("not valid UTF-8", result["bad_utf8"])
        self.assertIn("U+FFFE", result["fffe"])
        self.assertIn("MessageBody is required", result["missing"])
        self.assertIn("parameters must be a table", result["not_table"])
        self.assertIn("message attribute 'a'", result["bad_attr"])
        # only the 1 MiB message and the one at the edges of the accepted ranges reached the queue
        messages = drain(self.sqs, url, 2, wait=0)
        edges = "\ud7ff\ue000\ufffd\U00010000\U0010ffff\t\r\n"
        self.assertEqual(sorted((m["Body"] for m in messages), key=len), [edges, "x" * 1048576])

    def test_no_credentials_lists_where_it_looked(self):
        answer = self.lua("return require('moonrun.sqs').list_queues{}",
                          AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="", HOME="/nonexistent")
        self.assertEqual(answer["code"], "NoCredentialsError")
        for place in ("AWS_ACCESS_KEY_ID", "profile 'default'", "/nonexistent/credentials",
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
            self.assertIn(place, answer["error"])

    def test_no_region(self):
        answer = self.lua("return require('moonrun.sqs').list_queues{}", AWS_REGION="", AWS_DEFAULT_REGION="")
        self.assertEqual(answer["code"], "NoRegionError")
        self.assertIn("AWS_REGION", answer["error"])


class QueueObjects(SqsTestCase):
    def test_get_queue_by_name_send_receive_delete(self):
        self.sqs.create_queue(QueueName="objects")
        result = self.ok("""
            local sqs = require "moonrun.sqs"
            local q = sqs.get_queue_by_name("objects")
            local sent = q:send_message{MessageBody = "hi"}
            local got = q:receive_messages{MaxNumberOfMessages = 1, WaitTimeSeconds = 1}
            q:delete(got[1])
            return {url = q.url, same = got[1].MessageId == sent.MessageId,
                    left = #q:receive_messages{WaitTimeSeconds = 0},
                    attrs = q:attributes().ApproximateNumberOfMessages,
                    by_url = sqs.queue(q.url).url}
        """)
        self.assertTrue(result["url"].endswith("/objects"))
        self.assertTrue(result["same"])
        self.assertEqual(result["left"], 0)
        self.assertEqual(result["attrs"], "0")
        self.assertEqual(result["by_url"], result["url"])

    def test_send_messages_chunks_and_lists_every_result(self):
        url = self.sqs.create_queue(QueueName="many")["QueueUrl"]
        result = self.ok(f"""
            local sqs = require "moonrun.sqs"
            local q = sqs.queue("{url}")
            local items = {{}}
            for i = 1, 25 do items[i] = "message " .. i end
            items[7] = "bad \\1 char"                              -- refused before sending
            items[12] = {{MessageBody = "delayed", DelaySeconds = 0, Id = "mine"}}
            items[20] = string.rep("z", 1048577)                   -- too large
            items[21] = string.rep("w", 700000)                    -- forces its own batch by size
            local r = q:send_messages(items)
            local s, f = {{}}, {{}}
            for _, e in ipairs(r.Successful) do s[#s + 1] = e.Index end
            for _, e in ipairs(r.Failed) do f[#f + 1] = {{e.Index, e.Code}} end
            return {{s = s, f = f, mine = r.Successful[11].Id, has_ids = r.Successful[1].MessageId ~= nil}}
        """)
        self.assertEqual(result["s"], [i for i in range(1, 26) if i not in (7, 20)])
        self.assertEqual(result["f"], [[7, "InvalidMessageContents"], [20, "InvalidParameterValue"]])
        self.assertEqual(result["mine"], "mine")
        self.assertTrue(result["has_ids"])
        bodies = sorted(m["Body"] for m in drain(self.sqs, url, 23))
        expected = sorted([f"message {i}" for i in range(1, 26) if i not in (7, 12, 20, 21)] +
                          ["delayed", "w" * 700000])
        self.assertEqual(bodies, expected)

    def test_send_messages_to_a_missing_queue_fails_every_entry(self):
        result = self.ok(f"""
            local q = require("moonrun.sqs").queue("{self.moto.url}/123456789012/missing")
            local r = q:send_messages{{"a", "b", "c"}}
            local codes = {{}}
            for _, e in ipairs(r.Failed) do codes[#codes + 1] = e.Code end
            return {{ok = #r.Successful, codes = codes}}
        """)
        self.assertEqual(result, {"ok": 0, "codes": ["QueueDoesNotExist"] * 3})

    def test_delete_messages(self):
        url = self.sqs.create_queue(QueueName="del")["QueueUrl"]
        for i in range(12):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        result = self.ok(f"""
            local q = require("moonrun.sqs").queue("{url}")
            local got = {{}}
            for _ = 1, 10 do
              for _, m in ipairs(q:receive_messages{{MaxNumberOfMessages = 10}}) do got[#got + 1] = m end
              if #got >= 12 then break end
            end
            got[#got + 1] = "bogus-handle"
            local r = q:delete_messages(got)
            return {{ok = #r.Successful, failed = r.Failed[1].Index, total = #got}}
        """)
        self.assertEqual(result, {"ok": 12, "failed": 13, "total": 13})
        self.assertEqual(drain(self.sqs, url, 1, wait=0), [])


class Consumer(SqsTestCase):
    def test_consumer_reports_partial_failures(self):
        event = subprocess.run([MOONRUN, "event", "sqs", "--body", '{"body": "one"}', "--body", "not json",
                                "--body", '{"body": "three"}'], capture_output=True, check=True).stdout
        records = json.loads(event)["Records"]
        p = self.invoke("handlers/consume.handler", event.decode())
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        lines = p.stdout.decode().splitlines()
        self.assertIn(f"message {records[0]['messageId']}: one", lines)
        self.assertIn(f"message {records[2]['messageId']}: three", lines)
        self.assertEqual(json.loads(lines[-1]), {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]})
        self.assertIn(f"message {records[1]['messageId']} failed", p.stderr.decode())

    def test_fifo_batch_stops_at_the_first_failure(self):
        event = json.loads(subprocess.run([MOONRUN, "event", "sqs", "--queue", "q.fifo", "--count", "4",
                                           "--body", '{"body": "fine"}'],
                                          capture_output=True, check=True).stdout)
        event["Records"][1]["body"] = "{broken"
        p = self.invoke("handlers/consume.handler", json.dumps(event))
        ids = [r["messageId"] for r in event["Records"]]
        self.assertEqual(json.loads(p.stdout.decode().splitlines()[-1]),
                         {"batchItemFailures": [{"itemIdentifier": i} for i in ids[1:]]})
        self.assertIn(f"message {ids[0]}: fine", p.stdout.decode())
        self.assertNotIn(f"message {ids[2]}:", p.stdout.decode())

    def test_events_helpers(self):
        result = self.ok("""
            local events = require "moonrun.events"
            local ids = {}
            for i, record in events.sqs_records({Records = {{messageId = "a", body = '{"x":1}'}}}) do
              ids[i] = record.messageId .. "=" .. events.json_body(record).x
            end
            local ok, err = pcall(events.json_body, {messageId = "m1", body = "nope"})
            local ok2, err2 = pcall(events.sqs_records, {})
            return {ids = ids, err = err, err2 = err2, empty = events.batch_response()}
        """)
        self.assertEqual(result["ids"], ["a=1"])
        self.assertIn("the body of message m1 is not JSON", result["err"])
        self.assertIn("not an SQS event", result["err2"])
        self.assertEqual(result["empty"], {"batchItemFailures": []})

    def test_round_trip_through_moto(self):
        """The producer's messages, received from the queue as a trigger would, are consumed."""
        url = self.sqs.create_queue(QueueName="test-queue")["QueueUrl"]
        self.assertEqual(self.invoke("handlers/send_messages.handler").returncode, 0)
        messages = drain(self.sqs, url, 10)
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                              "body": m["Body"], "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test-queue"}
                             for m in messages]}
        p = self.invoke("handlers/consume.handler", json.dumps(event))
        self.assertEqual(json.loads(p.stdout.decode().splitlines()[-1]), {"batchItemFailures": []})
        self.assertEqual(sum("Hello from Lambda! - " in line for line in p.stdout.decode().splitlines()), 10)


def sent_trace_headers(server):
    """Body -> the AWSTraceHeader of each message in the requests the endpoint received."""
    found = {}
    for record in server.requests:
        request = json.loads(record["body"])
        for message in request.get("Entries", [request]):
            system = message.get("MessageSystemAttributes") or {}
            found[message["MessageBody"]] = system.get("AWSTraceHeader", {}).get("StringValue")
    return found


class Tracing(unittest.TestCase):
    """The X-Ray trace header rides along as AWSTraceHeader, as the AWS SDKs send it."""
    SENDS = """
        local sqs = require "moonrun.sqs"
        local url = "%s"
        sqs.send_message{QueueUrl = url, MessageBody = "single"}
        local batch = sqs.send_message_batch{QueueUrl = url, Entries = {
          {Id = "a", MessageBody = "batch a"},
          {Id = "b", MessageBody = "batch b", MessageSystemAttributes = {
            AWSTraceHeader = {DataType = "String", StringValue = "Root=1-00000000-caller"}}}}}
        return #batch.Successful
    """
    TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"

    def setUp(self):
        self.server = FaultServer().start()
        self.addCleanup(self.server.stop)
        self.url = self.server.url + "/123456789012/traced"
        self.env = aws_env(self.server.url)
        self.env.pop("_X_AMZN_TRACE_ID", None)

    def test_outside_an_invocation_the_environment_variable_is_sent(self):
        answer, _ = run_lua(self.SENDS % self.url, dict(self.env, _X_AMZN_TRACE_ID=self.TRACE))
        self.assertEqual(answer.get("result"), 2, answer)
        self.assertEqual(sent_trace_headers(self.server), {
            "single": self.TRACE, "batch a": self.TRACE, "batch b": "Root=1-00000000-caller"})

    def test_without_a_trace_header_nothing_is_added(self):
        answer, _ = run_lua(self.SENDS % self.url, self.env)
        self.assertEqual(answer.get("result"), 2, answer)
        self.assertEqual(sent_trace_headers(self.server),
                         {"single": None, "batch a": None, "batch b": "Root=1-00000000-caller"})

    def test_in_an_invocation_its_trace_header_is_sent_not_the_environment_variable(self):
        with RuntimeAPI() as api:
            env = dict(self.env, AWS_LAMBDA_RUNTIME_API=api.address, _HANDLER="traced.handler",
                       LAMBDA_TASK_ROOT=os.path.join(ROOT, "tests", "sqs"),
                       _X_AMZN_TRACE_ID="Root=1-stale-from-the-environment")
            proc = subprocess.Popen([MOONRUN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                rid = api.push({"url": self.url})
                result = api.wait_result(rid, timeout=60 * SCALE, alive=lambda: proc.poll() is None)
            finally:
                proc.terminate()
                _, err = proc.communicate(timeout=30 * SCALE)
        self.assertEqual(result.kind, "response", (result, err))
        sent = api.trace_id_of(rid)
        self.assertEqual(sent_trace_headers(self.server), {
            "single": sent, "batch a": sent, "batch b": "Root=1-00000000-caller"})


class TracingOnSqs(SqsTestCase):
    def test_sqs_stores_the_trace_header(self):
        url = self.sqs.create_queue(QueueName="traced")["QueueUrl"]
        trace = Tracing.TRACE
        self.ok(f"""
            local sqs = require "moonrun.sqs"
            return sqs.send_message{{QueueUrl = "{url}", MessageBody = "traced"}}
        """, _X_AMZN_TRACE_ID=trace)
        got = self.sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["AWSTraceHeader"],
                                       WaitTimeSeconds=1)["Messages"]
        self.assertEqual(got[0]["Attributes"]["AWSTraceHeader"], trace)


class Cli(SqsTestCase):
    def test_aws_cli_sees_what_moonrun_sent(self):
        url = self.sqs.create_queue(QueueName="cli")["QueueUrl"]
        self.ok(f'return require("moonrun.sqs").send_message{{QueueUrl = "{url}", MessageBody = "from lua"}}')
        cli = subprocess.run(["aws", "sqs", "receive-message", "--queue-url", url, "--endpoint-url", self.moto.url,
                              "--output", "json"], capture_output=True, timeout=120, check=True,
                             env=dict(self.env, AWS_DEFAULT_REGION="us-east-1"))
        self.assertEqual(json.loads(cli.stdout)["Messages"][0]["Body"], "from lua")


if __name__ == "__main__":
    unittest.main()
