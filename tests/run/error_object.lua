-- Raises error values that are not strings.
local kind = ...
if kind == "tostring" then
  error(setmetatable({}, {__tostring = function() return "custom error object" end}))
end
error({code = 42})
