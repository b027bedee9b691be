"""End-to-end tests of `moonrun dev` on CloudFormation-native templates: a plain CloudFormation
template (AWS::Lambda::Function with Code a local folder and a layer of the template, an SQS
EventSourceMapping, an EventInvokeConfig, an AWS::ApiGatewayV2 HTTP API with Lambda proxy
integrations) and a CDK-style
cdk.out folder (the function's code in the asset folder its Metadata names), each run with HTTP
requests and messages sent with boto3 to the embedded SQS; `moonrun invoke --template` on the
same template; and each resource that cannot run refused with its name and the reason.

Every template here is checked with cfn-lint first, so that it is real CloudFormation.

It shares tests/dev_support.py's harness. Run from the repository root:
python3 -m unittest -v tests/test_dev_cfn.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dev_support as base  # noqa: E402  (the dev harness: tests/dev_support.py)

CFN_LINT = shutil.which("cfn-lint")

# The HTTP API's function: answers GET /items/{id} with what it got, queues POST /orders' body.
API_LUA = """\
local json = require "moonrun.json"
local sqs = require "moonrun.sqs"
local M = {}
function M.handler(event, context)
  if event.routeKey == "POST /orders" then
    sqs.send_message{QueueUrl = os.getenv("QUEUE_URL"), MessageBody = event.body}
    return {statusCode = 202, body = "queued"}
  end
  return {statusCode = 200, headers = {["content-type"] = "application/json"},
          body = json.encode{route = event.routeKey, id = event.pathParameters and event.pathParameters.id,
                             version = event.version, stage = os.getenv("STAGE"),
                             name = context.function_name, memory = context.memory_limit_in_mb,
                             layer = require("shop_layer").name}}
