-- The resources of a SAM template that moonrun dev runs, read into its model: functions (with
-- Globals merged in, their environment and their HttpApi, Api and SQS events) and SQS queues
-- (as CreateQueue attributes), with the properties each may have and what becomes of the rest.
--
-- Its own module because what each resource type means locally is one concern, apart from
-- evaluating intrinsics (template/intrinsics.lua) and from reading the file and its sections
-- (template/init.lua). Its functions are methods of template/init.lua's Loader (self is the loader of one
-- template), which template/init.lua takes into its class.
local json = require "moonrun.json"
local values = require "moonrun.dev.template.values"
local filter = require "moonrun.dev.filter"
local cron = require "moonrun.dev.cron"

local NULL = values.NULL
local present, sorted_keys, is_map, is_list = values.present, values.sorted_keys, values.is_map, values.is_list
local list, single_key, describe = values.list, values.single_key, values.describe

-- Methods of template/init.lua's Loader.
local Loader = {}

local SUPPORTED_RUNTIMES = {["provided.al2023"] = true, ["provided.al2"] = true, provided = true}

-- AWS::Serverless::Function properties that only matter once deployed.
local FUNCTION_DEPLOY_ONLY = {
  Architectures = true, AssumeRolePolicyDocument = true, AutoPublishAlias = true,
  AutoPublishAliasAllProperties = true, AutoPublishCodeSha256 = true,
  CodeSigningConfigArn = true, DeploymentPreference = true, Description = true,
  KmsKeyArn = true, PermissionsBoundary = true, Policies = true,
  PropagateTags = true, RecursiveLoop = true, Role = true, RolePath = true,
  RuntimeManagementConfig = true, SnapStart = true, SourceKMSKeyArn = true, Tags = true,
  Tracing = true, VersionDescription = true, VersionDeletionPolicy = true,
  CapacityProviderConfig = true, FunctionScalingConfig = true, PublishToLatestPublished = true,
  TenancyConfig = true,
}

-- Function properties that moonrun dev does not emulate: it runs without them, and says so.
local FUNCTION_NOT_EMULATED = {
  EphemeralStorage = "/tmp is the machine's own",
  FileSystemConfigs = "EFS is not mounted",
  LoggingConfig = "logs go to the terminal in moonrun's own format",
  ProvisionedConcurrencyConfig = "instances start on demand (the view shows cold starts)",
  VpcConfig = "the function runs on this machine's network",
  DurableConfig = "durable executions are not emulated: each invocation runs once, as a plain one",
}

-- The ones moonrun dev reads.
local FUNCTION_READ = {
  CodeUri = true, DeadLetterQueue = true, Environment = true, EventInvokeConfig = true,
  Events = true, FunctionName = true, FunctionUrlConfig = true, Handler = true, Layers = true,
  MemorySize = true, PackageType = true, ReservedConcurrentExecutions = true, Runtime = true,
  Timeout = true,
}

local FUNCTION_UNSUPPORTED = {
  ImageUri = "container images are not supported: point CodeUri at the handlers folder",
  ImageConfig = "container images are not supported: point CodeUri at the handlers folder",
  InlineCode = "inline code is not supported: put the handler in a file under CodeUri",
}

-- AWS::SQS::Queue properties and how each becomes a CreateQueue attribute.
local QUEUE_RANGES = {
  DelaySeconds = {0, 900}, MaximumMessageSize = {1024, 1048576},
  MessageRetentionPeriod = {60, 1209600}, ReceiveMessageWaitTimeSeconds = {0, 20},
  VisibilityTimeout = {0, 43200},
}
local QUEUE_DEPLOY_ONLY = {
  KmsMasterKeyId = true, KmsDataKeyReusePeriodSeconds = true, SqsManagedSseEnabled = true,
  Tags = true,
}

-- Lambda sets these itself and refuses a function that sets them.
local RESERVED_VARIABLES = {}
for name in ([[_HANDLER _X_AMZN_TRACE_ID AWS_DEFAULT_REGION AWS_REGION AWS_EXECUTION_ENV
  AWS_LAMBDA_FUNCTION_NAME AWS_LAMBDA_FUNCTION_MEMORY_SIZE AWS_LAMBDA_FUNCTION_VERSION
  AWS_LAMBDA_INITIALIZATION_TYPE AWS_LAMBDA_LOG_GROUP_NAME AWS_LAMBDA_LOG_STREAM_NAME
  AWS_ACCESS_KEY AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
  AWS_LAMBDA_RUNTIME_API LAMBDA_TASK_ROOT LAMBDA_RUNTIME_DIR]]):gmatch("%S+") do
  RESERVED_VARIABLES[name] = true
