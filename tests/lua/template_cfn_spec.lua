-- Specs of moonrun.dev.template on CloudFormation-native templates (AWS::Lambda::Function,
-- EventSourceMapping, EventInvokeConfig, Url, AWS::ApiGatewayV2) and CDK's synthesized JSON,
-- for busted run inside moonrun from the repository's root:
--   build/moonrun run /usr/bin/busted -o gtest tests/lua/template_cfn_spec.lua
-- The templates that load are checked with cfn-lint at the end, so that they are real
-- CloudFormation and moonrun dev does not accept what AWS would refuse.
local template = require "moonrun.dev.template"

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local WORK = os.tmpname()
os.remove(WORK)
assert(os.execute("mkdir -p " .. shell_quote(WORK)))

local HEAD = 'AWSTemplateFormatVersion: "2010-09-09"\n'
local valid_templates = {}
local count = 0

-- Writes text as the template (name: template.yaml) in a new folder with src/ beside it.
local function write_template(text, name)
  count = count + 1
  local dir = string.format("%s/t%03d", WORK, count)
  assert(os.execute("mkdir -p " .. shell_quote(dir .. "/src")))
  local path = dir .. "/" .. (name or "template.yaml")
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path, dir
end

local function queue_url(name)
  return "http://127.0.0.1:9324/000000000000/" .. name
end

