---@meta moonrun.sample_sources
-- The event generators of moonrun event's sns, eventbridge, s3, dynamodb and kinesis types
-- (options as `moonrun event TYPE --help` lists them).
local sample_sources = {}

---The account id of the samples.
sample_sources.ACCOUNT = "123456789012"

---@param options table
---@return table
function sample_sources.sns(options) end

---@param options table
---@return table
function sample_sources.eventbridge(options) end

---@param options table
---@return table
function sample_sources.s3(options) end

---@param options table
---@return table
function sample_sources.dynamodb(options) end

---@param options table
---@return table
function sample_sources.kinesis(options) end

return sample_sources
