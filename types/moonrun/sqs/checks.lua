---@meta moonrun.sqs.checks
-- The checks moonrun.sqs makes before sending and after receiving.
local checks = {}

---@type integer
checks.MAX_MESSAGE_BYTES = 1048576
---@type integer
checks.MAX_BATCH_ENTRIES = 10

---@param text string
---@return integer|nil
function checks.invalid_characters(text) end
---@param body string
---@param attributes? table
---@return integer
function checks.message_size(body, attributes) end
---Raises a ParamValidationError for a message SQS would refuse.
---@param body string
---@param attributes? table
function checks.check_message(body, attributes) end
---@param attributes table
---@return string
function checks.attributes_md5(attributes) end
---@param attributes table
---@return table
function checks.encode_attributes(attributes) end
---@param attributes table
---@return table
function checks.decode_attributes(attributes) end
---@param what string
---@param returned string
---@param expected string
function checks.mismatch(what, returned, expected) end

return checks