local function load(text, name)
  local path = write_template(text, name)
  local model = template.load(path, {queue_url = queue_url})
  valid_templates[#valid_templates + 1] = path
  return model, path
end

local function assert_fails(text, ...)
  local path = write_template(text)
  local ok, message = pcall(template.load, path, {queue_url = queue_url})
  assert.is_false(ok, "expected an error, got none")
  message = tostring(message)
  assert.is_truthy(message:find(path .. ": ", 1, true), string.format("error %q does not name %s", message, path))
  for i = 1, select("#", ...) do
    local fragment = select(i, ...)
    assert.is_truthy(message:find(fragment, 1, true), string.format("error %q lacks %q", message, fragment))
  end
  return message
end

local function has_warning(model, fragment)
  for _, w in ipairs(model.warnings) do
    if w:find(fragment, 1, true) then return true end
  end
  return false
end

-- An AWS::Lambda::Function with a role (CloudFormation requires one) and extra property lines.
local function fn(name, extra)
  return string.format([[
  %s:
    Type: AWS::Lambda::Function
    Properties:
      Code: ./src
      Handler: app.handler
      Runtime: provided.al2023
      Role: !GetAtt Role.Arn
%s]], name, extra or "")
end

local ROLE = [[
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
]]

local function with(resources)
  return HEAD .. "Resources:\n" .. ROLE .. resources
end

describe("moonrun.dev.template on CloudFormation", function()
  describe("AWS::Lambda::Function", function()
    it("reads Code, Handler, Runtime, Environment, Timeout, MemorySize, concurrency, DeadLetterConfig", function()
      local model, path = load(with(fn("Api", [[
      FunctionName: my-api
      Timeout: 20
      MemorySize: 512
      ReservedConcurrentExecutions: 3
      Architectures: [arm64]
      Environment:
        Variables:
          STAGE: dev
          QUEUE: !Ref Q
      DeadLetterConfig:
        TargetArn: !GetAtt Dlq.Arn
]]) .. [[
  Q:
    Type: AWS::SQS::Queue
  Dlq:
    Type: AWS::SQS::Queue
]]))
      local f = model.functions[1]
      assert.are.equal("Api", f.logical_id)
      assert.are.equal("my-api", f.name)
      assert.are.equal("app.handler", f.handler)
      assert.are.equal(path:match("^(.*)/") .. "/src", f.code_dir)
      assert.are.equal(20, f.timeout)
      assert.are.equal(512, f.memory)
      assert.are.equal(3, f.reserved_concurrency)
      assert.are.same({STAGE = "dev", QUEUE = queue_url("Q")}, f.environment)
      assert.are.same({type = "SQS", arn = "arn:aws:sqs:us-east-1:000000000000:Dlq", queue_name = "Dlq"}, f.async.dead_letter)
      assert.are.equal(2, f.async.max_retries)
      assert.are.same({}, f.http_events)
      assert.are.same({}, f.sqs_events)
      assert.are.same({}, model.warnings) -- the role is deploy-only: ignored quietly
    end)
    it("errors name the resource and the property", function()
      assert_fails(with(fn("F", "      Enviroment: {Variables: {A: b}}\n")),
        "Resources.F.Properties.Enviroment: not an AWS::Lambda::Function property (did you mean Environment?)")
      assert_fails(HEAD .. "Resources:\n" .. ROLE .. [[
  F:
    Type: AWS::Lambda::Function
    Properties:
      Code: {S3Bucket: my-bucket, S3Key: code.zip}
      Handler: app.handler
      Runtime: provided.al2023
      Role: !GetAtt Role.Arn
]], "Resources.F.Properties.Code: an S3 location (S3Bucket, S3Key): moonrun dev cannot run code from S3")
      assert_fails(with(fn("F"):gsub("provided.al2023", "python3.12")),
        "Resources.F.Properties.Runtime: python3.12: moonrun dev runs custom-runtime functions (provided.al2023 or provided.al2)")
      assert_fails(with(fn("F"):gsub("Code: ./src", "Code: ./nowhere")),
        "Resources.F.Properties.Code: ./nowhere (", ") is not a folder")
      assert_fails(with(fn("F"):gsub("Code: ./src", "Code: ./build/app.zip")),
        "Resources.F.Properties.Code: ./build/app.zip is an archive")
      assert_fails(with(fn("F"):gsub("Code: ./src", "Code: {ZipFile: 'return {}'}")),
        "Resources.F.Properties.Code.ZipFile: inline code is not supported")
      assert_fails(with(fn("F"):gsub("      Handler: app.handler\n", "")), "Resources.F.Properties.Handler: missing")
    end)
  end)

  describe("AWS::Lambda::EventSourceMapping", function()
    local QUEUE = "  Q:\n    Type: AWS::SQS::Queue\n    Properties: {VisibilityTimeout: 60}\n"
    it("is an SQS trigger, as SAM's SQS event is", function()
      local model = load(with(fn("Worker") .. QUEUE .. [[
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Q.Arn
      FunctionName: !Ref Worker
      BatchSize: 5
      MaximumBatchingWindowInSeconds: 1
      FunctionResponseTypes: [ReportBatchItemFailures]
      ScalingConfig: {MaximumConcurrency: 4}
      FilterCriteria:
        Filters:
          - Pattern: '{"body": {"kind": ["order"]}}'
  ByArn:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Q.Arn
      FunctionName: !GetAtt Worker.Arn
      Enabled: false
]]))
      local events = model.functions[1].sqs_events
      assert.are.same({
        {name = "ByArn", queue_arn = "arn:aws:sqs:us-east-1:000000000000:Q", queue_name = "Q", queue_url = queue_url("Q"),
         batch_size = 10, window_s = 0, report_batch_item_failures = false, enabled = false},
        {name = "Mapping", queue_arn = "arn:aws:sqs:us-east-1:000000000000:Q", queue_name = "Q", queue_url = queue_url("Q"),
         batch_size = 5, window_s = 1, report_batch_item_failures = true, enabled = true, max_concurrency = 4,
         filters = {'{"body": {"kind": ["order"]}}'}},
      }, events)
    end)
    it("errors: another source, a stream setting, a function not in the template, the visibility rule", function()
      assert_fails(with(fn("Worker") .. [[
  Stream:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Stream.Arn
      FunctionName: !Ref Worker
      StartingPosition: LATEST
]]), "Resources.Mapping: an event source mapping for Stream (AWS::Kinesis::Stream) is not run by moonrun dev")
      assert_fails(with(fn("Worker") .. [[
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2024-01-01T00:00:00.000
      FunctionName: !Ref Worker
      StartingPosition: LATEST
]]), "Resources.Mapping: an event source mapping for a DynamoDB stream is not run by moonrun dev")
      assert_fails(with(fn("Worker") .. QUEUE .. [[
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Q.Arn
      FunctionName: !Ref Worker
      StartingPosition: LATEST
]]), "Resources.Mapping.Properties.StartingPosition: is for streams, Kafka and MQ")
      assert_fails(with(fn("Worker") .. QUEUE .. [[
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Q.Arn
      FunctionName: other-function
]]), 'Resources.Mapping.Properties.FunctionName: "other-function" is not a function of this template (its functions: Worker)')
      assert_fails(with(fn("Worker", "      Timeout: 90\n") .. QUEUE .. [[
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Q.Arn
      FunctionName: !Ref Worker
]]), "Resources.Mapping.Properties.EventSourceArn: Queue visibility timeout: 60 seconds is less than Function timeout: 90 seconds")
    end)
  end)

  describe("AWS::ApiGatewayV2", function()
    local API = [[
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: shop, ProtocolType: HTTP}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Http, StageName: $default, AutoDeploy: true}
]]
    it("routes to the function of their Lambda proxy integration, as SAM's HttpApi events", function()
      local model = load(with(fn("Shop") .. API .. [=[
  ShopIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Shop.Arn}/invocations
      PayloadFormatVersion: "2.0"
  OldIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Shop.Arn
      PayloadFormatVersion: "1.0"
  GetItem:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: GET /items/{id}
      Target: !Join [/, [integrations, !Ref ShopIntegration]]
  Legacy:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: ANY /old/{proxy+}
      Target: !Sub integrations/${OldIntegration}
  Fallback:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: $default
      Target: !Sub integrations/${ShopIntegration}
]=]))
      assert.are.same({
        {name = "Fallback", type = "HttpApi", payload_version = "2.0"},
        {name = "GetItem", type = "HttpApi", method = "GET", path = "/items/{id}", payload_version = "2.0"},
        {name = "Legacy", type = "HttpApi", method = "ANY", path = "/old/{proxy+}", payload_version = "1.0"},
      }, model.functions[1].http_events)
      assert.are.same({}, model.warnings)
    end)
    it("quick create: the API's Target", function()
      local model = load(with(fn("Shop") .. [[
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: quick, ProtocolType: HTTP, Target: !GetAtt Shop.Arn}
]]))
      assert.are.same({{name = "Http", type = "HttpApi", payload_version = "2.0"}}, model.functions[1].http_events)
    end)
    it("errors: WebSocket, another integration type, a bad route key, a route twice, a REST API", function()
      assert_fails(with(fn("Shop") .. [[
  Ws:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: ws, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
]]), "Resources.Ws: a WebSocket API is not run by moonrun dev")
      assert_fails(with(fn("Shop") .. API .. [[
  Proxy:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: HTTP_PROXY
      IntegrationUri: https://example.com
      IntegrationMethod: GET
      PayloadFormatVersion: "1.0"
]]), "Resources.Proxy: a HTTP_PROXY integration is not run by moonrun dev")
      local routes = [[
  I:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Http, IntegrationType: AWS_PROXY, IntegrationUri: !GetAtt Shop.Arn, PayloadFormatVersion: "2.0"}
  R1:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Http, RouteKey: %s, Target: !Sub "integrations/${I}"}
]]
      assert_fails(with(fn("Shop") .. API .. routes:format("GET items")),
        'Resources.R1.Properties.RouteKey: "GET items" is not a route key')
      assert_fails(with(fn("Shop") .. API .. routes:format("GET /a") .. [[
  R2:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Http, RouteKey: GET /a, Target: !Sub "integrations/${I}"}
]]), "Resources.R2.Properties.RouteKey: the HttpApi route GET /a is also Resources.R1's")
      assert_fails(with(fn("Shop") .. [[
  Rest:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: rest}
]]), "Resources.Rest: a REST API written as AWS::ApiGateway resources is not run by moonrun dev")
    end)
  end)

  describe("AWS::Lambda::EventInvokeConfig and AWS::Lambda::Url", function()
    it("set the function's asynchronous settings and its URL", function()
      local model = load(with(fn("Job") .. [[
  Failures:
    Type: AWS::SQS::Queue
  Config:
    Type: AWS::Lambda::EventInvokeConfig
    Properties:
      FunctionName: !Ref Job
      Qualifier: $LATEST
      MaximumRetryAttempts: 0
      MaximumEventAgeInSeconds: 120
      DestinationConfig:
        OnFailure: {Destination: !GetAtt Failures.Arn}
  Url:
    Type: AWS::Lambda::Url
    Properties:
      TargetFunctionArn: !GetAtt Job.Arn
      AuthType: NONE
      InvokeMode: RESPONSE_STREAM
      Cors: {AllowOrigins: ["*"]}
]]))
      local f = model.functions[1]
      assert.are.same({max_retries = 0, max_age_s = 120,
        on_failure = {type = "SQS", arn = "arn:aws:sqs:us-east-1:000000000000:Failures", queue_name = "Failures"}}, f.async)
      assert.are.same({logical_id = "Url", auth_type = "NONE", invoke_mode = "RESPONSE_STREAM",
        cors = {AllowOrigins = {"*"}}}, f.function_url)
      assert.is_false(has_warning(model, "Resources.Url"), "served as SAM's FunctionUrlConfig is")
    end)
    it("errors", function()
      assert_fails(with(fn("Job") .. [[
  Url:
    Type: AWS::Lambda::Url
    Properties: {TargetFunctionArn: !GetAtt Job.Arn, AuthType: OPEN}
]]), "Resources.Url.Properties.AuthType: OPEN: AuthType is NONE or AWS_IAM")
      assert_fails(with(fn("Job") .. [[
  Config:
    Type: AWS::Lambda::EventInvokeConfig
    Properties: {FunctionName: !Ref Job, Qualifier: $LATEST, MaximumRetryAttempts: 5}
]]), "Resources.Config.Properties.MaximumRetryAttempts: 5 is out of range (0 to 2)")
    end)
  end)

  describe("layers", function()
    it("the template's layer folders are the function's layer_dirs, in its order; others are not mounted", function()
      local model, path = load(with(fn("F", [[
      Layers:
        - !Ref Shared
        - arn:aws:lambda:us-east-1:123456789012:layer:elsewhere:3
        - !Ref Packaged
        - !Ref Own
]]) .. [[
  Shared:
    Type: AWS::Lambda::LayerVersion
    Properties: {Content: ./src, LayerName: shared}
  Packaged:
    Type: AWS::Lambda::LayerVersion
    Properties:
      Content: {S3Bucket: my-bucket, S3Key: layer.zip}
  Own:
    Type: AWS::Lambda::LayerVersion
    Properties: {Content: ., CompatibleRuntimes: [provided.al2023]}
]]))
      local dir = path:match("^(.*)/")
      assert.are.same({dir .. "/src", dir}, model.functions[1].layer_dirs)
    end)
    it("SAM's LayerVersion too; an archive is not mounted (no layer_dirs)", function()
      local sam = 'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\nResources:\n' .. [[
  F:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: app.handler, Runtime: provided.al2023, Layers: [!Ref Mods]}
  G:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: app.handler, Runtime: provided.al2023, Layers: [!Ref Zipped]}
  Mods:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: src/}
  Zipped:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: dist/layer.zip}
]]
      local model, path = load(sam)
      assert.are.same({path:match("^(.*)/") .. "/src"}, model.functions[1].layer_dirs)
      assert.is_nil(model.functions[2].layer_dirs)
      assert.are.same({}, model.warnings)
    end)
    it("errors", function()
      assert_fails(with(fn("F", "      Layers: [!Ref L]\n") .. "  L:\n    Type: AWS::Lambda::LayerVersion\n    Properties: {Content: ./none}\n"),
        "Resources.L.Properties.Content: ./none (", ") is not a folder")
      assert_fails(with(fn("F", "      Layers: [my-layer]\n")),
        'Resources.F.Properties.Layers[0]: "my-layer" is not a layer version\'s ARN')
      assert_fails(with(fn("F", "      Layers: !Ref AWS::Region\n")),
        "Resources.F.Properties.Layers: expected a list of layer ARNs")
    end)
  end)

  describe("a CDK template (cdk.out/*.template.json)", function()
    local function cdk_template(asset)
      return [[
{
 "Resources": {
  "WorkerServiceRole2130CC17": {
   "Type": "AWS::IAM::Role",
   "Properties": {
    "AssumeRolePolicyDocument": {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
      "Principal": {"Service": "lambda.amazonaws.com"}}], "Version": "2012-10-17"}
   },
   "Metadata": {"aws:cdk:path": "App/Worker/ServiceRole/Resource"}
  },
  "WorkerFn5E8A7C12": {
   "Type": "AWS::Lambda::Function",
   "Properties": {
    "Code": {
     "S3Bucket": {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"},
     "S3Key": "]] .. asset .. [[.zip"
    },
    "Handler": "app.handler",
    "Role": {"Fn::GetAtt": ["WorkerServiceRole2130CC17", "Arn"]},
    "Runtime": "provided.al2023"
   },
   "DependsOn": ["WorkerServiceRole2130CC17"],
   "Metadata": {
    "aws:cdk:path": "App/Worker/Resource",
    "aws:asset:path": "asset.]] .. asset .. [[",
    "aws:asset:is-bundled": false,
    "aws:asset:property": "Code"
   }
  },
  "CDKMetadata": {
   "Type": "AWS::CDK::Metadata",
   "Properties": {"Analytics": "v2:deflate64:H4sIAAAAAAAA/zPSMzQz0DMwUkwsL9ZNTsnWz8lMSq0EAA=="},
   "Metadata": {"aws:cdk:path": "App/CDKMetadata/Default"}
  }
 },
 "Parameters": {
  "BootstrapVersion": {
   "Type": "AWS::SSM::Parameter::Value<String>",
   "Default": "/cdk-bootstrap/hnb659fds/version",
   "Description": "Version of the CDK Bootstrap resources in this environment, automatically retrieved from SSM Parameter Store. [cdk:skip]"
  }
 },
 "Rules": {
  "CheckBootstrapVersion": {
   "Assertions": [{
     "Assert": {"Fn::Not": [{"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}]},
     "AssertDescription": "CDK bootstrap stack version 6 required. Please run 'cdk bootstrap' with a recent version of the CDK CLI."
   }]
  }
 }
}
]]
    end
    it("runs the asset folder beside the template, quietly ignoring CDK's own parts", function()
      local hash = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
      local path, dir = write_template(cdk_template(hash), "App.template.json")
      assert(os.execute("mkdir -p " .. shell_quote(dir .. "/asset." .. hash)))
      local model = template.load(path, {queue_url = queue_url})
      valid_templates[#valid_templates + 1] = path
      assert.are.equal(dir .. "/asset." .. hash, model.functions[1].code_dir)
      assert.are.equal("WorkerFn5E8A7C12", model.functions[1].name)
      assert.are.same({}, model.warnings)
    end)
    it("a missing asset folder says to run cdk synth", function()
      local path = write_template(cdk_template("ffff"), "App.template.json")
      local ok, err = pcall(template.load, path, {queue_url = queue_url})
      assert.is_false(ok)
      assert.is_truthy(err:find("Resources.WorkerFn5E8A7C12.Metadata.aws:asset:path: asset.ffff (", 1, true), err)
      assert.is_truthy(err:find("is not a folder: run cdk synth again", 1, true), err)
    end)
  end)

  describe("a value of the wrong shape anywhere", function()
    -- every property of every resource of a full template, given each wrong shape in turn: an
    -- error naming the file (or a load, where the shape is accepted), never a Lua error
    local json = require "moonrun.json"
    local function full()
      return {
        AWSTemplateFormatVersion = "2010-09-09",
        Resources = {
          Q = {Type = "AWS::SQS::Queue"},
          Fn = {Type = "AWS::Lambda::Function", Properties = {
            Code = "./src", Handler = "app.handler", Runtime = "provided.al2023", Timeout = 5,
            Environment = {Variables = {AB = "b"}}, Layers = {{Ref = "Lay"}}, DeadLetterConfig = {TargetArn = {["Fn::GetAtt"] = {"Q", "Arn"}}}}},
          Lay = {Type = "AWS::Lambda::LayerVersion", Properties = {Content = "./src"}},
          Map = {Type = "AWS::Lambda::EventSourceMapping", Properties = {
            EventSourceArn = {["Fn::GetAtt"] = {"Q", "Arn"}}, FunctionName = {Ref = "Fn"}, BatchSize = 5,
            ScalingConfig = {MaximumConcurrency = 2}, FunctionResponseTypes = {"ReportBatchItemFailures"},
            FilterCriteria = {Filters = {{Pattern = '{"body": {"a": ["b"]}}'}}}}},
          Eic = {Type = "AWS::Lambda::EventInvokeConfig", Properties = {
            FunctionName = {Ref = "Fn"}, Qualifier = "$LATEST", MaximumRetryAttempts = 1,
            DestinationConfig = {OnFailure = {Destination = {["Fn::GetAtt"] = {"Q", "Arn"}}}}}},
          Url = {Type = "AWS::Lambda::Url", Properties = {TargetFunctionArn = {["Fn::GetAtt"] = {"Fn", "Arn"}},
            AuthType = "NONE", Cors = {AllowOrigins = {"*"}}}},
          Api = {Type = "AWS::ApiGatewayV2::Api", Properties = {Name = "a", ProtocolType = "HTTP"}},
          Quick = {Type = "AWS::ApiGatewayV2::Api", Properties = {Name = "q", ProtocolType = "HTTP",
            Target = {["Fn::GetAtt"] = {"Fn", "Arn"}}, RouteKey = "GET /quick"}},
          Int = {Type = "AWS::ApiGatewayV2::Integration", Properties = {ApiId = {Ref = "Api"},
            IntegrationType = "AWS_PROXY", IntegrationUri = {["Fn::GetAtt"] = {"Fn", "Arn"}}, PayloadFormatVersion = "2.0"}},
          Route = {Type = "AWS::ApiGatewayV2::Route", Properties = {ApiId = {Ref = "Api"}, RouteKey = "GET /a",
            Target = {["Fn::Sub"] = "integrations/${Int}"}}},
          Stage = {Type = "AWS::ApiGatewayV2::Stage", Properties = {ApiId = {Ref = "Api"}, StageName = "$default"}},
        },
      }
    end
    it("is an error message, not a Lua error", function()
      local wrong = {json.array{1, 2}, {A = 1}, json.null, 42, "x", true}
      local doc = full()
      local path = write_template(json.encode(doc), "template.json")
      assert.is_truthy(pcall(template.load, path, {queue_url = queue_url}))
      local tried = 0
      for id, resource in pairs(doc.Resources) do
        for key in pairs(resource.Properties or {}) do
          for _, value in ipairs(wrong) do
            local mutated = full()
            mutated.Resources[id].Properties[key] = value
            local f = assert(io.open(path, "w"))
            f:write(json.encode(mutated))
            f:close()
            local ok, err = pcall(template.load, path, {queue_url = queue_url})
            tried = tried + 1
            if not ok then
              local where = string.format("%s.%s = %s", id, key, json.encode(value))
              assert.are.equal("string", type(err), where)
              assert.is_truthy(err:find(path .. ": ", 1, true), where .. ": " .. err)
              assert.is_falsy(err:find("attempt to", 1, true), where .. ": " .. err)
              assert.is_falsy(err:find("bad argument", 1, true), where .. ": " .. err)
            end
          end
        end
      end
      assert.is_true(tried > 150)
    end)
  end)

  it("every template that loaded passes cfn-lint", function()
    assert.is_true(#valid_templates >= 6)
    local args = {}
    for i, path in ipairs(valid_templates) do args[i] = shell_quote(path) end
    local pipe = io.popen("cfn-lint --non-zero-exit-code error -- " .. table.concat(args, " ") .. " 2>&1")
    local output = pipe:read("a")
    local ok = pipe:close()
    assert.is_true(ok, output)
  end)
end)
