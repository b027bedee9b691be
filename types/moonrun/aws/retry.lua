---@meta moonrun.aws.retry
-- The SDKs' standard retry mode.
local retry = {}

---@param err MoonrunAwsError
---@return boolean
function retry.is_retryable(err) end
---@param options? table
---@param profile? table
---@return table strategy
function retry.new(options, profile) end
---Seconds to wait before attempt + 1.
---@param strategy table
---@param attempt integer
---@return number
function retry.delay(strategy, attempt) end
---The retry quota's cost of retrying err, or nil when the quota is spent.
---@param strategy table
---@param err MoonrunAwsError
---@return integer|nil
function retry.acquire(strategy, err) end
---@param strategy table
---@param cost integer
function retry.release(strategy, cost) end

return retry