end

local HTTP_METHODS = {
  GET = true, POST = true, PUT = true, DELETE = true, PATCH = true, HEAD = true, OPTIONS = true,
  ANY = true,
}

-- ---- Globals ----

local function is_intrinsic(v)
  local fn = single_key(v)
  return fn ~= nil and (fn == "Ref" or fn:match("^Fn::") ~= nil)
end

-- SAM's merge of Globals into a resource: a mapping merges key by key, a list is the global
-- items then the resource's, anything else (an intrinsic too) is the resource's own value.
local function merge_properties(global, own)
  if global == nil then return own end
  if own == nil then return global end
  -- an intrinsic on either side is a value, not a mapping to merge into
  if is_intrinsic(global) or is_intrinsic(own) then return own end
  if is_map(global) and is_map(own) then
    local out = {}
    for k, v in pairs(global) do out[k] = v end
    for k, v in pairs(own) do out[k] = merge_properties(global[k], v) end
    return out
  end
  if is_list(global) and is_list(own) then
    local out = list()
    for _, v in ipairs(global) do out[#out + 1] = v end
    for _, v in ipairs(own) do out[#out + 1] = v end
    return out
  end
  return own
end

function Loader:function_globals()
  local globals = self.doc.Globals
  if not present(globals) then return {} end
  if not is_map(globals) then self:fail("Globals", "expected a mapping") end
  local g = globals.Function
  if not present(g) then return {} end
  if not is_map(g) then self:fail("Globals.Function", "expected a mapping") end
  for _, k in ipairs{"Events", "FunctionName", "Policies", "Role"} do
    if g[k] ~= nil then self:fail("Globals.Function." .. k, "is not a property Globals can set (SAM sets it per function)") end
  end
  return g
end

-- ---- queues ----

local QUEUE_PROPERTIES = {
  QueueName = true, FifoQueue = true, ContentBasedDeduplication = true, DeduplicationScope = true,
  FifoThroughputLimit = true, RedrivePolicy = true, RedriveAllowPolicy = true,
}

function Loader:redrive_policy(v, where)
  local policy = v
  if type(v) == "string" then
    local ok, decoded = pcall(json.decode, v)
    if not ok or not is_map(decoded) then self:fail(where, "a JSON string must hold a mapping: %s", v) end
    policy = decoded
  elseif not is_map(v) then
    self:fail(where, "expected a mapping (deadLetterTargetArn, maxReceiveCount), got %s", describe(v))
  end
  for k in pairs(policy) do
    if k ~= "deadLetterTargetArn" and k ~= "maxReceiveCount" then
      self:fail(where .. "." .. k, "not a RedrivePolicy key (deadLetterTargetArn, maxReceiveCount)")
    end
  end
  local arn = policy.deadLetterTargetArn
  if type(arn) ~= "string" or not arn:match("^arn:[^:]+:sqs:") then
    self:fail(where .. ".deadLetterTargetArn", "expected a queue's ARN (!GetAtt Queue.Arn), got %s", describe(arn))
  end
  local count = self:integer(policy.maxReceiveCount, where .. ".maxReceiveCount", 1, 1000)
  return string.format('{"deadLetterTargetArn":%s,"maxReceiveCount":%d}', json.encode(arn), count)
end

function Loader:queue(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = r.body.Properties
  if present(props) and not is_map(props) then self:fail(base, "expected a mapping") end
  props = present(props) and props or {}
  for _, k in ipairs(sorted_keys(props)) do
    if not (QUEUE_PROPERTIES[k] or QUEUE_RANGES[k] or QUEUE_DEPLOY_ONLY[k]) then
      self:fail(base .. "." .. k, "not an AWS::SQS::Queue property moonrun dev knows%s",
        values.suggestion(k, QUEUE_PROPERTIES, QUEUE_RANGES, QUEUE_DEPLOY_ONLY))
    end
  end
  local id = self:identity(logical_id, base)
  local attributes = {}
  for _, k in ipairs(sorted_keys(QUEUE_RANGES)) do
    local v = self:property(props, k, base)
    if v ~= nil then
      local range = QUEUE_RANGES[k]
      attributes[k] = string.format("%d", self:integer(v, base .. "." .. k, range[1], range[2]))
    end
  end
  if id.fifo then attributes.FifoQueue = "true" end
  local fifo_only = {ContentBasedDeduplication = "boolean", DeduplicationScope = {messageGroup = true, queue = true},
                     FifoThroughputLimit = {perMessageGroupId = true, perQueue = true}}
  for _, k in ipairs(sorted_keys(fifo_only)) do
    local v = self:property(props, k, base)
    if v ~= nil then
      if not id.fifo then self:fail(base .. "." .. k, "only a FIFO queue (FifoQueue: true) takes it") end
      if fifo_only[k] == "boolean" then
        attributes[k] = tostring(self:boolean(v, base .. "." .. k))
      else
        v = self:text(v, base .. "." .. k)
        if not fifo_only[k][v] then
          self:fail(base .. "." .. k, "%q is not one of %s", v, table.concat(sorted_keys(fifo_only[k]), ", "))
        end
        attributes[k] = v
      end
    end
  end
  local redrive = self:property(props, "RedrivePolicy", base)
  if redrive ~= nil then attributes.RedrivePolicy = self:redrive_policy(redrive, base .. ".RedrivePolicy") end
  local allow = self:property(props, "RedriveAllowPolicy", base)
  if allow ~= nil then
    attributes.RedriveAllowPolicy = type(allow) == "string" and allow or json.encode(allow)
  end
  return {logical_id = logical_id, name = id.name, fifo = id.fifo, arn = id.arn, url = id.url,
          attributes = attributes}
end

-- ---- functions ----

-- A route's path: each {parameter} a whole segment, a greedy {name+} the last one.
function Loader:route_path(path, where)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    self:fail(where, "a path starts with /, got %s", describe(path))
  end
  local segments = {}
  for segment in path:gmatch("[^/]+") do segments[#segments + 1] = segment end
  for i, segment in ipairs(segments) do
    if segment:find("[{}]") then
      local name = segment:match("^{([%w_%-]+)%+?}$")
      if not name then
        self:fail(where, "%q: a path parameter is a whole segment, {name} or {name+}", path)
      end
      if segment:sub(-2) == "+}" and i ~= #segments then
        self:fail(where, "%q: a greedy parameter {%s+} must be the last segment", path, name)
      end
    end
  end
end

function Loader:route_method(method, where)
  method = method:upper()
  if not HTTP_METHODS[method] then
    self:fail(where, "%s is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY)", method)
  end
  return method
end

local HTTP_EVENT_PROPERTIES = {
  HttpApi = {Path = true, Method = true, PayloadFormatVersion = true, ApiId = true, Auth = true,
             RouteSettings = true, TimeoutInMillis = true},
  Api = {Path = true, Method = true, RestApiId = true, Auth = true, RequestModel = true,
         RequestParameters = true, TimeoutInMillis = true},
}

function Loader:http_event(name, etype, props, where)
  for _, k in ipairs(sorted_keys(props)) do
    if not HTTP_EVENT_PROPERTIES[etype][k] then
      self:fail(where .. "." .. k, "not a property of a %s event that moonrun dev knows", etype)
    end
  end
  -- its API (CORS) and authorizer, checked here so that a wrong name fails the start
  local edge = self:event_api(etype, props, where, self.api_models)
  local path = self:property(props, "Path", where)
  local method = self:property(props, "Method", where)
  if etype == "HttpApi" and path == nil and method == nil then -- luacheck: ignore 542 (see below)
    -- the API's $default route, which catches what no other route matches: path and method
    -- stay nil in the model, as apigw.router expects
  else
    if path == nil then self:fail(where .. ".Path", "missing (the route's path, such as /send)") end
    if method == nil then self:fail(where .. ".Method", "missing (GET, POST, ..., or ANY)") end
    self:route_path(path, where .. ".Path")
    method = self:route_method(self:text(method, where .. ".Method"), where .. ".Method")
  end
  local payload = etype == "Api" and "1.0" or "2.0"
  local version = self:property(props, "PayloadFormatVersion", where)
  if version ~= nil then
    version = self:text(version, where .. ".PayloadFormatVersion")
    if version ~= "1.0" and version ~= "2.0" then
      self:fail(where .. ".PayloadFormatVersion", "%q is not 1.0 or 2.0", version)
    end
    payload = version
  end
  return {name = name, type = etype, method = method, path = path, payload_version = payload,
          api = edge.api, authorizer = edge.authorizer, scopes = edge.scopes}
end

local SQS_EVENT_PROPERTIES = {Queue = true, BatchSize = true, MaximumBatchingWindowInSeconds = true,
                              FunctionResponseTypes = true, Enabled = true, ScalingConfig = true,
                              KmsKeyArn = true, MetricsConfig = true, FilterCriteria = true}

-- FilterCriteria: {Filters: [{Pattern: JSON text}, ...]}, each pattern checked here so that a
-- mistake is an error at start, not a trigger that drops every message.
function Loader:filter_criteria(props, where)
  local criteria = self:property(props, "FilterCriteria", where)
  if criteria == nil then return nil end
  local at = where .. ".FilterCriteria"
  if not is_map(criteria) then self:fail(at, "expected a mapping with Filters") end
  for k in pairs(criteria) do
    if k ~= "Filters" then self:fail(at .. "." .. k, "not a key of FilterCriteria (Filters)") end
  end
  local filters = self:property(criteria, "Filters", at)
  if filters == nil then return nil end
  if not is_list(filters) then self:fail(at .. ".Filters", "expected a list of {Pattern: ...}") end
  local texts = list()
  for i, f in ipairs(filters) do
    local fat = string.format("%s.Filters[%d]", at, i - 1)
    if not is_map(f) then self:fail(fat, "expected a mapping with Pattern") end
    for k in pairs(f) do
      if k ~= "Pattern" then self:fail(fat .. "." .. k, "not a key of a filter (Pattern)") end
    end
    local pattern = self:property(f, "Pattern", fat)
    if pattern == nil then self:fail(fat .. ".Pattern", "missing (a JSON object, such as '{\"body\": {\"kind\": [\"order\"]}}')") end
    if type(pattern) ~= "string" then
      self:fail(fat .. ".Pattern", "is JSON text, as CloudFormation takes it: quote it, such as '{\"body\": {\"kind\": [\"order\"]}}'")
    end
    local ok, why = filter.compile(pattern)
    if not ok then self:fail(fat .. ".Pattern", "%s", why) end
    texts[#texts + 1] = pattern
  end
  if #texts > filter.MAX_PATTERNS then
    self:fail(at .. ".Filters", "%d patterns: Lambda takes at most %d", #texts, filter.MAX_PATTERNS)
  end
  return texts
end

function Loader:sqs_event(name, props, where)
  for _, k in ipairs(sorted_keys(props)) do
    if not SQS_EVENT_PROPERTIES[k] then
      self:fail(where .. "." .. k, "not a property of an SQS event that moonrun dev knows")
    end
  end
  return self:sqs_trigger(name, props, where, "Queue")
end

-- An SQS trigger's settings, as SAM's SQS event and CloudFormation's EventSourceMapping both
-- hold them (the queue's ARN under arn_key: Queue or EventSourceArn); where names the
-- properties in errors, and stays in the model for the checks made once every resource is read.
function Loader:sqs_trigger(name, props, where, arn_key)
  local arn = self:property(props, arn_key, where)
  if arn == nil then self:fail(where .. "." .. arn_key, "missing (the queue's ARN: !GetAtt Queue.Arn)") end
  arn = self:text(arn, where .. "." .. arn_key)
  local queue_name = arn:match("^arn:[^:]+:sqs:[^:]*:[^:]*:([^:]+)$")
  if not queue_name then self:fail(where .. "." .. arn_key, "%q is not a queue's ARN (use !GetAtt Queue.Arn)", arn) end
  local url
  for _, q in pairs(self.queue_ids) do
    if q.arn == arn then url = q.url end
  end
  if url == nil then
    url = self.queue_url(queue_name)
    self:warn(where .. "." .. arn_key, "%s is not a queue of this template: moonrun dev polls it at %s", arn, url)
  end
  local fifo = queue_name:match("%.fifo$") ~= nil
  local window = self:property(props, "MaximumBatchingWindowInSeconds", where)
  window = window and self:integer(window, where .. ".MaximumBatchingWindowInSeconds", 0, 300) or 0
  if fifo and window > 0 then
    self:fail(where .. ".MaximumBatchingWindowInSeconds", "a FIFO queue's trigger takes no batching window")
  end
  local batch = self:property(props, "BatchSize", where)
  batch = batch and self:integer(batch, where .. ".BatchSize", 1, fifo and 10 or 10000) or 10
  if batch > 10 and window < 1 then
    self:fail(where .. ".BatchSize", "%d is more than 10, which needs MaximumBatchingWindowInSeconds of at least 1", batch)
  end
  local report = false
  local types = self:property(props, "FunctionResponseTypes", where)
  if types ~= nil then
    if not is_list(types) then self:fail(where .. ".FunctionResponseTypes", "expected a list") end
    for i, t in ipairs(types) do
      if t ~= "ReportBatchItemFailures" then
        self:fail(string.format("%s.FunctionResponseTypes[%d]", where, i - 1), "%s is not ReportBatchItemFailures", describe(t))
      end
      report = true
    end
  end
  local enabled = self:property(props, "Enabled", where)
  enabled = enabled == nil or self:boolean(enabled, where .. ".Enabled")
  local max_concurrency
  local scaling = self:property(props, "ScalingConfig", where)
  if scaling ~= nil then
    if not is_map(scaling) then self:fail(where .. ".ScalingConfig", "expected a mapping with MaximumConcurrency") end
    for k in pairs(scaling) do
      if k ~= "MaximumConcurrency" then
        self:fail(where .. ".ScalingConfig." .. k, "not a key of ScalingConfig (MaximumConcurrency)")
      end
    end
    local n = self:property(scaling, "MaximumConcurrency", where .. ".ScalingConfig")
    if n ~= nil then max_concurrency = self:integer(n, where .. ".ScalingConfig.MaximumConcurrency", 2, 1000) end
  end
  local trigger = {name = name, queue_arn = arn, queue_name = queue_name, queue_url = url, batch_size = batch,
          window_s = window, report_batch_item_failures = report, enabled = enabled,
          max_concurrency = max_concurrency, filters = self:filter_criteria(props, where)}
  self.where_of[trigger] = where .. "." .. arn_key
  return trigger
end

-- ---- asynchronous invocations: EventInvokeConfig and DeadLetterQueue ----

-- Where a destination's ARN leads locally: {type = "SQS", arn, queue_name} or {type = "Lambda",
-- arn, function_name}; another type is kept for a warning.
local DESTINATION_TYPES = {SQS = true, SNS = true, Lambda = true, EventBridge = true, S3 = true}

function Loader:destination(props, where, type_key, arn_key)
  if not is_map(props) then self:fail(where, "expected a mapping with %s and %s", type_key, arn_key) end
  for k in pairs(props) do
    if k ~= type_key and k ~= arn_key then self:fail(where .. "." .. k, "not a key of it (%s, %s)", type_key, arn_key) end
  end
  local kind = self:property(props, type_key, where)
  if kind == nil then self:fail(where .. "." .. type_key, "missing (SQS, SNS, Lambda, EventBridge or S3)") end
  kind = self:text(kind, where .. "." .. type_key)
  if not DESTINATION_TYPES[kind] then
    self:fail(where .. "." .. type_key, "%s is not SQS, SNS, Lambda, EventBridge or S3", kind)
  end
  local arn = self:property(props, arn_key, where)
  if arn == nil then self:fail(where .. "." .. arn_key, "missing (the destination's ARN, such as !GetAtt Queue.Arn)") end
  return self:destination_at(kind, self:text(arn, where .. "." .. arn_key), where, where .. "." .. arn_key)
end

-- The service in an ARN names a destination's type where CloudFormation's own shape
-- (AWS::Lambda::EventInvokeConfig, DeadLetterConfig) has no Type key.
local ARN_SERVICES = {sqs = "SQS", sns = "SNS", lambda = "Lambda", events = "EventBridge", s3 = "S3"}

function Loader:destination_of_arn(arn, where, at)
  arn = self:text(arn, at)
  local kind = ARN_SERVICES[arn:match("^arn:[^:]+:([^:]+):") or ""]
  if not kind then self:fail(at, "%q is not the ARN of a queue, topic, function, event bus or bucket", arn) end
  return self:destination_at(kind, arn, where, at)
end

-- A destination of kind at arn: where names the destination in errors, at its ARN.
function Loader:destination_at(kind, arn, where, at)
  local out = {type = kind, arn = arn}
  if kind == "SQS" then
    out.queue_name = arn:match("^arn:[^:]+:sqs:[^:]*:[^:]*:([^:]+)$")
    if not out.queue_name then self:fail(at, "%q is not a queue's ARN (use !GetAtt Queue.Arn)", arn) end
    if out.queue_name:match("%.fifo$") then
      self:fail(at, "%s is a FIFO queue: Lambda sends asynchronous invocation records to standard queues only", out.queue_name)
    end
  elseif kind == "Lambda" then
    out.function_name = arn:match("^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)")
    if not out.function_name then self:fail(at, "%q is not a function's ARN (use !GetAtt Function.Arn)", arn) end
  else
    self:warn(where, "a %s destination is not emulated: nothing is sent there", kind)
    return nil
  end
  return out
end

-- MaximumRetryAttempts, MaximumEventAgeInSeconds and DestinationConfig into config. A
-- destination is {Type, Destination} in SAM (type_key "Type"), {Destination} in CloudFormation
-- (type_key nil: the ARN says).
function Loader:invoke_settings(eic, where, config, type_key)
  local retries = self:property(eic, "MaximumRetryAttempts", where)
  if retries ~= nil then config.max_retries = self:integer(retries, where .. ".MaximumRetryAttempts", 0, 2) end
  local age = self:property(eic, "MaximumEventAgeInSeconds", where)
  if age ~= nil then config.max_age_s = self:integer(age, where .. ".MaximumEventAgeInSeconds", 60, 21600) end
  local destinations = self:property(eic, "DestinationConfig", where)
  if destinations == nil then return end
  local at = where .. ".DestinationConfig"
  if not is_map(destinations) then self:fail(at, "expected a mapping with OnSuccess and/or OnFailure") end
  for k in pairs(destinations) do
    if k ~= "OnSuccess" and k ~= "OnFailure" then self:fail(at .. "." .. k, "not a key of DestinationConfig (OnSuccess, OnFailure)") end
  end
  for key, field in pairs{OnSuccess = "on_success", OnFailure = "on_failure"} do
    local d = self:property(destinations, key, at)
    if d ~= nil and type_key then
      config[field] = self:destination(d, at .. "." .. key, type_key, "Destination")
    elseif d ~= nil then
      local dat = at .. "." .. key
      if not is_map(d) then self:fail(dat, "expected a mapping with Destination") end
      for k in pairs(d) do
        if k ~= "Destination" then self:fail(dat .. "." .. k, "not a key of it (Destination)") end
      end
      local arn = self:property(d, "Destination", dat)
      if arn == nil then self:fail(dat .. ".Destination", "missing (the destination's ARN, such as !GetAtt Queue.Arn)") end
      config[field] = self:destination_of_arn(arn, dat, dat .. ".Destination")
    end
  end
end

function Loader:event_invoke_config(props, base)
  local config = {max_retries = 2, max_age_s = 21600}
  local where = base .. ".EventInvokeConfig"
  local eic = self:property(props, "EventInvokeConfig", base)
  if eic ~= nil then
    self.where_of[config] = where -- one per function: an AWS::Lambda::EventInvokeConfig may not add another
    if not is_map(eic) then self:fail(where, "expected a mapping") end
    for k in pairs(eic) do
      if k ~= "MaximumRetryAttempts" and k ~= "MaximumEventAgeInSeconds" and k ~= "DestinationConfig" then
        self:fail(where .. "." .. k, "not a key of EventInvokeConfig (MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig)")
      end
    end
    self:invoke_settings(eic, where, config, "Type")
  end
  local dlq = self:property(props, "DeadLetterQueue", base)
  if dlq ~= nil then
    config.dead_letter = self:destination(dlq, base .. ".DeadLetterQueue", "Type", "TargetArn")
    if config.dead_letter and config.dead_letter.type ~= "SQS" then
      self:fail(base .. ".DeadLetterQueue.Type", "%s: a dead-letter queue is an SQS queue (or an SNS topic)", config.dead_letter.type)
    end
  end
  return config
end

-- ---- schedules: Schedule (an EventBridge rule) and ScheduleV2 (EventBridge Scheduler) ----

local SCHEDULE_PROPERTIES = {
  Schedule = {Schedule = true, Input = true, Enabled = true, State = true, Name = true, Description = true,
              DeadLetterConfig = "failed deliveries are the function's own asynchronous retries here",
              RetryPolicy = "failed deliveries are the function's own asynchronous retries here"},
  ScheduleV2 = {ScheduleExpression = true, Input = true, State = true, Name = true, Description = true,
                GroupName = true, KmsKeyArn = true, OmitName = true, PermissionsBoundary = true, RoleArn = true,
                ScheduleExpressionTimezone = "schedules run in UTC locally",
                FlexibleTimeWindow = "the schedule fires on time locally",
                StartDate = "the schedule runs whenever moonrun dev does", EndDate = "the schedule runs whenever moonrun dev does",
                DeadLetterConfig = "failed deliveries are the function's own asynchronous retries here",
                RetryPolicy = "failed deliveries are the function's own asynchronous retries here"},
}

function Loader:schedule_event(name, etype, props, where, fn_id)
  local known = SCHEDULE_PROPERTIES[etype]
  for _, k in ipairs(sorted_keys(props)) do
    if not known[k] then self:fail(where .. "." .. k, "not a property of a %s event that moonrun dev knows", etype) end
    if type(known[k]) == "string" and self:property(props, k, where) ~= nil then
      if not (k == "ScheduleExpressionTimezone" and self:property(props, k, where) == "UTC") then
        self:warn(where .. "." .. k, "ignored: %s", known[k])
      end
    end
  end
  local key = etype == "Schedule" and "Schedule" or "ScheduleExpression"
  local text = self:property(props, key, where)
  if text == nil then self:fail(where .. "." .. key, "missing (such as rate(5 minutes) or cron(0 12 * * ? *))") end
  text = self:text(text, where .. "." .. key)
  local expression, why = cron.parse(text, {at = etype == "ScheduleV2"})
  if not expression then self:fail(where .. "." .. key, "%s", why) end
  local input = self:property(props, "Input", where)
  if input ~= nil then
    input = self:text(input, where .. ".Input")
    local ok, decoded = pcall(json.decode, input)
    if not ok or type(decoded) ~= "table" then
      self:fail(where .. ".Input", "is the event, as JSON text: quote it, such as '{\"job\": \"report\"}'")
    end
  end
  local enabled = true
  local flag = self:property(props, "Enabled", where)
  if flag ~= nil then enabled = self:boolean(flag, where .. ".Enabled") end
  local state = self:property(props, "State", where)
  if state ~= nil then
    state = self:text(state, where .. ".State")
    if state ~= "ENABLED" and state ~= "DISABLED" then self:fail(where .. ".State", "%s is not ENABLED or DISABLED", state) end
    if flag ~= nil then self:fail(where .. ".State", "Enabled and State together: SAM takes one") end
    enabled = state == "ENABLED"
  end
  local rule = self:property(props, "Name", where)
  rule = rule and self:text(rule, where .. ".Name") or (fn_id .. name)
  return {name = name, type = etype, expression = text, input = input, enabled = enabled, rule_name = rule}
end

function Loader:events(events, where, fn)
  if not is_map(events) then self:fail(where, "expected a mapping of events") end
  for _, name in ipairs(sorted_keys(events)) do
    local at = where .. "." .. name
    local event = events[name]
    if not is_map(event) then self:fail(at, "expected a mapping with Type and Properties") end
    local etype = self:resolve(event.Type, at .. ".Type")
    if type(etype) ~= "string" then self:fail(at .. ".Type", "missing") end
    local props = present(event.Properties) and event.Properties or {}
    if is_intrinsic(props) then
      self:fail(at .. ".Properties", "SAM reads an event's properties as written: no %s here", single_key(props))
    end
    if not is_map(props) then self:fail(at .. ".Properties", "expected a mapping") end
    for k in pairs(event) do
      if k ~= "Type" and k ~= "Properties" then self:fail(at .. "." .. k, "not a key of an event (Type, Properties)") end
    end
    if etype == "HttpApi" or etype == "Api" then
      fn.http_events[#fn.http_events + 1] = self:http_event(name, etype, props, at .. ".Properties")
    elseif etype == "SQS" then
      fn.sqs_events[#fn.sqs_events + 1] = self:sqs_event(name, props, at .. ".Properties")
    elseif etype == "Schedule" or etype == "ScheduleV2" then
      fn.schedule_events = fn.schedule_events or list()
      fn.schedule_events[#fn.schedule_events + 1] = self:schedule_event(name, etype, props, at .. ".Properties", fn.logical_id)
    else
      self:fail(at, "event type %s is not supported by moonrun dev (supported: HttpApi, Api, SQS, Schedule, ScheduleV2)", etype)
    end
  end
end


-- What SAM's and CloudFormation's functions both have: the package type, name, handler, runtime
-- (one of runtimes), timeout, memory and reserved concurrency. code_dir: a function that finds
-- the code's folder (after the checks above it, so their errors come first).
function Loader:function_common(logical_id, props, base, runtimes, code_dir)
  local package_type = self:property(props, "PackageType", base)
  if package_type ~= nil and package_type ~= "Zip" then
    self:fail(base .. ".PackageType", "%s is not supported: moonrun dev runs Zip functions", describe(package_type))
  end
  local id = self:identity(logical_id, base)
  local handler = self:property(props, "Handler", base)
  if handler == nil then self:fail(base .. ".Handler", "missing (such as send_messages.handler)") end
  local runtime = self:property(props, "Runtime", base)
  if runtime == nil then self:fail(base .. ".Runtime", "missing (provided.al2023)") end
  runtime = self:text(runtime, base .. ".Runtime")
  if not runtimes[runtime] then
    local names = sorted_keys(runtimes)
    table.sort(names, function(a, b) return #a > #b end) -- provided.al2023 first
    self:fail(base .. ".Runtime", "%s: moonrun dev runs custom-runtime functions (%s or %s) with moonrun as their bootstrap",
      runtime, table.concat(names, ", ", 1, #names - 1), names[#names])
  end
  local timeout = self:property(props, "Timeout", base)
  local memory = self:property(props, "MemorySize", base)
  local reserved = self:property(props, "ReservedConcurrentExecutions", base)
  return {
    logical_id = logical_id, name = id.name, handler = self:text(handler, base .. ".Handler"),
    code_dir = code_dir(), runtime = runtime,
    timeout = timeout and self:integer(timeout, base .. ".Timeout", 1, 900) or 3,
    memory = memory and self:integer(memory, base .. ".MemorySize", 128, 10240) or 128,
    -- 0 is allowed, as on Lambda: every invocation is throttled
    reserved_concurrency = reserved and self:integer(reserved, base .. ".ReservedConcurrentExecutions", 0, 1000),
    environment = {}, http_events = list(), sqs_events = list(),
  }
end

function Loader:func(logical_id, r, globals)
  local base = "Resources." .. logical_id .. ".Properties"
  local own = r.body.Properties
  if present(own) and not is_map(own) then self:fail(base, "expected a mapping") end
  local props = merge_properties(globals, present(own) and own or {})
  for _, k in ipairs(sorted_keys(props)) do
    if FUNCTION_UNSUPPORTED[k] then self:fail(base .. "." .. k, FUNCTION_UNSUPPORTED[k]) end
    if not (FUNCTION_READ[k] or FUNCTION_DEPLOY_ONLY[k] or FUNCTION_NOT_EMULATED[k]) then
      -- SAM refuses it too: a typo (Enviroment) would otherwise leave the function running without it
      self:fail(base .. "." .. k, "not an AWS::Serverless::Function property%s",
        values.suggestion(k, FUNCTION_READ, FUNCTION_DEPLOY_ONLY, FUNCTION_NOT_EMULATED, FUNCTION_UNSUPPORTED))
    end
    if FUNCTION_NOT_EMULATED[k] and self:property(props, k, base) ~= nil then
      self:warn(base .. "." .. k, "ignored: %s", FUNCTION_NOT_EMULATED[k])
    end
  end
  local fn = self:function_common(logical_id, props, base, SUPPORTED_RUNTIMES,
    function() return self:code_dir(self:property(props, "CodeUri", base), base .. ".CodeUri") end)
  fn.async = self:event_invoke_config(props, base)
  local url_config = self:property(props, "FunctionUrlConfig", base)
  if url_config ~= nil then
    fn.function_url = require("moonrun.dev.function_urls").read_config(self, url_config, base .. ".FunctionUrlConfig")
  end
  fn.environment = self:environment(props, base)
  fn.layer_dirs = self:layer_dirs(props, base)
  local events = props.Events
  if is_intrinsic(events) then
    self:fail(base .. ".Events", "SAM reads the events as written: no %s here", single_key(events))
  end
  if present(events) then self:events(events, base .. ".Events", fn) end
  return fn
end

-- Environment.Variables, as SAM's and CloudFormation's functions both have it.
function Loader:environment(props, base)
  local environment = {}
  local env = self:property(props, "Environment", base)
  if env ~= nil then
    if not is_map(env) then self:fail(base .. ".Environment", "expected a mapping with Variables") end
    for k in pairs(env) do
      if k ~= "Variables" then self:fail(base .. ".Environment." .. k, "not a key of Environment (Variables)") end
    end
    local vars = env.Variables
    if vars ~= nil and vars ~= NULL then
      if not is_map(vars) then self:fail(base .. ".Environment.Variables", "expected a mapping") end
      for _, k in ipairs(sorted_keys(vars)) do
        if not k:match("^%a[%w_]+$") then
          self:fail(base .. ".Environment.Variables." .. k, "not an environment variable name (a letter, then one or more letters, digits and _)")
        end
        if RESERVED_VARIABLES[k] then
          self:fail(base .. ".Environment.Variables." .. k, "Lambda reserves %s and sets it itself", k)
        end
        environment[k] = self:text(vars[k], base .. ".Environment.Variables." .. k)
      end
    end
  end
  return environment
end

-- Every AWS::Serverless::Function property moonrun dev knows, in whatever way (for the tests,
-- which hold it against SAM's own list).
local function function_properties()
  local names = {}
  for _, set in ipairs{FUNCTION_READ, FUNCTION_DEPLOY_ONLY, FUNCTION_NOT_EMULATED, FUNCTION_UNSUPPORTED} do
    for name in pairs(set) do names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

return {methods = Loader, merge_properties = merge_properties, function_properties = function_properties}
