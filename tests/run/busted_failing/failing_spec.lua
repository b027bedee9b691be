-- A spec that must fail: proves `moonrun run busted` reports failures through its exit status.
describe("a failing spec", function()
  it("fails", function() assert.are.equal(1, 2) end)
  it("passes", function() assert.are.equal(1, 1) end)
end)
