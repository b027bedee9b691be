-- Specs of how an SQS trigger of moonrun dev scales its pollers (moonrun.dev.triggers.wanted),
-- without a queue; tests/test_dev_scaling.py runs the pollers against the embedded SQS.
-- build/moonrun run /usr/bin/busted tests/lua/triggers_spec.lua
local triggers = require "moonrun.dev.triggers"

local wanted = triggers.wanted

describe("moonrun.dev.triggers.wanted", function()
  it("a backlog on the embedded queue adds pollers, a batch's worth each, a few at a time", function()
    assert.are.equal(2, wanted(1, 10, 10, {visible = 3, in_flight = 0}))
    assert.are.equal(4, wanted(1, 10, 10, {visible = 30, in_flight = 10}))
    assert.are.equal(1 + triggers.GROW_STEP, wanted(1, 100, 10, {visible = 10000, in_flight = 0}))
    assert.are.equal(10, wanted(1, 10, 10, {visible = 1000, in_flight = 0}))
  end)
  it("never beyond the maximum, never below one", function()
    assert.are.equal(5, wanted(5, 5, 10, {visible = 1000, in_flight = 50}))
    assert.are.equal(3, wanted(4, 3, 10, {visible = 0, in_flight = 1}))
    assert.are.equal(1, wanted(1, 10, 10, {visible = 0, in_flight = 0, idle_s = 60}))
    assert.are.equal(1, wanted(0, 0, 10, {visible = 5, in_flight = 0}))
  end)
  it("an empty queue lets one poller go once it has been idle a while", function()
    assert.are.equal(3, wanted(4, 10, 10, {visible = 0, in_flight = 0, idle_s = triggers.IDLE_S}))
    assert.are.equal(3, wanted(4, 10, 10, {visible = 0, in_flight = 0, idle_s = triggers.IDLE_S + 1}))
    assert.are.equal(4, wanted(4, 10, 10, {visible = 0, in_flight = 0, idle_s = 1}))
    assert.are.equal(4, wanted(4, 10, 10, {visible = 0, in_flight = 2, idle_s = 60}),
                     "messages in flight: a poller may hold them")
  end)
  it("another SQS (no depth): every poller busy is a backlog", function()
    assert.are.equal(2, wanted(1, 10, 10, {busy = 1}))
    assert.are.equal(3, wanted(3, 10, 10, {busy = 2}))
    assert.are.equal(3, wanted(3, 3, 10, {busy = 3}))
  end)
end)
