---@meta moonrun.testing
-- For a project's busted specs (moonrun test): invoke handlers as Lambda would, build events,
-- run an embedded SQS, read a template function's environment.
local testing = {}

---@class MoonrunLambdaError
---@field errorType string
---@field errorMessage string
---@field stackTrace string[]

---@class MoonrunInvokeOptions
---@field timeout? number seconds (default: the template's Timeout, or 3)
---@field env? table<string, string> variables added for this invocation
---@field report_batch_item_failures? boolean check an SQS batch answer as Lambda does

---Settings for the specs that follow.
---@param options? {template?: string, env_file?: string, parameters?: table<string, string>, region?: string}
function testing.configure(options) end

---The project's template as moonrun dev reads it.
---@return table
function testing.template() end

---A template function's model (handler, code_dir, timeout, memory, environment, events).
---@param logical_id string
---@return table
function testing.func(logical_id) end

---A template function's Environment.Variables, resolved as moonrun dev resolves them.
---@param logical_id string
---@return table<string, string>
function testing.env(logical_id) end

---Invokes a handler as Lambda would: the answer decoded from JSON, or nil and Lambda's error.
---@param target string|function a logical id ("Consumer"), a handler name ("src/consumer.handler") or a function
---@param event? table|string
---@param opts? MoonrunInvokeOptions
---@return any answer
---@return MoonrunLambdaError|nil err
function testing.invoke(target, event, opts) end

---Forgets the loaded handlers: the next invoke is a cold start.
function testing.reset() end

---An event of a type moonrun event knows, with its options, then fields merged over it.
---@param kind "sqs"|"apigw-http"|"apigw-rest"|"schedule"
---@param options? table
---@param fields? table
---@return table
function testing.event(kind, options, fields) end

---testing.event for one type: sqs, apigw_http, apigw_rest, schedule.
---@type table<string, fun(options?: table, fields?: table): table>
testing.events = {}

---Starts the embedded SQS with the template's queues (or options.queues).
---@param options? {queues?: {name: string, attributes?: table}[], now_ms?: fun(): integer}
---@return MoonrunTestingQueues
function testing.sqs(options) end

return testing
