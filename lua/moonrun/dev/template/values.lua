-- The values of a decoded SAM template as every part of moonrun dev's reader of it sees them:
-- null and AWS::NoValue, what is a mapping, a list or an intrinsic's one-key mapping, and how a
-- value is named in an error message.
--
-- Its own module because template/init.lua (the loader), template/intrinsics.lua (Ref, Fn::*,
-- conditions) and template/resources.lua (functions, events, queues) all test values' shapes
-- the same way, and AWS::NoValue must be the one table they all compare with.
local json = require "moonrun.json"

local M = {}

local NULL = json.null
-- What AWS::NoValue resolves to: the property (or list item) holding it disappears.
local NO_VALUE = setmetatable({}, {__name = "AWS::NoValue"})

local function present(v)
  return v ~= nil and v ~= NULL
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function is_map(v)
  return type(v) == "table" and v ~= NULL and v ~= NO_VALUE and not json.is_array(v)
end

local function is_list(v)
  return type(v) == "table" and json.is_array(v)
end

local function list(t)
  return json.array(t or {})
end

-- The only key of a one-key mapping (an intrinsic's shape), or nil.
local function single_key(v)
  if not is_map(v) then return nil end
  local k = next(v)
  if k == nil or next(v, k) ~= nil then return nil end
  return k
end

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  if is_list(v) then return "a list" end
  if is_map(v) then return "a mapping" end
  return tostring(v)
end

-- Edit distance, ignoring case: how far a typo is from the name it meant.
local function distance(a, b)
  a, b = a:lower(), b:lower()
  local previous = {}
  for j = 0, #b do previous[j] = j end
  for i = 1, #a do
    local current = {[0] = i}
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[#b]
end

--- " (did you mean X?)" for the known name closest to name, when one is close enough to be a
--- typo of it; "" otherwise. known: a set (names as keys) or several sets.
local function suggestion(name, ...)
  local best, best_distance = nil, math.max(2, #name // 3) + 1
  for _, set in ipairs{...} do
    for known in pairs(set) do
      local d = distance(name, known)
      if d < best_distance or (d == best_distance and best and known < best) then best, best_distance = known, d end
    end
  end
  return best and string.format(" (did you mean %s?)", best) or ""
end

M.NULL, M.NO_VALUE = NULL, NO_VALUE
M.suggestion = suggestion
M.present, M.sorted_keys, M.is_map, M.is_list = present, sorted_keys, is_map, is_list
M.list, M.single_key, M.describe = list, single_key, describe

return M
