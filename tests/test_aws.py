"""moonrun.aws and moonrun.sqs against what moto cannot do: a fault-injecting endpoint
(throttling, 5xx, wrong MD5s, truncated bodies, refused connections, timeouts), credentials
from the environment, profile files and a container endpoint served here, endpoint and retry
settings, and signatures checked against botocore's signer.

Run from the repository root: python3 -m unittest -v tests/test_aws.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE.
"""

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import (MOONRUN, SCALE, TEST_KEY_ID, TEST_SECRET, FaultServer, Step,  # noqa: E402
                         assert_no_secrets, aws_env, aws_error, free_port, respond, run_lua,
                         run_lua_process)

# Retries wait a random fraction of base * 2^n seconds; tests use a short base.
FAST = "retry_base_delay = 0.01"


def target(record):
    return record["headers"].get("x-amz-target")


class FaultTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = FaultServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.server.expect()
        self.env = aws_env(self.server.url)

    def lua(self, code, **env):
        merged = dict(self.env, **env)
        answer, p = run_lua(code, {k: v for k, v in merged.items() if v is not None})
        self.last_process = p
        return answer

    def client_code(self, body, options=FAST):
        return f"""
            local sqs = require "moonrun.sqs"
            local client = sqs.client{{{options}}}
            {body}
        """


class Retries(FaultTestCase):
    def test_throttling_then_success_is_retried(self):
        self.server.expect(aws_error(400, "RequestThrottled", "slow down", "RequestThrottled;Sender"),
                           aws_error(400, "ThrottlingException", "slow down"))
        answer = self.lua(self.client_code(
            'return client:send_message{QueueUrl = "http://q/1/x", MessageBody = "hi"}'))
        self.assertNotIn("error", answer)
        self.assertEqual(answer["result"]["ResponseMetadata"]["RetryAttempts"], 2)
        self.assertEqual(len(self.server.requests), 3)
        # each attempt is signed afresh and carries the same body
        self.assertEqual({r["body"] for r in self.server.requests}, {self.server.requests[0]["body"]})

    def test_500s_until_the_attempts_run_out(self):
        self.server.expect(*[aws_error(500, "InternalError", "boom")] * 5)
        answer = self.lua(self.client_code('return client:list_queues{}'))
        self.assertEqual(answer["code"], "InternalError")
        self.assertEqual(answer["status"], 500)
        self.assertEqual(answer["attempts"], 3)
        self.assertTrue(answer["retryable"])
        self.assertIn("(reached max retries: 2)", answer["error"])
        self.assertEqual(len(self.server.requests), 3)

    def test_max_attempts_from_the_environment_and_options(self):
        self.server.expect(*[aws_error(503, "ServiceUnavailable", "down")] * 10)
        answer = self.lua(self.client_code('return client:list_queues{}'), AWS_MAX_ATTEMPTS="5")
        self.assertEqual(answer["attempts"], 5)
        self.assertEqual(len(self.server.requests), 5)
        self.server.expect(*[aws_error(503, "ServiceUnavailable", "down")] * 10)
        answer = self.lua(self.client_code('return client:list_queues{}', FAST + ", max_attempts = 1"),
                          AWS_MAX_ATTEMPTS="5")
        self.assertEqual(len(self.server.requests), 1)
        self.server.expect(*[aws_error(503, "ServiceUnavailable", "down")] * 10)
        answer = self.lua(self.client_code('return client:list_queues{}'), AWS_RETRY_MODE="legacy")
        self.assertEqual(answer["attempts"], 5)

    def test_bad_retry_settings_are_named(self):
        answer = self.lua(self.client_code('return client:list_queues{}'), AWS_MAX_ATTEMPTS="three")
        self.assertEqual(answer["code"], "InvalidConfiguration")
        self.assertIn("AWS_MAX_ATTEMPTS must be a whole number of at least 1, got 'three'", answer["error"])
        answer = self.lua(self.client_code('return client:list_queues{}'), AWS_RETRY_MODE="eager")
        self.assertIn("AWS_RETRY_MODE must be legacy, standard or adaptive, got 'eager'", answer["error"])

    def test_client_errors_are_not_retried(self):
        self.server.expect(aws_error(400, "QueueDoesNotExist", "no queue", "AWS.SimpleQueueService.NonExistentQueue;Sender"))
        answer = self.lua(self.client_code('return client:get_queue_url{QueueName = "x"}'))
        self.assertEqual(answer["code"], "QueueDoesNotExist")
        self.assertEqual(answer["request_id"], "req-QueueDoesNotExist")
        self.assertEqual(len(self.server.requests), 1)

    def test_backoff_grows(self):
        self.server.expect(*[aws_error(500, "InternalError", "boom")] * 3)
        started = time.time()
        self.lua(self.client_code('return client:list_queues{}', "retry_base_delay = 0.5"))
        # two waits drawn from [0, 0.5) and [0, 1.0): their sum is below 1.5 s (plus start-up)
        self.assertLess(time.time() - started, 1.5 + 3 * SCALE)
        stamps = [r for r in self.server.requests]
        self.assertEqual(len(stamps), 3)

    def test_retry_quota_stops_retries_when_spent(self):
        # 500 tokens, 5 per retry: after 100 retried calls the quota is gone and the 101st
        # call fails at its first attempt
        self.server.expect(*[aws_error(500, "InternalError", "boom")] * 400)
        answer = self.lua(self.client_code("""
            local attempts = {}
            for i = 1, 101 do
              local ok, err = pcall(client.list_queues, client, {})
              attempts[i] = err.attempts
            end
            return attempts
        """, FAST + ", retry_base_delay = 0.0001"))
        attempts = answer["result"]
        self.assertEqual(attempts[:50], [3] * 50)
        self.assertEqual(attempts[-1], 1)


