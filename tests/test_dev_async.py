"""End-to-end tests of `moonrun dev`'s asynchronous invocations (X-Amz-Invocation-Type: Event):
retries after a function error, the invocation record sent to the OnFailure queue and to an
OnSuccess function, the event sent to the dead-letter queue, and pending events surviving a
restart through the journal under the state folder.

It shares tests/dev_support.py's harness. Run from the repository root:
python3 -m unittest -v tests/test_dev_async.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dev_support as base  # noqa: E402  (the dev harness: tests/dev_support.py)

# Fails when the event asks; records every event it gets (one JSON line) in event.record or,
# for a destination's record (no such field), in RECORD_FILE.
HANDLER_LUA = """\
local json = require "moonrun.json"
local M = {}
function M.handler(event, context)
  local path = event.record or (event.requestPayload and event.requestPayload.audit) or os.getenv("RECORD_FILE")
  local f = assert(io.open(path, "a"))
  f:write(json.encode{event = event, id = context.aws_request_id,
                      left = context:get_remaining_time_in_millis()}, "\\n")
  f:close()
  if event.sleep then os.execute("sleep " .. event.sleep) end
  if event.fail then error({errorType = "ValidationError", errorMessage = "failed on purpose: " .. event.fail}) end
  return {done = event.n}
