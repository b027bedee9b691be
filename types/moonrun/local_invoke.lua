---@meta moonrun.local_invoke
-- The C handler host, for moonrun.testing.
local local_invoke = {}

---Loads a handler (path/module.function) under task_root: the function, or nil and the init error.
---@param spec string
---@param task_root string
---@return function|nil
---@return string|nil error_json
---@return string|nil error_type
function local_invoke.load(spec, task_root) end

---One invocation as Lambda makes it: ok, the answer or error JSON, the error type.
---@param fn function
---@param event_json string
---@param timeout_ms integer
---@return boolean ok
---@return string json
---@return string|nil error_type
function local_invoke.run(fn, event_json, timeout_ms) end

---Sets (or, with nil, unsets) an environment variable of the process.
---@param name string
---@param value string|nil
function local_invoke.setenv(name, value) end

return local_invoke
