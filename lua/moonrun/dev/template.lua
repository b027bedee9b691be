-- The SAM template that deploys a service, read as `moonrun dev` runs it: its functions (with
-- their HTTP and SQS events) and its queues, every intrinsic resolved to the value it would have
-- locally. Deploy-only settings are ignored; anything that would make the local run behave
-- differently from the deployed one and that moonrun dev cannot do is an error naming the file,
-- the resource and the property.
--
--   local model = template.load("bootstrap/template.yaml", {parameters = {QueueName = "q"}})
local yaml = require "moonrun.yaml"
local json = require "moonrun.json"
local base64 = require "moonrun.base64"

local M = {}

local NULL = json.null
-- What AWS::NoValue resolves to: the property (or list item) holding it disappears.
local NO_VALUE = setmetatable({}, {__name = "AWS::NoValue"})

local SUPPORTED_RUNTIMES = {["provided.al2023"] = true, ["provided.al2"] = true, provided = true}

-- Resources that cannot change how the functions and queues behave locally: no warning.
local IGNORED_QUIETLY = {
  ["AWS::Serverless::LayerVersion"] = true, ["AWS::Lambda::LayerVersion"] = true,
  ["AWS::Lambda::Permission"] = true, ["AWS::SQS::QueuePolicy"] = true,
  ["AWS::SQS::QueueInlinePolicy"] = true, ["AWS::Logs::LogGroup"] = true,
  ["AWS::CloudWatch::Alarm"] = true, ["AWS::KMS::Key"] = true, ["AWS::KMS::Alias"] = true,
}

-- AWS::Serverless::Function properties that only matter once deployed.
local FUNCTION_DEPLOY_ONLY = {
  Architectures = true, AssumeRolePolicyDocument = true, AutoPublishAlias = true,
  AutoPublishAliasAllProperties = true, AutoPublishCodeSha256 = true,
  CodeSigningConfigArn = true, DeploymentPreference = true, Description = true,
  KmsKeyArn = true, Layers = true, PermissionsBoundary = true, Policies = true,
  PropagateTags = true, RecursiveLoop = true, Role = true, RolePath = true,
  RuntimeManagementConfig = true, SnapStart = true, SourceKMSKeyArn = true, Tags = true,
  Tracing = true, VersionDescription = true, VersionDeletionPolicy = true,
}

-- Function properties that moonrun dev does not emulate: it runs without them, and says so.
local FUNCTION_NOT_EMULATED = {
  DeadLetterQueue = "asynchronous invocations are not emulated",
  EventInvokeConfig = "asynchronous invocations are not emulated",
  EphemeralStorage = "/tmp is the machine's own",
  FileSystemConfigs = "EFS is not mounted",
  FunctionUrlConfig = "no function URL is served (use the HTTP front or the invoke endpoint)",
  LoggingConfig = "logs go to the terminal in moonrun's own format",
  ProvisionedConcurrencyConfig = "concurrency is not emulated",
  ReservedConcurrentExecutions = "concurrency is not emulated",
  VpcConfig = "the function runs on this machine's network",
}