end
return M
"""

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Failed:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: failed
  Dead:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: dead
  Work:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Timeout: 5
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure: {Type: SQS, Destination: !GetAtt Failed.Arn}
          OnSuccess: {Type: Lambda, Destination: !GetAtt Audit.Arn}
      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt Dead.Arn}
  Audit:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Environment:
        Variables:
          RECORD_FILE: AUDIT_PATH
"""


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class TestAsynchronousInvocations(base.DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", HANDLER_LUA)
        self.audit = self.path("audit.jsonl")
        self.record = self.path("record.jsonl")

    def event(self, dev, payload):
        response = self.lambda_client(dev).invoke(FunctionName="Work", InvocationType="Event",
                                                  Payload=json.dumps(payload).encode())
        self.assertEqual(response["StatusCode"], 202)
        return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    def receive_one(self, sqs, name):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10, MessageAttributeNames=["All"])
        messages = got.get("Messages", [])
        self.assertEqual(len(messages), 1, f"one message on {name}: {got}")
        return messages[0]

    def test_a_failing_event_is_retried_then_recorded_on_failure_and_dead_lettered(self):
        dev = self.start_dev(self.template(TEMPLATE.replace("AUDIT_PATH", self.audit)))
        started = time.monotonic()
        request_id = self.event(dev, {"fail": "always", "record": self.record})
        base.wait_until(lambda: len(read_lines(self.record)) == 2, 30, "the first attempt and its one retry")
        attempts = read_lines(self.record)
        self.assertEqual({a["id"] for a in attempts}, {request_id}, "a retry keeps the request id")
        dev.wait_for(r"Work\s+invoke \(async, retry 1\)\s+\d+\.\d ms  ValidationError: failed on purpose")
        self.assertGreater(time.monotonic() - started, 0.9, "the retry comes after a backoff")
        sqs = self.sqs_client(dev)
        record = json.loads(self.receive_one(sqs, "failed")["Body"])
        self.assertEqual(record["version"], "1.0")
        self.assertRegex(record["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(record["requestContext"], {
            "requestId": request_id, "condition": "RetriesExhausted", "approximateInvokeCount": 2,
            "functionArn": f"arn:aws:lambda:{base.REGION}:{base.ACCOUNT}:function:Work:$LATEST"})
        self.assertEqual(record["requestPayload"], {"fail": "always", "record": self.record})
        self.assertEqual(record["responseContext"], {"statusCode": 200, "executedVersion": "$LATEST",
                                                     "functionError": "Unhandled"})
        self.assertEqual(record["responsePayload"]["errorType"], "ValidationError")
        self.assertEqual(record["responsePayload"]["errorMessage"], "failed on purpose: always")
        dead = self.receive_one(sqs, "dead")
        self.assertEqual(json.loads(dead["Body"]), {"fail": "always", "record": self.record})
        attributes = dead["MessageAttributes"]
        self.assertEqual(attributes["RequestID"], {"DataType": "String", "StringValue": request_id})
        self.assertEqual(attributes["ErrorCode"], {"DataType": "Number", "StringValue": "200"})
        self.assertEqual(attributes["ErrorMessage"]["StringValue"], "failed on purpose: always")
        self.assertEqual(read_lines(self.audit), [], "no success record")
        self.stop_dev(dev)

    def test_a_success_is_recorded_to_the_on_success_function(self):
        dev = self.start_dev(self.template(TEMPLATE.replace("AUDIT_PATH", self.audit)))
        request_id = self.event(dev, {"n": 7, "record": self.record})
        base.wait_until(lambda: read_lines(self.audit), 30, "the success record at the Audit function")
        record = read_lines(self.audit)[0]["event"]
        self.assertEqual(record["requestContext"]["condition"], "Success")
        self.assertEqual(record["requestContext"]["requestId"], request_id)
        self.assertEqual(record["requestContext"]["approximateInvokeCount"], 1)
        self.assertEqual(record["responseContext"], {"statusCode": 200, "executedVersion": "$LATEST"})
        self.assertEqual(record["responsePayload"], {"done": 7})
        self.assertEqual(record["requestPayload"], {"n": 7, "record": self.record})
        dev.wait_for(r"Audit\s+destination of Work \(async\)")
        self.assertEqual(self.sqs_client(dev).get_queue_attributes(
            QueueUrl=self.sqs_client(dev).get_queue_url(QueueName="failed")["QueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"], "0")
        self.stop_dev(dev)

    def test_no_retries_and_no_destination_discards_with_a_warning(self):
        text = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Work:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      EventInvokeConfig:
        MaximumRetryAttempts: 0
"""
        dev = self.start_dev(self.template(text))
        request_id = self.event(dev, {"fail": "once", "record": self.record})
        dev.wait_for(rf"warning: Work: asynchronous event {request_id} discarded \(RetriesExhausted; "
                     r"no OnFailure destination or dead-letter queue\)")
        self.assertEqual(len(read_lines(self.record)), 1, "MaximumRetryAttempts 0: no retry")
        self.stop_dev(dev)

    def test_pending_events_survive_a_restart(self):
        text = TEMPLATE.replace("AUDIT_PATH", self.audit).replace(
            "      Timeout: 5\n", "      Timeout: 5\n      ReservedConcurrentExecutions: 1\n")
        state = self.path("state")
        dev = self.start_dev(self.template(text), state=state)
        ids = [self.event(dev, {"n": n, "sleep": 0.5, "record": self.record}) for n in range(6)]
        base.wait_until(lambda: read_lines(self.record), 20, "the first event to start")
        self.stop_dev(dev)
        ran_before = {line["event"]["n"] for line in read_lines(self.record)}
        self.assertLess(len(ran_before), 6, "some were still waiting when dev stopped")
        with open(os.path.join(state, "async.journal"), "a") as f:
            f.write("{not json\n")
        dev = self.start_dev(self.template(text), state=state)
        dev.wait_for(r"\d+ pending asynchronous events? from the last run")
        dev.wait_for(r"warning: .*async\.journal:\d+: not a journal record, skipped")
        base.wait_until(lambda: {line["event"]["n"] for line in read_lines(self.record)} == set(range(6)),
                        30, "every event, after the restart")
        self.assertEqual({line["id"] for line in read_lines(self.record)}, set(ids))
        # each settled once: six success records at the Audit function
        base.wait_until(lambda: len(read_lines(self.audit)) >= 6, 20, "the success records")
        self.assertEqual(sorted({r["event"]["requestContext"]["requestId"] for r in read_lines(self.audit)}),
                         sorted(ids))
        self.stop_dev(dev)


if __name__ == "__main__":
    unittest.main()
