-- Fixture for tests/test_aws.py: a handler that raises its credentials as the error value.
local aws = require "moonrun.aws"

return {
  handler = function()
    error(aws.credentials())
  end,
}