class Transport(FaultTestCase):
    def test_connection_refused(self):
        port = free_port()
        answer = self.lua(self.client_code('return client:list_queues{}'),
                          AWS_ENDPOINT_URL_SQS=f"http://127.0.0.1:{port}")
        self.assertEqual(answer["code"], "EndpointConnectionError")
        self.assertEqual(answer["attempts"], 3)
        self.assertIn(f"127.0.0.1:{port}", answer["error"])

    def test_truncated_body_is_retried(self):
        self.server.expect(Step("truncate", 200, b'{"QueueUrls": ['))
        answer = self.lua(self.client_code('return client:list_queues{}'))
        self.assertNotIn("error", answer, answer.get("error"))
        self.assertEqual(answer["result"]["ResponseMetadata"]["RetryAttempts"], 1)

    def test_truncated_every_time(self):
        self.server.expect(*[Step("truncate", 200, b'{"Queue')] * 3)
        answer = self.lua(self.client_code('return client:list_queues{}'))
        self.assertEqual(answer["code"], "ConnectionError")
        self.assertEqual(answer["attempts"], 3)

    def test_connection_closed_without_an_answer(self):
        self.server.expect(Step("close"))
        answer = self.lua(self.client_code('return client:list_queues{}'))
        self.assertNotIn("error", answer, answer.get("error"))

    def test_timeout(self):
        self.server.expect(*[Step("hang", seconds=3)] * 3)
        started = time.time()
        answer = self.lua(self.client_code('return client:list_queues{}',
                                           FAST + ", timeout = 0.3, max_attempts = 2"))
        self.assertEqual(answer["code"], "ReadTimeoutError")
        self.assertEqual(answer["attempts"], 2)
        self.assertLess(time.time() - started, 2.5 * SCALE + 1)

    def test_long_poll_extends_its_timeout(self):
        self.server.expect(Step("hang", seconds=1.5))
        answer = self.lua(self.client_code(
            'return client:receive_message{QueueUrl = "http://q/1/x", WaitTimeSeconds = 1}',
            FAST + ", timeout = 0.5, max_attempts = 2"))
        # the first attempt outlived the client's 0.5 s timeout (1 s wait + 10 s margin), so
        # the hang was waited out; the server then closed, and the retry got the default answer
        self.assertNotIn("error", answer, answer.get("error"))
        self.assertEqual(answer["result"]["Messages"], [])

    def test_answer_that_is_not_json(self):
        self.server.expect(respond(200, "<html>proxy</html>"))
        answer = self.lua(self.client_code('return client:list_queues{}'))
        self.assertEqual(answer["code"], "ResponseParserError")
        self.assertEqual(len(self.server.requests), 1)

    def test_error_status_without_an_aws_error(self):
        self.server.expect(*[respond(502, "<html>Bad Gateway</html>", {"Content-Type": "text/html"})] * 3)
        answer = self.lua(self.client_code('return client:list_queues{}'))
        self.assertEqual(answer["code"], "HTTP502")
        self.assertIn("Bad Gateway", answer["error"])
        self.assertEqual(answer["attempts"], 3)


