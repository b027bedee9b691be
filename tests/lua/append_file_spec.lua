-- Specs of moonrun.append_file's staged lines (the embedded SQS journal's writes):
-- build/moonrun run /usr/bin/busted tests/lua/append_file_spec.lua
local append_file = require "moonrun.append_file"
local json = require "moonrun.json"

local function contents(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("a")
  file:close()
  return text
end

describe("append_file: staged lines", function()
  local path
  before_each(function() path = os.tmpname() end)
  after_each(function() os.remove(path) end)

  it("keeps staged lines out of the file until commit, then appends them whole", function()
    local file = assert(append_file.open(path))
    assert(file:append('{"before":true}\n'))
    file:stage({op = "msg", body = "a\nb"})
    file:stage({op = "del", id = "x"})
    local lines, bytes = file:staged()
    assert.equal(2, lines)
    assert.equal(#json.encode({op = "msg", body = "a\nb"}) + #json.encode({op = "del", id = "x"}) + 2, bytes)
    assert.equal('{"before":true}\n', contents(path))
    assert.is_true(file:commit())
    assert.same({0, 0}, {file:staged()})
    local got = {}
    for line in contents(path):gmatch("([^\n]*)\n") do got[#got + 1] = json.decode(line) end
    assert.same({{before = true}, {op = "msg", body = "a\nb"}, {op = "del", id = "x"}}, got)
    assert.equal(#contents(path), file:size())
    assert.is_true(file:commit()) -- nothing staged: nothing written
    assert.equal(#contents(path), file:size())
    file:close()
  end)

  it("drops what a value that cannot be encoded left, and keeps the lines before it", function()
    local file = assert(append_file.open(path))
    file:stage({n = 1})
    local ok, err = pcall(file.stage, file, {n = 2, bad = function() end})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("record.bad", 1, true), tostring(err))
    assert.equal(1, (file:staged()))
    file:stage({n = 3})
    assert.is_true(file:commit())
    assert.equal('{"n":1}\n{"n":3}\n', contents(path))
    file:close()
  end)

  it("forgets staged lines on discard, and on a commit that fails, leaving nothing written", function()
    local file = assert(append_file.open(path))
    file:stage({n = 1})
    file:discard()
    assert.is_true(file:commit())
    assert.equal("", contents(path))
    file:close()
    local full = assert(append_file.open("/dev/full")) -- every write: No space left on device
    full:stage({n = 1})
    local ok, why = full:commit()
    assert.is_nil(ok)
    assert.truthy(why:find("No space left on device", 1, true), why)
    assert.same({0, 0}, {full:staged()})
    full:close()
  end)

  it("refuses to stage in a closed file", function()
    local file = assert(append_file.open(path))
    file:close()
    assert.has_error(function() file:stage({n = 1}) end, "the file is closed")
  end)
end)
