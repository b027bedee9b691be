---@meta moonrun.template_function
-- One function of a SAM template (invoke/repl --template, moonrun.testing).
local template_function = {}

---@type string
template_function.ACCOUNT = "000000000000"
---@type string
template_function.STACK_NAME = "moonrun-dev"

---@param path string
---@return {parameters: table<string, string>, functions: table<string, table<string, string>>}
function template_function.read_env_file(path) end
---@param fn table
---@param env_file table
---@param warn? fun(message: string)
---@return table<string, string>
function template_function.apply_env_file(fn, env_file, warn) end
---@param path string
---@param opts? table
---@return table
function template_function.load_template(path, opts) end
---@param model table
---@param id string
---@return table
function template_function.find(model, id) end
---@param template_path string
---@param id string
---@param env_file_path? string
---@param region? string
---@return table
function template_function.resolve(template_path, id, env_file_path, region) end

return template_function
