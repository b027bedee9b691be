-- The text helpers of the events moonrun makes up as AWS services would send them: the samples
-- of `moonrun event` (sample_events.lua) and the requests of moonrun dev's API Gateway front
-- (dev/apigw.lua). Query strings are decoded as API Gateway decodes them; ids only need to look
-- right, so math.random (seeded afresh by Lua for each state) is enough for them.
local base64 = require "moonrun.base64"
local json = require "moonrun.json"
local time = require "moonrun.time"

local M = {}

function M.percent_decode(text)
  return (text:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

-- As a browser's form encoding is decoded: '+' is a space.
function M.form_decode(text)
  return M.percent_decode((text:gsub("+", " ")))
end

-- "a=1&b=2&a=3" -> names in order of appearance, and name -> list of decoded values; "flag"
-- alone is "". A nil query has no parameters.
function M.parse_query(query)
  local names, values = {}, {}
  for pair in (query or ""):gmatch("[^&]+") do
    local name, value = pair:match("^([^=]*)=?(.*)$")
    name, value = M.form_decode(name), M.form_decode(value)
    if not values[name] then
      names[#names + 1] = name
      values[name] = json.array{}
    end
    table.insert(values[name], value)
  end
  return names, values
end

function M.random_bytes(n)
  local bytes = {}
  for i = 1, n do bytes[i] = string.char(math.random(0, 255)) end
  return table.concat(bytes)
end

function M.random_text(n, alphabet)
  local chars = {}
  for i = 1, n do
    local k = math.random(1, #alphabet)
    chars[i] = alphabet:sub(k, k)
  end
  return table.concat(chars)
end

-- The time as API Gateway writes it: "01/Dec/2026:21:58:00 +0000".
function M.clf_time(ms)
  return time.format(ms / 1000, "%d/%b/%Y:%H:%M:%S +0000")
end

-- An HTTP API's requestId: it looks like "JKJaXmPLvHcESHA=".
function M.http_request_id()
  return (base64.encode(M.random_bytes(11)):gsub("[+/]", "x"))
end

return M
