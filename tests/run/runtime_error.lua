local function inner()
  local t = nil
  return t.field -- indexing nil
end

local function outer()
  local value = inner() -- not a tail call, so outer shows in the traceback
  return value
end

outer()
