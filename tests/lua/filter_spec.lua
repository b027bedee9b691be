-- Specs of SQS trigger event filtering (moonrun.dev.filter): every kind of condition, on
-- records as the poller builds them; tests/test_dev_scaling.py runs a filtered trigger.
-- build/moonrun run /usr/bin/busted tests/lua/filter_spec.lua
local filter = require "moonrun.dev.filter"
local json = require "moonrun.json"

local function record(body, extra)
  local r = {messageId = "m1", body = type(body) == "table" and json.encode(body) or body,
             attributes = {ApproximateReceiveCount = "1", MessageGroupId = "g1"},
             messageAttributes = {kind = {stringValue = "Order", dataType = "String"}},
             eventSource = "aws:sqs", awsRegion = "us-east-1"}
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function matches(pattern, r)
  local matcher, why = filter.compile(type(pattern) == "table" and json.encode(pattern) or pattern)
  assert.is_truthy(matcher, why)
  return matcher(r)
end

local function problem(pattern)
  local matcher, why = filter.compile(type(pattern) == "table" and json.encode(pattern) or pattern)
  assert.is_nil(matcher)
  return why
end

describe("moonrun.dev.filter", function()
  local order = record{kind = "order", total = 42, city = "Lisbon", tags = {"new", "vip"}, note = json.null,
                       customer = {name = "Ana", tier = "Gold"}, empty = ""}

  it("exact values: strings, numbers by value, booleans, null, an empty string", function()
    assert.is_true(matches({body = {kind = {"order"}}}, order))
    assert.is_false(matches({body = {kind = {"refund"}}}, order))
    assert.is_true(matches({body = {kind = {"refund", "order"}}}, order), "one of the list")
    assert.is_true(matches({body = {total = {42.0}}}, order))
    assert.is_false(matches({body = {total = {"42"}}}, order), "a string is not a number")
    assert.is_true(matches({body = {note = {json.null}}}, order))
    assert.is_false(matches({body = {missing = {json.null}}}, order), "null is not missing")
    assert.is_true(matches({body = {empty = {""}}}, order))
    assert.is_true(matches({eventSource = {"aws:sqs"}}, order), "fields of the record itself")
    assert.is_true(matches({attributes = {MessageGroupId = {"g1"}}}, order))
    assert.is_true(matches({messageAttributes = {kind = {stringValue = {"Order"}}}}, order))
  end)

  it("nested fields, and every field of a pattern must match", function()
    assert.is_true(matches({body = {customer = {tier = {"Gold"}}, kind = {"order"}}}, order))
    assert.is_false(matches({body = {customer = {tier = {"Gold"}}, kind = {"refund"}}}, order))
    assert.is_false(matches({body = {kind = {tier = {"Gold"}}}}, order), "a string has no fields")
  end)

  it("a list value matches when one of its items does", function()
    assert.is_true(matches({body = {tags = {"vip"}}}, order))
    assert.is_false(matches({body = {tags = {"old"}}}, order))
  end)

  it("prefix and suffix, also ignoring case", function()
    assert.is_true(matches({body = {city = {{prefix = "Lis"}}}}, order))
    assert.is_false(matches({body = {city = {{prefix = "lis"}}}}, order))
    assert.is_true(matches({body = {city = {{prefix = {["equals-ignore-case"] = "lis"}}}}}, order))
    assert.is_true(matches({body = {city = {{suffix = "bon"}}}}, order))
    assert.is_true(matches({body = {city = {{suffix = {["equals-ignore-case"] = "BON"}}}}}, order))
    assert.is_false(matches({body = {total = {{prefix = "4"}}}}, order), "not on numbers")
  end)

  it("equals-ignore-case", function()
    assert.is_true(matches({body = {city = {{["equals-ignore-case"] = "LISBON"}}}}, order))
    assert.is_false(matches({body = {city = {{["equals-ignore-case"] = "Porto"}}}}, order))
  end)

  it("anything-but: a value, a list, a prefix, a suffix, ignoring case; never a missing field", function()
    assert.is_true(matches({body = {kind = {{["anything-but"] = "refund"}}}}, order))
    assert.is_false(matches({body = {kind = {{["anything-but"] = "order"}}}}, order))
    assert.is_false(matches({body = {kind = {{["anything-but"] = {"refund", "order"}}}}}, order))
    assert.is_true(matches({body = {total = {{["anything-but"] = {1, 2}}}}}, order))
    assert.is_false(matches({body = {city = {{["anything-but"] = {prefix = "Li"}}}}}, order))
    assert.is_true(matches({body = {city = {{["anything-but"] = {suffix = "xx"}}}}}, order))
    assert.is_false(matches({body = {city = {{["anything-but"] = {["equals-ignore-case"] = {"lisbon"}}}}}}, order))
    assert.is_false(matches({body = {nothing = {{["anything-but"] = "x"}}}}, order))
  end)

  it("numeric ranges", function()
    assert.is_true(matches({body = {total = {{numeric = {">", 0, "<=", 42}}}}}, order))
    assert.is_false(matches({body = {total = {{numeric = {">", 42}}}}}, order))
    assert.is_true(matches({body = {total = {{numeric = {"=", 42}}}}}, order))
    assert.is_true(matches({body = {total = {{numeric = {">=", 42, "<", 43}}}}}, order))
    assert.is_false(matches({body = {city = {{numeric = {">", 0}}}}}, order), "not on strings")
  end)

  it("exists", function()
    assert.is_true(matches({body = {city = {{exists = true}}}}, order))
    assert.is_false(matches({body = {zip = {{exists = true}}}}, order))
    assert.is_true(matches({body = {zip = {{exists = false}}}}, order))
    assert.is_false(matches({body = {city = {{exists = false}}}}, order))
  end)

  it("$or at any level", function()
    local p = {body = {["$or"] = {{kind = {"refund"}}, {total = {{numeric = {">", 40}}}}}}}
    assert.is_true(matches(p, order))
    assert.is_false(matches({body = {["$or"] = {{kind = {"refund"}}, {city = {"Porto"}}}}}, order))
    assert.is_true(matches({["$or"] = {{eventSource = {"aws:kinesis"}}, {body = {kind = {"order"}}}}}, order))
  end)

  it("a body that is not JSON: text conditions match it, field patterns do not", function()
    local plain = record("hello world")
    assert.is_true(matches({body = {{prefix = "hello"}}}, plain))
    assert.is_false(matches({body = {kind = {"order"}}}, plain))
  end)

  it("patterns are ORed; none means everything; at most five", function()
    local any = assert(filter.compile_all{'{"body": {"kind": ["refund"]}}', '{"body": {"kind": ["order"]}}'})
    assert.is_true(any(order))
    local none = assert(filter.compile_all{'{"body": {"kind": ["refund"]}}'})
    assert.is_false(none(order))
    assert.is_true(assert(filter.compile_all{})(order))
    local too_many = {}
    for i = 1, 6 do too_many[i] = '{"body": {"n": [' .. i .. ']}}' end
    local matcher, why = filter.compile_all(too_many)
    assert.is_nil(matcher)
    assert.are.equal("6 filter patterns: Lambda takes at most 5", why)
    matcher, why = filter.compile_all{'{"body": {"n": [1]}}', '{"body": '}
    assert.is_nil(matcher)
    assert.is_truthy(why:find("^filter pattern 2: the pattern is not JSON"), why)
  end)

  it("errors name the field and the problem", function()
    assert.are.equal("the pattern is not JSON: " .. select(2, pcall(json.decode, "{")), problem("{"))
    assert.is_truthy(problem("[1]"):find("a pattern is a JSON object", 1, true))
    assert.are.equal("body.kind: a pattern's value is an object or a list of conditions, not \"order\"",
      problem{body = {kind = "order"}})
    assert.are.equal("body.kind: an empty list matches nothing", problem('{"body": {"kind": []}}'))
    assert.are.equal("body.kind[0]: wildcard is not a filter condition Lambda knows (prefix, suffix, equals-ignore-case, anything-but, numeric, exists)",
      problem{body = {kind = {{wildcard = "o*"}}}})
    assert.are.equal("body.total[0]: numeric: ~ is not =, <, <=, > or >=", problem{body = {total = {{numeric = {"~", 1}}}}})
    assert.are.equal("body.total[0]: numeric: > needs a number after it", problem{body = {total = {{numeric = {">", "1"}}}}})
    assert.are.equal("body.x[0]: exists takes true or false", problem{body = {x = {{exists = "yes"}}}})
    assert.are.equal("body.x[0]: prefix takes a string (or {\"equals-ignore-case\": string})", problem{body = {x = {{prefix = 1}}}})
    assert.are.equal("body.$or: $or takes a list of at least two patterns", problem{body = {["$or"] = {{x = {1}}}}})
    assert.are.equal("body.x[0]: a condition object has one key, not several", problem{body = {x = {{prefix = "a", suffix = "b"}}}})
    assert.is_truthy(problem(string.rep(" ", 5000) .. "{}"):find("at most 4096 bytes", 1, true))
  end)
end)
