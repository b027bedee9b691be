-- The values of a decoded SAM template as every part of moonrun dev's reader of it sees them:
-- null and AWS::NoValue, what is a mapping, a list or an intrinsic's one-key mapping, and how a
-- value is named in an error message.
--
-- Its own module because template.lua (the loader), template_intrinsics.lua (Ref, Fn::*,
-- conditions) and template_resources.lua (functions, events, queues) all test values' shapes
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

M.NULL, M.NO_VALUE = NULL, NO_VALUE
M.present, M.sorted_keys, M.is_map, M.is_list = present, sorted_keys, is_map, is_list
M.list, M.single_key, M.describe = list, single_key, describe

return M
