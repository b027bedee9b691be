-- Reports the context object and trace environment back to the test.
local json = require("moonrun.json")

local M = {}

local function orNull(v)
  if v == nil then return json.null end
  return v
end

function M.handler(event, context)
  local remaining = context:get_remaining_time_in_millis()
  return {
    aws_request_id = orNull(context.aws_request_id),
    invoked_function_arn = orNull(context.invoked_function_arn),
    deadline_ms = orNull(context.deadline_ms),
    deadline_ms_type = math.type(context.deadline_ms) or type(context.deadline_ms),
    trace_id = orNull(context.trace_id),
    client_context = orNull(context.client_context),
    identity = orNull(context.identity),
    function_name = orNull(context.function_name),
    function_version = orNull(context.function_version),
    memory_limit_in_mb = orNull(context.memory_limit_in_mb),
    memory_limit_type = math.type(context.memory_limit_in_mb) or type(context.memory_limit_in_mb),
    log_group_name = orNull(context.log_group_name),
    log_stream_name = orNull(context.log_stream_name),
    foo_bar = orNull(context.foo_bar),
    remaining = remaining,
    remaining_type = math.type(remaining) or type(remaining),
    env_trace = orNull(os.getenv("_X_AMZN_TRACE_ID")),
  }
end

return M