end
return M
"""

# The queue's consumer: records each body (one JSON line), reports "bad" as a failed item, and
# fails an asynchronous event that asks.
WORKER_LUA = """\
local json = require "moonrun.json"
local M = {}
function M.handler(event, context)
  if event.fail then error("failed on purpose: " .. event.fail) end
  local failures = json.array{}
  local f = assert(io.open(os.getenv("RECORD_FILE"), "a"))
  for _, record in ipairs(event.Records) do
    f:write(json.encode{body = record.body, source = record.eventSourceARN}, "\\n")
    if record.body == "bad" then failures[#failures + 1] = {itemIdentifier = record.messageId} end
  end
  f:close()
  return {batchItemFailures = failures}
end
return M
"""

CFN_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: An orders service in plain CloudFormation, as aws cloudformation package takes it
Parameters:
  Stage:
    Type: String
    Default: dev
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      ManagedPolicyArns:
        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: orders
      VisibilityTimeout: 60
  Failed:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: failed
  Api:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: api
      Code: ./src
      Handler: api.handler
      Runtime: provided.al2023
      Architectures: [arm64]
      MemorySize: 256
      Timeout: 5
      Role: !GetAtt Role.Arn
      Layers: [!Ref ShopLayer]
      Environment:
        Variables:
          STAGE: !Ref Stage
          QUEUE_URL: !Ref Orders
  ShopLayer:
    Type: AWS::Lambda::LayerVersion
    Properties:
      LayerName: shop
      Content: ./layer
      CompatibleRuntimes: [provided.al2023]
  Worker:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: worker
      Code: ./src
      Handler: worker.handler
      Runtime: provided.al2023
      Timeout: 10
      Role: !GetAtt Role.Arn
      Environment:
        Variables:
          RECORD_FILE: RECORD_PATH
  WorkerMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Orders.Arn
      FunctionName: !Ref Worker
      BatchSize: 5
      FunctionResponseTypes: [ReportBatchItemFailures]
  WorkerAsync:
    Type: AWS::Lambda::EventInvokeConfig
    Properties:
      FunctionName: !Ref Worker
      Qualifier: $LATEST
      MaximumRetryAttempts: 0
      DestinationConfig:
        OnFailure:
          Destination: !GetAtt Failed.Arn
  WorkerLogs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: /aws/lambda/worker
      RetentionInDays: 7
  HttpApi:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: orders
      ProtocolType: HTTP
  ApiIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref HttpApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Api.Arn}/invocations
      PayloadFormatVersion: "2.0"
  GetItem:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref HttpApi
      RouteKey: GET /items/{id}
      Target: !Join [/, [integrations, !Ref ApiIntegration]]
  PostOrder:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref HttpApi
      RouteKey: POST /orders
      Target: !Sub integrations/${ApiIntegration}
  DefaultStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref HttpApi
      StageName: $default
      AutoDeploy: true
  ApiPermission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref Api
      Principal: apigateway.amazonaws.com
      SourceArn: !Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*
"""

ASSET = "5b2fc0e6d1a94c3f8a7e21d0c4b9f6e3a18d7c25b0e4f9a6c3d2e1f0a9b8c7d6"

# One function for both sources, as a CDK app's single handler often is.
CDK_LUA = """\
local json = require "moonrun.json"
local M = {}
function M.handler(event, context)
  if event.Records then
    local f = assert(io.open(os.getenv("RECORD_FILE"), "a"))
    for _, record in ipairs(event.Records) do f:write(json.encode{body = record.body}, "\\n") end
    f:close()
    return {}
  end
  return {statusCode = 200, body = "cdk " .. event.rawPath .. " " .. context.function_name}
end
return M
"""


def cdk_template(record_path):
    """What `cdk synth` writes for a stack with a queue, a function from lambda.Code.fromAsset,
    an SqsEventSource and an HttpApi with an HttpLambdaIntegration (shortened: fewer regions in
    CDKMetadataAvailable)."""
    fn, role, queue = "HandlerFn0F4A2B8C", "HandlerFnServiceRole5D1E3C7A", "JobsQueue8E2C5F1B"
    api, integration = "HttpApiF5A9A8A7", "HttpApiDefaultRouteHandlerIntegration3C3B4E8F"
    return {
        "Resources": {
            queue: {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 180},
                    "UpdateReplacePolicy": "Delete", "DeletionPolicy": "Delete",
                    "Metadata": {"aws:cdk:path": "App/JobsQueue/Resource"}},
            role: {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                                                            "Principal": {"Service": "lambda.amazonaws.com"}}],
                                             "Version": "2012-10-17"},
                "ManagedPolicyArns": [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                                         ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]]}]},
                "Metadata": {"aws:cdk:path": "App/HandlerFn/ServiceRole/Resource"}},
            role + "DefaultPolicy": {"Type": "AWS::IAM::Policy", "Properties": {
                "PolicyDocument": {"Statement": [{"Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                                                             "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
                                                             "sqs:ReceiveMessage"],
                                                  "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue, "Arn"]}}],
                                   "Version": "2012-10-17"},
                "PolicyName": role + "DefaultPolicy", "Roles": [{"Ref": role}]},
                "Metadata": {"aws:cdk:path": "App/HandlerFn/ServiceRole/DefaultPolicy/Resource"}},
            fn: {"Type": "AWS::Lambda::Function", "Properties": {
                "Code": {"S3Bucket": {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"},
                         "S3Key": ASSET + ".zip"},
                "Environment": {"Variables": {"RECORD_FILE": record_path, "QUEUE_URL": {"Ref": queue}}},
                "Handler": "app.handler", "Role": {"Fn::GetAtt": [role, "Arn"]}, "Runtime": "provided.al2023",
                "Timeout": 30},
                "DependsOn": [role + "DefaultPolicy", role],
                "Metadata": {"aws:cdk:path": "App/HandlerFn/Resource", "aws:asset:path": "asset." + ASSET,
                             "aws:asset:is-bundled": False, "aws:asset:property": "Code"}},
            fn + "SqsEventSourceAppJobsQueue1A2B3C4D": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
                "EventSourceArn": {"Fn::GetAtt": [queue, "Arn"]}, "FunctionName": {"Ref": fn}},
                "Metadata": {"aws:cdk:path": "App/HandlerFn/SqsEventSource:AppJobsQueue/Resource"}},
            api: {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Name": "HttpApi", "ProtocolType": "HTTP"},
                  "Metadata": {"aws:cdk:path": "App/HttpApi/Resource"}},
            api + "DefaultStage3EEB07D6": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
                "ApiId": {"Ref": api}, "AutoDeploy": True, "StageName": "$default"},
                "Metadata": {"aws:cdk:path": "App/HttpApi/DefaultStage/Resource"}},
            integration: {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
                "ApiId": {"Ref": api}, "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::GetAtt": [fn, "Arn"]}, "PayloadFormatVersion": "2.0"},
                "Metadata": {"aws:cdk:path": "App/HttpApi/DefaultRoute/HandlerIntegration/Resource"}},
            integration + "Permission": {"Type": "AWS::Lambda::Permission", "Properties": {
                "Action": "lambda:InvokeFunction", "FunctionName": {"Fn::GetAtt": [fn, "Arn"]},
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":execute-api:",
                                                {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":",
                                                {"Ref": api}, "/*/*"]]}},
                "Metadata": {"aws:cdk:path": "App/HttpApi/DefaultRoute/HandlerIntegration-Permission"}},
            api + "DefaultRoute8A6A0C4E": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
                "ApiId": {"Ref": api}, "AuthorizationType": "NONE", "RouteKey": "$default",
                "Target": {"Fn::Join": ["", ["integrations/", {"Ref": integration}]]}},
                "Metadata": {"aws:cdk:path": "App/HttpApi/DefaultRoute/Resource"}},
            "CDKMetadata": {"Type": "AWS::CDK::Metadata",
                            "Properties": {"Analytics": "v2:deflate64:H4sIAAAAAAAA/1WOQQ6CMBBF"},
                            "Metadata": {"aws:cdk:path": "App/CDKMetadata/Default"},
                            "Condition": "CDKMetadataAvailable"},
        },
        "Outputs": {"HttpApiUrl": {"Value": {"Fn::GetAtt": [api, "ApiEndpoint"]}}},
        "Conditions": {"CDKMetadataAvailable": {"Fn::Or": [
            {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
            {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}]}},
        "Parameters": {"BootstrapVersion": {
            "Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/hnb659fds/version",
            "Description": "Version of the CDK Bootstrap resources in this environment, automatically retrieved "
                           "from SSM Parameter Store. [cdk:skip]"}},
        "Rules": {"CheckBootstrapVersion": {"Assertions": [{
            "Assert": {"Fn::Not": [{"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}]},
            "AssertDescription": "CDK bootstrap stack version 6 required. Please run 'cdk bootstrap' with a recent "
                                 "version of the CDK CLI."}]}},
    }


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class CfnTestCase(base.DevTestCase):
    def assert_lints(self, path):
        """cfn-lint finds no error in the template: it is real CloudFormation."""
        if CFN_LINT is None:
            self.fail("cfn-lint is not installed (pip install cfn-lint): it checks these templates are real CloudFormation")
        p = subprocess.run([CFN_LINT, "--non-zero-exit-code", "error", "--", path], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, f"cfn-lint on {path}:\n{p.stdout}{p.stderr}")

    def refused(self, template_text, *fragments, name="template.yaml"):
        """dev on this template exits 1 before anything starts, saying each fragment."""
        path = self.template(template_text, name)
        p = self.run_dev(path, "--port", "0", "--sqs-port", "0", "--state", self.path("state"))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        for fragment in fragments:
            self.assertIn(fragment, p.stderr)
        for word in ("stack traceback", "Traceback", "attempt to "):
            self.assertNotIn(word, p.stderr)
        return p.stderr


class TestPlainCloudFormation(CfnTestCase):
    def setUp(self):
        super().setUp()
        self.write("src/api.lua", API_LUA)
        self.write("src/worker.lua", WORKER_LUA)
        self.write("layer/lua/shop_layer.lua", 'return {name = "shop"}\n')  # found as in /opt/lua
        self.record = self.path("record.jsonl")
        self.tpl = self.template(CFN_TEMPLATE.replace("RECORD_PATH", self.record))

    def test_http_routes_queue_trigger_and_async_destination(self):
        self.assert_lints(self.tpl)
        dev = self.start_dev(self.tpl)
        dev.wait_for(r"http\s+\S+ GET /items/\{id\}\s+-> api")
        dev.wait_for(r"http\s+\S+ POST /orders\s+-> api")
        dev.wait_for(r"trigger\s+sqs orders\s+-> worker \(batch 5\)")
        self.assertNotIn("warning", dev.stdout() + dev.stderr(), "IAM, logs, permissions, stage: ignored quietly")

        status, _, body = base.http_request(dev.front + "/items/42")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"route": "GET /items/{id}", "id": "42", "version": "2.0", "stage": "dev",
                                            "name": "api", "memory": 256, "layer": "shop"})
        status, _, body = base.http_request(dev.front + "/nothing")
        self.assertEqual(status, 404, body)

        # the HTTP route queues the order, the mapping delivers it to the worker
        status, _, body = base.http_request(dev.front + "/orders", "POST", b"order-1",
                                                [("Content-Type", "text/plain")])
        self.assertEqual(status, 202, body)
        arn = f"arn:aws:sqs:{base.REGION}:{base.ACCOUNT}:orders"
        base.wait_until(lambda: read_lines(self.record), 30, "the worker's record of order-1")
        self.assertEqual(read_lines(self.record), [{"body": "order-1", "source": arn}])

        # sent with boto3: the one the worker reports as failed stays in the queue, in flight
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="good")
        sqs.send_message(QueueUrl=url, MessageBody="bad")
        base.wait_until(lambda: len(read_lines(self.record)) == 3, 30, "the worker's records of good and bad")
        self.assertEqual(sorted(r["body"] for r in read_lines(self.record)), ["bad", "good", "order-1"])

        def in_flight():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"])
        base.wait_until(lambda: in_flight() == ("0", "1"), 30, "bad alone left in the queue (in flight)")

        # EventInvokeConfig: no retry, the failure recorded on the Failed queue
        response = self.lambda_client(dev).invoke(FunctionName="worker", InvocationType="Event",
                                                  Payload=json.dumps({"fail": "now"}).encode())
        self.assertEqual(response["StatusCode"], 202)
        failed = sqs.get_queue_url(QueueName="failed")["QueueUrl"]
        got = sqs.receive_message(QueueUrl=failed, WaitTimeSeconds=10)
        self.assertEqual(len(got.get("Messages", [])), 1, got)
        record = json.loads(got["Messages"][0]["Body"])
        self.assertEqual(record["requestContext"]["condition"], "RetriesExhausted")
        self.assertEqual(record["requestContext"]["approximateInvokeCount"], 1)
        self.assertEqual(record["requestPayload"], {"fail": "now"})
        self.stop_dev(dev)

    def test_invoke_finds_the_function_in_the_template(self):
        p = subprocess.run([base.MOONRUN, "invoke", "--template", "template.yaml", "Api", "--event", "-"],
                           input=json.dumps({"routeKey": "GET /items/{id}", "version": "2.0",
                                             "pathParameters": {"id": "7"}}),
                           capture_output=True, text=True, cwd=self.tmp, env=base.client_env(), timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        answer = json.loads(json.loads(p.stdout)["body"])
        self.assertEqual(answer, {"route": "GET /items/{id}", "id": "7", "version": "2.0", "stage": "dev",
                                  "name": "api", "memory": 256, "layer": "shop"})


class TestCdkOut(CfnTestCase):
    def test_a_cdk_out_template_runs_from_its_asset_folder(self):
        self.write(f"cdk.out/asset.{ASSET}/app.lua", CDK_LUA)
        record = self.path("cdk-record.jsonl")
        tpl = self.write("cdk.out/App.template.json", json.dumps(cdk_template(record), indent=1))
        self.write("cdk.out/cdk.out", '{"version":"36.0.0"}')
        self.assert_lints(tpl)
        dev = self.start_dev(os.path.join("cdk.out", "App.template.json"))
        self.assertNotIn("warning", dev.stdout() + dev.stderr(),
                         "CDK's bootstrap parameter, rules, metadata, roles and policies: ignored quietly")
        status, _, body = base.http_request(dev.front + "/any/path")
        self.assertEqual(status, 200, body)
        self.assertEqual(body.decode(), "cdk /any/path HandlerFn0F4A2B8C")
        sqs = self.sqs_client(dev)
        url = sqs.get_queue_url(QueueName="JobsQueue8E2C5F1B")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="job-1")
        base.wait_until(lambda: read_lines(record), 30, "the job's record")
        self.assertEqual(read_lines(record), [{"body": "job-1"}])
        self.stop_dev(dev)

    def test_a_missing_asset_folder_says_to_synth_again(self):
        tpl = json.dumps(cdk_template(self.path("r.jsonl")), indent=1)
        self.refused(tpl, f"Resources.HandlerFn0F4A2B8C.Metadata.aws:asset:path: asset.{ASSET} (",
                     "is not a folder: run cdk synth again", name="cdk.out/App.template.json")


