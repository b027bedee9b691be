-- Test handler for tests/test_logging.py: the event is a list of steps, each a list whose first
-- element names what to do; the handler returns its request id and the errors "try" steps got.
local log = require "moonrun.log"
local metrics = require "moonrun.metrics"

log.info("module loading", {phase = "init"})
print("init print")

local M = {}

local function bytes(list)
  return string.char(table.unpack(list))
end

local actions = {
  print = function(...) print(...) end,
  write = function(...) io.write(...) end,
  stdout_write = function(...) io.stdout:write(...) end,
  log = function(level, message, fields) log[level](message, fields) end,
  log_bytes = function(level, message, field) log[level](bytes(message), {raw = bytes(field)}) end,
  print_bytes = function(message) print(bytes(message)) end,
  namespace = metrics.set_namespace,
  dimensions = metrics.set_dimensions,
  property = metrics.set_property,
  put = metrics.put,
  put_many = function(count, values_each, unit)
    for i = 1, count do
      for v = 1, values_each do metrics.put(string.format("M%03d", i), v, unit) end
    end
  end,
  flush = metrics.flush,
  fail = function(message) error(message) end,
  failing_hook = function(message)
    require("moonrun.invocation").on_finish(function() error(message, 0) end)
  end,
}

function M.handler(event, context)
  local errors = {}
  for _, step in ipairs(event.steps or {}) do
    if step[1] == "try" then
      local ok, err = pcall(actions[step[2]], table.unpack(step, 3))
      errors[#errors + 1] = ok and "no error" or tostring(err)
    else
      actions[step[1]](table.unpack(step, 2))
    end
  end
  return {request_id = context.aws_request_id, errors = errors, enabled = {
    debug = log.enabled("DEBUG"), info = log.enabled("INFO"), warn = log.enabled("WARN")},
    format = log.format, level = log.level}
end

return M
