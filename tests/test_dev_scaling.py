"""End-to-end tests of `moonrun dev` running a service as Lambda scales it: instances started on
demand up to the function's concurrency limit, reused warm, throttling (429) beyond it, the
timeout of a waiting event counted from when an instance takes it, and SQS triggers whose
pollers scale with the backlog while a FIFO queue keeps each message group's order.

It shares tests/dev_support.py's harness (a template and handlers in a temporary folder, dev as a
subprocess, boto3 and plain HTTP as clients).

Run from the repository root: python3 -m unittest -v tests/test_dev_scaling.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dev_support as base  # noqa: E402  (the dev harness: tests/dev_support.py)

seconds = base.seconds

# Answers with its process id and what was left of its time when it started; sleeps as asked;
# with event.record, appends one JSON line about the invocation to that file.
TIMED_LUA = """\
local json = require "moonrun.json"
local M = {}
local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
local function now() return require("moonrun.time").now_ms() end
function M.handler(event, context)
  local started, left = now(), context:get_remaining_time_in_millis()
  if type(event.body) == "string" then event = json.decode(event.body) end -- through the HTTP front
  if event.Records then
    -- an SQS batch: one line per record, with its group and sequence
    for _, r in ipairs(event.Records) do
      local body = json.decode(r.body)
      started = now()
      if body.sleep then os.execute("sleep " .. body.sleep) end
      local f = assert(io.open(os.getenv("RECORD_FILE"), "a"))
      f:write(json.encode{group = r.attributes.MessageGroupId, seq = body.seq, pid = pid,
                          started = started, ended = now()}, "\\n")
      f:close()
    end
    return {}
  end
  if event.sleep then os.execute("sleep " .. event.sleep) end
  local answer = {pid = pid, left = left, n = event.n, started = started, ended = now()}
  if event.record then
    local f = assert(io.open(event.record, "a"))
    f:write(json.encode(answer), "\\n")
    f:close()
  end
  return answer
end
return M
"""


def function_template(name="Slow", timeout=5, extra=""):
    return f"""\
