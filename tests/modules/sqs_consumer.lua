-- Fixture for tests/test_modules.py: reads an SQS event as a consumer would, checking each
-- record's md5OfBody the way SQS clients check MD5OfMessageBody.
local digest = require "moonrun.digest"

local M = {}

function M.handler(event)
  local bodies, sources = {}, {}
  for i, record in ipairs(event.Records) do
    if digest.md5_hex(record.body) ~= record.md5OfBody then
      error("record " .. i .. ": md5OfBody does not match the body")
    end
    bodies[#bodies + 1] = record.body
    sources[#sources + 1] = record.eventSourceARN
  end
  return {count = #event.Records, bodies = bodies, sources = sources}
end

return M
