---@meta moonrun.aws
-- The generic AWS layer under moonrun.sqs: credentials, region, endpoints, signing, AWS JSON
-- 1.0 requests with the SDKs' standard retries.
local aws = {}

---@class MoonrunAwsError
---@field code string the AWS error code (QueueDoesNotExist, ...)
---@field message string
---@field status? integer
---@field request_id? string
---@field retryable boolean
---@field operation? string
---@field attempts? integer

---@class MoonrunAwsClient
---@field call fun(self: MoonrunAwsClient, operation: string, params?: table, call_options?: {timeout?: number}): table
---@field call_many fun(self: MoonrunAwsClient, calls: table[]): table[]

---@class MoonrunAwsOptions
---@field region? string
---@field endpoint? string
---@field profile? string
---@field credentials? table
---@field access_key_id? string
---@field secret_access_key? string
---@field session_token? string
---@field timeout? number
---@field connect_timeout? number
---@field max_attempts? integer
---@field retry_mode? "standard"|"legacy"|"adaptive"
---@field retry_base_delay? number

---moonrun.aws.errors
aws.errors = require "moonrun.aws.errors"

---Whether value is an AWS error value.
---@param value any
---@return boolean
function aws.is_error(value) end

---sigv4.sign.
---@param fields table
---@return table
function aws.sign(fields) end

---The region: options.region, AWS_REGION, AWS_DEFAULT_REGION, the profile's.
---@param options? table
---@return string|nil
function aws.region(options) end

---The credentials the SDKs would use (environment, profile, container, instance).
---@param options? table
---@return {access_key_id: string, secret_access_key: string, session_token?: string}
function aws.credentials(options) end

---The endpoint URL of a service in a region (options.endpoint, AWS_ENDPOINT_URL_<SERVICE>, ...).
---@param service table
---@param region string
---@param options? table
---@return string
function aws.endpoint(service, region, options) end

---A client of one AWS JSON service.
---@param service table
---@param options? MoonrunAwsOptions
---@return MoonrunAwsClient
function aws.client(service, options) end

---Not part of the API (the fuzz target's entry).
---@return table|nil
---@return MoonrunAwsError|nil
function aws._parse_answer(operation, status, headers, body) end

return aws
