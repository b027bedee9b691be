-- CloudFormation's own Lambda resources, as `aws cloudformation package` users and CDK's
-- synthesized templates write them, read into the same model as SAM's: AWS::Lambda::Function
-- (Code a local folder, or CDK's asset folder), and the resources that wire functions up
-- afterwards: AWS::Lambda::EventSourceMapping for SQS (the trigger a SAM SQS event becomes),
-- AWS::Lambda::EventInvokeConfig, AWS::Lambda::Url, and AWS::ApiGatewayV2 HTTP APIs with Lambda
-- proxy integrations (the routes a SAM HttpApi event becomes). What would run a function and
-- cannot run here is an error naming the resource.
--
-- Its own module because CloudFormation's shapes are one concern apart from SAM's
-- (template/resources.lua, whose helpers these reuse). Its functions are methods of
-- template/init.lua's Loader, which template/init.lua takes into its class.
local values = require "moonrun.dev.template.values"

local present, sorted_keys, is_map, is_list = values.present, values.sorted_keys, values.is_map, values.is_list
local describe = values.describe

-- Methods of template/init.lua's Loader.
local Loader = {}

-- Lambda no longer creates functions on the first custom runtime (provided, Amazon Linux 1).
local RUNTIMES = {["provided.al2023"] = true, ["provided.al2"] = true}

-- AWS::Lambda::Function properties: read, deploy-only (no effect locally), run without (and
-- said so), refused, and the read-only ones a template cannot set.
local FUNCTION_READ = {
  Code = true, DeadLetterConfig = true, Environment = true, FunctionName = true, Handler = true,
  Layers = true, MemorySize = true, PackageType = true, ReservedConcurrentExecutions = true,
  Runtime = true, Timeout = true,
}
local FUNCTION_DEPLOY_ONLY = {
  Architectures = true, CapacityProviderConfig = true, CodeSigningConfigArn = true, Description = true,
  FunctionScalingConfig = true, KmsKeyArn = true, PublishToLatestPublished = true,
  RecursiveLoop = true, Role = true, RuntimeManagementConfig = true, SnapStart = true, Tags = true,
  TenancyConfig = true, TracingConfig = true,
}
local FUNCTION_NOT_EMULATED = {
  EphemeralStorage = "/tmp is the machine's own",
  FileSystemConfigs = "EFS is not mounted",
  LoggingConfig = "logs go to the terminal in moonrun's own format",
  VpcConfig = "the function runs on this machine's network",
  DurableConfig = "durable executions are not emulated: each invocation runs once, as a plain one",
}
local FUNCTION_UNSUPPORTED = {
  ImageConfig = "container images are not supported: point Code at the handlers folder",
  Arn = "is read-only (Fn::GetAtt gives it): remove it",
  SnapStartResponse = "is read-only (Fn::GetAtt gives it): remove it",
}

-- Checks props' keys against the sets of known names; an unknown one is an error with the
-- closest known name, as a typo would otherwise leave the resource running without it.
function Loader:known_keys(props, base, rtype, ...)
  for _, k in ipairs(sorted_keys(props)) do
    local known = false
    for _, set in ipairs{...} do known = known or set[k] ~= nil end
    if not known then
      self:fail(base .. "." .. k, "not an %s property%s", rtype, values.suggestion(k, ...))
    end
  end
end

function Loader:properties_of(r, base)
  local props = r.body.Properties
  if present(props) and not is_map(props) then self:fail(base, "expected a mapping") end
  return present(props) and props or {}
end

-- ---- AWS::Lambda::Function ----

-- CDK puts a function's code in cdk.out/asset.<hash> and names that folder in the resource's
-- Metadata (aws:asset:path, relative to the template); Code is then the S3 location cdk deploy
-- uploads it to, which does not exist yet.
function Loader:cdk_asset(logical_id, r)
  local meta = r.body.Metadata
  if not is_map(meta) or meta["aws:asset:path"] == nil then return nil end
  local where = "Resources." .. logical_id .. ".Metadata"
  local property = meta["aws:asset:property"]
  if property ~= nil and property ~= "Code" then return nil end
  local path = meta["aws:asset:path"]
  if type(path) ~= "string" or path == "" then self:fail(where .. ".aws:asset:path", "expected a folder name, got %s", describe(path)) end
  if path:match("%.zip$") or path:match("%.jar$") then
    self:fail(where .. ".aws:asset:path", "%s is an archive: moonrun dev runs the handlers from a folder (use lambda.Code.fromAsset on a folder)", path)
  end
  local dir = path:sub(1, 1) == "/" and path or (self.dir .. "/" .. path)
  if not self:is_folder(dir) then
    self:fail(where .. ".aws:asset:path", "%s (%s) is not a folder: run cdk synth again, which writes the asset folders beside the template", path, dir)
  end
  return dir
end

function Loader:lambda_code(logical_id, r, props, base)
  local asset = self:cdk_asset(logical_id, r)
  if asset then return asset end
  local code = props.Code
  if not present(code) then self:fail(base .. ".Code", "missing: point Code at the folder that holds the handlers (such as Code: ./src)") end
  if is_map(code) and code.ZipFile ~= nil then
    self:fail(base .. ".Code.ZipFile", "inline code is not supported: put the handler in a file and point Code at its folder (such as Code: ./src)")
  end
  if is_map(code) and code.ImageUri ~= nil then
    self:fail(base .. ".Code.ImageUri", "container images are not supported: point Code at the handlers folder (such as Code: ./src)")
  end
  if is_map(code) and (code.S3Bucket ~= nil or code.S3Key ~= nil) then
    self:fail(base .. ".Code", "an S3 location (S3Bucket, S3Key): moonrun dev cannot run code from S3, so point Code at the " ..
      "local folder (such as Code: ./src, which aws cloudformation package uploads)")
  end
  return self:code_dir(self:property(props, "Code", base), base .. ".Code", "Code")
end

function Loader:lambda_function(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = self:properties_of(r, base)
  self:known_keys(props, base, "AWS::Lambda::Function", FUNCTION_READ, FUNCTION_DEPLOY_ONLY,
    FUNCTION_NOT_EMULATED, FUNCTION_UNSUPPORTED)
  for _, k in ipairs(sorted_keys(props)) do
    if FUNCTION_UNSUPPORTED[k] then self:fail(base .. "." .. k, FUNCTION_UNSUPPORTED[k]) end
    if FUNCTION_NOT_EMULATED[k] and self:property(props, k, base) ~= nil then
      self:warn(base .. "." .. k, "ignored: %s", FUNCTION_NOT_EMULATED[k])
    end
  end
  local fn = self:function_common(logical_id, props, base, RUNTIMES,
    function() return self:lambda_code(logical_id, r, props, base) end)
  fn.environment, fn.layer_dirs = self:environment(props, base), self:layer_dirs(props, base)
  fn.async = {max_retries = 2, max_age_s = 21600}
  local dlq = self:property(props, "DeadLetterConfig", base)
  if dlq ~= nil then
    local where = base .. ".DeadLetterConfig"
    if not is_map(dlq) then self:fail(where, "expected a mapping with TargetArn") end
    for k in pairs(dlq) do
      if k ~= "TargetArn" then self:fail(where .. "." .. k, "not a key of DeadLetterConfig (TargetArn)") end
    end
    if dlq.TargetArn ~= nil then
      local target = self:destination_of_arn(dlq.TargetArn, where, where .. ".TargetArn")
      if target and target.type ~= "SQS" then
        self:fail(where .. ".TargetArn", "%s: a dead-letter queue is an SQS queue (or an SNS topic)", target.type)
      end
      fn.async.dead_letter = target
    end
  end
  return fn
end

-- ---- what points at a function ----

-- The function a FunctionName, TargetFunctionArn or IntegrationUri names: its name, its ARN
-- or a partial ARN (123456789012:function:name), with or without a qualifier. Returns the
-- function's model and the qualifier (or nil).
function Loader:target_function(value, where)
  local text = self:text(value, where)
  local name, qualifier = text:match("^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+):?([^:]*)$")
  if not name then name, qualifier = text:match("^[^:]*:?function:([^:]+):?([^:]*)$") end
  if not name then name, qualifier = text:match("^([^:]+):?([^:]*)$") end
  local fn = name and self.functions_by_name[name]
  if not fn then
    local names = sorted_keys(self.functions_by_name)
    self:fail(where, "%q is not a function of this template (its functions: %s)", text,
      #names > 0 and table.concat(names, ", ") or "none")
  end
  return fn, qualifier ~= "" and qualifier or nil
end

-- ---- AWS::Lambda::EventSourceMapping ----

local MAPPING_READ = {
  EventSourceArn = true, FunctionName = true, BatchSize = true, MaximumBatchingWindowInSeconds = true,
  FunctionResponseTypes = true, Enabled = true, FilterCriteria = true, ScalingConfig = true,
}
local MAPPING_DEPLOY_ONLY = {KmsKeyArn = true, MetricsConfig = true, Tags = true, LoggingConfig = true,
                             ProvisionedPollerConfig = true}
-- Settings of stream, Kafka, MQ and DocumentDB mappings, which Lambda refuses for a queue.
local MAPPING_OTHER_SOURCES = {
  AmazonManagedKafkaEventSourceConfig = true, BisectBatchOnFunctionError = true, DestinationConfig = true,
  DocumentDBEventSourceConfig = true, MaximumRecordAgeInSeconds = true, MaximumRetryAttempts = true,
  ParallelizationFactor = true, Queues = true, SelfManagedEventSource = true,
  SelfManagedKafkaEventSourceConfig = true, SourceAccessConfigurations = true, StartingPosition = true,
  StartingPositionTimestamp = true, Topics = true, TumblingWindowInSeconds = true,
}
local SOURCE_NAMES = {kinesis = "a Kinesis stream", dynamodb = "a DynamoDB stream", kafka = "a Kafka cluster",
                      mq = "an Amazon MQ broker", rds = "a DocumentDB stream"}

function Loader:event_source_mapping(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = self:properties_of(r, base)
  self:known_keys(props, base, "AWS::Lambda::EventSourceMapping", MAPPING_READ, MAPPING_DEPLOY_ONLY, MAPPING_OTHER_SOURCES)
  -- a stream or table of the template has no ARN here: its type says what it is
  local raw = props.EventSourceArn
  local get_att = is_map(raw) and raw["Fn::GetAtt"]
  local source_id = is_list(get_att) and get_att[1] or (type(get_att) == "string" and get_att:match("^[^.]+"))
  local source_resource = type(source_id) == "string" and self.resources[source_id]
  if source_resource and source_resource.type ~= "AWS::SQS::Queue" then
    self:fail("Resources." .. logical_id, "an event source mapping for %s (%s) is not run by moonrun dev: it runs SQS queues' mappings only",
      source_id, source_resource.type)
  end
  local source = self:property(props, "EventSourceArn", base)
  local service = type(source) == "string" and source:match("^arn:[^:]+:([^:]+):")
  if service ~= "sqs" then
    local what = SOURCE_NAMES[service or ""] or (source and describe(source)) or "a self-managed Kafka cluster"
    self:fail("Resources." .. logical_id, "an event source mapping for %s is not run by moonrun dev: it runs SQS queues' mappings only", what)
  end
  for _, k in ipairs(sorted_keys(props)) do
    if MAPPING_OTHER_SOURCES[k] then
      self:fail(base .. "." .. k, "is for streams, Kafka and MQ: Lambda refuses it in an SQS queue's mapping")
    end
  end
  local target = self:property(props, "FunctionName", base)
  if target == nil then self:fail(base .. ".FunctionName", "missing (!Ref Function or !GetAtt Function.Arn)") end
  local fn = self:target_function(target, base .. ".FunctionName")
  fn.sqs_events[#fn.sqs_events + 1] = self:sqs_trigger(logical_id, props, base, "EventSourceArn")
end

-- ---- AWS::Lambda::EventInvokeConfig ----

function Loader:lambda_event_invoke_config(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = self:properties_of(r, base)
  self:known_keys(props, base, "AWS::Lambda::EventInvokeConfig", {FunctionName = true, Qualifier = true,
    MaximumRetryAttempts = true, MaximumEventAgeInSeconds = true, DestinationConfig = true})
  local target = self:property(props, "FunctionName", base)
  if target == nil then self:fail(base .. ".FunctionName", "missing (!Ref Function)") end
  local fn = self:target_function(target, base .. ".FunctionName")
  local qualifier = self:property(props, "Qualifier", base)
  if qualifier == nil then self:fail(base .. ".Qualifier", "missing ($LATEST, a version or an alias)") end
  qualifier = self:text(qualifier, base .. ".Qualifier")
  if qualifier ~= "$LATEST" then
    self:warn("Resources." .. logical_id, "Qualifier %s: moonrun dev runs only $LATEST, which this configuration is not for: ignored", qualifier)
    return
  end
  if self.where_of[fn.async] then
    self:fail("Resources." .. logical_id, "%s's $LATEST already has an invoke configuration (%s): Lambda takes one", fn.logical_id, self.where_of[fn.async])
  end
  local config = {max_retries = 2, max_age_s = 21600, dead_letter = fn.async.dead_letter}
  self.where_of[config] = "Resources." .. logical_id
  self:invoke_settings(props, base, config, nil)
  fn.async = config
end

-- ---- AWS::Lambda::Url ----

-- Recorded on the function as function_url, as SAM's FunctionUrlConfig is (function_urls.lua
-- serves it), with its logical_id and qualifier.
function Loader:lambda_url(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = self:properties_of(r, base)
  self:known_keys(props, base, "AWS::Lambda::Url", {TargetFunctionArn = true, AuthType = true, InvokeMode = true,
    Cors = true, Qualifier = true}, {FunctionArn = true, FunctionUrl = true})
  for _, k in ipairs{"FunctionArn", "FunctionUrl"} do
    if props[k] ~= nil then self:fail(base .. "." .. k, "is read-only (Fn::GetAtt gives it): remove it") end
  end
  local target = self:property(props, "TargetFunctionArn", base)
  if target == nil then self:fail(base .. ".TargetFunctionArn", "missing (!GetAtt Function.Arn)") end
  local fn = self:target_function(target, base .. ".TargetFunctionArn")
  -- the same settings as SAM's FunctionUrlConfig, read by the same code
  local url = require("moonrun.dev.function_urls").read_config(self,
    {AuthType = props.AuthType, InvokeMode = props.InvokeMode, Cors = props.Cors}, base)
  if fn.function_url then
    self:fail("Resources." .. logical_id, "%s already has a function URL (Resources.%s)", fn.logical_id,
      fn.function_url.logical_id or (fn.logical_id .. ".Properties.FunctionUrlConfig"))
  end
  local qualifier = self:property(props, "Qualifier", base)
  url.logical_id, url.qualifier = logical_id, qualifier and self:text(qualifier, base .. ".Qualifier")
  fn.function_url = url
end

-- ---- the pass over the template ----

-- CloudFormation types that only matter once deployed (roles, log groups, CDK's own
-- bookkeeping): no warning.
local QUIET = {
  ["AWS::CDK::Metadata"] = true, ["AWS::Lambda::LayerVersionPermission"] = true,
  ["AWS::ApiGatewayV2::Deployment"] = true,
}

-- Resources that would invoke a function in a way moonrun dev cannot: an error, never silence.
function Loader:cannot_run(logical_id, r)
  local at = "Resources." .. logical_id
  local props = is_map(r.body.Properties) and r.body.Properties or {}
  if r.type == "AWS::ApiGateway::RestApi" then
    self:fail(at, "a REST API written as AWS::ApiGateway resources is not run by moonrun dev: use an " ..
      "AWS::ApiGatewayV2 HTTP API or SAM Api events")
  end
  if r.type == "AWS::SNS::Subscription" and type(props.Protocol) == "string" and props.Protocol:lower() == "lambda" then
    self:fail(at, "an SNS subscription of a function is not run by moonrun dev (it runs SQS, HTTP and schedule triggers)")
  end
  if r.type == "AWS::Events::Rule" and is_list(props.Targets) then
    for i, t in ipairs(props.Targets) do
      local arn = is_map(t) and t.Arn
      if is_map(arn) then
        local fn_ref = arn.Ref or (is_list(arn["Fn::GetAtt"]) and arn["Fn::GetAtt"][1])
          or (type(arn["Fn::GetAtt"]) == "string" and arn["Fn::GetAtt"]:match("^[^.]+"))
        local target = fn_ref and self.resources[fn_ref]
        if target and (target.type == "AWS::Lambda::Function" or target.type == "AWS::Serverless::Function") then
          self:fail(string.format("%s.Properties.Targets[%d]", at, i - 1), "an EventBridge rule's function target is not run " ..
            "by moonrun dev: write the schedule as a SAM Schedule event of %s", fn_ref)
        end
      end
    end
  end
end

-- What wire_functions reads.
local WIRING = {
  ["AWS::ApiGatewayV2::Api"] = true, ["AWS::ApiGatewayV2::Integration"] = true,
  ["AWS::ApiGatewayV2::Route"] = true, ["AWS::ApiGatewayV2::Stage"] = true,
  ["AWS::Lambda::EventSourceMapping"] = true, ["AWS::Lambda::EventInvokeConfig"] = true,
  ["AWS::Lambda::Url"] = true,
}

-- After every function is read: the resources that wire them to queues, APIs and
-- destinations, each type after the ones it refers to.
function Loader:wire_functions(ids, functions)
  self.functions_by_name, self.http_apis, self.integrations = {}, {}, {}
  for _, fn in ipairs(functions) do self.functions_by_name[fn.name] = fn end
  local function each(rtype, method)
    for _, id in ipairs(ids) do
      local r = self.resources[id]
      if not r.left_out and r.type == rtype then self[method](self, id, r) end
    end
  end
  self.quick_create = {}
  each("AWS::ApiGatewayV2::Api", "v2_api")
  for _, q in ipairs(self.quick_create) do self:v2_quick_create(q.id, q.props, q.base) end
  each("AWS::ApiGatewayV2::Integration", "v2_integration")
  each("AWS::ApiGatewayV2::Route", "v2_route_resource")
  each("AWS::ApiGatewayV2::Stage", "v2_stage")
  each("AWS::Lambda::EventSourceMapping", "event_source_mapping")
  each("AWS::Lambda::EventInvokeConfig", "lambda_event_invoke_config")
  each("AWS::Lambda::Url", "lambda_url")
end

-- Every AWS::Lambda::Function property moonrun dev knows (for the tests, which hold it
-- against cfn-lint's schema).
local function function_properties()
  local names = {}
  for _, set in ipairs{FUNCTION_READ, FUNCTION_DEPLOY_ONLY, FUNCTION_NOT_EMULATED, FUNCTION_UNSUPPORTED} do
    for name in pairs(set) do names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

return {methods = Loader, quiet = QUIET, wiring = WIRING, function_properties = function_properties}
