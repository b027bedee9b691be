-- Fixture for tests/test_modules.py: runs the Lua chunk in event.code with moonrun's modules as
-- locals (uuid, time, digest, json, events) and returns what it returns, or the error it raised
-- as {error = message}, so one invocation can check many calls.
local env = setmetatable({
  uuid = require "moonrun.uuid",
  time = require "moonrun.time",
  digest = require "moonrun.digest",
  json = require "moonrun.json",
  events = require "moonrun.sample_events",
}, {__index = _G})

local M = {}

function M.handler(event)
  local chunk, syntax = load(event.code, "=probe", "t", env)
  if not chunk then return {error = syntax} end
  local ok, result = pcall(chunk)
  if not ok then return {error = tostring(result)} end
  return {result = result}
end

return M
