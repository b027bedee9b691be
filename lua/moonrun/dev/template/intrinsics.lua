-- The intrinsics of a SAM template as moonrun dev resolves them: pseudo parameters, Conditions,
-- Ref and Fn::GetAtt (with the physical names of queues and functions), Fn::Sub, Fn::If,
-- Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap, Fn::Base64 and Fn::GetAZs, and resolve, which
-- evaluates every intrinsic in a value.
--
-- Its own module because evaluating values is one concern, apart from what the template's
-- resources mean (template/resources.lua) and from reading the file (template/init.lua). Its
-- functions are methods of template/init.lua's Loader (self is the loader of one template: its
-- parameters, resources and conditions), which template/init.lua takes into its class.
local json = require "moonrun.json"
local base64 = require "moonrun.base64"
local values = require "moonrun.dev.template.values"

local NULL, NO_VALUE = values.NULL, values.NO_VALUE
local present, sorted_keys, is_map, is_list = values.present, values.sorted_keys, values.is_map, values.is_list
local list, single_key, describe = values.list, values.single_key, values.describe

-- Methods of template/init.lua's Loader.
local Loader = {}

local PSEUDO = {
  ["AWS::Region"] = true, ["AWS::AccountId"] = true, ["AWS::StackName"] = true,
  ["AWS::StackId"] = true, ["AWS::Partition"] = true, ["AWS::URLSuffix"] = true,
  ["AWS::NoValue"] = true, ["AWS::NotificationARNs"] = true,
}

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
  if self.unread_parameters[name] then
    self:fail(where, "refers to %s, whose Type %s reads Parameter Store, which moonrun dev does not: pass the value as a parameter override",
      name, self.unread_parameters[name])
  end
  if context == "condition" then
    self:fail(where, "a condition can refer only to parameters and pseudo parameters, not %s", name)
  end
  local r = self:resource(name, where)
  local id = self:identity(name, where)
  if r.type == "AWS::SQS::Queue" then return id.url end
  if r.type == "AWS::Serverless::Function" or r.type == "AWS::Lambda::Function" then return id.name end
  -- an HTTP API's parts refer to each other by their IDs (integrations/${Integration}): the
  -- logical ID is that ID locally
  if r.type:match("^AWS::ApiGatewayV2::") then return name end
  if self:is_layer_type(r.type) then return self:layer_arn(name) end
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
  self:fail(where, "%s is not supported by moonrun dev (supported: Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join, " ..
    "Fn::Select, Fn::Split, Fn::FindInMap, Fn::Base64, Fn::GetAZs)", fn)
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

return {methods = Loader}
