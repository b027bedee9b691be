-- Signs every request of a JSON array (the file named by arg[1]) with moonrun.sigv4 and writes
-- one JSON array of answers to stdout: sign's result, or {error = message} when it raised. One
-- process signs all the cases of tests/test_sigv4.py, instead of one process per case.
-- A case {__arg = value} calls sign(value), to test what sign does with a non-table.
local json = require "moonrun.json"
local sigv4 = require "moonrun.sigv4"

local file = assert(io.open(arg[1], "rb"))
local cases = json.decode(file:read("a"))
file:close()

local answers = json.array()
for i, case in ipairs(cases) do
  local argument = case
  if case.__arg ~= nil then argument = case.__arg end
  local ok, result = pcall(sigv4.sign, argument)
  if ok then
    answers[i] = {
      headers = result.headers,
      url = result.url,
      signature = result.signature,
      canonical_request = result.canonical_request,
      string_to_sign = result.string_to_sign,
      amz_date = result.amz_date,
    }
  else
    answers[i] = {error = tostring(result)}
  end
end
io.write(json.encode(answers))
