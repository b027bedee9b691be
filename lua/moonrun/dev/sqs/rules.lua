-- SQS's rules for moonrun dev's embedded SQS: the queue attributes a caller may set (with their
-- defaults and checks), those SQS computes, and the time limits (deduplication window, purge
-- and re-create cool-downs, longest visibility).
--
-- Its own module because the queues (sqs/queue.lua), the journal (sqs/journal.lua) and the
-- store's operations (sqs/store.lua) all read these rules, and the API (sqs/operations.lua)
-- lists the attributes through the store; a table of facts about SQS, with no state.
local M = {}

M.DEDUP_WINDOW_MS = 5 * 60 * 1000
M.PURGE_COOLDOWN_MS = 60 * 1000
M.RECREATE_COOLDOWN_MS = 60 * 1000
M.MAX_VISIBILITY_S = 43200

-- Queue attributes a caller may set: default, and a check of the value (a string) returning
-- the value to keep, or nil and the reason.
local function integer_in(low, high)
  return function(value)
    local n = math.tointeger(tonumber(value))
    if not n or not tostring(value):match("^%s*%-?%d+%s*$") or n < low or n > high then
      return nil, string.format("must be an integer from %d to %d", low, high)
    end
    return tostring(n)
  end
end

local function boolean_value(value)
  local lower = tostring(value):lower()
  if lower == "true" or lower == "false" then return lower end
  return nil, "must be true or false"
end

local function any_string(value) return tostring(value) end

local function one_of(...)
  local allowed = {...}
  return function(value)
    for _, v in ipairs(allowed) do if value == v then return v end end
    return nil, "must be one of " .. table.concat(allowed, ", ")
  end
end

local SETTABLE = {
  DelaySeconds = {"0", integer_in(0, 900)},
  MaximumMessageSize = {"1048576", integer_in(1024, 1048576)},
  MessageRetentionPeriod = {"345600", integer_in(60, 1209600)},
  ReceiveMessageWaitTimeSeconds = {"0", integer_in(0, 20)},
  VisibilityTimeout = {"30", integer_in(0, M.MAX_VISIBILITY_S)},
  Policy = {nil, any_string},
  RedrivePolicy = {nil, any_string},        -- checked against the other queues below
  RedriveAllowPolicy = {nil, any_string},   -- likewise
  KmsMasterKeyId = {nil, any_string},
  KmsDataKeyReusePeriodSeconds = {nil, integer_in(60, 86400)},
  SqsManagedSseEnabled = {"true", boolean_value},
  FifoQueue = {nil, boolean_value},
  ContentBasedDeduplication = {nil, boolean_value},
  DeduplicationScope = {nil, one_of("messageGroup", "queue")},
  FifoThroughputLimit = {nil, one_of("perQueue", "perMessageGroupId")},
}
M.SETTABLE = SETTABLE
local FIFO_ONLY = {ContentBasedDeduplication = true, DeduplicationScope = true, FifoThroughputLimit = true}
local COMPUTED = {
  ApproximateNumberOfMessages = true, ApproximateNumberOfMessagesNotVisible = true,
  ApproximateNumberOfMessagesDelayed = true, CreatedTimestamp = true,
  LastModifiedTimestamp = true, QueueArn = true,
}
M.COMPUTED = COMPUTED

-- A boolean attribute's check, which check_attributes uses for FifoQueue too.
M.boolean_value = boolean_value
M.FIFO_ONLY = FIFO_ONLY

return M