ROLE_AND_FN = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      CODE
      Handler: worker.handler
      Runtime: RUNTIME
      Role: !GetAtt Role.Arn
"""


def with_fn(extra="", code="Code: ./src", runtime="provided.al2023"):
    return ROLE_AND_FN.replace("CODE", code).replace("RUNTIME", runtime) + textwrap.indent(textwrap.dedent(extra), "  ")


class TestWhatCannotRun(CfnTestCase):
    """Each is an error naming the resource and why, before anything starts."""

    def setUp(self):
        super().setUp()
        self.write("src/worker.lua", WORKER_LUA)

    def test_code_in_s3(self):
        self.refused(with_fn(code="Code: {S3Bucket: my-bucket, S3Key: fn.zip}"),
                     "Resources.Fn.Properties.Code: an S3 location (S3Bucket, S3Key): moonrun dev cannot run code from S3")

    def test_another_runtime(self):
        self.refused(with_fn(runtime="nodejs20.x"),
                     "Resources.Fn.Properties.Runtime: nodejs20.x: moonrun dev runs custom-runtime functions")

    def test_a_kinesis_mapping(self):
        self.refused(with_fn("""\
            Stream:
              Type: AWS::Kinesis::Stream
              Properties: {ShardCount: 1}
            Mapping:
              Type: AWS::Lambda::EventSourceMapping
              Properties:
                EventSourceArn: !GetAtt Stream.Arn
                FunctionName: !Ref Fn
                StartingPosition: LATEST
            """), "Resources.Mapping: an event source mapping for Stream (AWS::Kinesis::Stream) is not run by moonrun dev")

    def test_a_websocket_api(self):
        self.refused(with_fn("""\
            Ws:
              Type: AWS::ApiGatewayV2::Api
              Properties: {Name: ws, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
            """), "Resources.Ws: a WebSocket API is not run by moonrun dev")

    def test_a_rest_api(self):
        self.refused(with_fn("""\
            Rest:
              Type: AWS::ApiGateway::RestApi
              Properties: {Name: rest}
            """), "Resources.Rest: a REST API written as AWS::ApiGateway resources is not run by moonrun dev")

    def test_an_http_proxy_integration(self):
        self.refused(with_fn("""\
            Http:
              Type: AWS::ApiGatewayV2::Api
              Properties: {Name: h, ProtocolType: HTTP}
            Proxy:
              Type: AWS::ApiGatewayV2::Integration
              Properties:
                ApiId: !Ref Http
                IntegrationType: HTTP_PROXY
                IntegrationMethod: GET
                IntegrationUri: https://example.com
                PayloadFormatVersion: "1.0"
            """), "Resources.Proxy: a HTTP_PROXY integration is not run by moonrun dev")

    def test_a_mapping_to_a_function_not_in_the_template(self):
        self.refused(with_fn("""\
            Q:
              Type: AWS::SQS::Queue
            Mapping:
              Type: AWS::Lambda::EventSourceMapping
              Properties: {EventSourceArn: !GetAtt Q.Arn, FunctionName: elsewhere}
            """), 'Resources.Mapping.Properties.FunctionName: "elsewhere" is not a function of this template '
                  "(its functions: Fn)")

    def test_an_eventbridge_rule_on_a_function(self):
        self.refused(with_fn("""\
            Nightly:
              Type: AWS::Events::Rule
              Properties:
                ScheduleExpression: rate(1 day)
                Targets: [{Arn: !GetAtt Fn.Arn, Id: fn}]
            """), "Resources.Nightly.Properties.Targets[0]: an EventBridge rule's function target is not run by moonrun dev")

    def test_the_error_templates_are_real_cloudformation(self):
        # the errors above come from moonrun dev, not from a template CloudFormation would refuse
        for i, text in enumerate([
                with_fn(code="Code: {S3Bucket: my-bucket, S3Key: fn.zip}"),
                with_fn("Ws:\n  Type: AWS::ApiGatewayV2::Api\n  Properties: {Name: ws, ProtocolType: WEBSOCKET, "
                        "RouteSelectionExpression: $request.body.action}\n"),
                with_fn("Rest:\n  Type: AWS::ApiGateway::RestApi\n  Properties: {Name: rest}\n")]):
            self.assert_lints(self.template(text, f"lint{i}.yaml"))


if __name__ == "__main__":
    unittest.main()
