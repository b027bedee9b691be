-- The template that deploys a service (SAM, or plain CloudFormation and CDK's), read as
-- `moonrun dev` runs it: its functions (with their HTTP and SQS triggers) and its queues, every
-- intrinsic resolved to the value it would have locally. Deploy-only settings are ignored;
-- anything that would make the local run behave differently from the deployed one and that
-- moonrun dev cannot do is an error naming the file, the resource and the property.
--
--   local model = template.load("bootstrap/template.yaml", {parameters = {QueueName = "q"}})
--
-- This file reads the file, its Parameters and Resources, and builds the model; the rest is in
-- modules of their own: template/intrinsics.lua (Ref, Fn::*, conditions), template/resources.lua
-- (SAM's functions, events, queues, Globals), template/apis.lua (SAM's APIs: their CORS and
-- authorizers), template/cfn.lua (CloudFormation's Lambda resources, CDK's assets),
-- template/http_api.lua (AWS::ApiGatewayV2 HTTP APIs), template/layers.lua (the layers
-- mounted) and template/values.lua (the shapes of values).
local yaml = require "moonrun.yaml"
local json = require "moonrun.json"
local values = require "moonrun.dev.template.values"
local intrinsics = require "moonrun.dev.template.intrinsics"
local resources = require "moonrun.dev.template.resources"
local apis = require "moonrun.dev.template.apis"
local cfn = require "moonrun.dev.template.cfn"
local http_api = require "moonrun.dev.template.http_api"
local layers = require "moonrun.dev.template.layers"

local M = {}

local present, sorted_keys, is_map, is_list = values.present, values.sorted_keys, values.is_map, values.is_list
local list, describe = values.list, values.describe

-- Resources that cannot change how the functions and queues behave locally: no warning.
local IGNORED_QUIETLY = {
  ["AWS::Serverless::LayerVersion"] = true, ["AWS::Lambda::LayerVersion"] = true,
  ["AWS::Lambda::Permission"] = true, ["AWS::SQS::QueuePolicy"] = true,
  ["AWS::SQS::QueueInlinePolicy"] = true, ["AWS::Logs::LogGroup"] = true,
  ["AWS::CloudWatch::Alarm"] = true, ["AWS::KMS::Key"] = true, ["AWS::KMS::Alias"] = true,
}

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

-- ---- paths: the folder a function's CodeUri names ----

-- key: the property that names it (CodeUri in SAM, Code or Content in CloudFormation).
function Loader:code_dir(code_uri, where, key)
  key = key or "CodeUri"
  local hint = string.format("point %s at it (such as %s)", key, key == "CodeUri" and "../handlers" or "./src")
  if code_uri == nil then self:fail(where, "missing: point %s at the folder that holds the handlers", key) end
  if is_map(code_uri) then
    self:fail(where, "an S3 location (Bucket/Key): moonrun dev runs the handlers from a folder, so %s", hint)
  end
  code_uri = self:text(code_uri, where)
  if code_uri:match("^s3://") then
    self:fail(where, "%s is in S3: moonrun dev runs the handlers from a folder, so %s", code_uri, hint)
  end
  if code_uri:match("%.zip$") or code_uri:match("%.jar$") then
    self:fail(where, "%s is an archive: moonrun dev runs the handlers from a folder, so %s; %s zips a folder itself)",
      code_uri, hint:sub(1, -2), key == "CodeUri" and "sam" or "aws cloudformation package")
  end
  local dir = absolute(code_uri, self.dir)
  if not is_directory(dir) then self:fail(where, "%s (%s) is not a folder", code_uri, dir) end
  return dir
end

function Loader:is_folder(path)
  return is_directory(path)
end

-- The resolving of values (template/intrinsics.lua) and the reading of functions and queues
-- (template/resources.lua) are methods of the loader too.
for _, part in ipairs{intrinsics, resources, apis, cfn, http_api, layers} do
  for name, method in pairs(part.methods) do Loader[name] = method end
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
        -- an error only where it is used: CDK declares BootstrapVersion this way for its Rules,
        -- which nothing local reads
        self.unread_parameters[name] = ptype
        goto next_parameter
      end
      if ptype:match("^AWS::SSM::Parameter::Value<List<") or ptype == "AWS::SSM::Parameter::Value<CommaDelimitedList>" then
        resolved = split_list(value)
      end
    elseif ptype ~= "String" and not ptype:match("^AWS::") then
      self:fail(where .. ".Type", "%s is not a parameter type (String, Number, CommaDelimitedList, List<...>, AWS::...)", ptype)
    end
    self.parameters[name] = resolved
    ::next_parameter::
  end
end

-- ---- the template ----

function Loader:read_resources()
  local declared = self.doc.Resources
  if not is_map(declared) then self:fail("Resources", "missing: a template has a Resources mapping") end
  for _, id in ipairs(sorted_keys(declared)) do
    local where = "Resources." .. id
    local body = declared[id]
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
  self.api_models = self:apis(resources.merge_properties)
  model.apis = self.api_models
  local ids = sorted_keys(self.resources)
  for _, id in ipairs(ids) do
    local r = self.resources[id]
    if not r.left_out and r.type == "AWS::SQS::Queue" then
      self.queue_ids[id] = self:identity(id, "Resources." .. id)
    end
  end
  local queue_names, function_names = {}, {}
  for _, id in ipairs(ids) do
    local r = self.resources[id]
    local where = "Resources." .. id
    if r.left_out then -- luacheck: ignore 542 (see below)
      -- its condition leaves it out, as CloudFormation would
    elseif r.type == "AWS::SQS::Queue" then
      local q = self:queue(id, r)
      if queue_names[q.name] then self:fail(where, "queue name %s is also the name of %s", q.name, queue_names[q.name]) end
      queue_names[q.name] = id
      model.queues[#model.queues + 1] = q
    elseif r.type == "AWS::Serverless::Function" or r.type == "AWS::Lambda::Function" then
      local fn = r.type == "AWS::Lambda::Function" and self:lambda_function(id, r) or self:func(id, r, globals)
      if function_names[fn.name] then self:fail(where, "function name %s is also the name of %s", fn.name, function_names[fn.name]) end
      function_names[fn.name] = id
      model.functions[#model.functions + 1] = fn
    elseif r.type == "AWS::Serverless::Api" or
        r.type == "AWS::Serverless::HttpApi" then -- luacheck: ignore 542 (see below)
      -- read by self:apis() (template/apis.lua): its CORS and authorizers apply to its routes
    elseif not (cfn.wiring[r.type] or cfn.quiet[r.type] or IGNORED_QUIETLY[r.type] or r.type:match("^AWS::IAM::")) then
      self:cannot_run(id, r)
      self:warn(where, "%s is not run by moonrun dev", r.type)
    end
  end
  -- CloudFormation's EventSourceMapping, HTTP API routes, invoke configurations and URLs
  -- attach to the functions read above
  self:wire_functions(ids, model.functions)
  self:check_routes(model)
  self:check_visibility(model)
  self:check_authorizer_functions(model)
  return model
end

-- A Lambda authorizer runs one of the template's functions: another cannot be run locally.
function Loader:check_authorizer_functions(model)
  local names = {}
  for _, fn in ipairs(model.functions) do names[fn.name] = true end
  for _, id in ipairs(sorted_keys(model.apis)) do
    local api = model.apis[id]
    for _, name in ipairs(sorted_keys(api.authorizers)) do
      local a = api.authorizers[name]
      if a.kind == "lambda" and not names[a.function_name] then
        self:fail(string.format("%s.Auth.Authorizers.%s.FunctionArn", self.resources[id] and ("Resources." .. id .. ".Properties") or
          ("Globals." .. api.type), name), "%s is not a function of this template: moonrun dev runs an authorizer " ..
          "that the template defines", a.function_name)
      end
    end
  end
end

-- One HTTP front serves every API locally, so a route must be unique across them.
function Loader:check_routes(model)
  local routes = {}
  for _, fn in ipairs(model.functions) do
    for _, e in ipairs(fn.http_events) do
      local route = e.path and (e.method .. " " .. e.path) or "$default"
      local own = self.where_of[e] -- a route of an AWS::ApiGatewayV2 resource
      local where = own or ("Resources." .. fn.logical_id .. ".Properties.Events." .. e.name)
      local other = routes[e.type .. " " .. route]
      if other then self:fail(where, "the %s route %s is also %s's", e.type, route, other) end
      routes[e.type .. " " .. route] = own and own:match("^Resources%.[^.]+") or where
    end
  end
end

-- Lambda's rule for an SQS trigger: the queue's visibility timeout must be at least the
-- function's timeout (else CreateEventSourceMapping fails), and AWS advises six times the
-- timeout plus the batching window, so that a batch retried after throttling is not received
-- twice. Checked for the template's own queues (another queue's attributes are not known here).
function Loader:check_visibility(model)
  local by_arn = {}
  for _, q in ipairs(model.queues) do by_arn[q.arn] = q end
  for _, fn in ipairs(model.functions) do
    for _, e in ipairs(fn.sqs_events) do
      local q = by_arn[e.queue_arn]
      if q then
        local where = self.where_of[e]
        local visibility = tonumber(q.attributes.VisibilityTimeout or "30")
        if fn.timeout > visibility then
          self:fail(where, "Queue visibility timeout: %d seconds is less than Function timeout: %d seconds " ..
            "(Lambda refuses this trigger: raise %s's VisibilityTimeout or lower %s's Timeout)",
            visibility, fn.timeout, q.logical_id, fn.logical_id)
        end
        local advised = 6 * fn.timeout + (e.window_s or 0)
        if visibility < advised then
          self:warn(where, "%s's VisibilityTimeout (%d s) is less than six times %s's Timeout%s (%d s), " ..
            "which AWS advises so that a batch retried after throttling is not delivered twice",
            q.logical_id, visibility, fn.logical_id, (e.window_s or 0) > 0 and " plus the batching window" or "", advised)
        end
      end
    end
  end
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
    parameters = {}, unread_parameters = {}, layer_of_arn = {}, condition_values = {}, evaluating = {}, resources = {}, queue_ids = {},
    chain = {}, warnings = list(), warned = {},
    where_of = setmetatable({}, {__mode = "k"}), -- a model table -> where the template declares it
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
M.merge_globals = resources.merge_properties

--- The model's queues in an order that creates each dead-letter queue before the queues that
--- redrive to it (those without a redrive policy first): what moonrun dev and moonrun.testing
--- create.
function M.in_creation_order(queues)
  local ordered = {}
  for _, q in ipairs(queues) do if not q.attributes.RedrivePolicy then ordered[#ordered + 1] = q end end
  for _, q in ipairs(queues) do if q.attributes.RedrivePolicy then ordered[#ordered + 1] = q end end
  return ordered
end

return M