-- The ones moonrun dev reads.
local FUNCTION_READ = {
  CodeUri = true, Environment = true, Events = true, FunctionName = true, Handler = true,
  MemorySize = true, PackageType = true, Runtime = true, Timeout = true,
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

local PSEUDO = {
  ["AWS::Region"] = true, ["AWS::AccountId"] = true, ["AWS::StackName"] = true,
  ["AWS::StackId"] = true, ["AWS::Partition"] = true, ["AWS::URLSuffix"] = true,
  ["AWS::NoValue"] = true, ["AWS::NotificationARNs"] = true,
}

local function present(v)
  return v ~= nil and v ~= NULL
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function is_map(v)
  return type(v) == "table" and v ~= NULL and v ~= NO_VALUE and not json.is_array(v)
end

local function is_list(v)
  return type(v) == "table" and json.is_array(v)
end

local function list(t)
  return json.array(t or {})
end

-- The only key of a one-key mapping (an intrinsic's shape), or nil.
local function single_key(v)
  if not is_map(v) then return nil end
  local k = next(v)
  if k == nil or next(v, k) ~= nil then return nil end
  return k
end

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  if is_list(v) then return "a list" end
  if is_map(v) then return "a mapping" end
  return tostring(v)
end

-- ---- paths ----

local function dirname(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir == nil then return "." end
  if dir == "" then return "/" end
  return dir
end

-- An absolute path with no "." or ".." segments (lexically, as SAM resolves CodeUri).
local function absolute(path, cwd)
  if path:sub(1, 1) ~= "/" then path = cwd .. "/" .. path end
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      if #parts > 0 then parts[#parts] = nil end
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table.concat(parts, "/")
end

-- The working directory as the kernel knows it ($PWD is stale in a child started elsewhere).
local function current_dir()
  local pipe = io.popen("pwd -P")
  local dir = pipe and pipe:read("l")
  if pipe then pipe:close() end
  return dir or os.getenv("PWD") or "."
end

local function is_directory(path)
  local f = io.open(path .. "/", "r") -- only a directory opens with a trailing slash
  if f then f:close() end
  return f ~= nil
end

-- ---- the loader's state: one per load ----

local Loader = {}
Loader.__index = Loader

function Loader:fail(where, fmt, ...)
  local message = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  if where then error(string.format("%s: %s: %s", self.file, where, message), 0) end
  error(string.format("%s: %s", self.file, message), 0)
end

function Loader:warn(where, fmt, ...)
  local message = string.format("%s: %s", where, string.format(fmt, ...))
  if not self.warned[message] then
    self.warned[message] = true
    self.warnings[#self.warnings + 1] = message
  end
end

-- A resolved scalar as the string CloudFormation passes on.
function Loader:text(v, where)
  if type(v) == "string" then return v end
  if math.type(v) == "integer" then return string.format("%d", v) end
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then self:fail(where, "%s is not a number AWS takes", tostring(v)) end
    return tostring(v)
  end
  if type(v) == "boolean" then return tostring(v) end
  self:fail(where, "expected a string, got %s", describe(v))
end

function Loader:integer(v, where, low, high)
  local n = v
  if type(v) == "string" then n = tonumber(v) end
  if type(n) == "number" and math.type(n) == "float" and n == math.floor(n) and n > -2^53 and n < 2^53 then
    n = math.tointeger(n)
  end
  if math.type(n) ~= "integer" then self:fail(where, "expected an integer, got %s", describe(v)) end
  if (low and n < low) or (high and n > high) then
    self:fail(where, "%d is out of range (%d to %d)", n, low, high)
  end
  return n
end

function Loader:boolean(v, where)
  if type(v) == "boolean" then return v end
  if v == "true" or v == "false" then return v == "true" end
  self:fail(where, "expected true or false, got %s", describe(v))
end

-- ---- parameters ----

local function split_list(s)
  local items = {}
  for item in (s .. ","):gmatch("([^,]*),") do items[#items + 1] = item:match("^%s*(.-)%s*$") end
  return list(items)
end

function Loader:read_parameters(overrides)
  local declared = self.doc.Parameters
  if present(declared) and not is_map(declared) then self:fail("Parameters", "expected a mapping") end
  declared = present(declared) and declared or {}
  for name in pairs(overrides) do
    if declared[name] == nil then
      local names = sorted_keys(declared)
      self:fail(nil, "parameter override %s: the template has no parameter %s (it has %s)", name,
        name, #names > 0 and table.concat(names, ", ") or "none")
    end
  end
  for _, name in ipairs(sorted_keys(declared)) do
    local where = "Parameters." .. name
    local p = declared[name]
    if not is_map(p) then self:fail(where, "expected a mapping with a Type") end
    local ptype = p.Type
    if type(ptype) ~= "string" then self:fail(where .. ".Type", "missing (String, Number, CommaDelimitedList, ...)") end
    local value = overrides[name]
    if value == nil then value = p.Default end
    if not present(value) then
      self:fail(where, "no value: give it a Default, or a value as a parameter override")
    end
    if is_list(value) or is_map(value) then self:fail(where .. ".Default", "expected a string, got %s", describe(value)) end
    value = self:text(value, where)
    local allowed = p.AllowedValues
    if present(allowed) then
      local ok = false
      for _, a in ipairs(allowed) do
        if self:text(a, where .. ".AllowedValues") == value then ok = true end
      end
      if not ok then
        local names = {}
        for i, a in ipairs(allowed) do names[i] = self:text(a, where) end
        self:fail(where, "%q is not one of its AllowedValues (%s)", value, table.concat(names, ", "))
      end
    end
    if present(p.MinLength) and #value < self:integer(p.MinLength, where .. ".MinLength") then
      self:fail(where, "%q is shorter than its MinLength %s", value, tostring(p.MinLength))
    end
    if present(p.MaxLength) and #value > self:integer(p.MaxLength, where .. ".MaxLength") then
      self:fail(where, "%q is longer than its MaxLength %s", value, tostring(p.MaxLength))
    end
    local resolved = value
    if ptype == "Number" then
      local n = tonumber(value)
      if not n then self:fail(where, "%q is not a number (Type: Number)", value) end
      if present(p.MinValue) and n < tonumber(p.MinValue) then self:fail(where, "%s is below its MinValue %s", value, tostring(p.MinValue)) end
      if present(p.MaxValue) and n > tonumber(p.MaxValue) then self:fail(where, "%s is above its MaxValue %s", value, tostring(p.MaxValue)) end
    elseif ptype == "CommaDelimitedList" or ptype:match("^List<") then
      resolved = split_list(value)
    elseif ptype:match("^AWS::SSM::Parameter::Value<") then
      if overrides[name] == nil then
        self:fail(where, "Type %s reads Parameter Store, which moonrun dev does not: pass the value as a parameter override", ptype)
      end
      if ptype:match("^AWS::SSM::Parameter::Value<List<") or ptype == "AWS::SSM::Parameter::Value<CommaDelimitedList>" then
        resolved = split_list(value)
      end
    elseif ptype ~= "String" and not ptype:match("^AWS::") then
      self:fail(where .. ".Type", "%s is not a parameter type (String, Number, CommaDelimitedList, List<...>, AWS::...)", ptype)
    end
    self.parameters[name] = resolved
  end
end

function Loader:pseudo(name)
  local region = self.region
  local partition, suffix = "aws", "amazonaws.com"
  if region:match("^cn%-") then partition, suffix = "aws-cn", "amazonaws.com.cn"
  elseif region:match("^us%-gov%-") then partition = "aws-us-gov" end
  if name == "AWS::Region" then return region end
  if name == "AWS::AccountId" then return self.account end
  if name == "AWS::StackName" then return self.stack_name end
  if name == "AWS::Partition" then return partition end
  if name == "AWS::URLSuffix" then return suffix end
  if name == "AWS::NoValue" then return NO_VALUE end
  if name == "AWS::NotificationARNs" then return list() end
  if name == "AWS::StackId" then
    return string.format("arn:%s:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000",
      partition, region, self.account, self.stack_name)
  end
end

-- ---- conditions ----

function Loader:condition(name, where)
  if type(name) ~= "string" then
    self:fail(where, "a condition name must be a string, got %s%s", describe(name), type(name) == "boolean"
      and " (YAML reads an unquoted yes, no, on, off, true or false as a boolean: quote the name)" or "")
  end
  local known = self.condition_values[name]
  if known ~= nil then return known end
  local conditions = self.doc.Conditions
  if not is_map(conditions) or conditions[name] == nil then
    self:fail(where, "condition %s is not in the template's Conditions", name)
  end
  if self.evaluating[name] then self:fail("Conditions." .. name, "refers to itself (through Condition)") end
  self.evaluating[name] = true
  local value = self:condition_value(conditions[name], "Conditions." .. name)
  self.evaluating[name] = nil
  self.condition_values[name] = value
  return value
end

function Loader:condition_value(v, where)
  local fn = single_key(v)
  local args = fn and v[fn]
  if fn == "Condition" then return self:condition(args, where) end
  if fn == "Fn::Equals" then
    if not is_list(args) or #args ~= 2 then self:fail(where, "Fn::Equals takes a list of two values") end
    local a = self:resolve(args[1], where .. ".Fn::Equals[0]", "condition")
    local b = self:resolve(args[2], where .. ".Fn::Equals[1]", "condition")
    if is_list(a) or is_list(b) then
      return json.encode(a) == json.encode(b)
    end
    return self:text(a, where) == self:text(b, where)
  end
  if fn == "Fn::Not" then
    if not is_list(args) or #args ~= 1 then self:fail(where, "Fn::Not takes a list of one condition") end
    return not self:condition_value(args[1], where .. ".Fn::Not[0]")
  end
  if fn == "Fn::And" or fn == "Fn::Or" then
    if not is_list(args) or #args < 2 or #args > 10 then
      self:fail(where, "%s takes a list of 2 to 10 conditions", fn)
    end
    local all = fn == "Fn::And"
    local result = all
    for i, c in ipairs(args) do
      local value = self:condition_value(c, string.format("%s.%s[%d]", where, fn, i - 1))
      if all then result = result and value else result = result or value end
    end
    return result
  end
  self:fail(where, "a condition is Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition, not %s",
    fn or describe(v))
end

-- ---- resources: their names, for Ref and Fn::GetAtt ----

function Loader:resource(logical_id, where)
  local r = self.resources[logical_id]
  if r == nil then
    self:fail(where, "refers to %s, which is not a resource, parameter or pseudo parameter of the template", logical_id)
  end
  if r.left_out then
    self:fail(where, "refers to %s, which its condition %s leaves out", logical_id, r.condition)
  end
  return r
end

-- The physical names (queue name, function name) a resource gets, worked out once.
function Loader:identity(logical_id, where)
  local r = self:resource(logical_id, where)
  if r.identity then return r.identity end
  if r.resolving then
    self:fail("Resources." .. logical_id, "its name depends on itself (%s)", table.concat(self.chain, " -> ") .. " -> " .. logical_id)
  end
  r.resolving = true
  self.chain[#self.chain + 1] = logical_id
  local props = is_map(r.body.Properties) and r.body.Properties or {}
  local base = "Resources." .. logical_id .. ".Properties"
  local id
  if r.type == "AWS::SQS::Queue" then
    local fifo = present(props.FifoQueue) and self:boolean(self:resolve(props.FifoQueue, base .. ".FifoQueue"), base .. ".FifoQueue")
    local name
    if present(props.QueueName) then
      name = self:text(self:resolve(props.QueueName, base .. ".QueueName"), base .. ".QueueName")
    else
      name = logical_id .. (fifo and ".fifo" or "")
    end
    local stem = fifo and name:match("^(.*)%.fifo$") or name
    if fifo and not name:match("%.fifo$") then
      self:fail(base .. ".QueueName", "%q: a FIFO queue's name ends with .fifo", name)
    end
    if not fifo and name:match("%.fifo$") then
      self:fail(base .. ".QueueName", "%q ends with .fifo, but FifoQueue is not true", name)
    end
    if #name > 80 or not stem:match("^[%w_%-]+$") then
      self:fail(base .. ".QueueName", "%q is not a queue name (up to 80 letters, digits, - and _%s)", name, fifo and ", then .fifo" or "")
    end
    id = {name = name, fifo = fifo,
          arn = string.format("arn:%s:sqs:%s:%s:%s", self:pseudo("AWS::Partition"), self.region, self.account, name)}
    id.url = self.queue_url(name)
  elseif r.type == "AWS::Serverless::Function" or r.type == "AWS::Lambda::Function" then
    local name = logical_id
    if present(props.FunctionName) then
      name = self:text(self:resolve(props.FunctionName, base .. ".FunctionName"), base .. ".FunctionName")
    end
    id = {name = name, arn = string.format("arn:%s:lambda:%s:%s:function:%s", self:pseudo("AWS::Partition"), self.region, self.account, name)}
  else
    id = {name = logical_id}
  end
  self.chain[#self.chain] = nil
  r.resolving = nil
  r.identity = id
  return id
end

function Loader:ref(name, where, context)
  if type(name) ~= "string" then self:fail(where, "Ref takes a name, got %s", describe(name)) end
  if PSEUDO[name] then return self:pseudo(name) end
  if self.parameters[name] ~= nil then return self.parameters[name] end
  if context == "condition" then
    self:fail(where, "a condition can refer only to parameters and pseudo parameters, not %s", name)
  end
  local r = self:resource(name, where)
  local id = self:identity(name, where)
  if r.type == "AWS::SQS::Queue" then return id.url end
  if r.type == "AWS::Serverless::Function" or r.type == "AWS::Lambda::Function" then return id.name end
  self:warn(where, "Ref %s (%s) stands for %q locally", name, r.type, name)
  return name
end

function Loader:get_att(logical_id, attribute, where)
  if type(logical_id) ~= "string" or type(attribute) ~= "string" then
    self:fail(where, "Fn::GetAtt takes [Resource, Attribute]")
  end
  local r = self:resource(logical_id, where)
  local id = self:identity(logical_id, where)
  if r.type == "AWS::SQS::Queue" then
    if attribute == "Arn" then return id.arn end
    if attribute == "QueueUrl" then return id.url end
    if attribute == "QueueName" then return id.name end
  elseif r.type == "AWS::Serverless::Function" or r.type == "AWS::Lambda::Function" then
    if attribute == "Arn" then return id.arn end
  else
    self:fail(where, "Fn::GetAtt %s.%s: moonrun dev has no value for the attributes of %s (%s)", logical_id, attribute, logical_id, r.type)
  end
  self:fail(where, "Fn::GetAtt %s.%s: the attributes of %s (%s) that moonrun dev knows are %s", logical_id,
    attribute, logical_id, r.type, r.type == "AWS::SQS::Queue" and "Arn, QueueUrl and QueueName" or "Arn")
end

-- ---- intrinsic functions ----

function Loader:sub(args, where, context)
  local text, vars = args, {}
  if is_list(args) then
    if #args ~= 2 or type(args[1]) ~= "string" or not is_map(args[2]) then
      self:fail(where, "Fn::Sub takes a string, or a list of a string and a mapping of variables")
    end
    text = args[1]
    for _, k in ipairs(sorted_keys(args[2])) do
      vars[k] = self:text(self:resolve(args[2][k], where .. ".Fn::Sub[1]." .. k, context), where .. ".Fn::Sub[1]." .. k)
    end
  elseif type(text) ~= "string" then
    self:fail(where, "Fn::Sub takes a string, or a list of a string and a mapping of variables")
  end
  local result = text:gsub("%${([^}]*)}", function(name)
    if name:sub(1, 1) == "!" then return "${" .. name:sub(2) .. "}" end
    name = name:match("^%s*(.-)%s*$")
    if vars[name] then return vars[name] end
    local value
    local resource, attribute = name:match("^([^.]+)%.(.+)$")
    if resource and not PSEUDO[name] and self.parameters[name] == nil then
      if context == "condition" then self:fail(where, "a condition cannot use %s", name) end
      value = self:get_att(resource, attribute, where)
    else
      value = self:ref(name, where, context)
    end
    if value == NO_VALUE then self:fail(where, "Fn::Sub cannot use AWS::NoValue") end
    if is_list(value) then self:fail(where, "${%s} is a list; Fn::Sub needs a string (use Fn::Join)", name) end
    return self:text(value, where)
  end)
  return result
end

function Loader:string_list(v, where, context)
  local items = self:resolve(v, where, context)
  if not is_list(items) then self:fail(where, "expected a list, got %s", describe(items)) end
  return items
end

function Loader:intrinsic(fn, args, where, context)
  local at = where .. "." .. fn
  if fn == "Ref" then return self:ref(args, where, context) end
  if fn == "Fn::GetAtt" then
    if type(args) == "string" then
      local resource, attribute = args:match("^([^.]+)%.(.+)$")
      args = {resource, attribute}
    end
    if not is_list(args) and type(args) ~= "table" or #args ~= 2 then
      self:fail(where, "Fn::GetAtt takes [Resource, Attribute]")
    end
    if context == "condition" then self:fail(where, "a condition cannot use Fn::GetAtt") end
    local attribute = self:resolve(args[2], at, context)
    return self:get_att(args[1], attribute, where)
  end
  if fn == "Fn::Sub" then return self:sub(args, where, context) end
  if fn == "Fn::If" then
    if not is_list(args) or #args ~= 3 then self:fail(where, "Fn::If takes [Condition, ValueIfTrue, ValueIfFalse]") end
    local branch = self:condition(args[1], at) and 2 or 3
    return self:resolve(args[branch], string.format("%s[%d]", at, branch - 1), context)
  end
  if fn == "Fn::Join" then
    if not is_list(args) or #args ~= 2 then self:fail(where, "Fn::Join takes [delimiter, list]") end
    local delimiter = self:text(self:resolve(args[1], at .. "[0]", context), at .. "[0]")
    local items = self:string_list(args[2], at .. "[1]", context)
    local texts = {}
    for i, item in ipairs(items) do texts[i] = self:text(item, string.format("%s[1][%d]", at, i - 1)) end
    return table.concat(texts, delimiter)
  end
  if fn == "Fn::Select" then
    if not is_list(args) or #args ~= 2 then self:fail(where, "Fn::Select takes [index, list]") end
    local index = self:integer(self:resolve(args[1], at .. "[0]", context), at .. "[0]")
    local items = self:string_list(args[2], at .. "[1]", context)
    if index < 0 or index >= #items then
      self:fail(where, "Fn::Select index %d is out of range (the list has %d items)", index, #items)
    end
    return items[index + 1]
  end
  if fn == "Fn::Split" then
    if not is_list(args) or #args ~= 2 then self:fail(where, "Fn::Split takes [delimiter, string]") end
    local delimiter = self:text(self:resolve(args[1], at .. "[0]", context), at .. "[0]")
    local text = self:text(self:resolve(args[2], at .. "[1]", context), at .. "[1]")
    if delimiter == "" then self:fail(where, "Fn::Split needs a delimiter") end
    local items, start = {}, 1
    while true do
      local i, j = text:find(delimiter, start, true)
      if not i then break end
      items[#items + 1] = text:sub(start, i - 1)
      start = j + 1
    end
    items[#items + 1] = text:sub(start)
    return list(items)
  end
  if fn == "Fn::FindInMap" then
    if not is_list(args) or #args ~= 3 then self:fail(where, "Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]") end
    local keys = {}
    for i = 1, 3 do keys[i] = self:text(self:resolve(args[i], string.format("%s[%d]", at, i - 1), context), at) end
    local mappings = self.doc.Mappings
    local map = is_map(mappings) and mappings[keys[1]]
    if not is_map(map) then self:fail(where, "Fn::FindInMap: no mapping %s in Mappings", keys[1]) end
    local top = map[keys[2]]
    if not is_map(top) then self:fail(where, "Fn::FindInMap: mapping %s has no key %s", keys[1], keys[2]) end
    local value = top[keys[3]]
    if not present(value) then self:fail(where, "Fn::FindInMap: mapping %s.%s has no key %s", keys[1], keys[2], keys[3]) end
    return value
  end
  if fn == "Fn::Base64" then
    return base64.encode(self:text(self:resolve(args, at, context), at))
  end
  if fn == "Fn::GetAZs" then
    local region = self:resolve(args, at, context)
    if region == "" or region == NULL then region = self.region end
    region = self:text(region, at)
    return list{region .. "a", region .. "b", region .. "c"}
  end
  if fn == "Fn::ImportValue" then
    self:fail(where, "Fn::ImportValue reads another stack's export, which moonrun dev cannot: use a parameter instead")
  end
  if fn == "Fn::Equals" or fn == "Fn::Not" or fn == "Fn::And" or fn == "Fn::Or" or fn == "Condition" then
    self:fail(where, "%s belongs in the Conditions section (use Fn::If here)", fn)
  end
  self:fail(where, "%s is not supported by moonrun dev (supported: Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap, Fn::Base64, Fn::GetAZs)", fn)
end

-- The value v stands for once every intrinsic in it is evaluated; NO_VALUE for AWS::NoValue.
function Loader:resolve(v, where, context)
  if type(v) ~= "table" or v == NULL then return v end
  local fn = single_key(v)
  if fn and (fn == "Ref" or fn:match("^Fn::")) then
    return self:intrinsic(fn, v[fn], where, context)
  end
  if is_list(v) then
    local out = list()
    for i, item in ipairs(v) do
      local value = self:resolve(item, string.format("%s[%d]", where, i - 1), context)
      if value ~= NO_VALUE then out[#out + 1] = value end
    end
    return out
  end
  local out = {}
  for _, k in ipairs(sorted_keys(v)) do
    local value = self:resolve(v[k], where .. "." .. k, context)
    if value ~= NO_VALUE then out[k] = value end
  end
  return out
end

-- A property resolved; nil when absent (or AWS::NoValue).
function Loader:property(props, name, where)
  local v = props[name]
  if not present(v) then return nil end
  v = self:resolve(v, where .. "." .. name)
  if v == NO_VALUE or v == NULL then return nil end
  return v
end

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
  for _, section in ipairs(sorted_keys(globals)) do
    if section == "Api" or section == "HttpApi" then
      self:warn("Globals." .. section, "not applied locally (Auth, CORS, domains, stages): the routes come from the functions' events")
    end
  end
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
      self:fail(base .. "." .. k, "not an AWS::SQS::Queue property moonrun dev knows")
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

local function check_path(self, path, where)
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
  if present(props.Auth) then self:warn(where .. ".Auth", "authorizers are not applied locally: every request reaches the function") end
  local path = self:property(props, "Path", where)
  local method = self:property(props, "Method", where)
  if etype == "HttpApi" and path == nil and method == nil then
    -- the API's $default route, which catches what no other route matches: path and method
    -- stay nil in the model, as apigw.router expects
  else
    if path == nil then self:fail(where .. ".Path", "missing (the route's path, such as /send)") end
    if method == nil then self:fail(where .. ".Method", "missing (GET, POST, ..., or ANY)") end
    check_path(self, path, where .. ".Path")
    method = self:text(method, where .. ".Method"):upper()
    if not HTTP_METHODS[method] then
      self:fail(where .. ".Method", "%s is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY)", method)
    end
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
  return {name = name, type = etype, method = method, path = path, payload_version = payload}
end

local SQS_EVENT_PROPERTIES = {Queue = true, BatchSize = true, MaximumBatchingWindowInSeconds = true,
                              FunctionResponseTypes = true, Enabled = true, ScalingConfig = true,
                              KmsKeyArn = true, MetricsConfig = true}

function Loader:sqs_event(name, props, where)
  for _, k in ipairs(sorted_keys(props)) do
    if not SQS_EVENT_PROPERTIES[k] then
      if k == "FilterCriteria" then
        self:fail(where .. ".FilterCriteria", "event filtering is not supported by moonrun dev: filter in the handler")
      end
      self:fail(where .. "." .. k, "not a property of an SQS event that moonrun dev knows")
    end
  end
  local arn = self:property(props, "Queue", where)
  if arn == nil then self:fail(where .. ".Queue", "missing (the queue's ARN: !GetAtt Queue.Arn)") end
  arn = self:text(arn, where .. ".Queue")
  local queue_name = arn:match("^arn:[^:]+:sqs:[^:]*:[^:]*:([^:]+)$")
  if not queue_name then self:fail(where .. ".Queue", "%q is not a queue's ARN (use !GetAtt Queue.Arn)", arn) end
  local url
  for _, q in pairs(self.queue_ids) do
    if q.arn == arn then url = q.url end
  end
  if url == nil then
    url = self.queue_url(queue_name)
    self:warn(where .. ".Queue", "%s is not a queue of this template: moonrun dev polls it at %s", arn, url)
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
  if present(props.ScalingConfig) then
    self:warn(where .. ".ScalingConfig", "the trigger runs one batch at a time locally")
  end
  return {name = name, queue_arn = arn, queue_name = queue_name, queue_url = url, batch_size = batch,
          window_s = window, report_batch_item_failures = report, enabled = enabled}
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
    else
      self:fail(at, "event type %s is not supported by moonrun dev (supported: HttpApi, Api, SQS)", etype)
    end
  end
end

function Loader:code_dir(code_uri, where)
  if code_uri == nil then self:fail(where, "missing: point CodeUri at the folder that holds the handlers") end
  if is_map(code_uri) then
    self:fail(where, "an S3 location (Bucket/Key): moonrun dev runs the handlers from a folder, so point CodeUri at it (such as ../handlers)")
  end
  code_uri = self:text(code_uri, where)
  if code_uri:match("^s3://") then
    self:fail(where, "%s is in S3: moonrun dev runs the handlers from a folder, so point CodeUri at it (such as ../handlers)", code_uri)
  end
  if code_uri:match("%.zip$") or code_uri:match("%.jar$") then
    self:fail(where, "%s is an archive: moonrun dev runs the handlers from a folder, so point CodeUri at it (such as ../handlers; sam zips a folder itself)", code_uri)
  end
  local dir = absolute(code_uri, self.dir)
  if not is_directory(dir) then self:fail(where, "%s (%s) is not a folder", code_uri, dir) end
  return dir
end

function Loader:func(logical_id, r, globals)
  local base = "Resources." .. logical_id .. ".Properties"
  local own = r.body.Properties
  if present(own) and not is_map(own) then self:fail(base, "expected a mapping") end
  local props = merge_properties(globals, present(own) and own or {})
  for _, k in ipairs(sorted_keys(props)) do
    if FUNCTION_UNSUPPORTED[k] then self:fail(base .. "." .. k, FUNCTION_UNSUPPORTED[k]) end
    if not (FUNCTION_READ[k] or FUNCTION_DEPLOY_ONLY[k] or FUNCTION_NOT_EMULATED[k]) then
      self:warn(base .. "." .. k, "not a property moonrun dev knows: ignored")
    end
    if FUNCTION_NOT_EMULATED[k] and self:property(props, k, base) ~= nil then
      self:warn(base .. "." .. k, "ignored: %s", FUNCTION_NOT_EMULATED[k])
    end
  end
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
  if not SUPPORTED_RUNTIMES[runtime] then
    self:fail(base .. ".Runtime", "%s: moonrun dev runs custom-runtime functions (provided.al2023, provided.al2 or provided) with moonrun as their bootstrap", runtime)
  end
  local timeout = self:property(props, "Timeout", base)
  local memory = self:property(props, "MemorySize", base)
  local fn = {
    logical_id = logical_id, name = id.name, handler = self:text(handler, base .. ".Handler"),
    code_dir = self:code_dir(self:property(props, "CodeUri", base), base .. ".CodeUri"),
    runtime = runtime,
    timeout = timeout and self:integer(timeout, base .. ".Timeout", 1, 900) or 3,
    memory = memory and self:integer(memory, base .. ".MemorySize", 128, 10240) or 128,
    environment = {}, http_events = list(), sqs_events = list(),
  }
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
        fn.environment[k] = self:text(vars[k], base .. ".Environment.Variables." .. k)
      end
    end
  end
  local events = props.Events
  if is_intrinsic(events) then
    self:fail(base .. ".Events", "SAM reads the events as written: no %s here", single_key(events))
  end
  if present(events) then self:events(events, base .. ".Events", fn) end
  return fn
end

-- ---- the template ----

function Loader:read_resources()
  local resources = self.doc.Resources
  if not is_map(resources) then self:fail("Resources", "missing: a template has a Resources mapping") end
  for _, id in ipairs(sorted_keys(resources)) do
    local where = "Resources." .. id
    local body = resources[id]
    if not is_map(body) then self:fail(where, "expected a mapping with a Type") end
    if type(body.Type) ~= "string" then self:fail(where .. ".Type", "missing") end
    if id:match("^Fn::ForEach::") then
      self:fail(where, "Fn::ForEach (the AWS::LanguageExtensions transform) is not supported by moonrun dev")
    end
    if not id:match("^[%w]+$") then self:fail(where, "a logical ID has only letters and digits") end
    local r = {type = body.Type, body = body}
    if present(body.Condition) then
      r.condition = body.Condition
      r.left_out = not self:condition(body.Condition, where .. ".Condition")
    end
    self.resources[id] = r
  end
end

function Loader:build()
  local model = {path = self.path, dir = self.dir, queues = list(), functions = list(), warnings = self.warnings}
  local globals = self:function_globals()
  local ids = sorted_keys(self.resources)
  for _, id in ipairs(ids) do
    local r = self.resources[id]
    if not r.left_out and r.type == "AWS::SQS::Queue" then
      self.queue_ids[id] = self:identity(id, "Resources." .. id)
    end
  end
  local queue_names, function_names, routes = {}, {}, {}
  for _, id in ipairs(ids) do
    local r = self.resources[id]
    local where = "Resources." .. id
    if r.left_out then
      -- its condition leaves it out, as CloudFormation would
    elseif r.type == "AWS::SQS::Queue" then
      local q = self:queue(id, r)
      if queue_names[q.name] then self:fail(where, "queue name %s is also the name of %s", q.name, queue_names[q.name]) end
      queue_names[q.name] = id
      model.queues[#model.queues + 1] = q
    elseif r.type == "AWS::Serverless::Function" then
      local fn = self:func(id, r, globals)
      if function_names[fn.name] then self:fail(where, "function name %s is also the name of %s", fn.name, function_names[fn.name]) end
      function_names[fn.name] = id
      for _, e in ipairs(fn.http_events) do
        -- one HTTP front serves every API locally, so a route must be unique across them
        local route = e.path and (e.method .. " " .. e.path) or "$default"
        local other = routes[e.type .. " " .. route]
        if other then
          self:fail(where .. ".Properties.Events." .. e.name, "the %s route %s is also %s's", e.type, route, other)
        end
        routes[e.type .. " " .. route] = "Resources." .. id .. ".Properties.Events." .. e.name
      end
      model.functions[#model.functions + 1] = fn
    elseif r.type == "AWS::Serverless::Api" or r.type == "AWS::Serverless::HttpApi" then
      self:warn(where, "%s: its routes come from the functions' events; its own settings (Auth, CORS, domains, stages) are not applied locally", r.type)
    elseif not IGNORED_QUIETLY[r.type] and not r.type:match("^AWS::IAM::") then
      self:warn(where, "%s is not run by moonrun dev", r.type)
    end
  end
  return model
end

local function read_file(path, abs)
  local f, err = io.open(abs, "rb")
  if not f then error(string.format("cannot read the template %s: %s", path, err:gsub("^[^:]*: ", "")), 0) end
  local text = f:read("a")
  f:close()
  if not text then error(string.format("cannot read the template %s", path), 0) end
  return text
end

local function decode(text, path)
  local ok, doc = pcall(yaml.decode, text, path)
  if ok then return doc end
  -- JSON is YAML, except where YAML is stricter about whitespace (tabs): try it as JSON too
  if text:match("^%s*{") then
    local json_ok, json_doc = pcall(json.decode, text)
    if json_ok then return json_doc end
  end
  error(doc, 0)
end

function M.load(path, opts)
  opts = opts or {}
  local abs = path:sub(1, 1) == "/" and absolute(path, "/") or absolute(path, opts.cwd or current_dir())
  local self = setmetatable({
    file = path, path = abs, dir = dirname(abs),
    region = opts.region or "us-east-1", account = opts.account or "000000000000",
    stack_name = opts.stack_name or "moonrun-dev",
    parameters = {}, condition_values = {}, evaluating = {}, resources = {}, queue_ids = {},
    chain = {}, warnings = list(), warned = {},
  }, Loader)
  self.queue_url = opts.queue_url or function(name)
    return string.format("https://sqs.%s.%s/%s/%s", self.region, self:pseudo("AWS::URLSuffix"), self.account, name)
  end
  local doc = decode(read_file(path, abs), path)
  if not is_map(doc) then self:fail(nil, "a template is a mapping (AWSTemplateFormatVersion, Resources, ...)") end
  self.doc = doc
  local transform = doc.Transform
  local serverless = transform == "AWS::Serverless-2016-10-31"
  if is_list(transform) then
    for _, t in ipairs(transform) do serverless = serverless or t == "AWS::Serverless-2016-10-31" end
  end
  self:read_parameters(opts.parameters or {})
  self:read_resources()
  if not serverless then
    for id, r in pairs(self.resources) do
      if r.type:match("^AWS::Serverless::") then
        self:fail("Transform", "missing AWS::Serverless-2016-10-31, which %s (%s) needs", id, r.type)
      end
    end
  end
  return self:build()
end

-- For tests: SAM's merge of a Globals section into a resource's properties.
M.merge_globals = merge_properties

return M
