-- Fixture for tests/test_local.py: reports what the context and environment say.
local M = {}

function M.handler(event, context)
  return {
    name = event.name,
    remaining = context:get_remaining_time_in_millis(),
    function_name = context.function_name,
    greeting = os.getenv("GREETING"),
  }
end

function M.fail()
  error({errorType = "ValidationError", errorMessage = "no name"})
end

return M
