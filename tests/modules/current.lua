-- Fixture for tests/test_modules.py: moonrun.invocation.current() is the handler's context
-- while it runs, and nil outside an invocation (here, while the module loads).
local invocation = require "moonrun.invocation"

local at_load = invocation.current()

return {
  handler = function(_, context)
    return {same = invocation.current() == context, at_load = at_load == nil,
            id = invocation.current().aws_request_id}
  end,
}
