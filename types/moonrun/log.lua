---@meta moonrun.log
-- Leveled log records (AWS_LAMBDA_LOG_FORMAT JSON or Text, AWS_LAMBDA_LOG_LEVEL).
local log = {}

---"JSON" or "Text": the format in force.
---@type string
log.format = "Text"
---The level in force ("INFO", ...).
---@type string
log.level = "INFO"

---@param message any
---@param fields? table<string, any>
function log.trace(message, fields) end
---@param message any
---@param fields? table<string, any>
function log.debug(message, fields) end
---@param message any
---@param fields? table<string, any>
function log.info(message, fields) end
---@param message any
---@param fields? table<string, any>
function log.warn(message, fields) end
---@param message any
---@param fields? table<string, any>
function log.error(message, fields) end
---Logs at FATAL; it does not stop anything.
---@param message any
---@param fields? table<string, any>
function log.fatal(message, fields) end

---Whether records of this level are written.
---@param level "TRACE"|"DEBUG"|"INFO"|"WARN"|"ERROR"|"FATAL"
---@return boolean
function log.enabled(level) end

---Writes text and a newline on stdout as they are, outside the log format.
---@param text string
function log.raw(text) end

return log
