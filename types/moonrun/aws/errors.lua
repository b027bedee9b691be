---@meta moonrun.aws.errors
local errors = {}

---The metatable of AWS error values (its __tostring shows code and message).
---@type table
errors.metatable = {}

---@param fields table
---@return MoonrunAwsError
function errors.new(fields) end
---@param value any
---@return boolean
function errors.is_error(value) end
---@param code string
---@param operation string
---@param message string
---@return MoonrunAwsError
function errors.client_error(code, operation, message) end
---Raises a new error value.
---@param fields table
function errors.raise(fields) end
---The error value of a transfer that got no response.
---@param http_error table
---@param operation string
---@return MoonrunAwsError
function errors.from_transport(http_error, operation) end

return errors
