---@meta moonrun.testing.sqs
local testing_sqs = {}

---The endpoint URL handlers reach while it runs (never resolved: served in-process).
---@type string
testing_sqs.ENDPOINT = "http://sqs.moonrun.invalid"
---@type string
testing_sqs.ACCOUNT = "000000000000"
---The credentials handlers sign with while it runs.
---@type {access_key_id: string, secret_access_key: string}
testing_sqs.CREDENTIALS = {}

---@class MoonrunTestingQueues
---@field store table the embedded store (moonrun dev's moonrun.dev.sqs.store)
---@field api table the embedded API (moonrun dev's moonrun.dev.sqs.api)
---@field client MoonrunSqsClient a client of the embedded SQS
local Queues = {}
---Stops it and restores moonrun.http, the endpoint and the credentials.
function Queues:close() end
---@param name string
---@return string
function Queues:url(name) end
---@param name string
---@param body string
---@param params? table
---@return table
function Queues:send(name, body, params) end
---@param name string
---@return {visible: integer, in_flight: integer, delayed: integer}
function Queues:count(name) end
---Received messages (deleted unless keep).
---@param name string
---@param max? integer
---@param keep? boolean
---@return table[]
function Queues:receive(name, max, keep) end
---The bodies of the visible messages, taken off the queue.
---@param name string
---@return string[]
function Queues:bodies(name) end
---Up to max (10) messages as the SQS event a trigger would invoke with.
---@param name string
---@param max? integer
---@return SQSEvent
function Queues:event(name, max) end

---@param options? {queues?: table[], region?: string, now_ms?: fun(): integer}
---@return MoonrunTestingQueues
function testing_sqs.new(options) end

return testing_sqs
