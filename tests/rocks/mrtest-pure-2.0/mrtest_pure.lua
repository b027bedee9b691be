-- mrtest-pure 2.0: a pure-Lua rock for the tests; greet names its version so a test can tell
-- which of the two versions was installed.
local M = {version = "2.0"}

function M.greet(name)
  return "hello " .. name .. " from mrtest-pure " .. M.version
end

return M
