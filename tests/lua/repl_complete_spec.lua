-- Specs of moonrun.repl_complete, the REPL's tab completion:
-- build/moonrun run /usr/bin/busted tests/lua/repl_complete_spec.lua
local complete = require("moonrun.repl_complete").complete

describe("moonrun.repl_complete", function()
  local env = {
    json = {encode = function() end, decode = function() end, null = {}},
    config = {region = "us-east-1", limits = {max = 1}},
    string = string,
    q = setmetatable({}, {__index = {send = function() end, size = function() end, url = "x"}}),
    text = "abc",
  }

  it("completes globals, with the keywords, and fields of tables", function()
    assert.same({"json."}, complete("js", env))
    assert.same({"while"}, complete("wh", env))
    assert.same({"json.decode(", "json.encode(", "json.null."}, complete("json.", env))
    assert.same({"config.limits."}, complete("config.l", env))
    assert.same({"config.limits.max"}, complete("config.limits.m", env))
  end)

  it("completes methods after ':' from the __index table, and strings' methods", function()
    assert.same({"q:send(", "q:size("}, complete("q:s", env))
    assert.same({"q.url"}, complete("q.u", env))
    assert.same({"text:upper("}, complete("text:up", env))
  end)

  it("offers nothing for what is not a name path, and never calls code", function()
    assert.same({}, complete("(x).y", env))
    assert.same({}, complete("a..b", env))
    assert.same({}, complete("missing.x", env))
    local called = false
    local trap = setmetatable({}, {__index = function() called = true end})
    assert.same({}, complete("trap.x", {trap = trap}))
    assert.is_false(called)
  end)
end)
