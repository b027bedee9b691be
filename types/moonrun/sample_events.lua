---@meta moonrun.sample_events
-- Sample events as AWS services send them (moonrun event TYPE).
local sample_events = {}

---The event types: a list of {name, summary, make, options, order}, also keyed by name.
---@type table
sample_events.types = {}

---moonrun.base64's encode.
---@param data string
---@return string
function sample_events.base64(data) end

---An event of a type: "sqs", "apigw-http", "apigw-rest", "schedule", "function-url", "sns",
---"eventbridge", "s3", "dynamodb", "kinesis".
---@param kind "sqs"|"apigw-http"|"apigw-rest"|"schedule"|"function-url"|"sns"|"eventbridge"|"s3"|"dynamodb"|"kinesis"
---@param options? table the long option names of `moonrun event TYPE --help`
---@return table
function sample_events.generate(kind, options) end

---The event's JSON, keys in AWS's order.
---@param event table
---@param kind string
---@return string
function sample_events.encode(event, kind) end

---`moonrun event`'s command line; returns the exit status.
---@param args string[]
---@return integer
function sample_events.command(args) end

return sample_events
