-- Unit tests of moonrun.json, run as a handler: moonrun invoke tests/lua/json_test.run
-- Any failed check raises, so the invocation (and ctest) fails with the check's message.
local json = require "moonrun.json"

local checks = 0

local function check(condition, what)
  checks = checks + 1
  if not condition then error("check failed: " .. what, 2) end
end

local function equal(actual, expected, what)
  check(actual == expected, string.format("%s: expected %q, got %q", what, tostring(expected), tostring(actual)))
end

local function fails(fn, pattern, what)
  local ok, err = pcall(fn)
  check(not ok, what .. ": expected an error")
  check(tostring(err):find(pattern, 1, true), string.format("%s: error %q lacks %q", what, tostring(err), pattern))
end

local function round_trip(text, what)
  equal(json.encode(json.decode(text)), text, what or text)
end

local M = {}

function M.run()
  -- integers stay integers, floats stay floats, both exact
  equal(math.type(json.decode("9007199254740993")), "integer", "2^53+1 type")
  equal(json.decode("9007199254740993"), 9007199254740993, "2^53+1 value")
  equal(json.decode("9223372036854775807"), math.maxinteger, "int64 max")
  equal(json.decode("-9223372036854775808"), math.mininteger, "int64 min")
  equal(math.type(json.decode("9223372036854775808")), "float", "beyond int64 is a float")
  equal(math.type(json.decode("1.0")), "float", "1.0 is a float")
  equal(json.encode(1.0), "1.0", "float 1.0 keeps its point")
  equal(json.encode(-0.0), "-0.0", "negative zero")
  equal(json.encode(math.maxinteger), "9223372036854775807", "int64 max written")
  for _, x in ipairs{0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, 123456789.123456789} do
    equal(json.decode(json.encode(x)), x, "float round trip " .. tostring(x))
  end
  equal(json.decode("1e400"), math.huge, "overflowing exponent reads as inf")

  -- null, empty containers, nesting
  check(json.decode("null") == json.null, "null is json.null")
  equal(tostring(json.null), "json.null", "json.null prints")
  round_trip("[]")
  round_trip("{}")
  round_trip("[[],{},[null],{\"a\":null}]")
  round_trip("{\"a\":{\"b\":{\"c\":[1,2,3]}}}")
  equal(json.encode({}), "{}", "an unmarked empty table is an object")
  equal(json.encode(json.array{}), "[]", "json.array marks an empty array")
  equal(json.encode(json.array()), "[]", "json.array() makes one")
  check(json.is_array(json.decode("[]")), "decoded arrays are marked")
  check(not json.is_array({}), "plain tables are not")
  equal(json.encode({1, 2, 3}), "[1,2,3]", "sequence")
  equal(json.encode({[200] = "ok"}), "{\"200\":\"ok\"}", "integer keys of a non-sequence")
  equal(json.encode(nil), "null", "nil")
  equal(json.encode("hi"), "\"hi\"", "string")
  equal(json.encode(true), "true", "boolean")

  -- containers larger than the decoder's staging (32 members), and repeated keys
  local many = {}
  for i = 1, 100 do many[i] = i end
  round_trip(json.encode(many), "100-element array")
  local decoded_many = json.decode(json.encode(many))
  equal(#decoded_many, 100, "100-element array length")
  equal(decoded_many[77], 77, "100-element array order")
  local keys = {}
  for i = 1, 100 do keys["k" .. i] = i end
  local decoded_keys = json.decode(json.encode(keys))
  for i = 1, 100 do equal(decoded_keys["k" .. i], i, "100-key object k" .. i) end
  equal(json.decode("{\"a\":1,\"a\":2}").a, 2, "a repeated key keeps its last value")
  local parts = {"\"dup\":1"}
  for i = 1, 40 do parts[#parts + 1] = string.format("\"x%d\":%d", i, i) end
  parts[#parts + 1] = "\"dup\":2"
  equal(json.decode("{" .. table.concat(parts, ",") .. "}").dup, 2, "repeated key across the staging limit")

  -- strings: UTF-8 stays UTF-8, escapes are read, control characters written escaped
  equal(json.decode("\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\""), "é😀\n\t\"\\/", "escapes")
  equal(json.encode("é😀☃"), "\"é😀☃\"", "UTF-8 written raw")
  equal(json.encode("a\0b\1\31\127"), "\"a\\u0000b\\u0001\\u001f\127\"", "control characters")
  equal(json.encode("\"\\\n\r\t\b\f"), "\"\\\"\\\\\\n\\r\\t\\b\\f\"", "short escapes")
  round_trip("\"\\u0000\"")

  -- nesting limit, both ways
  json.decode(string.rep("[", 1000) .. string.rep("]", 1000))
  fails(function() json.decode(string.rep("[", 1001) .. string.rep("]", 1001)) end, "nesting deeper than 1000", "deep decode")
  local deep = {}
  for _ = 1, 1000 do deep = {deep} end
  fails(function() json.encode(deep) end, "nesting deeper than 1000", "deep encode")

  -- bad input, each named
  fails(function() json.decode("{\"a\":1,}") end, "line 1, column 8", "trailing comma")
  fails(function() json.decode("[1,\n 2,\n x]") end, "line 3, column 2", "position on a later line")
  fails(function() json.decode("\"abc") end, "unterminated string", "unterminated string")
  fails(function() json.decode("\"\255\"") end, "invalid UTF-8", "invalid UTF-8")
  fails(function() json.decode("\"\192\128\"") end, "invalid UTF-8", "overlong encoding")
  fails(function() json.decode("\"\237\160\128\"") end, "invalid UTF-8", "encoded surrogate")
  fails(function() json.decode("\"\\ud800\"") end, "unpaired high surrogate", "lone high surrogate")
  fails(function() json.decode("\"\\udc00\"") end, "unpaired low surrogate", "lone low surrogate")
  fails(function() json.decode("\"a\nb\"") end, "control character", "raw newline in string")
  fails(function() json.decode("01") end, "leading zero", "leading zero")
  fails(function() json.decode("1.") end, "digit expected", "bare point")
  fails(function() json.decode("[1] 2") end, "unexpected data after", "trailing data")
  fails(function() json.decode("") end, "unexpected end", "empty text")
  fails(function() json.decode("nul") end, "unexpected character", "truncated literal")
  fails(function() json.encode({f = print}) end, "cannot write a function as JSON at value.f", "function")
  fails(function() json.encode({a = {1, 2, 0 / 0}}) end, "NaN as JSON at value.a[3]", "NaN with path")
  fails(function() json.encode({x = math.huge}) end, "inf (math.huge)", "inf")
  fails(function() json.encode({["a b"] = {[true] = 1}}) end, "boolean as an object key (keys must be strings or integers) at value[\"a b\"]", "bad key")
  fails(function() json.encode({[1.5] = 1}) end, "number as an object key", "float key")
  fails(function() json.encode("\255") end, "invalid UTF-8", "invalid UTF-8 written")
  local cycle = {}
  cycle.self = cycle
  fails(function() json.encode(cycle) end, "cycle", "cycle")
  fails(function() json.encode(json.array{x = 1}) end, "not an index", "marked array with a string key")
  local shared = {1}
  equal(json.encode({shared, shared}), "[[1],[1]]", "a table seen twice is not a cycle")
  return {checks = checks}
end

return M
