-- Specs of moonrun.dev.template, for busted run inside moonrun from the repository's root:
--   build/moonrun run /usr/bin/busted -o gtest tests/lua/template_spec.lua
-- The templates written here that load are also checked with cfn-lint at the end, so that
-- moonrun dev does not accept what AWS would refuse.
local template = require "moonrun.dev.template"
local json = require "moonrun.json"

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function current_dir()
  local pipe = io.popen("pwd -P")
  local dir = pipe:read("l")
  pipe:close()
  return dir
end

local ROOT = current_dir()
local WORK = os.tmpname()
os.remove(WORK)
assert(os.execute("mkdir -p " .. shell_quote(WORK)))

local HEAD = 'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
local valid_templates = {} -- files that loaded, for cfn-lint
local count = 0

-- Writes text as template.yaml in a new folder with a handlers/ folder beside it.
local function write_template(text, name)
  count = count + 1
  local dir = string.format("%s/t%03d", WORK, count)
  assert(os.execute("mkdir -p " .. shell_quote(dir .. "/handlers")))
  local path = dir .. "/" .. (name or "template.yaml")
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function queue_url(name)
  return "http://127.0.0.1:9324/000000000000/" .. name
end

local function load(text, opts)
  opts = opts or {}
  opts.queue_url = opts.queue_url or queue_url
  local path = write_template(text)
  local model = template.load(path, opts)
  valid_templates[#valid_templates + 1] = path
  return model, path
end

-- A template of HEAD, then these sections.
local function with(sections)
  return HEAD .. sections
end

-- A function resource with the given extra property lines (indented 6).
local function fn(name, extra)
  return string.format([[
  %s:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.handler
      Runtime: provided.al2023
      CodeUri: handlers
%s]], name, extra or "")
end

local function failure(text, opts)
  opts = opts or {}
  opts.queue_url = opts.queue_url or queue_url
  local path = write_template(text)
  local ok, err = pcall(template.load, path, opts)
  assert.is_false(ok, "expected an error, got none")
  return tostring(err), path
end

local function assert_fails(text, ...)
  local message, path = failure(text)
  assert.is_truthy(message:find(path .. ": ", 1, true), string.format("error %q does not name %s", message, path))
  for i = 1, select("#", ...) do
    local fragment = select(i, ...)
    assert.is_truthy(message:find(fragment, 1, true), string.format("error %q lacks %q", message, fragment))
  end
  return message
end

local function find(list, key, value)
  for _, item in ipairs(list) do
    if item[key] == value then return item end
  end
end

local function has_warning(model, fragment)
  for _, w in ipairs(model.warnings) do
    if w:find(fragment, 1, true) then return true end
  end
  return false
end

describe("moonrun.dev.template", function()
  describe("bootstrap/template.yaml", function()
    it("gives exactly the expected model", function()
      local model = template.load("bootstrap/template.yaml", {queue_url = queue_url})
      local dlq_arn = "arn:aws:sqs:us-east-1:000000000000:test-queue-dlq"
      local expected = {
        path = ROOT .. "/bootstrap/template.yaml", dir = ROOT .. "/bootstrap",
        queues = {
          {logical_id = "DeadLetterQueue", name = "test-queue-dlq", fifo = false, arn = dlq_arn,
           url = queue_url("test-queue-dlq"), attributes = {MessageRetentionPeriod = "1209600"}},
          {logical_id = "Queue", name = "test-queue", fifo = false,
           arn = "arn:aws:sqs:us-east-1:000000000000:test-queue", url = queue_url("test-queue"),
           attributes = {VisibilityTimeout = "60",
                         RedrivePolicy = '{"deadLetterTargetArn":"' .. dlq_arn .. '","maxReceiveCount":3}'}},
        },
        functions = {
          {logical_id = "Consumer", name = "Consumer", handler = "consume.handler",
           code_dir = ROOT .. "/handlers", runtime = "provided.al2023", timeout = 10, memory = 128,
           environment = {}, http_events = {}, async = {max_retries = 2, max_age_s = 21600},
           sqs_events = {{name = "Messages", queue_arn = "arn:aws:sqs:us-east-1:000000000000:test-queue",
                          queue_name = "test-queue", queue_url = queue_url("test-queue"), batch_size = 10,
                          window_s = 0, report_batch_item_failures = true, enabled = true}}},
          {logical_id = "Producer", name = "Producer", handler = "send_messages.handler",
           code_dir = ROOT .. "/handlers", runtime = "provided.al2023", timeout = 10, memory = 128,
           environment = {}, sqs_events = {}, async = {max_retries = 2, max_age_s = 21600},
           http_events = {{name = "Send", type = "HttpApi", method = "POST", path = "/send",
                           payload_version = "2.0", api = "ServerlessHttpApi", scopes = {}}}},
        },
        apis = {
          ServerlessHttpApi = {id = "ServerlessHttpApi", type = "HttpApi", authorizers = {}},
          ServerlessRestApi = {id = "ServerlessRestApi", type = "Api", authorizers = {}},
        },
        warnings = {},
      }
      assert.are.same(expected, model)
      -- empty lists stay lists, for whoever encodes the model as JSON
      assert.is_true(json.is_array(model.warnings))
      assert.is_true(json.is_array(model.functions[1].http_events))
      assert.is_true(json.is_array(model.functions[2].sqs_events))
    end)
    it("takes parameter overrides, region and account", function()
      local model = template.load(ROOT .. "/bootstrap/template.yaml", {
        parameters = {QueueName = "other", Architecture = "arm64"}, region = "eu-west-1",
        account = "123456789012", queue_url = queue_url})
      assert.are.equal("other", model.queues[2].name)
      assert.are.equal("other-dlq", model.queues[1].name)
      assert.are.equal("arn:aws:sqs:eu-west-1:123456789012:other", model.functions[1].sqs_events[1].queue_arn)
      assert.are.equal('{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:other-dlq","maxReceiveCount":3}',
        model.queues[2].attributes.RedrivePolicy)
    end)
    it("refuses an override outside AllowedValues, and an unknown parameter", function()
      local ok, err = pcall(template.load, "bootstrap/template.yaml", {parameters = {Architecture = "sparc"}})
      assert.is_false(ok)
      assert.are.equal('bootstrap/template.yaml: Parameters.Architecture: "sparc" is not one of its AllowedValues (x86_64, arm64)', err)
      ok, err = pcall(template.load, "bootstrap/template.yaml", {parameters = {Queue = "x"}})
      assert.is_false(ok)
      assert.are.equal("bootstrap/template.yaml: parameter override Queue: the template has no parameter Queue (it has Architecture, QueueName)", err)
    end)
    it("works from another directory, with a relative path", function()
      local model = template.load("../bootstrap/template.yaml", {cwd = ROOT .. "/handlers"})
      assert.are.equal(ROOT .. "/handlers", model.functions[1].code_dir)
      assert.are.equal("https://sqs.us-east-1.amazonaws.com/000000000000/test-queue", model.queues[2].url)
    end)
  end)

  describe("parameters", function()
    it("Default, override, Number and CommaDelimitedList", function()
      local model = load(with([[
Parameters:
  Mem: {Type: Number, Default: 256, MinValue: 128, MaxValue: 1024}
  Names: {Type: CommaDelimitedList, Default: "a, b ,c"}
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod], MinLength: 2, MaxLength: 4}
Resources:
]] .. fn("F", [[
      MemorySize: !Ref Mem
      Environment:
        Variables:
          SECOND: !Select [1, !Ref Names]
          ALL: !Join ["+", !Ref Names]
          STAGE: !Ref Stage
          MEM: !Ref Mem
]])), {parameters = {Stage = "prod"}})
      local f = model.functions[1]
      assert.are.equal(256, f.memory)
      assert.are.same({SECOND = "b", ALL = "a+b+c", STAGE = "prod", MEM = "256"}, f.environment)
    end)
    it("errors: no value, not a number, out of range, bad type", function()
      assert_fails(with("Parameters:\n  P: {Type: String}\nResources:\n" .. fn("F")),
        "Parameters.P: no value: give it a Default, or a value as a parameter override")
      assert_fails(with("Parameters:\n  P: {Type: Number, Default: abc}\nResources:\n" .. fn("F")),
        'Parameters.P: "abc" is not a number (Type: Number)')
      assert_fails(with("Parameters:\n  P: {Type: Number, Default: 5, MaxValue: 4}\nResources:\n" .. fn("F")),
        "Parameters.P: 5 is above its MaxValue 4")
      assert_fails(with("Parameters:\n  P: {Type: Strin, Default: x}\nResources:\n" .. fn("F")),
        "Parameters.P.Type: Strin is not a parameter type")
      assert_fails(with("Parameters:\n  P: {Type: String, Default: abc, MaxLength: 2}\nResources:\n" .. fn("F")),
        'Parameters.P: "abc" is longer than its MaxLength 2')
      -- a Parameter Store parameter is an error where it is used, not where it is declared
      -- (CDK declares one that only its Rules read)
      assert_fails(with("Parameters:\n  P: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /x}\nResources:\n" ..
        fn("F", "      Environment:\n        Variables:\n          V: !Ref P\n")),
        "Resources.F.Properties.Environment.Variables.V: refers to P, whose Type AWS::SSM::Parameter::Value<String> reads Parameter Store")
      local model = load(with("Parameters:\n  P: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /x}\nResources:\n" .. fn("F")))
      assert.are.equal(1, #model.functions)
    end)
    it("pseudo parameters", function()
      local model = load(with("Resources:\n" .. fn("F", [[
      Environment:
        Variables:
          ALL: !Sub "${AWS::Region} ${AWS::AccountId} ${AWS::StackName} ${AWS::Partition} ${AWS::URLSuffix}"
          ID: !Ref AWS::StackId
          AZ: !Select [0, !GetAZs ""]
]])), {region = "cn-north-1", account = "111122223333", stack_name = "mine"})
      local env = model.functions[1].environment
      assert.are.equal("cn-north-1 111122223333 mine aws-cn amazonaws.com.cn", env.ALL)
      assert.are.equal("arn:aws-cn:cloudformation:cn-north-1:111122223333:stack/mine/00000000-0000-0000-0000-000000000000", env.ID)
      assert.are.equal("cn-north-1a", env.AZ)
    end)
  end)

  describe("conditions", function()
    local conditions = [[
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals ["a", "a"] ]
  Either: !Or [!Condition IsProd, !Condition Both]
  LongForm: {"Fn::Equals": [{"Ref": "Env"}, "dev"]}
]]
    it("leave out resources and choose Fn::If branches, with AWS::NoValue", function()
      local text = with(conditions .. "Resources:\n" .. fn("F", [[
      Timeout: !If [IsProd, 30, 5]
      Environment:
        Variables:
          ONLY_PROD: !If [IsProd, yes, !Ref AWS::NoValue]
          BOTH: !If [Both, "1", "0"]
          EITHER: !If [Either, "1", "0"]
          LONG: {"Fn::If": [LongForm, "1", "0"]}
]]) .. [[
  ProdQueue:
    Type: AWS::SQS::Queue
    Condition: IsProd
  DevQueue:
    Type: AWS::SQS::Queue
    Condition: IsDev
]])
      local dev = load(text)
      assert.are.same({BOTH = "1", EITHER = "1", LONG = "1"}, dev.functions[1].environment)
      assert.are.equal(5, dev.functions[1].timeout)
      assert.are.equal(1, #dev.queues)
      assert.are.equal("DevQueue", dev.queues[1].name)
      local prod = load(text, {parameters = {Env = "prod"}})
      assert.are.same({ONLY_PROD = "true", BOTH = "0", EITHER = "1", LONG = "0"}, prod.functions[1].environment)
      assert.are.equal(30, prod.functions[1].timeout)
      assert.are.equal("ProdQueue", prod.queues[1].name)
    end)
    it("errors: an unknown condition, a cycle, a Ref to a left-out resource", function()
      assert_fails(with("Resources:\n" .. fn("F", "      Timeout: !If [Nope, 1, 2]\n")),
        "Resources.F.Properties.Timeout.Fn::If: condition Nope is not in the template's Conditions")
      assert_fails(with("Conditions:\n  A: !Not [!Condition B]\n  B: !Not [!Condition A]\nResources:\n" ..
        fn("F", "      Timeout: !If [A, 1, 2]\n")), "Conditions.A: refers to itself")
      assert_fails(with("Conditions:\n  Never: !Equals [a, b]\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Condition: Never\n" ..
        fn("F", "      Environment:\n        Variables:\n          QQ: !Ref Q\n")),
        "Resources.F.Properties.Environment.Variables.QQ: refers to Q, which its condition Never leaves out")
      assert_fails(with("Conditions:\n  C: !Equals [!Ref Q, x]\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n" ..
        fn("F", "      Timeout: !If [C, 1, 2]\n")),
        "a condition can refer only to parameters and pseudo parameters, not Q")
    end)
  end)

  describe("Globals", function()
    it("merge as SAM does: mappings key by key, the resource's scalars win", function()
      local model = load(with([[
Globals:
  Function:
    Runtime: provided.al2023
    CodeUri: handlers
    Timeout: 20
    MemorySize: 512
    Environment:
      Variables:
        SHARED: global
        OVERRIDDEN: global
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Handler: f.handler
      Timeout: 7
      Environment:
        Variables:
          OVERRIDDEN: own
          OWN: own
  G:
    Type: AWS::Serverless::Function
    Properties:
      Handler: g.handler
]]))
      local f, g = model.functions[1], model.functions[2]
      assert.are.equal(7, f.timeout)
      assert.are.equal(512, f.memory)
      assert.are.same({SHARED = "global", OVERRIDDEN = "own", OWN = "own"}, f.environment)
      assert.are.equal(20, g.timeout)
      assert.are.same({SHARED = "global", OVERRIDDEN = "global"}, g.environment)
    end)
    it("lists are the global items then the resource's; an intrinsic is a value", function()
      local merged = template.merge_globals(
        {Layers = json.array{"a"}, Environment = {Variables = {A = "1"}}, Tags = {Ref = "X"}},
        {Layers = json.array{"b"}, Environment = {Variables = {B = "2"}}, Tags = {K = "v"}})
      assert.are.same({"a", "b"}, merged.Layers)
      assert.is_true(json.is_array(merged.Layers))
      assert.are.same({A = "1", B = "2"}, merged.Environment.Variables)
      assert.are.same({K = "v"}, merged.Tags)
      local replaced = template.merge_globals({Environment = {Variables = {A = "1"}}},
        {Environment = {["Fn::If"] = json.array{"C", {}, {}}}})
      assert.are.same({["Fn::If"] = {"C", {}, {}}}, replaced.Environment)
    end)
    it("Globals for APIs: CORS is applied, deploy-only settings are said to be ignored", function()
      local model = load(with("Globals:\n  HttpApi:\n    CorsConfiguration:\n      AllowOrigins: ['*']\n    Tags: {team: a}\nResources:\n" .. fn("F", [[
      Events:
        E:
          Type: HttpApi
          Properties: {Path: /x, Method: GET}
]])))
      assert.are.same({"Globals.HttpApi: Tags not applied locally (the routes come from the functions' events)"}, model.warnings)
      assert.are.same({kind = "http", origins = {"*"}, methods = {}, headers = {}, expose = {}, credentials = false},
        model.apis.ServerlessHttpApi.cors)
    end)
    it("an event's properties cannot come from Fn::If (SAM refuses it too)", function()
      assert_fails(with("Conditions:\n  Always: !Equals [a, a]\nResources:\n" .. fn("F", [[
      Events:
        E:
          Type: HttpApi
          Properties: !If [Always, {Path: /yes, Method: GET}, {Path: /no, Method: GET}]
]])), "Resources.F.Properties.Events.E.Properties: SAM reads an event's properties as written: no Fn::If here")
    end)
    it("a condition named Yes is a boolean to YAML, and the error says so", function()
      assert_fails(with("Conditions:\n  Yes: !Equals [a, a]\nResources:\n" .. fn("F", "      Timeout: !If [Yes, 1, 2]\n")),
        "Resources.F.Properties.Timeout.Fn::If: a condition name must be a string, got true (YAML reads an unquoted yes")
    end)
    it("refuses what Globals cannot set", function()
      assert_fails(with("Globals:\n  Function:\n    Events: {}\nResources:\n" .. fn("F")),
        "Globals.Function.Events: is not a property Globals can set")
    end)
  end)

  describe("intrinsics", function()
    it("Ref and Fn::GetAtt of queues and functions, short and long forms", function()
      local model = load(with([[
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs
]] .. fn("F", [[
      FunctionName: worker
      Environment:
        Variables:
          URL: !Ref Q
          URL_LONG: {"Ref": "Q"}
          ARN: !GetAtt Q.Arn
          ARN_LONG: {"Fn::GetAtt": [Q, Arn]}
          QURL: !GetAtt Q.QueueUrl
          QNAME: !GetAtt Q.QueueName
          GG: !Ref G
          G_ARN: !GetAtt G.Arn
]]) .. fn("G")))
      local f = find(model.functions, "logical_id", "F")
      assert.are.equal("worker", f.name)
      assert.are.same({URL = queue_url("jobs"), URL_LONG = queue_url("jobs"),
        ARN = "arn:aws:sqs:us-east-1:000000000000:jobs", ARN_LONG = "arn:aws:sqs:us-east-1:000000000000:jobs",
        QURL = queue_url("jobs"), QNAME = "jobs", GG = "G",
        G_ARN = "arn:aws:lambda:us-east-1:000000000000:function:G"}, f.environment)
    end)
    it("Fn::Sub in both forms, with ${Res.Attr} and ${!Literal}", function()
      local model = load(with([[
Parameters:
  P: {Type: String, Default: pv}
Resources:
  Q:
    Type: AWS::SQS::Queue
]] .. fn("F", [[
      Environment:
        Variables:
          S1: !Sub "${P}/${Q.QueueName}/${Q}/${AWS::Region}/${!Literal}/$${P}"
          S2: !Sub
            - "${A}-${P}-${B}"
            - A: !Ref P
              B: !GetAtt Q.Arn
          S3: !Sub "no variables"
]])))
      local env = model.functions[1].environment
      assert.are.equal("pv/Q/" .. queue_url("Q") .. "/us-east-1/${Literal}/$pv", env.S1)
      assert.are.equal("pv-pv-arn:aws:sqs:us-east-1:000000000000:Q", env.S2)
      assert.are.equal("no variables", env.S3)
    end)
    it("Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap, Fn::Base64", function()
      local model = load(with([[
Mappings:
  Sizes:
    dev: {Memory: 256}
Resources:
]] .. fn("F", [=[
      MemorySize: !FindInMap [Sizes, dev, Memory]
      Environment:
        Variables:
          JJ: !Join [",", [a, !Ref AWS::Region, 3]]
          SS: !Select [2, !Split ["/", "x/y/z"]]
          BB: !Base64 "hi"
          EE: !Join ["", []]
]=])))
      local f = model.functions[1]
      assert.are.equal(256, f.memory)
      assert.are.same({JJ = "a,us-east-1,3", SS = "z", BB = "aGk=", EE = ""}, f.environment)
    end)
    it("errors name the property", function()
      local function env(value)
        return with("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n" .. fn("F", "      Environment:\n        Variables:\n          VV: " .. value .. "\n"))
      end
      local at = "Resources.F.Properties.Environment.Variables.VV"
      assert_fails(env("!Ref Nope"), at .. ": refers to Nope, which is not a resource, parameter or pseudo parameter of the template")
      assert_fails(env("!GetAtt Q.Nope"), at .. ": Fn::GetAtt Q.Nope: the attributes of Q (AWS::SQS::Queue) that moonrun dev knows are Arn, QueueUrl and QueueName")
      assert_fails(env("!GetAtt Nope.Arn"), at .. ": refers to Nope, which is not a resource")
      assert_fails(env("!Sub '${Nope}'"), at .. ": refers to Nope")
      assert_fails(env("!Select [5, [a, b]]"), at .. ": Fn::Select index 5 is out of range (the list has 2 items)")
      assert_fails(env("!ImportValue X"), at .. ": Fn::ImportValue reads another stack's export")
      assert_fails(env("!Length [a]"), at .. ": Fn::Length is not supported by moonrun dev")
      assert_fails(env("!FindInMap [M, a, b]"), at .. ": Fn::FindInMap: no mapping M in Mappings")
      assert_fails(env("[a, b]"), at .. ": expected a string, got a list")
      assert_fails(env("!Join [',', !Ref Q]"), at .. ".Fn::Join[1]: expected a list")
      assert_fails(env("!Equals [a, b]"), at .. ": Fn::Equals belongs in the Conditions section")
    end)
    it("a Ref to a resource moonrun dev does not run stands for its logical id, with a warning", function()
      local model = load(with("Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n" ..
        "      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]\n" ..
        "      KeySchema: [{AttributeName: id, KeyType: HASH}]\n      BillingMode: PAY_PER_REQUEST\n" ..
        fn("F", "      Environment:\n        Variables:\n          TABLE: !Ref Table\n")))
      assert.are.equal("Table", model.functions[1].environment.TABLE)
      assert.is_true(has_warning(model, 'Resources.F.Properties.Environment.Variables.TABLE: Ref Table (AWS::DynamoDB::Table) stands for "Table" locally'))
      assert.is_true(has_warning(model, "Resources.Table: AWS::DynamoDB::Table is not run by moonrun dev"))
    end)
    it("a cycle of names is an error", function()
      assert_fails(with([[
Resources:
  A:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${B.QueueName}-a"
  B:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${A.QueueName}-b"
]]), "Resources.A: its name depends on itself (A -> B -> A)")
    end)
  end)

  describe("functions", function()
    it("defaults: Timeout 3, MemorySize 128, the logical id as name", function()
      local f = load(with("Resources:\n" .. fn("Fn1"))).functions[1]
      assert.are.same({logical_id = "Fn1", name = "Fn1", handler = "h.handler",
        code_dir = f.code_dir, runtime = "provided.al2023", timeout = 3, memory = 128,
        environment = {}, http_events = {}, sqs_events = {},
        async = {max_retries = 2, max_age_s = 21600}}, f)
      assert.is_truthy(f.code_dir:match("^/.*/handlers$"))
    end)
    it("EventInvokeConfig and DeadLetterQueue: retries, event age, destinations", function()
      local head = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n  Other:\n    Type: AWS::SQS::Queue\n" ..
                   "  J:\n    Type: AWS::SQS::Queue\n    Properties: {FifoQueue: true}\n"
      local model = load(with(head .. fn("F", [[
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        MaximumEventAgeInSeconds: 60
        DestinationConfig:
          OnSuccess: {Type: Lambda, Destination: !GetAtt G.Arn}
          OnFailure: {Type: SQS, Destination: !GetAtt Q.Arn}
      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt Other.Arn}
]]) .. fn("G")))
      assert.are.same({max_retries = 1, max_age_s = 60,
        on_success = {type = "Lambda", arn = "arn:aws:lambda:us-east-1:000000000000:function:G", function_name = "G"},
        on_failure = {type = "SQS", arn = "arn:aws:sqs:us-east-1:000000000000:Q", queue_name = "Q"},
        dead_letter = {type = "SQS", arn = "arn:aws:sqs:us-east-1:000000000000:Other", queue_name = "Other"}},
        model.functions[1].async)
      assert.are.same({}, model.warnings)
      local sns = load(with(head .. fn("F", [[
      EventInvokeConfig:
        DestinationConfig:
          OnFailure: {Type: SNS, Destination: arn:aws:sns:us-east-1:000000000000:topic}
]])))
      assert.is_nil(sns.functions[1].async.on_failure)
      assert.is_true(has_warning(sns, "a SNS destination is not emulated"))
      local at = "Resources.F.Properties.EventInvokeConfig"
      local function bad(props, message)
        assert_fails(with(head .. fn("F", props)), message)
      end
      bad("      EventInvokeConfig: {MaximumRetryAttempts: 3}\n", at .. ".MaximumRetryAttempts: 3 is out of range (0 to 2)")
      bad("      EventInvokeConfig: {MaximumEventAgeInSeconds: 59}\n", at .. ".MaximumEventAgeInSeconds: 59 is out of range (60 to 21600)")
      bad("      EventInvokeConfig: {Retries: 1}\n", at .. ".Retries: not a key of EventInvokeConfig")
      bad("      EventInvokeConfig: {DestinationConfig: {OnFailure: {Type: SQS}}}\n",
        at .. ".DestinationConfig.OnFailure.Destination: missing")
      bad("      EventInvokeConfig: {DestinationConfig: {OnFailure: {Type: Queue, Destination: x}}}\n",
        at .. ".DestinationConfig.OnFailure.Type: Queue is not SQS, SNS, Lambda, EventBridge or S3")
      bad("      EventInvokeConfig: {DestinationConfig: {OnFailure: {Type: SQS, Destination: !GetAtt J.Arn}}}\n",
        "is a FIFO queue: Lambda sends asynchronous invocation records to standard queues only")
      bad("      EventInvokeConfig: {DestinationConfig: {OnFail: {Type: SQS, Destination: x}}}\n",
        at .. ".DestinationConfig.OnFail: not a key of DestinationConfig (OnSuccess, OnFailure)")
      bad("      DeadLetterQueue: {Type: SQS, TargetArn: not-an-arn}\n",
        "Resources.F.Properties.DeadLetterQueue.TargetArn: \"not-an-arn\" is not a queue's ARN")
    end)
    it("CodeUri is relative to the template's folder", function()
      local model, path = load(with("Resources:\n" .. fn("F", ""):gsub("CodeUri: handlers", "CodeUri: ./handlers/../handlers/")))
      assert.are.equal(path:match("^(.*)/") .. "/handlers", model.functions[1].code_dir)
    end)
    it("deploy-only properties are ignored; the ones that change behaviour warn", function()
      local model = load(with("Resources:\n" .. fn("F", [[
      Description: d
      Architectures: [arm64]
      Policies: [AWSLambdaBasicExecutionRole]
      Tracing: Active
      Tags: {a: b}
      EphemeralStorage: {Size: 1024}
]])))
      assert.are.same({"Resources.F.Properties.EphemeralStorage: ignored: /tmp is the machine's own"}, model.warnings)
    end)
    it("FunctionUrlConfig: AuthType, InvokeMode (BUFFERED by default), Cors", function()
      local model = load(with("Resources:\n" .. fn("F", "      FunctionUrlConfig: {AuthType: NONE}\n")))
      assert.are.same({auth_type = "NONE", invoke_mode = "BUFFERED"}, model.functions[1].function_url)
      assert.are.same({}, model.warnings)
      model = load(with("Resources:\n" .. fn("F",
        "      FunctionUrlConfig: {AuthType: AWS_IAM, InvokeMode: RESPONSE_STREAM, Cors: {AllowOrigins: ['*'], MaxAge: 60, AllowCredentials: true}}\n")))
      assert.are.same({auth_type = "AWS_IAM", invoke_mode = "RESPONSE_STREAM",
                       cors = {AllowOrigins = {"*"}, MaxAge = 60, AllowCredentials = true}}, model.functions[1].function_url)
      assert.are.same({}, model.warnings)
      assert.is_nil(load(with("Resources:\n" .. fn("F"))).functions[1].function_url)
      assert_fails(with("Resources:\n" .. fn("F", "      FunctionUrlConfig: {InvokeMode: BUFFERED}\n")),
        "Resources.F.Properties.FunctionUrlConfig.AuthType: missing (NONE, or AWS_IAM)")
      assert_fails(with("Resources:\n" .. fn("F", "      FunctionUrlConfig: {AuthType: NONE, InvokeMode: STREAM}\n")),
        "Resources.F.Properties.FunctionUrlConfig.InvokeMode: STREAM: InvokeMode is BUFFERED or RESPONSE_STREAM")
      assert_fails(with("Resources:\n" .. fn("F", "      FunctionUrlConfig: {AuthType: NONE, Cors: {Origins: x}}\n")),
        "Resources.F.Properties.FunctionUrlConfig.Cors.Origins: not a key of a function URL's Cors")
      assert_fails(with("Resources:\n" .. fn("F", "      FunctionUrlConfig: {AuthType: NONE, Cors: {MaxAge: 90000}}\n")),
        "Resources.F.Properties.FunctionUrlConfig.Cors.MaxAge")
      assert_fails(with("Resources:\n" .. fn("F", "      FunctionUrlConfig: {AuthType: NONE, Cors: {AllowOrigins: x}}\n")),
        "Resources.F.Properties.FunctionUrlConfig.Cors.AllowOrigins: expected a list of strings")
    end)
    it("ReservedConcurrentExecutions is the function's concurrency limit, 0 included", function()
      local model = load(with("Resources:\n" .. fn("F", "      ReservedConcurrentExecutions: 2\n")))
      assert.are.equal(2, model.functions[1].reserved_concurrency)
      assert.are.same({}, model.warnings)
      assert.is_nil(load(with("Resources:\n" .. fn("F"))).functions[1].reserved_concurrency)
      assert.are.equal(0, load(with("Resources:\n" .. fn("F", "      ReservedConcurrentExecutions: 0\n"))).functions[1].reserved_concurrency)
      assert_fails(with("Resources:\n" .. fn("F", "      ReservedConcurrentExecutions: -1\n")),
        "Resources.F.Properties.ReservedConcurrentExecutions: -1 is out of range (0 to 1000)")
    end)
    local function prop_fails(extra, ...)
      return assert_fails(with("Resources:\n" .. fn("F", extra)), ...)
    end
    it("errors: CodeUri, Runtime, Handler, Timeout, MemorySize, InlineCode", function()
      local function code(uri, ...)
        return assert_fails(with("Resources:\n" .. fn("F"):gsub("CodeUri: handlers", "CodeUri: " .. uri)), ...)
      end
      code("../dist/moonrun-handlers.zip", "Resources.F.Properties.CodeUri: ../dist/moonrun-handlers.zip is an archive: moonrun dev runs the handlers from a folder, so point CodeUri at it")
      code("s3://bucket/key.zip", "Resources.F.Properties.CodeUri: s3://bucket/key.zip is in S3")
      code("{Bucket: b, Key: k}", "Resources.F.Properties.CodeUri: an S3 location (Bucket/Key)")
      code("nowhere", "Resources.F.Properties.CodeUri: nowhere (", ") is not a folder")
      assert_fails(with("Resources:\n" .. fn("F"):gsub("provided.al2023", "python3.12")),
        "Resources.F.Properties.Runtime: python3.12: moonrun dev runs custom-runtime functions (provided.al2023, provided.al2 or provided)")
      assert_fails(with("Resources:\n" .. fn("F"):gsub("      Runtime: provided.al2023\n", "")),
        "Resources.F.Properties.Runtime: missing")
      assert_fails(with("Resources:\n" .. fn("F"):gsub("      Handler: h.handler\n", "")),
        "Resources.F.Properties.Handler: missing")
      prop_fails("      Timeout: 901\n", "Resources.F.Properties.Timeout: 901 is out of range (1 to 900)")
      prop_fails("      MemorySize: 64\n", "Resources.F.Properties.MemorySize: 64 is out of range (128 to 10240)")
      prop_fails("      Timeout: soon\n", 'Resources.F.Properties.Timeout: expected an integer, got "soon"')
      prop_fails("      InlineCode: x\n", "Resources.F.Properties.InlineCode: inline code is not supported")
      prop_fails("      Environment:\n        Variables:\n          1X: a\n", "Resources.F.Properties.Environment.Variables.1X: not an environment variable name")
      prop_fails("      Environment:\n        Variables:\n          AWS_REGION: a\n", "Resources.F.Properties.Environment.Variables.AWS_REGION: Lambda reserves AWS_REGION and sets it itself")
    end)
    it("two functions with one name are an error", function()
      assert_fails(with("Resources:\n" .. fn("A", "      FunctionName: same\n") .. fn("B", "      FunctionName: same\n")),
        "Resources.B: function name same is also the name of A")
    end)
  end)

  describe("HTTP events", function()
    it("HttpApi and Api: methods, path parameters, payload versions, the $default route", function()
      local model = load(with("Resources:\n" .. fn("F", [[
      Events:
        Any:
          Type: HttpApi
          Properties: {Path: "/items/{id}", Method: any}
        Proxy:
          Type: HttpApi
          Properties: {Path: "/files/{proxy+}", Method: GET, PayloadFormatVersion: "1.0"}
        Default:
          Type: HttpApi
        Rest:
          Type: Api
          Properties: {Path: /rest, Method: post}
]])))
      assert.are.same({
        {name = "Any", type = "HttpApi", method = "ANY", path = "/items/{id}", payload_version = "2.0",
         api = "ServerlessHttpApi", scopes = {}},
        {name = "Default", type = "HttpApi", payload_version = "2.0", -- the $default route
         api = "ServerlessHttpApi", scopes = {}},
        {name = "Proxy", type = "HttpApi", method = "GET", path = "/files/{proxy+}", payload_version = "1.0",
         api = "ServerlessHttpApi", scopes = {}},
        {name = "Rest", type = "Api", method = "POST", path = "/rest", payload_version = "1.0",
         api = "ServerlessRestApi", scopes = {}},
      }, model.functions[1].http_events)
    end)
    it("two $default routes are an error", function()
      local events = "      Events:\n        All:\n          Type: HttpApi\n"
      assert_fails(with("Resources:\n" .. fn("A", events) .. fn("B", events)),
        "Resources.B.Properties.Events.All: the HttpApi route $default is also Resources.A.Properties.Events.All's")
    end)
    it("a route twice is an error", function()
      local events = "      Events:\n        Send:\n          Type: HttpApi\n          Properties: {Path: /send, Method: post}\n"
      assert_fails(with("Resources:\n" .. fn("A", events) .. fn("B", events)),
        "Resources.B.Properties.Events.Send: the HttpApi route POST /send is also Resources.A.Properties.Events.Send's")
    end)
    it("AWS_IAM is refused at start", function()
      assert_fails(with("Resources:\n" .. fn("F", [[
      Events:
        E:
          Type: Api
          Properties:
            Path: /x
            Method: GET
            Auth: {Authorizer: AWS_IAM}
]])), "Resources.F.Properties.Events.E.Properties.Auth.Authorizer: AWS_IAM authorization")
      assert_fails(with("Globals:\n  HttpApi:\n    Auth: {DefaultAuthorizer: AWS_IAM}\nResources:\n" .. fn("F", "")),
        "Globals.HttpApi.Auth.DefaultAuthorizer: AWS_IAM authorization")
    end)
    it("errors", function()
      local function event(body, ...)
        return assert_fails(with("Resources:\n" .. fn("F", "      Events:\n        E:\n" .. body)), ...)
      end
      event("          Type: Api\n          Properties: {Path: /x}\n", "Resources.F.Properties.Events.E.Properties.Method: missing")
      event("          Type: HttpApi\n          Properties: {Path: x, Method: GET}\n", 'Resources.F.Properties.Events.E.Properties.Path: a path starts with /, got "x"')
      event("          Type: HttpApi\n          Properties: {Path: '/a/{p+}/b', Method: GET}\n", "a greedy parameter {p+} must be the last segment")
      event("          Type: HttpApi\n          Properties: {Path: '/a{p}', Method: GET}\n", "a path parameter is a whole segment")
      event("          Type: HttpApi\n          Properties: {Path: /a, Method: FETCH}\n", "FETCH is not an HTTP method")
      event("          Type: HttpApi\n          Properties: {Path: /a, Method: GET, PayloadFormatVersion: '3.0'}\n", '"3.0" is not 1.0 or 2.0')
      event("          Type: HttpApi\n          Properties: {Path: /a, Method: GET, Cors: true}\n", "Resources.F.Properties.Events.E.Properties.Cors: not a property of a HttpApi event that moonrun dev knows")
      local m = event("          Type: Kinesis\n          Properties: {Stream: arn:aws:kinesis:us-east-1:1:stream/s, StartingPosition: LATEST}\n")
      assert.is_truthy(m:match(": Resources%.F%.Properties%.Events%.E: event type Kinesis is not supported by moonrun dev %(supported: HttpApi, Api, SQS, Schedule, ScheduleV2%)$"), m)
    end)
  end)

  describe("SQS events and queues", function()
    it("defaults and every setting", function()
      local model = load(with([[
Resources:
  Q:
    Type: AWS::SQS::Queue
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      DeduplicationScope: messageGroup
      FifoThroughputLimit: perMessageGroupId
      DelaySeconds: 5
      MaximumMessageSize: 2048
      ReceiveMessageWaitTimeSeconds: 20
      VisibilityTimeout: 30
      MessageRetentionPeriod: 3600
      RedrivePolicy: '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dead.fifo", "maxReceiveCount": "5"}'
      KmsMasterKeyId: alias/aws/sqs
]] .. fn("F", [[
      Events:
        Plain:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
        Tuned:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
            BatchSize: 100
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            Enabled: false
            ScalingConfig: {MaximumConcurrency: 5}
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"kind": ["order"]}}'
                - Pattern: '{"body": {"total": [{"numeric": [">", 10]}]}}'
        Fifo:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 10
]])))
      local jobs = find(model.queues, "logical_id", "Jobs")
      assert.are.same({logical_id = "Jobs", name = "Jobs.fifo", fifo = true,
        arn = "arn:aws:sqs:us-east-1:000000000000:Jobs.fifo", url = queue_url("Jobs.fifo"),
        attributes = {FifoQueue = "true", ContentBasedDeduplication = "true",
          DeduplicationScope = "messageGroup", FifoThroughputLimit = "perMessageGroupId",
          DelaySeconds = "5", MaximumMessageSize = "2048", ReceiveMessageWaitTimeSeconds = "20",
          VisibilityTimeout = "30", MessageRetentionPeriod = "3600",
          RedrivePolicy = '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dead.fifo","maxReceiveCount":5}'}}, jobs)
      assert.are.same({}, find(model.queues, "logical_id", "Q").attributes)
      local events = model.functions[1].sqs_events
      local arn = "arn:aws:sqs:us-east-1:000000000000:Q"
      assert.are.same({
        {name = "Fifo", queue_arn = "arn:aws:sqs:us-east-1:000000000000:Jobs.fifo", queue_name = "Jobs.fifo",
         queue_url = queue_url("Jobs.fifo"), batch_size = 10, window_s = 0, report_batch_item_failures = false, enabled = true},
        {name = "Plain", queue_arn = arn, queue_name = "Q", queue_url = queue_url("Q"), batch_size = 10,
         window_s = 0, report_batch_item_failures = false, enabled = true},
        {name = "Tuned", queue_arn = arn, queue_name = "Q", queue_url = queue_url("Q"), batch_size = 100,
         window_s = 2, report_batch_item_failures = true, enabled = false, max_concurrency = 5,
         filters = {'{"body": {"kind": ["order"]}}', '{"body": {"total": [{"numeric": [">", 10]}]}}'}},
      }, events)
    end)
    it("Schedule and ScheduleV2 events: expression, Input, Enabled/State, name", function()
      local model = load(with("Resources:\n" .. fn("F", [[
      Events:
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 2 * * ? *)
            Input: '{"job": "nightly"}'
        Weekly:
          Type: Schedule
          Properties: {Schedule: rate(7 days), Enabled: false, Name: my-rule}
        V2:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: at(2030-01-01T00:00:00)
            State: DISABLED
            ScheduleExpressionTimezone: Europe/Lisbon
]])))
      assert.are.same({
        {name = "Nightly", type = "Schedule", expression = "cron(0 2 * * ? *)", input = '{"job": "nightly"}',
         enabled = true, rule_name = "FNightly"},
        {name = "V2", type = "ScheduleV2", expression = "at(2030-01-01T00:00:00)", enabled = false, rule_name = "FV2"},
        {name = "Weekly", type = "Schedule", expression = "rate(7 days)", enabled = false, rule_name = "my-rule"},
      }, model.functions[1].schedule_events)
      assert.is_true(has_warning(model, "V2.Properties.ScheduleExpressionTimezone: ignored: schedules run in UTC locally"))
      local at = "Resources.F.Properties.Events.E.Properties"
      local function bad(etype, props, message)
        assert_fails(with("Resources:\n" .. fn("F", "      Events:\n        E:\n          Type: " .. etype ..
          "\n          Properties:\n" .. props)), message)
      end
      bad("Schedule", "            Schedule: rate(1 minutes)\n", at .. ".Schedule: rate(1 minutes): say minute for a value of 1")
      bad("Schedule", "            Schedule: at(2030-01-01T00:00:00)\n", at .. '.Schedule: "at(2030-01-01T00:00:00)" is not rate(...) or cron(...)')
      bad("Schedule", "            Description: d\n", at .. ".Schedule: missing")
      bad("ScheduleV2", "            ScheduleExpression: cron(0 12 * * * *)\n", at .. ".ScheduleExpression: one of day-of-month and day-of-week must be ?")
      bad("Schedule", "            Schedule: rate(1 day)\n            Input: not json\n", at .. ".Input: is the event, as JSON text")
      bad("Schedule", "            Schedule: rate(1 day)\n            State: PAUSED\n", at .. ".State: PAUSED is not ENABLED or DISABLED")
      bad("Schedule", "            Schedule: rate(1 day)\n            Enabled: true\n            State: ENABLED\n",
        at .. ".State: Enabled and State together")
      bad("ScheduleV2", "            ScheduleExpression: rate(1 day)\n            Colour: red\n",
        at .. ".Colour: not a property of a ScheduleV2 event that moonrun dev knows")
    end)
    it("the queue's visibility timeout against the function's timeout, as Lambda checks it", function()
      local function with_times(visibility, timeout, window)
        return with("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n" ..
          (visibility and ("    Properties: {VisibilityTimeout: " .. visibility .. "}\n") or "") ..
          fn("F", "      Timeout: " .. timeout .. "\n      Events:\n        E:\n          Type: SQS\n" ..
             "          Properties:\n            Queue: !GetAtt Q.Arn\n" ..
             (window and ("            MaximumBatchingWindowInSeconds: " .. window .. "\n") or "")))
      end
      assert_fails(with_times(10, 11), "Resources.F.Properties.Events.E.Properties.Queue: Queue visibility timeout: " ..
        "10 seconds is less than Function timeout: 11 seconds (Lambda refuses this trigger: raise Q's VisibilityTimeout or lower F's Timeout)")
      assert_fails(with_times(nil, 31), "Queue visibility timeout: 30 seconds is less than Function timeout: 31 seconds")
      local model = load(with_times(10, 10))
      assert.are.same({"Resources.F.Properties.Events.E.Properties.Queue: Q's VisibilityTimeout (10 s) is less than six " ..
        "times F's Timeout (60 s), which AWS advises so that a batch retried after throttling is not delivered twice"},
        model.warnings)
      assert.are.same({}, load(with_times(60, 10)).warnings)
      assert.is_true(has_warning(load(with_times(60, 10, 5)), "less than six times F's Timeout plus the batching window (65 s)"))
      assert.are.same({}, load(with_times(nil, 5)).warnings, "the default 30 s is six times 5")
    end)
    it("a queue outside the template is polled where queue_url says, with a warning", function()
      local model = load(with("Resources:\n" .. fn("F", [[
      Events:
        E:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:eu-west-1:123456789012:elsewhere
]])))
      local e = model.functions[1].sqs_events[1]
      assert.are.equal("elsewhere", e.queue_name)
      assert.are.equal(queue_url("elsewhere"), e.queue_url)
      assert.is_true(has_warning(model, "arn:aws:sqs:eu-west-1:123456789012:elsewhere is not a queue of this template"))
    end)
    it("event errors", function()
      local function event(props, ...)
        return assert_fails(with("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n  J:\n    Type: AWS::SQS::Queue\n    Properties: {FifoQueue: true}\n" ..
          fn("F", "      Events:\n        E:\n          Type: SQS\n          Properties:\n" .. props)), ...)
      end
      local at = "Resources.F.Properties.Events.E.Properties"
      event("            Queue: !GetAtt Q.Arn\n            BatchSize: 11\n",
        at .. ".BatchSize: 11 is more than 10, which needs MaximumBatchingWindowInSeconds of at least 1")
      event("            Queue: !GetAtt Q.Arn\n            BatchSize: 10001\n            MaximumBatchingWindowInSeconds: 1\n",
        at .. ".BatchSize: 10001 is out of range (1 to 10000)")
      event("            Queue: !GetAtt J.Arn\n            BatchSize: 11\n", at .. ".BatchSize: 11 is out of range (1 to 10)")
      event("            Queue: !GetAtt J.Arn\n            MaximumBatchingWindowInSeconds: 1\n", "a FIFO queue's trigger takes no batching window")
      event("            Queue: !GetAtt Q.Arn\n            MaximumBatchingWindowInSeconds: 301\n", "301 is out of range (0 to 300)")
      event("            Queue: !GetAtt Q.Arn\n            FilterCriteria: {Filters: [{Pattern: '{}'}]}\n",
        at .. ".FilterCriteria.Filters[0].Pattern: a pattern is a JSON object")
      event("            Queue: !GetAtt Q.Arn\n            FilterCriteria: {Filters: [{Pattern: '{\"body\": {\"n\": [{\"numeric\": [\">\", \"x\"]}]}}'}]}\n",
        at .. ".FilterCriteria.Filters[0].Pattern: body.n[0]: numeric: > needs a number after it")
      event("            Queue: !GetAtt Q.Arn\n            FilterCriteria: {Filters: [{Pattern: {body: {a: [1]}}}]}\n",
        at .. ".FilterCriteria.Filters[0].Pattern: is JSON text, as CloudFormation takes it: quote it")
      event("            Queue: !GetAtt Q.Arn\n            FilterCriteria: {Filters: [{Match: x}]}\n",
        at .. ".FilterCriteria.Filters[0].Match: not a key of a filter (Pattern)")
      event("            Queue: !GetAtt Q.Arn\n            FilterCriteria: {Filters: [{}, {}, {}, {}, {}, {}]}\n",
        at .. ".FilterCriteria.Filters[0].Pattern: missing")
      event("            Queue: !GetAtt Q.Arn\n            FilterCriteria: {Filters: [" ..
            string.rep("{Pattern: '{\"body\": {\"a\": [1]}}'}, ", 5) .. "{Pattern: '{\"body\": {\"a\": [1]}}'}]}\n",
        at .. ".FilterCriteria.Filters: 6 patterns: Lambda takes at most 5")
      event("            Queue: !GetAtt Q.Arn\n            ScalingConfig: {MaximumConcurrency: 1}\n",
        at .. ".ScalingConfig.MaximumConcurrency: 1 is out of range (2 to 1000)")
      event("            Queue: !GetAtt Q.Arn\n            ScalingConfig: {MaximumConcurrency: 1001}\n",
        at .. ".ScalingConfig.MaximumConcurrency: 1001 is out of range (2 to 1000)")
      event("            Queue: !GetAtt Q.Arn\n            ScalingConfig: {Maximum: 3}\n",
        at .. ".ScalingConfig.Maximum: not a key of ScalingConfig (MaximumConcurrency)")
      event("            Queue: !GetAtt Q.Arn\n            ScalingConfig: 5\n",
        at .. ".ScalingConfig: expected a mapping with MaximumConcurrency")
      event("            Queue: !GetAtt Q.Arn\n            FunctionResponseTypes: [Other]\n", at .. '.FunctionResponseTypes[0]: "Other" is not ReportBatchItemFailures')
      event("            Queue: !Ref Q\n", at .. ".Queue: \"" .. queue_url("Q") .. "\" is not a queue's ARN")
      event("            BatchSize: 1\n", at .. ".Queue: missing")
    end)
    it("a function property SAM does not have is an error, with the closest name", function()
      local at = "Resources.F.Properties"
      assert_fails(with("Resources:\n" .. fn("F", "      Enviroment:\n        Variables: {A: b}\n")),
        at .. ".Enviroment: not an AWS::Serverless::Function property (did you mean Environment?)")
      assert_fails(with("Resources:\n" .. fn("F", "      timeout: 3\n")),
        at .. ".timeout: not an AWS::Serverless::Function property (did you mean Timeout?)")
      local message = assert_fails(with("Resources:\n" .. fn("F", "      Banana: 1\n")),
        at .. ".Banana: not an AWS::Serverless::Function property")
      assert.is_nil(message:find("did you mean", 1, true))
      -- known but deploy-only: a warning-free run
      local model = load(with("Resources:\n" .. fn("F", "      Tracing: Active\n      Description: orders\n")))
      assert.are.same({}, model.warnings)
    end)

    it("queue errors", function()
      local function queue(props, ...)
        return assert_fails(with("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n" .. props), ...)
      end
      local at = "Resources.Q.Properties"
      queue("      VisibilityTimeout: 43201\n", at .. ".VisibilityTimeout: 43201 is out of range (0 to 43200)")
      queue("      DelaySeconds: 901\n", at .. ".DelaySeconds: 901 is out of range (0 to 900)")
      queue("      Colour: blue\n", at .. ".Colour: not an AWS::SQS::Queue property moonrun dev knows")
      queue("      VisibiltyTimeout: 30\n", at .. ".VisibiltyTimeout: not an AWS::SQS::Queue property moonrun dev knows " ..
        "(did you mean VisibilityTimeout?)")
      queue("      ContentBasedDeduplication: true\n", at .. ".ContentBasedDeduplication: only a FIFO queue (FifoQueue: true) takes it")
      queue("      FifoQueue: true\n      QueueName: jobs\n", at .. '.QueueName: "jobs": a FIFO queue\'s name ends with .fifo')
      queue("      QueueName: jobs.fifo\n", at .. '.QueueName: "jobs.fifo" ends with .fifo, but FifoQueue is not true')
      queue("      QueueName: 'bad name'\n", at .. '.QueueName: "bad name" is not a queue name')
      queue("      RedrivePolicy: {deadLetterTargetArn: x, maxReceiveCount: 3}\n", at .. '.RedrivePolicy.deadLetterTargetArn: expected a queue\'s ARN')
      queue("      RedrivePolicy: {deadLetterTargetArn: 'arn:aws:sqs:us-east-1:1:d', maxReceiveCount: 0}\n", at .. ".RedrivePolicy.maxReceiveCount: 0 is out of range (1 to 1000)")
      queue("      RedrivePolicy: 'not json'\n", at .. ".RedrivePolicy: a JSON string must hold a mapping")
      queue("      FifoQueue: true\n      DeduplicationScope: everywhere\n", at .. '.DeduplicationScope: "everywhere" is not one of messageGroup, queue')
      assert_fails(with("Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: q}\n  B:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: q}\n"),
        "Resources.B: queue name q is also the name of A")
    end)
  end)

  describe("the file", function()
    it("a YAML error carries file, line and column", function()
      local m, path = failure(with("Resources:\n  Q:\n    Type: [AWS::SQS::Queue\n"))
      assert.is_truthy(m:find("^" .. path:gsub("%p", "%%%0") .. ":%d+:%d+: "), m)
    end)
    it("an unknown tag names the tag and the line", function()
      local m, path = failure(with("Resources:\n  Q:\n    Type: !Type AWS::SQS::Queue\n"))
      assert.is_truthy(m:find(path .. ":5:11: unknown tag !Type", 1, true), m)
    end)
    it("a JSON template, tabs included", function()
      local model = load('{\n\t"AWSTemplateFormatVersion": "2010-09-09",\n\t"Transform": "AWS::Serverless-2016-10-31",\n' ..
        '\t"Resources": {\n\t\t"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 9}},\n' ..
        '\t\t"F": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "h.handler", "Runtime": "provided.al2023",\n' ..
        '\t\t\t"CodeUri": "handlers", "Events": {"E": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Q", "Arn"]}}}}}}\n\t}\n}\n')
      assert.are.equal("9", model.queues[1].attributes.VisibilityTimeout)
      assert.are.equal("Q", model.functions[1].sqs_events[1].queue_name)
    end)
    it("not a template", function()
      assert_fails("- a\n- b\n", "a template is a mapping")
      assert_fails(HEAD, "Resources: missing")
      assert_fails('AWSTemplateFormatVersion: "2010-09-09"\nResources:\n' .. fn("F"),
        "Transform: missing AWS::Serverless-2016-10-31, which F (AWS::Serverless::Function) needs")
      local ok, err = pcall(template.load, WORK .. "/none.yaml")
      assert.is_false(ok)
      assert.is_truthy(err:find("cannot read the template " .. WORK .. "/none.yaml: ", 1, true), err)
    end)
  end)

  it("every template that loaded passes cfn-lint", function()
    assert.is_true(#valid_templates > 10)
    local args = {}
    for i, path in ipairs(valid_templates) do args[i] = shell_quote(path) end
    local pipe = io.popen("cfn-lint --non-zero-exit-code error -- " .. table.concat(args, " ") .. " 2>&1")
    local output = pipe:read("a")
    local ok = pipe:close()
    assert.is_true(ok, output)
  end)
end)
