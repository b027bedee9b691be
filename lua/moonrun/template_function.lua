-- One function of a SAM template, as `moonrun invoke --template`, `moonrun repl --template` and
-- moonrun.testing run it: its handler, code folder (the task root), timeout, memory and
-- environment, read by the same template loader as `moonrun dev`, with an env-vars file in SAM's
-- shape ({"Parameters": {...}, "LogicalId": {...}}) over the template's variables.
local json = require "moonrun.json"
local template = require "moonrun.dev.template"

local M = {}

-- The defaults `moonrun dev` uses for a template with nothing else to go on.
M.ACCOUNT = "000000000000"
M.STACK_NAME = "moonrun-dev"

local function read_json_file(path, what)
  local f, err = io.open(path, "rb")
  if not f then error(string.format("cannot read the %s %s: %s", what, path, tostring(err):gsub("^[^:]*: ", "")), 0) end
  local text = f:read("a")
  f:close()
  local ok, doc = pcall(json.decode, text or "")
  if not ok then error(string.format("the %s %s is not JSON: %s", what, path, tostring(doc)), 0) end
  if type(doc) ~= "table" or json.is_array(doc) then
    error(string.format("the %s %s must hold a JSON object", what, path), 0)
  end
  return doc
end

local function variables_of(doc, key, path)
  local vars = doc[key]
  if vars == nil then return {} end
  if type(vars) ~= "table" or json.is_array(vars) then
    error(string.format("the env-vars file %s: %s must be an object of variable names and values", path, key), 0)
  end
  local out = {}
  for name, value in pairs(vars) do
    if type(value) == "table" then
      error(string.format("the env-vars file %s: %s.%s must be a string, number or boolean", path, key, name), 0)
    end
    out[name] = tostring(value)
  end
  return out
end

--- The env-vars file read as SAM reads it: {parameters = {...}, functions = {LogicalId = {...}}}.
function M.read_env_file(path)
  local doc = read_json_file(path, "env-vars file")
  local result = {parameters = variables_of(doc, "Parameters", path), functions = {}}
  for key in pairs(doc) do
    if key ~= "Parameters" then result.functions[key] = variables_of(doc, key, path) end
  end
  return result
end

--- The environment of fn with the env-vars file's values over it. As SAM does, a value replaces
-- only a variable the template declares (function entries over Parameters); warn(message) is
-- told about the others, which are left out.
function M.apply_env_file(fn, env_file, warn)
  local env = {}
  for k, v in pairs(fn.environment) do env[k] = v end
  local own = env_file.functions[fn.logical_id] or env_file.functions[fn.name] or {}
  for _, source in ipairs{env_file.parameters, own} do
    for k, v in pairs(source) do
      if fn.environment[k] ~= nil then env[k] = v
      elseif source == own and warn then
        warn(string.format("%s is not in %s's Environment.Variables in the template: ignored, as SAM ignores it", k, fn.logical_id))
      end
    end
  end
  return env
end

--- Loads the template (opts: parameters, region, account, queue_url as for template.load).
function M.load_template(path, opts)
  opts = opts or {}
  return template.load(path, {
    parameters = opts.parameters or {}, region = opts.region, account = opts.account or M.ACCOUNT,
    stack_name = M.STACK_NAME, queue_url = opts.queue_url,
  })
end

--- The function with this logical id (or function name) in a loaded template, or an error
-- listing the template's functions.
function M.find(model, id)
  local names = {}
  for _, fn in ipairs(model.functions) do
    if fn.logical_id == id or fn.name == id then return fn end
    names[#names + 1] = fn.logical_id
  end
  table.sort(names)
  error(string.format("%s has no function %s (its functions: %s)", model.path, tostring(id),
    #names > 0 and table.concat(names, ", ") or "none"), 0)
end

--- For the C commands: {handler, code_dir, timeout, memory, name, environment} of one function,
-- with the env-vars file (or nil) applied.
function M.resolve(template_path, id, env_file_path, region)
  local model = M.load_template(template_path, {region = region})
  local fn = M.find(model, id)
  local env = fn.environment
  if env_file_path then
    env = M.apply_env_file(fn, M.read_env_file(env_file_path), function(message)
      io.stderr:write("moonrun: ", message, "\n")
    end)
  end
  if fn.layer_dirs then
    -- the template's layer folders, searched as /opt would be (lua_paths.c)
    local with_layers = {MOONRUN_LAYER_DIRS = table.concat(fn.layer_dirs, ":")}
    for k, v in pairs(env) do with_layers[k] = v end
    env = with_layers
  end
  return {handler = fn.handler, code_dir = fn.code_dir, timeout = fn.timeout, memory = fn.memory,
          name = fn.name, environment = env}
end

return M