Transform: AWS::Serverless-2016-10-31
Resources:
  {name}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Timeout: {timeout}
{extra}"""


def read_records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def most_at_once(records):
    """The largest number of the records' [started, ended] intervals that overlap."""
    edges = sorted([(r["started"], 1) for r in records] + [(r["ended"], -1) for r in records],
                   key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def in_parallel(calls, count, work):
    """Runs work(i) for i in range(calls) on count threads; returns (results by i, elapsed s)."""
    results, lock, next_call = {}, threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                i = next_call[0]
                if i >= calls:
                    return
                next_call[0] += 1
            try:
                results[i] = work(i)
            except Exception as e:  # noqa: BLE001 - the test looks at it
                results[i] = e
    threads = [threading.Thread(target=worker) for _ in range(count)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds(120))
    return results, time.monotonic() - started


class TestWaitingEventsClock(base.DevTestCase):
    """Issue 18, item 6: an event that waits for an instance has its whole timeout once one
    takes it (before the fix, events that waited behind a single instance timed out after
    running a few milliseconds)."""

    def test_events_waiting_for_the_only_instance_get_their_whole_timeout(self):
        self.write("fn/app.lua", TIMED_LUA)
        dev = self.start_dev(self.template(function_template(extra="      ReservedConcurrentExecutions: 1\n")))
        record = self.path("record.jsonl")
        client = self.lambda_client(dev)
        for n in range(20):  # 20 x 0.3 s = 6 s of work: the last waits longer than its 5 s timeout
            response = client.invoke(FunctionName="Slow", InvocationType="Event",
                                     Payload=json.dumps({"n": n, "sleep": 0.3, "record": record}).encode())
            self.assertEqual(response["StatusCode"], 202)
        base.wait_until(lambda: len(read_records(record)) == 20, 60, "the 20 asynchronous invocations")
        records = read_records(record)
        self.assertEqual(sorted(r["n"] for r in records), list(range(20)))
        self.assertEqual(len({r["pid"] for r in records}), 1, "one instance, as the limit says")
        for r in records:
            self.assertGreater(r["left"], 4500, f"the deadline runs from the start of the invocation: {r}")
        self.assertEqual(dev.count(r"timed out|Timedout"), 0, dev.output())
        dev.wait_for(r"Slow\s+invoke \(async\)\s+\d+\.\d ms  ok", count=20)
        self.stop_dev(dev)


class TestConcurrency(base.DevTestCase):
    """Item 1: instances on demand up to the limit, reused warm; 429 beyond it."""

    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", TIMED_LUA)

    def test_a_burst_of_200_http_requests_runs_on_at_most_the_limit(self):
        extra = """\
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /work
            Method: POST
"""
        dev = self.start_dev(self.template(function_template(extra=extra)), "--max-concurrency", "10")
        record = self.path("record.jsonl")
        body = json.dumps({"sleep": 0.1, "record": record}).encode()

        def request(i):
            status, _, answer = base.http_request(dev.front + "/work", "POST", body,
                                                  [("Content-Type", "application/json")])
            return status, json.loads(answer)
        results, elapsed = in_parallel(200, 10, request)
        statuses = [r[0] if isinstance(r, tuple) else repr(r) for r in results.values()]
        self.assertEqual(statuses, [200] * 200, dev.output()[-3000:])
        pids = {r[1]["pid"] for r in results.values()}
        self.assertLessEqual(len(pids), 10, "never more instances than the limit")
        self.assertGreater(len(pids), 1, "more than one instance for a burst")
        self.assertLess(elapsed, seconds(10), f"200 x 100 ms on up to 10 instances took {elapsed:.1f} s")
        self.assertLessEqual(most_at_once(read_records(record)), 10)
        # each instance but the first (started warm with dev) shows its cold start once
        self.assertEqual(dev.count(r"\(cold start\)"), len(pids) - 1, dev.output()[-3000:])
        print(f"\n  200 requests of 100 ms on {len(pids)} instances: {elapsed:.2f} s", file=sys.stderr)
        self.stop_dev(dev)

    def test_beyond_the_reserved_concurrency_a_synchronous_invocation_is_throttled(self):
        from botocore.exceptions import ClientError
        dev = self.start_dev(self.template(function_template(extra="      ReservedConcurrentExecutions: 2\n")))

        def invoke(i):
            try:
                return self.invoke(dev, "Slow", {"sleep": 1, "n": i})[1]
            except ClientError as e:
                return e.response
        results, _ = in_parallel(6, 6, invoke)
        answered = [r for r in results.values() if "pid" in r]
        throttled = [r for r in results.values() if "Error" in r]
        self.assertEqual(len(answered), 2, results)
        self.assertEqual(len(throttled), 4, results)
        for r in throttled:
            self.assertEqual(r["Error"]["Code"], "TooManyRequestsException")
            self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 429)
            self.assertEqual(r["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded")
            self.assertEqual(r["Error"]["Message"], "Rate Exceeded.")
        dev.wait_for(r"Slow\s+invoke\s+0\.0 ms  throttled \(429 TooManyRequestsException", count=4)
        # once the two are done, the function answers again, on the same two warm instances
        again = self.invoke_ok(dev, "Slow", {"n": 9})
        self.assertIn(again["pid"], {r["pid"] for r in answered})
        self.stop_dev(dev)

    def test_the_raw_429_and_the_http_front_answer(self):
        extra = """\
      ReservedConcurrentExecutions: 0
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /work
            Method: GET
"""
        dev = self.start_dev(self.template(function_template(extra=extra)))
        status, headers, body = base.http_request(dev.front + "/2015-03-31/functions/Slow/invocations", "POST", b"{}")
        self.assertEqual(status, 429)
        self.assertEqual(base.header(headers, "x-amzn-ErrorType"), "TooManyRequestsException")
        self.assertEqual(json.loads(body), {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                                            "Type": "User", "message": "Rate Exceeded."})
        # API Gateway does not pass the 429 on: its client gets the integration's failure
        status, _, body = base.http_request(dev.front + "/work")
        self.assertEqual((status, json.loads(body)), (500, {"message": "Internal Server Error"}))
        self.assertEqual(len([c for c in base.children_of(dev.pid) if "moonrun" in c[1]]), 0,
                         "a reserved concurrency of 0 runs no instance")
        self.stop_dev(dev)

    def test_the_max_concurrency_option(self):
        result = self.run_dev("--max-concurrency", "0")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--max-concurrency takes a whole number from 1 to 1000, not '0'", result.stderr)
        result = self.run_dev("--max-concurrency", "many")
        self.assertIn("--max-concurrency takes a whole number from 1 to 1000, not 'many'", result.stderr)
        dev = self.start_dev(self.template(function_template()), "--max-concurrency", "1")
        from botocore.exceptions import ClientError
        results, _ = in_parallel(3, 3, lambda i: self._invoke_or_error(dev, {"sleep": 1}, ClientError))
        self.assertEqual(sorted(results.values()), [200, 429, 429])
        self.stop_dev(dev)

    def _invoke_or_error(self, dev, event, error_class):
        try:
            return self.invoke(dev, "Slow", event)[0]["StatusCode"]
        except error_class as e:
            self.assertEqual(e.response["Reason"], "ConcurrentInvocationLimitExceeded")
            return e.response["ResponseMetadata"]["HTTPStatusCode"]


FIFO_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs.fifo
      FifoQueue: true
      VisibilityTimeout: 30
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Timeout: 5
      Environment:
        Variables:
          RECORD_FILE: RECORD_PATH
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 2
            ScalingConfig:
              MaximumConcurrency: 5
"""


class TestTriggerScaling(base.DevTestCase):
    """Item 1: an SQS trigger's pollers scale with the backlog up to MaximumConcurrency; a FIFO
    queue keeps each group's order while groups run in parallel."""

    def test_fifo_groups_in_parallel_each_in_order(self):
        self.write("fn/app.lua", TIMED_LUA)
        record = self.path("record.jsonl")
        dev = self.start_dev(self.template(FIFO_TEMPLATE.replace("RECORD_PATH", record)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="jobs.fifo")["QueueUrl"]
        groups, per_group = 6, 8
        for seq in range(per_group):
            entries = [{"Id": f"g{g}", "MessageBody": json.dumps({"seq": seq, "sleep": 0.1}),
                        "MessageGroupId": f"g{g}", "MessageDeduplicationId": f"g{g}-{seq}"}
                       for g in range(groups)]
            self.assertEqual(len(sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]), groups)
        base.wait_until(lambda: len(read_records(record)) == groups * per_group, 90, "every message processed")
        records = read_records(record)
        for g in range(groups):
            seqs = [r["seq"] for r in records if r["group"] == f"g{g}"]
            self.assertEqual(seqs, list(range(per_group)), f"group g{g} in order")
        self.assertGreater(most_at_once(records), 1, "groups ran in parallel")
        self.assertLessEqual(len({r["pid"] for r in records}), 5, "at most MaximumConcurrency instances")
        self.stop_dev(dev)

    def test_pollers_scale_up_with_a_backlog_within_maximum_concurrency(self):
        self.write("fn/app.lua", TIMED_LUA)
        record = self.path("record.jsonl")
        text = (FIFO_TEMPLATE.replace("RECORD_PATH", record).replace("jobs.fifo", "jobs")
                .replace("      FifoQueue: true\n", ""))
        dev = self.start_dev(self.template(text))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
        for first in range(0, 60, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"seq": first + i, "sleep": 0.2})} for i in range(10)])
        base.wait_until(lambda: len(read_records(record)) == 60, 90, "every message processed")
        records = read_records(record)
        self.assertEqual(sorted(r["seq"] for r in records), list(range(60)))
        self.assertGreater(most_at_once(records), 1, "pollers were added for the backlog")
        self.assertLessEqual(most_at_once(records), 5, "never more than MaximumConcurrency batches at once")
        pollers = [c for c in base.children_of(dev.pid) if "poller.lua" in c[1]]
        self.assertLessEqual(len(pollers), 5)
        self.stop_dev(dev)


