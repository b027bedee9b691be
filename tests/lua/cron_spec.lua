-- Specs of schedule expressions (moonrun.dev.cron): rate, cron and at as EventBridge defines
-- them, their errors, and the next firing after a moment (UTC).
-- build/moonrun run /usr/bin/busted tests/lua/cron_spec.lua
local cron = require "moonrun.dev.cron"

-- seconds since the epoch of a UTC date and time
local function utc(y, m, d, h, mi)
  return cron.days_from_civil(y, m, d) * 86400 + (h or 0) * 3600 + (mi or 0) * 60
end

local function next_of(text, after, started)
  local e = assert(cron.parse(text, {at = true}))
  return cron.next(e, after, started)
end

local function problem(text, options)
  local e, why = cron.parse(text, options)
  assert.is_nil(e)
  return why
end

describe("moonrun.dev.cron", function()
  it("the calendar: days since 1970 and back", function()
    assert.are.equal(0, cron.days_from_civil(1970, 1, 1))
    assert.are.equal(20454, cron.days_from_civil(2026, 1, 1))
    assert.are.same({2024, 2, 29}, {cron.civil_from_days(cron.days_from_civil(2024, 2, 29))})
    assert.are.equal(20790, cron.days_from_civil(2026, 12, 3)) -- as Python's date arithmetic counts
  end)

  it("rate: from the start, every period", function()
    local start = utc(2026, 12, 3, 10, 7)
    assert.are.equal(start + 300, next_of("rate(5 minutes)", start, start))
    assert.are.equal(start + 600, next_of("rate(5 minutes)", start + 300, start))
    assert.are.equal(start + 3600, next_of("rate(1 hour)", start + 1, start))
    assert.are.equal(start + 2 * 86400, next_of("rate(2 days)", start + 86400, start))
  end)

  it("cron: minutes, hours, lists, ranges, steps, names", function()
    local t = utc(2026, 12, 3, 10, 7) -- a Thursday
    assert.are.equal(utc(2026, 12, 3, 12, 0), next_of("cron(0 12 * * ? *)", t))
    assert.are.equal(utc(2026, 12, 4, 12, 0), next_of("cron(0 12 * * ? *)", utc(2026, 12, 3, 12, 0)))
    assert.are.equal(utc(2026, 12, 3, 10, 15), next_of("cron(0/15 * * * ? *)", t))
    assert.are.equal(utc(2026, 12, 3, 10, 8), next_of("cron(* * * * ? *)", t))
    assert.are.equal(utc(2026, 12, 3, 10, 10), next_of("cron(10,40 8-17 ? * MON-FRI *)", t))
    assert.are.equal(utc(2026, 12, 7, 8, 10), next_of("cron(10,40 8-17 ? * MON-FRI *)", utc(2026, 12, 4, 17, 40)))
    assert.are.equal(utc(2027, 1, 1, 0, 0), next_of("cron(0 0 1 JAN ? *)", t))
    assert.are.equal(utc(2027, 3, 1, 0, 0), next_of("cron(0 0 1 3 ? 2027-2030)", t))
    assert.are.equal(utc(2026, 12, 6, 9, 0), next_of("cron(0 9 ? * SUN *)", t))
    assert.are.equal(utc(2026, 12, 6, 9, 0), next_of("cron(0 9 ? * 1 *)", t))
  end)

  it("cron: L, W and # in the day fields", function()
    local t = utc(2026, 12, 3, 10, 7)
    assert.are.equal(utc(2026, 12, 31, 0, 0), next_of("cron(0 0 L * ? *)", t))
    assert.are.equal(utc(2027, 2, 28, 0, 0), next_of("cron(0 0 L 2 ? *)", t))
    assert.are.equal(utc(2026, 12, 25, 6, 0), next_of("cron(0 6 ? * 6L *)", t), "the last Friday")
    assert.are.equal(utc(2026, 12, 8, 6, 0), next_of("cron(0 6 ? * 3#2 *)", t), "the second Tuesday")
    -- 2027-05-15 is a Saturday: its nearest weekday is Friday the 14th
    assert.are.equal(utc(2027, 5, 14, 0, 0), next_of("cron(0 0 15W 5 ? *)", t))
    -- 2027-08-01 is a Sunday: 1W is Monday the 2nd (not July)
    assert.are.equal(utc(2027, 8, 2, 0, 0), next_of("cron(0 0 1W 8 ? *)", t))
  end)

  it("at: once, then never", function()
    local t = utc(2026, 12, 3, 10, 7)
    assert.are.equal(utc(2026, 12, 31, 23, 0), next_of("at(2026-12-31T23:00:00)", t))
    assert.is_nil(next_of("at(2026-01-01T00:00:00)", t))
    assert.is_nil(next_of("cron(0 0 1 1 ? 2020)", t), "years over")
  end)

  it("errors as AWS would refuse the expression", function()
    assert.are.equal('"every 5 minutes" is not rate(...) or cron(...)', problem("every 5 minutes"))
    assert.are.equal('"at(2026-12-31T23:00:00)" is not rate(...) or cron(...)', problem("at(2026-12-31T23:00:00)"))
    assert.are.equal("rate(1 minutes): say minute for a value of 1", problem("rate(1 minutes)"))
    assert.are.equal("rate(5 minute): say minutes for a value above 1", problem("rate(5 minute)"))
    assert.are.equal("rate(): weeks is not minute(s), hour(s) or day(s)", problem("rate(2 weeks)"))
    assert.are.equal("rate() takes a value and a unit, such as rate(5 minutes)", problem("rate(five minutes)"))
    assert.are.equal("rate(): the value must be positive", problem("rate(0 minutes)"))
    assert.are.equal("cron() takes six fields (minutes hours day-of-month month day-of-week year), not 5",
      problem("cron(0 12 * * ?)"))
    assert.are.equal("one of day-of-month and day-of-week must be ? (and only one), as in cron(0 12 * * ? *)",
      problem("cron(0 12 * * * *)"))
    assert.are.equal("minutes: 60 is out of range (0 to 59)", problem("cron(60 12 * * ? *)"))
    assert.are.equal("month: \"FOO\" is not a value", problem("cron(0 12 * FOO ? *)"))
    assert.are.equal("hours: the range 9-5 goes backwards", problem("cron(0 9-5 * * ? *)"))
    assert.are.equal("day-of-week: 3#6 asks for the 6th such day of a month", problem("cron(0 0 ? * 3#6 *)"))
    assert.are.equal("at() takes a date and time, such as at(2026-12-31T23:00:00)", problem("at(tomorrow)", {at = true}))
    assert.are.equal("at(2026-02-30T00:00:00) is not a date and time", problem("at(2026-02-30T00:00:00)", {at = true}))
  end)
end)
