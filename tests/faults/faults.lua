-- Fixture for tests/test_faults.py: handlers that misbehave in the ways a runtime must survive.
local M = {}

local kinds = {
  os_exit = function() os.exit(3) end,
  os_exit_true = function() os.exit(true) end,
  os_exit_with = function(event) os.exit(event.status) end,
  os_exit_caught = function()
    local ok = pcall(os.exit, 5)
    return {caught = not ok}
  end,
  yield_outside = function() coroutine.yield("nowhere") end,
  yield_across_c = function()
    return coroutine.wrap(function()
      table.sort({3, 2, 1}, function(a, b)
        coroutine.yield()
        return a < b
      end)
    end)()
  end,
  ok = function(event) return {ok = event.n} end,
}

function M.handler(event)
  return kinds[event.kind](event)
end

return M
