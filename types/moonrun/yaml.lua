---@meta moonrun.yaml
local yaml = {}

---The value of a YAML 1.1 document, as CloudFormation reads a template (short-form tags in long form).
---@param text string
---@param name? string the file's name, for error messages
---@return any
function yaml.decode(text, name) end

return yaml
