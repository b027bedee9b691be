-- moonrun.testing: what a project's busted specs (`moonrun test`) use to test handlers the way
-- Lambda, `moonrun invoke` and `moonrun dev` run them.
--
--   local testing = require "moonrun.testing"
--   local answer, err = testing.invoke("Consumer", testing.event("sqs", {body = {"hi"}}))
--
-- invoke goes through moonrun's C handler host (moonrun.local_invoke): the handler is loaded as
-- on Lambda, the event makes the JSON round trip, the context and deadline are Lambda's, and a
-- failure is Lambda's error object. The project's template (template.yaml) gives a logical id
-- its handler, code folder, timeout, memory and environment, read by `moonrun dev`'s loader.
local events = require "moonrun.events"
local json = require "moonrun.json"
local local_invoke = require "moonrun.local_invoke"
local sample_events = require "moonrun.sample_events"
local template_function = require "moonrun.template_function"

local M = {}

local settings = {}  -- from configure
local cache = {}     -- loaded templates, by queue base URL
local handlers = {}  -- loaded handler functions, by task root and handler name
local embedded       -- the running embedded SQS, if any

--- Settings for the specs that follow: template (path; default template.yaml or template.yml
--- in the current folder), env_file (SAM's env-vars JSON), parameters (template parameters),
--- region.
function M.configure(options)
  settings = options or {}
  cache, handlers = {}, {}
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function template_path()
  if settings.template then return settings.template end
  for _, path in ipairs{"template.yaml", "template.yml"} do
    if file_exists(path) then return path end
  end
  error("testing: no template.yaml here (nor template.yml): name it with testing.configure{template = PATH}", 3)
end

local function region()
  return settings.region or os.getenv("AWS_REGION") or "us-east-1"
end

--- The project's template as `moonrun dev` reads it (functions, queues), with its queue URLs
--- those of the embedded SQS while one runs.
function M.template()
  local base = embedded and embedded.url_base or ""
  if not cache[base] then
    cache[base] = template_function.load_template(template_path(), {
      parameters = settings.parameters, region = region(),
      queue_url = embedded and function(name) return embedded.url_base .. name end or nil,
    })
  end
  return cache[base]
end

--- A template function's model (handler, code_dir, timeout, memory, environment, events).
function M.func(id)
  return template_function.find(M.template(), id)
end

--- The environment Lambda would give the function: its Environment.Variables as `moonrun dev`
--- resolves them, with the env-vars file of configure{env_file} applied as SAM applies it.
function M.env(id)
  local fn = M.func(id)
  if not settings.env_file then
    local copy = {}
    for k, v in pairs(fn.environment) do copy[k] = v end
    return copy
  end
  return template_function.apply_env_file(fn, template_function.read_env_file(settings.env_file), function(message)
    io.stderr:write("moonrun.testing: ", message, "\n")
  end)
end

-- ---- invoke ----

-- Sets the variables (false: unset) and returns what to set to put them back.
local function set_environment(vars)
  local previous = {}
  for name, value in pairs(vars) do
    previous[name] = os.getenv(name) or false
    local_invoke.setenv(name, value or nil)
  end
  return previous
end

-- The function's name, memory, code folder and variables, as Lambda sets them.
local function function_environment(fn, extra)
  local vars = {
    AWS_LAMBDA_FUNCTION_NAME = fn and fn.name or "moonrun-local",
    AWS_LAMBDA_FUNCTION_VERSION = "$LATEST",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE = tostring(fn and fn.memory or 128),
    AWS_LAMBDA_LOG_GROUP_NAME = "/aws/lambda/" .. (fn and fn.name or "moonrun-local"),
    AWS_LAMBDA_LOG_STREAM_NAME = "moonrun-test",
    AWS_REGION = os.getenv("AWS_REGION") or region(),
  }
  if fn then
    vars.LAMBDA_TASK_ROOT = fn.code_dir
    vars._HANDLER = fn.handler
    for k, v in pairs(M.env(fn.logical_id)) do vars[k] = v end
  end
  for k, v in pairs(extra or {}) do vars[k] = v end
  return vars
end

-- The task root on the module path, as on Lambda, so that a handler's own modules load.
local function add_to_path(dir)
  local entry = dir .. "/?.lua;" .. dir .. "/?/init.lua;"
  if not package.path:find(entry, 1, true) then package.path = entry .. package.path end
end

local function load_handler(name, task_root)
  local key = task_root .. "\0" .. name
  if handlers[key] then return handlers[key] end
  add_to_path(task_root)
  local fn, error_json = local_invoke.load(name, task_root)
  if not fn then return nil, json.decode(error_json) end
  handlers[key] = fn
  return fn
end

--- Forgets the loaded handlers: the next invoke loads each afresh (a cold start).
function M.reset()
  handlers = {}
end

local function sqs_message_ids(event)
  if type(event) ~= "table" or type(event.Records) ~= "table" then return nil end
  local ids = {}
  for _, record in ipairs(event.Records) do
    if type(record) ~= "table" or record.eventSource ~= "aws:sqs" then return nil end
    if type(record.messageId) == "string" then ids[record.messageId] = true end
  end
  return next(ids) and ids or nil
end

local function reports_failures(fn)
  for _, e in ipairs(fn and fn.sqs_events or {}) do
    if e.report_batch_item_failures then return true end
  end
  return false
end

-- With ReportBatchItemFailures, Lambda reads the answer; one it cannot read fails the batch.
local function check_batch_answer(answer_json, answer, event, fn, opts)
  local ids = sqs_message_ids(event)
  if not ids then return nil end
  local check = opts.report_batch_item_failures
  if check == nil then
    check = reports_failures(fn) or (type(answer) == "table" and answer.batchItemFailures ~= nil)
  end
  if not check then return nil end
  local failed, why = events.reported_failures(answer_json, ids)
  if failed then return nil end
  return {errorType = "Moonrun.InvalidBatchResponse",
          errorMessage = why .. ": with ReportBatchItemFailures, Lambda takes the whole batch as failed " ..
            "and every message returns to the queue (an empty list is json.array{} or events.batch_response{})"}
end

-- The traceback as Lambda's would be: the handler's frames, without the spec's and busted's
-- below the call that ran it.
local function handler_frames(err)
  if type(err) == "table" and type(err.stackTrace) == "table" then
    for i, line in ipairs(err.stackTrace) do
      if type(line) == "string" and line:find("'moonrun.local_invoke.run'", 1, true) then
        for j = #err.stackTrace, i, -1 do err.stackTrace[j] = nil end
        break
      end
    end
  end
  return err
end

--- Invokes a handler as Lambda would. target: a logical id of the template ("Consumer"), a
--- handler name under the task root ("src/consumer.handler"), or a function. event: a table
--- (encoded to JSON), a JSON string, or nil ({}). opts: timeout (seconds), env (variables to
--- add), report_batch_item_failures (true/false; default: the template's trigger says, or the
--- answer has batchItemFailures). Returns the answer decoded from JSON, or nil and Lambda's
--- error object ({errorType, errorMessage, stackTrace}); an SQS batch answer Lambda cannot read
--- returns the answer and a Moonrun.InvalidBatchResponse error.
function M.invoke(target, event, opts)
  opts = opts or {}
  local event_json
  if event == nil then event_json = "{}"
  elseif type(event) == "string" then event_json = event
  elseif type(event) == "table" then event_json = json.encode(event)
  else error("testing.invoke: the event is a table, a JSON string or nil, not a " .. type(event), 2) end
  local fn, handler_name, task_root
  if type(target) == "string" and not target:find(".", 1, true) then
    fn = M.func(target)
    handler_name, task_root = fn.handler, fn.code_dir
  elseif type(target) == "string" then
    handler_name, task_root = target, os.getenv("LAMBDA_TASK_ROOT") or "."
  elseif type(target) ~= "function" then
    error("testing.invoke: the target is a logical id, a handler name or a function, not a " .. type(target), 2)
  end
  local timeout_s = opts.timeout or (fn and fn.timeout) or 3
  local previous = set_environment(function_environment(fn, opts.env))
  local ok, answer, err = pcall(function()
    local handler = target
    if handler_name then
      local init_error
      handler, init_error = load_handler(handler_name, task_root)
      if not handler then return nil, init_error end
    end
    local succeeded, out = local_invoke.run(handler, event_json, math.floor(timeout_s * 1000))
    if not succeeded then return nil, handler_frames(json.decode(out)) end
    local decoded = json.decode(out)
    if type(event) == "string" then
      local parsed_ok, parsed = pcall(json.decode, event)
      event = parsed_ok and parsed or nil
    end
    return decoded, check_batch_answer(out, decoded, event, fn, opts)
  end)
  set_environment(previous)
  if not ok then error(answer, 0) end
  return answer, err
end

-- ---- events ----

local function merge(into, fields)
  for k, v in pairs(fields) do
    if v == json.null then into[k] = nil
    elseif type(v) == "table" and type(into[k]) == "table" and not json.is_array(v) and next(v) ~= nil then
      merge(into[k], v)
    else into[k] = v end
  end
  return into
end

--- An event of a type `moonrun event` knows (sqs, apigw-http, function-url, sns, s3, ...), made with
--- its options (as `moonrun event TYPE --help` lists them, with _ or - in names; an sqs body
--- may be a table, sent as JSON; an HTTP body a table, as JSON), then fields merged over it
--- (json.null removes one).
function M.event(kind, options, fields)
  local o = {}
  for k, v in pairs(options or {}) do o[(tostring(k):gsub("_", "-"))] = v end
  if kind == "sqs" and o.body ~= nil then
    local bodies = o.body
    if type(bodies) ~= "table" or bodies[1] == nil then bodies = {bodies} end -- one body
    local list = {}
    for i, b in ipairs(bodies) do list[i] = type(b) == "table" and json.encode(b) or tostring(b) end
    o.body = list
  elseif type(o.body) == "table" then
    o.body = json.encode(o.body)
  end
  local ok, event = pcall(sample_events.generate, kind, o)
  if not ok then error("testing.event: " .. tostring(event), 2) end
  return fields and merge(event, fields) or event
end

--- testing.events.sqs{...}, .apigw_http{...}, .function_url{...}, .dynamodb{...}, ...:
--- testing.event for one type.
M.events = {}
for _, t in ipairs(sample_events.types) do
  M.events[(t.name:gsub("-", "_"))] = function(options, fields) return M.event(t.name, options, fields) end
end

-- ---- the embedded SQS ----

--- Starts the embedded SQS (moonrun.testing.sqs) with options.queues, or by default the
--- project template's queues; while it runs, handlers' moonrun.sqs calls reach it and the
--- template's !Ref Queue values are its URLs. Close it with :close() (after_each).
function M.sqs(options)
  options = options or {}
  local queues = options.queues
  if not queues then
    local model = template_function.load_template(template_path(), {
      parameters = settings.parameters, region = region(),
      queue_url = function(name) return require("moonrun.testing.sqs").ENDPOINT .. "/000000000000/" .. name end,
    })
    queues = require("moonrun.dev.template").in_creation_order(model.queues)
  end
  local started = require("moonrun.testing.sqs").new{queues = queues, region = region(), now_ms = options.now_ms}
  local close = started.close
  started.close = function(self)
    close(self)
    if embedded == self then embedded = nil end
  end
  embedded = started
  return started
end

return M