class Checksums(FaultTestCase):
    def test_wrong_body_md5_on_send(self):
        self.server.expect(respond(200, {"MessageId": "m1", "MD5OfMessageBody": "0" * 32}))
        answer = self.lua(self.client_code(
            'return client:send_message{QueueUrl = "http://q/1/x", MessageBody = "hi"}'))
        self.assertEqual(answer["code"], "ChecksumError")
        self.assertIn("MD5OfMessageBody", answer["error"])

    def test_wrong_attributes_md5_on_send(self):
        self.server.expect(respond(200, {"MessageId": "m1", "MD5OfMessageBody": "49f68a5c8493ec2c0bf489821c21fc3b",
                                         "MD5OfMessageAttributes": "1" * 32}))
        answer = self.lua(self.client_code("""
            return client:send_message{QueueUrl = "http://q/1/x", MessageBody = "hi",
              MessageAttributes = {a = {DataType = "String", StringValue = "b"}}}"""))
        self.assertEqual(answer["code"], "ChecksumError")
        self.assertIn("MD5OfMessageAttributes", answer["error"])

    def test_wrong_md5_on_receive(self):
        self.server.expect(respond(200, {"Messages": [{"MessageId": "m9", "ReceiptHandle": "r", "Body": "hello",
                                                       "MD5OfBody": "2" * 32}]}))
        answer = self.lua(self.client_code('return client:receive_message{QueueUrl = "http://q/1/x"}'))
        self.assertEqual(answer["code"], "ChecksumError")
        self.assertIn("message m9", answer["error"])

    def test_wrong_md5_in_a_batch_moves_the_entry_to_failed(self):
        self.server.expect(respond(200, {"Successful": [
            {"Id": "a", "MessageId": "1", "MD5OfMessageBody": "0cc175b9c0f1b6a831c399e269772661"},
            {"Id": "b", "MessageId": "2", "MD5OfMessageBody": "3" * 32}], "Failed": []}))
        answer = self.lua(self.client_code("""
            return client:send_message_batch{QueueUrl = "http://q/1/x",
              Entries = {{Id = "a", MessageBody = "a"}, {Id = "b", MessageBody = "b"}}}"""))
        result = answer["result"]
        self.assertEqual([e["Id"] for e in result["Successful"]], ["a"])
        self.assertEqual([(e["Id"], e["Code"]) for e in result["Failed"]], [("b", "ChecksumError")])


