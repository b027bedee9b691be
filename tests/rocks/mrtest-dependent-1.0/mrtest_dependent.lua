-- mrtest-dependent: a rock that needs another (mrtest-pure), required at load time.
local pure = require "mrtest_pure"

local M = {}

function M.welcome(name)
  return pure.greet(name) .. ", via mrtest-dependent"
end

return M
