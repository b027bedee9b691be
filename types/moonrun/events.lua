---@meta moonrun.events
-- Helpers for the events Lambda delivers.
local events = {}

---for i, record in events.sqs_records(event) do ... end
---@param event SQSEvent
---@return fun(t: SQSRecord[], i: integer): integer, SQSRecord
---@return SQSRecord[]
---@return integer
function events.sqs_records(event) end

---The record's body decoded as JSON; an error names the message when it is not JSON.
---@param record SQSRecord
---@return any
function events.json_body(record) end

---The answer reporting these message ids as failed.
---@param failed_ids? string[]
---@return SQSBatchResponse
function events.batch_response(failed_ids) end

---Calls handle(body, record) for each record in a protected call; returns the batchItemFailures answer.
---@param event SQSEvent
---@param handle fun(body: any, record: SQSRecord)
---@param options? {json?: boolean}
---@return SQSBatchResponse
function events.sqs_batch(event, handle, options) end

---Why Lambda could not read answer_json, a handler's answer to the SQS batch event (with
---ReportBatchItemFailures it would fail the whole batch), or nil when it could.
---@param event table
---@param answer_json string
---@return string|nil
function events.batch_answer_problem(event, answer_json) end

---With ReportBatchItemFailures, the ids that a handler's answer (JSON text) reports failed, as a
---set; or nil and why Lambda would take the whole batch as failed (the answer is not JSON, or an
---itemIdentifier is missing or not one of batch_ids).
---@param answer_json string|nil
---@param batch_ids table<string, boolean> the batch's message ids, as a set
---@return table<string, boolean>|nil failed
---@return string|nil why
function events.reported_failures(answer_json, batch_ids) end

return events