FILTER_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs
      VisibilityTimeout: 30
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Timeout: 5
      Environment:
        Variables:
          RECORD_FILE: RECORD_PATH
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"kind": ["order"], "total": [{"numeric": [">", 10]}]}}'
                - Pattern: '{"body": {"kind": [{"prefix": "vip-"}]}}'
                - Pattern: '{"messageAttributes": {"urgent": {"stringValue": [{"equals-ignore-case": "YES"}]}}}'
"""


class TestTriggerFilters(base.DevTestCase):
    """Item 4: FilterCriteria; a record that matches no pattern is deleted without invoking."""

    def test_only_matching_records_reach_the_function_and_the_rest_are_deleted(self):
        self.write("fn/app.lua", TIMED_LUA)
        record = self.path("record.jsonl")
        dev = self.start_dev(self.template(FILTER_TEMPLATE.replace("RECORD_PATH", record)))
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
        bodies = [
            ({"seq": 1, "kind": "order", "total": 20}, None, True),
            ({"seq": 2, "kind": "order", "total": 5}, None, False),
            ({"seq": 3, "kind": "vip-order"}, None, True),
            ({"seq": 4, "kind": "refund"}, None, False),
            ({"seq": 5, "kind": "refund"}, "yes", True),
            ({"seq": 6}, "no", False),
        ]
        for body, urgent, _ in bodies:
            params = {"QueueUrl": url, "MessageBody": json.dumps(body)}
            if urgent:
                params["MessageAttributes"] = {"urgent": {"DataType": "String", "StringValue": urgent}}
            sqs.send_message(**params)
        sqs.send_message(QueueUrl=url, MessageBody="not json at all")
        wanted = sorted(b["seq"] for b, _, match in bodies if match)

        def settled():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return (attributes["ApproximateNumberOfMessages"] == "0"
                    and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
                    and sorted(r["seq"] for r in read_records(record)) == wanted)
        base.wait_until(settled, 30, "the matching records processed and every message deleted")
        time.sleep(0.5)
        self.assertEqual(sorted(r["seq"] for r in read_records(record)), wanted)
        self.assertIn("matched no filter pattern: deleted without invoking", dev.stdout() + dev.stderr())
        self.stop_dev(dev)

    def test_a_bad_pattern_is_refused_at_start(self):
        self.write("fn/app.lua", TIMED_LUA)
        text = FILTER_TEMPLATE.replace("RECORD_PATH", "/tmp/x").replace('[">", 10]', '[">", "ten"]')
        result = self.run_dev(self.template(text))
        self.assertEqual(result.returncode, 1)
        self.assertIn("Resources.Worker.Properties.Events.Jobs.Properties.FilterCriteria.Filters[0].Pattern: "
                      "body.total[0]: numeric: > needs a number after it", result.stderr)


class TestStartupChecks(base.DevTestCase):
    """Item 5: a trigger's queue visibility timeout against its function's timeout."""

    def test_a_function_timeout_above_the_visibility_timeout_is_refused(self):
        self.write("fn/consume.lua", base.CONSUMER_LUA)
        text = base.queue_template(visibility=30).replace("      Timeout: 5\n", "      Timeout: 31\n")
        result = self.run_dev(self.template(text))
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("Resources.Consumer.Properties.Events.Work.Properties.Queue: Queue visibility timeout: 30 seconds "
                      "is less than Function timeout: 31 seconds (Lambda refuses this trigger: raise Work's "
                      "VisibilityTimeout or lower Consumer's Timeout)", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)

    def test_less_than_six_times_is_a_warning_with_aws_advice(self):
        self.write("fn/consume.lua", base.CONSUMER_LUA)
        dev = self.start_dev(self.template(base.queue_template(visibility=29)))
        dev.wait_for(r"warning: Resources\.Consumer\.Properties\.Events\.Work\.Properties\.Queue: Work's VisibilityTimeout "
                     r"\(29 s\) is less than six times Consumer's Timeout \(30 s\), which AWS advises")
        self.stop_dev(dev)


class TestView(base.DevTestCase):
    """Item 7: the view with many instances, a batch answer Lambda would not accept, and the
    queue depths on every change when the output is not a terminal."""

    def test_an_invalid_batch_item_failures_answer_is_not_shown_as_ok(self):
        self.write("fn/consume.lua", """\
            local M = {}
            function M.handler(event) return {batchItemFailures = {{itemIdentifier = "not-in-the-batch"}}} end
            return M
            """)
        dev = self.start_dev(self.template(base.queue_template(visibility=30)))
        sqs = self.sqs_client(dev)
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="work")["QueueUrl"], MessageBody="one")
        line = dev.wait_for(r"Consumer\s+sqs work \(1\)\s+\d+\.\d ms  (.*)$")[0].group(1)
        self.assertTrue(line.startswith("whole batch failed: batchItemFailures[1].itemIdentifier not-in-the-batch "
                                        "is not a message of the batch"), line)
        dev.wait_for(r"the whole batch counts as failed, as Lambda counts it")
        self.stop_dev(dev)

    def test_every_depth_change_is_a_line_and_the_functions_counts_too(self):
        self.write("fn/app.lua", TIMED_LUA)
        text = base.queue_template(consumer=False) + function_template(timeout=5).split("Resources:\n", 1)[1]
        dev = self.start_dev(self.template(text), "--max-concurrency", "2")
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        for i in range(1, 6):  # five changes in quick succession, faster than any sampling
            sqs.send_message(QueueUrl=url, MessageBody=str(i))
        for i in range(1, 6):
            dev.wait_for(rf"queues: work {i}  ·  work-dlq 0$")
        # two slow invocations running, a third throttled, then everything warm again
        from botocore.exceptions import ClientError

        def invoke(i):
            try:
                return self.invoke(dev, "Slow", {"sleep": 1.5})[0]["StatusCode"]
            except ClientError as e:
                return e.response["ResponseMetadata"]["HTTPStatusCode"]
        results, _ = in_parallel(3, 3, invoke)
        self.assertEqual(sorted(results.values()), [200, 200, 429])
        dev.wait_for(r"functions: Slow 2 running, 0 warm, 1 throttled$")
        dev.wait_for(r"functions: Slow 0 running, 2 warm, 1 throttled$")
        self.stop_dev(dev)


if __name__ == "__main__":
    unittest.main()
