-- Specs of moonrun.json, for busted run inside moonrun (so `require "moonrun.json"` finds the
-- C module): build/moonrun run /usr/bin/busted tests/lua/json_spec.lua
local json = require "moonrun.json"

-- The error raised by fn, as text; fails the spec when fn does not raise.
local function error_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error, got none")
  return tostring(err)
end

-- Checks that fn raises an error containing every given fragment (plain text, not patterns).
local function assert_fails(fn, ...)
  local message = error_of(fn)
  for i = 1, select("#", ...) do
    local fragment = select(i, ...)
    assert.is_truthy(message:find(fragment, 1, true),
      string.format("error %q lacks %q", message, fragment))
  end
end

local function assert_round_trip(text)
  assert.are.equal(text, json.encode(json.decode(text)))
end

describe("moonrun.json", function()
  describe("numbers", function()
    it("reads integers that fit in 64 bits as exact integers", function()
      local n = json.decode("9007199254740993") -- 2^53 + 1: a double would round it
      assert.are.equal("integer", math.type(n))
      assert.are.equal(9007199254740993, n)
      assert.are.equal(math.maxinteger, json.decode("9223372036854775807"))
      assert.are.equal(math.mininteger, json.decode("-9223372036854775808"))
      assert.are.equal(0, json.decode("0"))
      assert.are.equal(-7, json.decode("-7"))
    end)

    it("reads integers beyond 64 bits, fractions and exponents as floats", function()
      assert.are.equal("float", math.type(json.decode("9223372036854775808")))
      assert.are.equal("float", math.type(json.decode("1.0")))
      assert.are.equal("float", math.type(json.decode("1e2")))
      assert.are.equal(100.0, json.decode("1e2"))
      assert.are.equal(-0.25, json.decode("-2.5E-1"))
      assert.are.equal(math.huge, json.decode("1e400"))
    end)

    it("writes integers exactly", function()
      assert.are.equal("9223372036854775807", json.encode(math.maxinteger))
      assert.are.equal("-9223372036854775808", json.encode(math.mininteger))
      assert.are.equal("9007199254740993", json.encode(9007199254740993))
      assert.are.equal("0", json.encode(0))
    end)

    it("writes floats with a point or an exponent, so they stay floats", function()
      assert.are.equal("1.0", json.encode(1.0))
      assert.are.equal("-0.0", json.encode(-0.0))
      assert.are.equal("float", math.type(json.decode(json.encode(1.0))))
      assert.are.equal("float", math.type(json.decode(json.encode(2.0 ^ 63))))
    end)

    it("writes floats that read back as the same double", function()
      for _, x in ipairs{0.1, 1 / 3, -2.5, 1e-300, 5e-324, 1.7976931348623157e308,
                         123456789.123456789, 2.0 ^ 53 + 2.0} do
        local back = json.decode(json.encode(x))
        assert.are.equal(x, back)
        assert.are.equal("float", math.type(back))
      end
    end)

    it("refuses NaN and infinities, naming where they are", function()
      assert_fails(function() json.encode({a = {1, 2, 0 / 0}}) end, "NaN as JSON at value.a[3]")
      assert_fails(function() json.encode({x = math.huge}) end, "inf (math.huge)", "at value.x")
      assert_fails(function() json.encode(-math.huge) end, "inf")
    end)
  end)

  describe("scalars and null", function()
    it("maps null to the json.null sentinel, both ways", function()
      assert.are.equal(json.null, json.decode("null"))
      assert.are.equal("null", json.encode(json.null))
      assert.are.equal("null", json.encode(nil))
      assert.are.equal("json.null", tostring(json.null))
      assert.are.equal(json.null, json.decode("[null]")[1])
      assert.are.equal(json.null, json.decode("{\"a\":null}").a)
    end)

    it("reads and writes booleans and strings", function()
      assert.is_true(json.decode("true"))
      assert.is_false(json.decode("false"))
      assert.are.equal("true", json.encode(true))
      assert.are.equal("false", json.encode(false))
      assert.are.equal("\"hi\"", json.encode("hi"))
      assert.are.equal("hi", json.decode("\"hi\""))
    end)

    it("skips white space around a value", function()
      assert.are.equal(1, json.decode(" \t\r\n 1 \n"))
    end)
  end)

  describe("arrays and objects", function()
    it("round-trips empty containers", function()
      assert_round_trip("[]")
      assert_round_trip("{}")
      assert_round_trip("[[],{},[null],{\"a\":null}]")
      assert_round_trip("{\"a\":{\"b\":{\"c\":[1,2,3]}}}")
    end)

    it("writes an unmarked empty table as an object", function()
      assert.are.equal("{}", json.encode({}))
    end)

    it("marks arrays with json.array and tells them with json.is_array", function()
      assert.are.equal("[]", json.encode(json.array{}))
      assert.are.equal("[]", json.encode(json.array()))
      local t = {}
      assert.are.equal(t, json.array(t))
      assert.is_true(json.is_array(t))
      assert.is_true(json.is_array(json.decode("[]")))
      assert.is_true(json.is_array(json.decode("[1,2]")))
      assert.is_false(json.is_array({}))
      assert.is_false(json.is_array(json.decode("{}")))
    end)

    it("writes a sequence 1..n as an array, anything else as an object", function()
      assert.are.equal("[1,2,3]", json.encode({1, 2, 3}))
      assert.are.equal("[\"a\",[true]]", json.encode({"a", {true}}))
      assert.are.equal("{\"1\":1,\"3\":3}", json.encode({[1] = 1, [3] = 3}))
      assert.are.equal("{\"a\":1}", json.encode({a = 1}))
      local mixed = json.decode(json.encode({1, 2, x = 3}))
      assert.are.same({["1"] = 1, ["2"] = 2, x = 3}, mixed)
    end)

    it("writes integer keys of a non-sequence as strings", function()
      assert.are.equal("{\"200\":\"ok\"}", json.encode({[200] = "ok"}))
      assert.are.equal("{\"-1\":1}", json.encode({[-1] = 1}))
      assert.are.equal("{\"0\":1}", json.encode({[0] = 1}))
    end)

    it("reads objects with string keys", function()
      local t = json.decode("{\"a\":1,\"b\":[true,false],\"c\":{\"d\":\"e\"}}")
      assert.are.same({a = 1, b = {true, false}, c = {d = "e"}}, t)
    end)

    it("handles containers larger than the decoder's 32-member staging", function()
      local many = {}
      for i = 1, 100 do many[i] = i end
      local text = json.encode(many)
      assert_round_trip(text)
      local back = json.decode(text)
      assert.are.equal(100, #back)
      for i = 1, 100 do assert.are.equal(i, back[i]) end

      local keys = {}
      for i = 1, 100 do keys["k" .. i] = i end
      local decoded = json.decode(json.encode(keys))
      for i = 1, 100 do assert.are.equal(i, decoded["k" .. i]) end
    end)

    it("keeps the last value of a repeated key", function()
      assert.are.equal(2, json.decode("{\"a\":1,\"a\":2}").a)
      local parts = {"\"dup\":1"}
      for i = 1, 40 do parts[#parts + 1] = string.format("\"x%d\":%d", i, i) end
      parts[#parts + 1] = "\"dup\":2"
      local t = json.decode("{" .. table.concat(parts, ",") .. "}")
      assert.are.equal(2, t.dup)
      assert.are.equal(40, t.x40)
    end)

    it("writes a table met twice (not a cycle) twice", function()
      local shared = {1}
      assert.are.equal("[[1],[1]]", json.encode({shared, shared}))
    end)
  end)

  describe("strings", function()
    it("reads escapes, including surrogate pairs, into UTF-8", function()
      assert.are.equal("é😀\n\t\"\\/", json.decode("\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\""))
      assert.are.equal("\b\f\r", json.decode("\"\\b\\f\\r\""))
      assert.are.equal("\0", json.decode("\"\\u0000\""))
    end)

    it("writes UTF-8 as it is, not as \\u escapes", function()
      assert.are.equal("\"é😀☃\"", json.encode("é😀☃"))
      assert.are.equal("é😀☃", json.decode("\"é😀☃\""))
    end)

    it("escapes control characters, quotes and backslashes", function()
      assert.are.equal("\"a\\u0000b\\u0001\\u001f\127\"", json.encode("a\0b\1\31\127"))
      assert.are.equal("\"\\\"\\\\\\n\\r\\t\\b\\f\"", json.encode("\"\\\n\r\t\b\f"))
      assert_round_trip("\"\\u0000\"")
    end)

    it("refuses invalid UTF-8 when writing", function()
      assert_fails(function() json.encode("\255") end, "invalid UTF-8", "at value")
      assert_fails(function() json.encode({s = "a\192\128"}) end, "invalid UTF-8", "at value.s")
    end)

    -- The scan for special bytes goes 16 (SSE2, NEON) or 8 bytes at a time, then tests the
    -- tail in overlapping words: each kind of byte at each offset of strings of each length up
    -- to three blocks is held against a byte-by-byte reference written here.
    local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                     ["\b"] = "\\b", ["\f"] = "\\f"}
    local function reference_encode(s)
      return '"' .. s:gsub("[%z\1-\31\"\\]", function(c)
        return escapes[c] or string.format("\\u%04x", c:byte())
      end) .. '"'
    end
    local specials = {'"', "\\", "\1", "\31", "\0", "\n", "\127", "é", "😀"}

    it("finds each special byte at every offset of strings up to 48 bytes", function()
      for len = 1, 48 do
        for at = 1, len do
          for _, special in ipairs(specials) do
            local s = string.rep("a", at - 1) .. special .. string.rep("b", len - at)
            local text = json.encode(s)
            assert.are.equal(reference_encode(s), text)
            assert.are.equal(s, json.decode(text))
            -- At the very end of the document, and with more document after the string.
            assert.are.equal(s, json.decode("[" .. text .. "," .. text .. "]")[2])
            assert.are.equal(s, json.decode('{"k":' .. text .. ',"z":1}').k)
          end
        end
      end
    end)

    it("refuses invalid UTF-8 and raw control characters at every offset, both ways", function()
      for len = 1, 40 do
        for at = 1, len do
          local head, tail = string.rep("a", at - 1), string.rep("b", len - at)
          for _, bad in ipairs({"\255", "\192\128", "\237\160\128", "\128", "\226\130"}) do
            assert_fails(function() json.encode(head .. bad .. tail) end, "invalid UTF-8", "at value")
            assert_fails(function() json.decode('"' .. head .. bad .. tail .. '"') end,
              "invalid UTF-8 in string", "byte " .. (at + 1))
          end
          assert_fails(function() json.decode('"' .. head .. "\1" .. tail .. '"') end,
            "control character in string", "byte " .. (at + 1))
          assert_fails(function() json.decode('"' .. head .. tail) end, "unterminated string")
        end
      end
    end)

    it("reads escape-dense text (JSON inside JSON) at every alignment", function()
      local inner = '{"orderId":"a1","items":[{"sku":"S-1","qty":3}],"note":"x\\y\\nz"}'
      for pad = 0, 33 do
        local s = string.rep("p", pad) .. inner .. string.rep("q", pad % 7)
        local text = json.encode(s)
        assert.are.equal(reference_encode(s), text)
        assert.are.equal(s, json.decode(text))
        assert.are.equal(s, json.decode('{"body":' .. text .. "}").body)
      end
    end)
  end)

  describe("object keys", function()
    -- Keys come from a fixed cache of 256 strings: repeated, colliding and evicted keys must
    -- all read as the keys they are.
    it("reads repeated keys, many distinct keys and keys near Lua's 40-byte limit alike", function()
      for round = 1, 3 do
        local doc, want = {}, {}
        for i = 1, 700 do
          local key = (i % 3 == 0 and string.rep("k", i % 45) or "key") .. i .. "_" .. round
          want[key] = i
          doc[#doc + 1] = string.format("%q:%d", key, i)
        end
        local got = json.decode("{" .. table.concat(doc, ",") .. "}")
        assert.are.same(want, got)
      end
      for len = 36, 44 do
        local key = string.rep("x", len)
        for _ = 1, 3 do assert.are.same({[key] = len}, json.decode('{"' .. key .. '":' .. len .. "}")) end
      end
      assert.are.same({["a\"b"] = 1, ["a\nb"] = 2}, json.decode('{"a\\"b":1,"a\\nb":2}'))
      assert.are.same({[""] = 0}, json.decode('{"":0}'))
    end)

    it("keeps cached keys valid across garbage collections", function()
      json.decode('{"messageId":1,"receiptHandle":2}') -- its table is garbage at once
      collectgarbage("collect")
      collectgarbage("collect")
      local again = json.decode('{"messageId":3,"receiptHandle":4}')
      assert.are.same({messageId = 3, receiptHandle = 4}, again)
      assert.are.equal(3, again["message" .. "Id"])
    end)
  end)

  describe("nesting", function()
    it("reads and writes 1000 levels", function()
      local text = string.rep("[", 1000) .. string.rep("]", 1000)
      assert.are.equal(text, json.encode(json.decode(text)))
      local deep = {}
      for _ = 1, 999 do deep = {deep} end
      assert.are.equal(1000, #json.encode(deep) // 2)
    end)

    it("refuses more than 1000 levels when reading", function()
      assert_fails(function() json.decode(string.rep("[", 1001) .. string.rep("]", 1001)) end,
        "line 1, column 1001", "nesting deeper than 1000")
      assert_fails(function() json.decode(string.rep("{\"a\":", 1001) .. "1" .. string.rep("}", 1001)) end,
        "nesting deeper than 1000")
    end)

    it("refuses more than 1000 levels when writing", function()
      local deep = {}
      for _ = 1, 1000 do deep = {deep} end
      assert_fails(function() json.encode(deep) end, "nesting deeper than 1000", "at value[1][1]")
    end)

    it("refuses a table that contains itself, naming where", function()
      local cycle = {}
      cycle.self = cycle
      assert_fails(function() json.encode(cycle) end, "cycle", "at value.self")
      local outer = {a = {}}
      outer.a.b = {outer}
      assert_fails(function() json.encode(outer) end, "cycle", "at value.a.b[1]")
    end)
  end)

  describe("decode errors name the problem and where it is", function()
    local cases = {
      {"{\"a\":1,}", "line 1, column 8", "expected a string key in object"},
      {"[1,\n 2,\n x]", "line 3, column 2", "unexpected character"},
      {"\"abc", "line 1, column 5", "unterminated string"},
      {"\"\255\"", "line 1, column 2", "invalid UTF-8"},
      {"\"\192\128\"", "line 1, column 2", "invalid UTF-8"},         -- overlong encoding
      {"\"\237\160\128\"", "line 1, column 2", "invalid UTF-8"},     -- encoded surrogate
      {"\"\\ud800\"", "line 1, column 2", "unpaired high surrogate"},
      {"\"\\udc00\"", "line 1, column 2", "unpaired low surrogate"},
      {"\"a\nb\"", "line 1, column 3", "control character"},
      {"\"\\x\"", "line 1, column 2", "unknown escape"},
      {"\"\\u12g4\"", "line 1, column 6", "bad hex digit"},
      {"01", "line 1, column 1", "leading zero"},
      {"1.", "line 1, column 1", "digit expected"},
      {"1e", "line 1, column 1", "digit expected in exponent"},
      {"-", "line 1, column 1", "bad number"},
      {"[1] 2", "line 1, column 5", "unexpected data after"},
      {"", "line 1, column 1", "unexpected end"},
      {"[", "line 1, column 2", "unexpected end"},
      {"nul", "line 1, column 1", "unexpected character"},
      {"{\"a\" 1}", "line 1, column 6", "expected ':'"},
      {"[1 2]", "line 1, column 4", "expected ',' or ']'"},
      {"{1:2}", "line 1, column 2", "expected a string key"},
    }
    for _, case in ipairs(cases) do
      local text, position, reason = case[1], case[2], case[3]
      it(string.format("%q: %s", text, reason), function()
        assert_fails(function() json.decode(text) end, "invalid JSON at " .. position, reason)
      end)
    end
  end)

  describe("encode errors name the value and its path", function()
    it("refuses functions, threads and userdata", function()
      assert_fails(function() json.encode({f = print}) end, "cannot write a function as JSON at value.f")
      assert_fails(function() json.encode({co = coroutine.create(print)}) end, "a thread", "at value.co")
      assert_fails(function() json.encode({u = io.stdout}) end, "a userdata", "at value.u")
    end)

    it("refuses keys that are neither strings nor integers", function()
      assert_fails(function() json.encode({["a b"] = {[true] = 1}}) end,
        "boolean as an object key (keys must be strings or integers) at value[\"a b\"]")
      assert_fails(function() json.encode({[1.5] = 1}) end, "number as an object key")
    end)

    it("refuses a marked array with a key that is not an index", function()
      assert_fails(function() json.encode(json.array{x = 1}) end, "not an index")
    end)
  end)

  describe("open_lines: a file of JSON lines, decoded in place", function()
    local path = os.tmpname()
    after_each(function() os.remove(path) end)
    local function write(text)
      local file = assert(io.open(path, "wb"))
      file:write(text)
      file:close()
    end
    -- Every line as {number, decoded, value}, and whether the file ended on a newline.
    local function read_all()
      local lines = assert(json.open_lines(path))
      local got = {}
      for number, decoded, value in lines.next, lines do got[#got + 1] = {number, decoded, value} end
      local whole = lines:ends_whole()
      lines:close()
      return got, whole
    end

    it("gives each line that is not empty with its number; an empty file has none", function()
      write('{"a":1}\n\n[2]\r\n"x"\n')
      local got, whole = read_all()
      assert.are.same({{1, true, {a = 1}}, {3, true, {2}}, {4, true, "x"}}, got)
      assert.is_true(whole)
      write("")
      got, whole = read_all()
      assert.are.same({}, got)
      assert.is_true(whole)
    end)

    it("passes a line that is not JSON with the reason, and goes on to the next", function()
      write('{"a":1}\n{"a":\n{"b":2}\n')
      local got = read_all()
      assert.are.equal(3, #got)
      assert.are.same({1, true, {a = 1}}, got[1])
      assert.are.equal(2, got[2][1])
      assert.is_false(got[2][2])
      assert.is_truthy(tostring(got[2][3]):find("invalid JSON at line 1", 1, true))
      assert.are.same({3, true, {b = 2}}, got[3])
    end)

    it("reads a last line without its newline, and says the file did not end whole", function()
      write('{"a":1}\n{"b":2}')
      local got, whole = read_all()
      assert.are.same({{1, true, {a = 1}}, {2, true, {b = 2}}}, got)
      assert.is_false(whole)
      write('{"a":1}\n{"b":')
      got, whole = read_all()
      assert.are.equal(2, #got)
      assert.is_false(got[2][2])
      assert.is_false(whole)
    end)

    it("keeps lines whole across its 1 MiB blocks, and a line longer than a block", function()
      local expected, parts = {}, {}
      local sizes = {1000, 3 * 1024 * 1024, 5, 1024 * 1024 - 3, 700 * 1024}
      for i = 1, 4000 do sizes[#sizes + 1] = 1000 + i % 97 end
      for i, size in ipairs(sizes) do
        local body = string.rep(string.char(97 + i % 26), size)
        expected[i] = {i, true, {i = i, body = body}}
        parts[i] = json.encode({i = i, body = body})
      end
      write(table.concat(parts, "\n") .. "\n")
      local got, whole = read_all()
      assert.is_true(whole)
      assert.are.equal(#expected, #got)
      for i = 1, #expected do
        assert.are.same(expected[i], got[i], "line " .. i)
      end
    end)

    it("fails as io.open does for a missing file; a closed reader is an error", function()
      local lines, why, errno = json.open_lines(path .. ".missing")
      assert.is_nil(lines)
      assert.is_truthy(why:find(path .. ".missing: No such file or directory", 1, true))
      assert.are.equal(2, errno)
      write("1\n")
      lines = assert(json.open_lines(path))
      lines:close()
      assert_fails(function() lines:next() end, "the JSON lines are closed")
      lines:close() -- twice is harmless
    end)

    it("raises an error naming the cause when a read fails", function()
      local lines = assert(json.open_lines("/")) -- a folder opens, and its read fails
      assert_fails(function() lines:next() end, "cannot read JSON lines: Is a directory")
      lines:close()
    end)
  end)
end)
