-- A function's Layers, as moonrun dev mounts them: the template's own layers whose content is a
-- folder (AWS::Serverless::LayerVersion's ContentUri, AWS::Lambda::LayerVersion's Content, or
-- CDK's asset folder for it) become the function's layer_dirs, which the runtime searches as it
-- searches /opt on Lambda (MOONRUN_LAYER_DIRS). A layer given as an archive, in S3 or by another
-- stack's ARN is not mounted: moonrun's own layer is one such, and dev runs its own moonrun.
--
-- Its own module because a layer's content is one concern apart from the functions that use it
-- (template/resources.lua, template/cfn.lua). Its functions are methods of template/init.lua's Loader.
local values = require "moonrun.dev.template.values"

local is_map, is_list, list, describe = values.is_map, values.is_list, values.list, values.describe

-- Methods of template/init.lua's Loader.
local Loader = {}

local LAYER_TYPES = {["AWS::Lambda::LayerVersion"] = "Content", ["AWS::Serverless::LayerVersion"] = "ContentUri"}

--- The ARN a Ref to a layer of the template stands for locally (its version is always 1).
function Loader:layer_arn(logical_id)
  local arn = string.format("arn:%s:lambda:%s:%s:layer:%s:1", self:pseudo("AWS::Partition"), self.region,
    self.account, logical_id)
  self.layer_of_arn[arn] = logical_id
  return arn
end

function Loader.is_layer_type(_, rtype)
  return LAYER_TYPES[rtype] ~= nil
end

-- The folder a layer's content is, or nil when it is not one (an archive, S3): not mounted.
function Loader:layer_folder(logical_id)
  local r = self.resources[logical_id]
  local key = LAYER_TYPES[r.type]
  local base = "Resources." .. logical_id .. ".Properties"
  local meta = r.body.Metadata
  if is_map(meta) and meta["aws:asset:property"] == "Content" and type(meta["aws:asset:path"]) == "string" then
    local path = meta["aws:asset:path"]
    if path:match("%.zip$") then return nil end
    local dir = path:sub(1, 1) == "/" and path or (self.dir .. "/" .. path)
    if not self:is_folder(dir) then
      self:fail("Resources." .. logical_id .. ".Metadata.aws:asset:path", "%s (%s) is not a folder: run cdk synth again, " ..
        "which writes the asset folders beside the template", path, dir)
    end
    return dir
  end
  local props = is_map(r.body.Properties) and r.body.Properties or {}
  local content = self:property(props, key, base)
  if content == nil then self:fail(base .. "." .. key, "missing: point it at the layer's folder (its lua/ holds the modules)") end
  if is_map(content) or type(content) ~= "string" or content:match("^s3://") or content:match("%.zip$") then
    return nil
  end
  local dir = self:code_dir(content, base .. "." .. key, key)
  if dir:find(":", 1, true) then
    self:fail(base .. "." .. key, "%s: a layer folder's path cannot hold ':' locally (the folders are a ':'-separated list)", dir)
  end
  return dir
end

--- The folders of props.Layers that moonrun dev mounts, in the function's order; nil for none.
function Loader:layer_dirs(props, base)
  local layers = self:property(props, "Layers", base)
  if layers == nil then return nil end
  if not is_list(layers) then self:fail(base .. ".Layers", "expected a list of layer ARNs, got %s", describe(layers)) end
  if #layers > 5 then self:fail(base .. ".Layers", "%d layers: Lambda takes at most 5", #layers) end
  local dirs = list()
  for i, arn in ipairs(layers) do
    local where = string.format("%s.Layers[%d]", base, i - 1)
    arn = self:text(arn, where)
    if not arn:match("^arn:[^:]+:lambda:[^:]*:[^:]*:layer:[^:]+:%d+$") then
      self:fail(where, "%q is not a layer version's ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION, or !Ref Layer)", arn)
    end
    local id = self.layer_of_arn[arn]
    local dir = id and self:layer_folder(id)
    if dir then dirs[#dirs + 1] = dir end
  end
  return #dirs > 0 and dirs or nil
end

return {methods = Loader}