class Protocol(FaultTestCase):
    def test_request_shape(self):
        self.lua(self.client_code('return client:send_message{QueueUrl = "http://q/1/x", MessageBody = "hi", DelaySeconds = 0}'))
        request = self.server.requests[0]
        self.assertEqual(request["method"], "POST")
        self.assertEqual(request["path"], "/")
        headers = request["headers"]
        self.assertEqual(headers["x-amz-target"], "AmazonSQS.SendMessage")
        self.assertEqual(headers["content-type"], "application/x-amz-json-1.0")
        self.assertEqual(headers["x-amzn-query-mode"], "true")
        self.assertEqual(json.loads(request["body"]), {"QueueUrl": "http://q/1/x", "MessageBody": "hi", "DelaySeconds": 0})
        self.assertTrue(headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={TEST_KEY_ID}/"))
        self.assertIn("/us-east-1/sqs/aws4_request", headers["authorization"])
        self.assertNotIn("expect", headers)

    def test_module_functions_forgive_a_colon(self):
        answer = self.lua('local sqs = require "moonrun.sqs"; return sqs:get_queue_url{QueueName = "colon"}.QueueUrl')
        self.assertEqual(answer["result"], "http://127.0.0.1/123456789012/colon")

    def test_signature_matches_botocore(self):
        """The server recomputes each request's signature with botocore, from the same date."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        self.lua(self.client_code('return client:list_queues{QueueNamePrefix = "ünï"}'),
                 AWS_SESSION_TOKEN="token/with+chars==")
        request = self.server.requests[0]
        headers = request["headers"]
        signed_names = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
        self.assertIn("x-amz-security-token", signed_names)
        self.assertEqual(headers["x-amz-security-token"], "token/with+chars==")
        aws_request = AWSRequest(method="POST", url=self.server.url + "/", data=request["body"],
                                 headers={name: headers[name] for name in signed_names if name != "x-amz-date"})
        auth = SigV4Auth(Credentials(TEST_KEY_ID, TEST_SECRET, "token/with+chars=="), "sqs", "us-east-1")
        aws_request.headers["X-Amz-Date"] = headers["x-amz-date"]
        aws_request.context["timestamp"] = headers["x-amz-date"]
        # SigV4Auth.headers_to_sign uses every header given, so the set matches ours exactly
        expected = auth.signature(auth.string_to_sign(aws_request, auth.canonical_request(aws_request)), aws_request)
        self.assertTrue(headers["authorization"].endswith("Signature=" + expected), (headers["authorization"], expected))

    def test_list_queues_pagination(self):
        self.server.expect(respond(200, {"QueueUrls": ["u1", "u2"], "NextToken": "t1"}),
                           respond(200, {"QueueUrls": ["u3"], "NextToken": "t2"}),
                           respond(200, {"QueueUrls": ["u4"]}))
        answer = self.lua(self.client_code("""
            local urls = {}
            for page in client:pages("list_queues", {MaxResults = 2}) do
              for _, url in ipairs(page.QueueUrls) do urls[#urls + 1] = url end
            end
            return urls"""))
        self.assertEqual(answer["result"], ["u1", "u2", "u3", "u4"])
        tokens = [json.loads(r["body"]).get("NextToken") for r in self.server.requests]
        self.assertEqual(tokens, [None, "t1", "t2"])
        self.assertEqual({json.loads(r["body"])["MaxResults"] for r in self.server.requests}, {2})

    def test_message_move_tasks(self):
        arn = "arn:aws:sqs:us-east-1:123456789012:dlq"
        self.server.expect(respond(200, {"TaskHandle": "h1"}),
                           respond(200, {"Results": [{"TaskHandle": "h1", "Status": "RUNNING"}]}),
                           respond(200, {"ApproximateNumberOfMessagesMoved": 7}))
        answer = self.lua(self.client_code(f"""
            return {{start = client:start_message_move_task{{SourceArn = "{arn}", MaxNumberOfMessagesPerSecond = 5}}.TaskHandle,
                    list = client:list_message_move_tasks{{SourceArn = "{arn}"}}.Results[1].Status,
                    cancel = client:cancel_message_move_task{{TaskHandle = "h1"}}.ApproximateNumberOfMessagesMoved}}"""))
        self.assertEqual(answer["result"], {"start": "h1", "list": "RUNNING", "cancel": 7})
        self.assertEqual([target(r) for r in self.server.requests],
                         ["AmazonSQS.StartMessageMoveTask", "AmazonSQS.ListMessageMoveTasks", "AmazonSQS.CancelMessageMoveTask"])
        self.assertEqual(json.loads(self.server.requests[0]["body"]), {"SourceArn": arn, "MaxNumberOfMessagesPerSecond": 5})

    def test_checks_send_no_request(self):
        answer = self.lua(self.client_code("""
            local entries = {}
            for i = 1, 11 do entries[i] = {Id = tostring(i), MessageBody = "x"} end
            return client:send_message_batch{QueueUrl = "http://q/1/x", Entries = entries}"""))
        self.assertEqual(answer["code"], "TooManyEntriesInBatchRequest")
        self.assertEqual(self.server.requests, [])

    def test_send_messages_sends_batches_concurrently_and_retries_a_failed_one(self):
        # the first batch to arrive is throttled once; every message still ends up sent
        self.server.expect(aws_error(400, "RequestThrottled", "slow"))
        answer = self.lua(self.client_code("""
            local q = client:queue("http://q/1/x")
            local items = {}
            for i = 1, 30 do items[i] = "m" .. i end
            local r = q:send_messages(items)
            return {ok = #r.Successful, failed = #r.Failed, first = r.Successful[1].Index, last = r.Successful[30].Index}"""))
        self.assertEqual(answer["result"], {"ok": 30, "failed": 0, "first": 1, "last": 30})
        batches = [json.loads(r["body"]) for r in self.server.requests]
        self.assertEqual(len(batches), 4)
        self.assertTrue(all(target(r) == "AmazonSQS.SendMessageBatch" for r in self.server.requests))
        sent = sorted(e["MessageBody"] for b in batches[1:] for e in b["Entries"])
        self.assertEqual(sent, sorted(f"m{i}" for i in range(1, 31)))
        # the three first batches were open at the same time: on distinct connections
        self.assertEqual(len({r["connection"] for r in self.server.requests[:3]}), 3)

    def test_send_messages_reports_a_batch_that_failed_for_good(self):
        self.server.expect(*[aws_error(500, "InternalError", "boom")] * 3)
        answer = self.lua(self.client_code("""
            local r = client:queue("http://q/1/x"):send_messages{"a", "b"}
            return {ok = #r.Successful, codes = {r.Failed[1].Code, r.Failed[2].Code},
                    fault = r.Failed[1].SenderFault}"""))
        self.assertEqual(answer["result"], {"ok": 0, "codes": ["InternalError", "InternalError"], "fault": False})


class Endpoints(FaultTestCase):
    def test_endpoint_order(self):
        code = 'local c = require("moonrun.sqs").client(%s); return c.aws.endpoint'
        env = dict(AWS_ENDPOINT_URL_SQS=None, AWS_ENDPOINT_URL=None)
        self.assertEqual(self.lua(code % "", **env)["result"], "https://sqs.us-east-1.amazonaws.com")
        self.assertEqual(self.lua(code % "", AWS_REGION="cn-north-1", AWS_ENDPOINT_URL_SQS=None)["result"],
                         "https://sqs.cn-north-1.amazonaws.com.cn")
        self.assertEqual(self.lua(code % "", AWS_ENDPOINT_URL_SQS=None, AWS_ENDPOINT_URL="http://all:1")["result"], "http://all:1")
        self.assertEqual(self.lua(code % "", AWS_ENDPOINT_URL="http://all:1")["result"], self.server.url)
        self.assertEqual(self.lua(code % "{endpoint = 'http://opt:2'}")["result"], "http://opt:2")
        self.assertEqual(self.lua(code % "", AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true")["result"],
                         "https://sqs.us-east-1.amazonaws.com")
        self.assertEqual(self.lua(code % "{region = 'eu-west-1'}", AWS_ENDPOINT_URL_SQS=None)["result"],
                         "https://sqs.eu-west-1.amazonaws.com")

    def test_bad_endpoint_and_region(self):
        answer = self.lua('return require("moonrun.sqs").list_queues{}', AWS_ENDPOINT_URL_SQS="localhost:4566")
        self.assertEqual(answer["code"], "InvalidEndpoint")
        self.assertIn("AWS_ENDPOINT_URL_SQS must be an http or https URL", answer["error"])
        answer = self.lua('return require("moonrun.sqs").list_queues{}', AWS_REGION="us-east-1/../evil")
        self.assertEqual(answer["code"], "NoRegionError")

    def test_region_from_the_default_region_and_profile(self):
        code = 'return require("moonrun.sqs").client().aws.region'
        self.assertEqual(self.lua(code, AWS_REGION=None, AWS_DEFAULT_REGION="eu-north-1")["result"], "eu-north-1")
        with tempfile.TemporaryDirectory() as home:
            config = os.path.join(home, "config")
            with open(config, "w") as f:
                f.write("[default]\nregion = ap-east-1\n[profile dev]\nregion = sa-east-1\n")
            self.assertEqual(self.lua(code, AWS_REGION=None, AWS_CONFIG_FILE=config)["result"], "ap-east-1")
            self.assertEqual(self.lua(code, AWS_REGION=None, AWS_CONFIG_FILE=config, AWS_PROFILE="dev")["result"], "sa-east-1")


class Credentials(FaultTestCase):
    def credential_of(self, request):
        return request["headers"]["authorization"].split("Credential=")[1].split("/")[0]

    def test_environment(self):
        self.lua('return require("moonrun.sqs").list_queues{}', AWS_SESSION_TOKEN="tok")
        self.assertEqual(self.credential_of(self.server.requests[0]), TEST_KEY_ID)
        self.assertEqual(self.server.requests[0]["headers"]["x-amz-security-token"], "tok")

    def test_half_set_environment_is_an_error(self):
        answer = self.lua('return require("moonrun.sqs").list_queues{}', AWS_SECRET_ACCESS_KEY=None)
        self.assertEqual(answer["code"], "NoCredentialsError")
        self.assertIn("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", answer["error"])

    def test_explicit_options_win(self):
        self.lua('return require("moonrun.sqs").client{access_key_id = "AKIDOPTION", '
                 'secret_access_key = "s"}:list_queues{}')
        self.assertEqual(self.credential_of(self.server.requests[0]), "AKIDOPTION")

    def test_profile_files(self):
        with tempfile.TemporaryDirectory() as home:
            credentials = os.path.join(home, "credentials")
            config = os.path.join(home, "config")
            with open(credentials, "w") as f:
                f.write("# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n"
                        "[work]\naws_access_key_id=AKIDWORK\naws_secret_access_key=s2\naws_session_token = t2\n")
            with open(config, "w") as f:
                f.write("[profile cfgonly]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s3\n"
                        "s3 =\n  addressing_style = path\n"
                        "[profile proc]\ncredential_process = printf "
                        "'{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"s4\"}'\n"
                        "[profile sso]\nsso_start_url = https://x\n")
            env = dict(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SHARED_CREDENTIALS_FILE=credentials,
                       AWS_CONFIG_FILE=config)
            code = 'return require("moonrun.sqs").list_queues{}'
            for profile, key in ((None, "AKIDDEFAULT"), ("work", "AKIDWORK"), ("cfgonly", "AKIDCONFIG"),
                                 ("proc", "AKIDPROCESS")):
                self.server.expect()
                answer = self.lua(code, AWS_PROFILE=profile, **env)
                self.assertNotIn("error", answer, answer.get("error"))
                self.assertEqual(self.credential_of(self.server.requests[0]), key)
            self.assertEqual(self.server.requests[0]["headers"].get("x-amz-security-token"), None)
            answer = self.lua(code, AWS_PROFILE="missing", **env)
            self.assertIn("the AWS profile 'missing' (chosen by AWS_PROFILE) is in neither", answer["error"])
            answer = self.lua(code, AWS_PROFILE="sso", **env)
            self.assertIn("uses SSO (sso_start_url), which moonrun does not sign in to", answer["error"])

    def test_malformed_profile_file(self):
        with tempfile.TemporaryDirectory() as home:
            credentials = os.path.join(home, "credentials")
            with open(credentials, "w") as f:
                f.write("[default]\nthis line has no equals sign\n")
            answer = self.lua('return require("moonrun.sqs").list_queues{}', AWS_ACCESS_KEY_ID=None,
                              AWS_SECRET_ACCESS_KEY=None, AWS_SHARED_CREDENTIALS_FILE=credentials)
            self.assertEqual(answer["code"], "InvalidConfiguration")
            self.assertIn(f"{credentials}:2: expected 'name = value'", answer["error"])

    def container_plan(self, expiration, key="AKIDCONTAINER"):
        return respond(200, {"AccessKeyId": key, "SecretAccessKey": "cs", "Token": "ctok",
                             "Expiration": expiration})

    def test_container_endpoint_with_token_and_refresh(self):
        soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
        later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
        creds = FaultServer().start()
        try:
            creds.expect(self.container_plan(soon, "AKIDFIRST"), self.container_plan(later, "AKIDSECOND"))
            with tempfile.NamedTemporaryFile("w", suffix=".token") as token:
                token.write("file-token\n")
                token.flush()
                answer = self.lua("""
                    local sqs = require "moonrun.sqs"
                    local time = require "moonrun.time"
                    sqs.list_queues{}
                    time.sleep(2.5)   -- past half the first credentials' life: refreshed
                    sqs.list_queues{}
                    sqs.list_queues{}
                    return true""", AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                    AWS_CONTAINER_CREDENTIALS_FULL_URI=creds.url + "/creds",
                    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=token.name)
            self.assertNotIn("error", answer, answer.get("error"))
            self.assertEqual(len(creds.requests), 2)
            self.assertEqual(creds.requests[0]["path"], "/creds")
            self.assertEqual(creds.requests[0]["headers"]["authorization"], "file-token")
            used = [self.credential_of(r) for r in self.server.requests]
            self.assertEqual(used, ["AKIDFIRST", "AKIDSECOND", "AKIDSECOND"])
            self.assertEqual(self.server.requests[0]["headers"]["x-amz-security-token"], "ctok")
        finally:
            creds.stop()

    def test_container_endpoint_refusals(self):
        answer = self.lua('return require("moonrun.sqs").list_queues{}', AWS_ACCESS_KEY_ID=None,
                          AWS_SECRET_ACCESS_KEY=None, AWS_CONTAINER_CREDENTIALS_FULL_URI="http://example.com/creds")
        self.assertIn("only loopback and the container agent's addresses", answer["error"])
        port = free_port()
        answer = self.lua('return require("moonrun.sqs").list_queues{}', AWS_ACCESS_KEY_ID=None,
                          AWS_SECRET_ACCESS_KEY=None, AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://127.0.0.1:{port}/c")
        self.assertEqual(answer["code"], "NoCredentialsError")
        self.assertIn("cannot get credentials from the container endpoint", answer["error"])
        creds = FaultServer().start()
        try:
            creds.expect(respond(403, {"message": "bad token"}))
            answer = self.lua('return require("moonrun.sqs").list_queues{}', AWS_ACCESS_KEY_ID=None,
                              AWS_SECRET_ACCESS_KEY=None, AWS_CONTAINER_CREDENTIALS_FULL_URI=creds.url + "/c",
                              AWS_CONTAINER_AUTHORIZATION_TOKEN="t")
            self.assertIn("answered 403", answer["error"])
        finally:
            creds.stop()

    def test_secrets_never_printed(self):
        """run_lua_process fails on any secret in the output of every run in these suites; here
        the places a secret could slip through are exercised on purpose."""
        self.server.expect(*[aws_error(403, "InvalidClientTokenId", "The security token is invalid")] * 3)
        p = run_lua_process("""
            local sqs = require "moonrun.sqs"
            local aws = require "moonrun.aws"
            local c = aws.credentials()
            print(c)
            print(require("moonrun.json").encode(c))
            print(require("moonrun.pretty").format(c))
            local ok, err = pcall(sqs.list_queues, {})
            print(err)
            print(select(2, pcall(aws.sign, {method = "GET", url = "not a url", region = "r", service = "s",
              access_key_id = c.access_key_id, secret_access_key = c.secret_access_key,
              session_token = c.session_token})))
            error(c)""", self.env)
        output = p.stdout.decode() + p.stderr.decode()
        self.assertIn(TEST_KEY_ID, output)
        self.assertIn("InvalidClientTokenId", output)
        self.assertIn("sigv4:", output)
        self.assertIn('"error":"AWS credentials AKIDTESTMOONRUN (from the environment)"', output)

    def test_secrets_not_in_a_lambda_error(self):
        """An unhandled error that carries the credentials reaches Lambda without the secret."""
        p = subprocess.run([MOONRUN, "invoke", "tests/sqs/leaky.handler"], capture_output=True,
                           timeout=60 * SCALE, env=self.env)
        assert_no_secrets(p.stdout, p.stderr)
        answer = json.loads(p.stdout.decode().splitlines()[-1])
        self.assertIn(TEST_KEY_ID, answer["errorMessage"])


if __name__ == "__main__":
    unittest.main()
