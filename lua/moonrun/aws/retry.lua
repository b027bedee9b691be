-- Retries as the AWS SDKs' retry modes define them. standard: 3 attempts, exponential backoff
-- with full jitter capped at 20 s, and a retry quota (a bucket of 500 tokens; a retry costs 5, a
-- retry after a timeout 10; a success gives back what its retry cost, or 1 when there was
-- none), so a failing endpoint is not hammered by every caller at once. legacy: 5 attempts, no
-- quota. adaptive is standard here: moonrun has no client-side rate limiter.
local M = {}

local MODES = {legacy = 5, standard = 3, adaptive = 3}
local QUOTA = 500
local RETRY_COST, TIMEOUT_RETRY_COST, NO_RETRY_REFUND = 5, 10, 1

-- The codes the SDKs treat as throttling or as transient, whatever the status.
local THROTTLING = {}
for code in ([[Throttling ThrottlingException ThrottledException RequestThrottledException
    TooManyRequestsException ProvisionedThroughputExceededException TransactionInProgressException
    RequestLimitExceeded BandwidthLimitExceeded LimitExceededException RequestThrottled SlowDown
    PriorRequestNotComplete EC2ThrottledException]]):gmatch("%S+") do
  THROTTLING[code] = true
end
local TRANSIENT = {RequestTimeout = true, RequestTimeoutException = true}
local TRANSIENT_STATUS = {[500] = true, [502] = true, [503] = true, [504] = true}

-- Whether an error value (see errors.lua) is worth another attempt.
function M.is_retryable(err)
  if err.kind then return err.kind ~= "tls" end -- a transport failure
  return THROTTLING[err.code] or TRANSIENT[err.code] or TRANSIENT_STATUS[err.status] or
    err.status == 429 or false
end

local function positive_integer(text)
  local n = math.tointeger(tonumber(text))
  if n and n >= 1 then return n end
end

-- A strategy for one client: the mode and attempts from the options, AWS_RETRY_MODE and
-- AWS_MAX_ATTEMPTS, or the profile's retry_mode and max_attempts; a bad value is an error.
function M.new(options, profile)
  options = options or {}
  profile = profile or {}
  local mode, mode_from = options.retry_mode, "the retry_mode option"
  if not mode then mode, mode_from = os.getenv("AWS_RETRY_MODE"), "AWS_RETRY_MODE" end
  if not mode or mode == "" then mode, mode_from = profile.retry_mode, "the profile's retry_mode" end
  mode = mode or "standard"
  if not MODES[mode] then
    error(string.format("%s must be legacy, standard or adaptive, got '%s'", mode_from, mode), 0)
  end
  local attempts, attempts_from = options.max_attempts, "the max_attempts option"
  if attempts == nil then attempts, attempts_from = os.getenv("AWS_MAX_ATTEMPTS"), "AWS_MAX_ATTEMPTS" end
  if attempts == nil or attempts == "" then
    attempts, attempts_from = profile.max_attempts, "the profile's max_attempts"
  end
  local max_attempts = MODES[mode]
  if attempts ~= nil then
    max_attempts = positive_integer(attempts)
    if not max_attempts then
      error(string.format("%s must be a whole number of at least 1, got '%s'", attempts_from,
        tostring(attempts)), 0)
    end
  end
  return {
    mode = mode,
    max_attempts = max_attempts,
    base_delay = options.retry_base_delay or 1, -- seconds; the SDKs' base
    max_backoff = 20,
    quota = mode ~= "legacy" and QUOTA or nil,
  }
end

-- The delay before attempt `attempt + 1`, in seconds: full jitter over an exponential bound.
function M.delay(strategy, attempt)
  local bound = strategy.base_delay * 2 ^ (attempt - 1)
  return math.random() * math.min(bound, strategy.max_backoff)
end

-- Takes the quota a retry of err costs; returns the cost, or nil when the quota is spent (the
-- error is then returned as it is).
function M.acquire(strategy, err)
  if not strategy.quota then return 0 end
  local cost = err.code == "ReadTimeoutError" and TIMEOUT_RETRY_COST or RETRY_COST
  if strategy.quota < cost then return nil end
  strategy.quota = strategy.quota - cost
  return cost
end

-- After a success: what the last retry took comes back (or 1 when it succeeded at once).
function M.release(strategy, cost)
  if not strategy.quota then return end
  strategy.quota = math.min(QUOTA, strategy.quota + (cost > 0 and cost or NO_RETRY_REFUND))
end

return M
