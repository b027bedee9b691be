-- Schedule expressions as EventBridge defines them, for `moonrun dev`'s Schedule and ScheduleV2
-- events: rate(VALUE UNIT), cron(MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR) and at(...)
-- (one time, ScheduleV2), all in UTC. parse() checks an expression as AWS does and next() gives
-- its next firing after a moment. Pure Lua: tests/lua/cron_spec.lua.
local M = {}

local MONTHS = {JAN = 1, FEB = 2, MAR = 3, APR = 4, MAY = 5, JUN = 6, JUL = 7, AUG = 8, SEP = 9, OCT = 10,
                NOV = 11, DEC = 12}
local DAYS = {SUN = 1, MON = 2, TUE = 3, WED = 4, THU = 5, FRI = 6, SAT = 7}

local function fail(message, ...)
  error({cron_error = string.format(message, ...)}, 0)
end

-- ---- calendar arithmetic on UTC (days since 1970-01-01), without os.time's local time ----

local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return m <= 2 and y + 1 or y, m, d
end

local function days_in_month(y, m)
  return days_from_civil(m == 12 and y + 1 or y, m == 12 and 1 or m + 1, 1) - days_from_civil(y, m, 1)
end

-- 1 = Sunday ... 7 = Saturday, as cron's day-of-week counts (1970-01-01 was a Thursday).
local function weekday(days) return (days + 4) % 7 + 1 end

M.days_from_civil, M.civil_from_days = days_from_civil, civil_from_days

-- ---- cron fields ----

local function number(text, names, low, high, what)
  local n = tonumber(text) or (names and names[text:upper()])
  if not n or math.type(n) ~= "integer" and n ~= math.floor(n) then fail("%s: %q is not a value", what, text) end
  n = math.tointeger(n)
  if n < low or n > high then fail("%s: %d is out of range (%d to %d)", what, n, low, high) end
  return n
end

-- A set of allowed values from a field made of *, N, N-M, N/S, */S, N-M/S and lists of them.
local function value_set(text, low, high, names, what)
  local set = {}
  for part in (text .. ","):gmatch("([^,]*),") do
    if part == "" then fail("%s: an empty item in %q", what, text) end
    local range, step = part:match("^([^/]+)/(%d+)$")
    range = range or part
    step = step and tonumber(step) or 1
    if step < 1 then fail("%s: a step of %d", what, step) end
    local first, last
    if range == "*" then
      first, last = low, high
    else
      local a, b = range:match("^([^-]+)-([^-]+)$")
      if a then
        first, last = number(a, names, low, high, what), number(b, names, low, high, what)
        if last < first then fail("%s: the range %s goes backwards", what, range) end
      else
        first = number(range, names, low, high, what)
        last = part:find("/", 1, true) and high or first
      end
    end
    for v = first, last, step do set[v] = true end
  end
  return set
end

-- Day-of-month: a set, or L (the last day), or NW (the weekday nearest day N), or ?.
local function day_of_month(text)
  if text == "?" then return {any = true} end
  if text == "L" then return {last = true} end
  local w = text:match("^(%d+)W$")
  if w then return {nearest = number(w, nil, 1, 31, "day-of-month")} end
  return {set = value_set(text, 1, 31, nil, "day-of-month")}
end

-- Day-of-week: a set, or NL (the last such day of the month), or N#K (the K-th), or ?.
local function day_of_week(text)
  if text == "?" then return {any = true} end
  if text == "L" then return {last_of = 7} end
  local d = text:match("^(%w+)L$")
  if d then return {last_of = number(d, DAYS, 1, 7, "day-of-week")} end
  local day, nth = text:match("^(%w+)#(%d)$")
  if day then
    nth = tonumber(nth)
    if nth < 1 or nth > 5 then fail("day-of-week: %s asks for the %dth such day of a month", text, nth) end
    return {nth = nth, day = number(day, DAYS, 1, 7, "day-of-week")}
  end
  return {set = value_set(text, 1, 7, DAYS, "day-of-week")}
end

local function nearest_weekday(y, m, n)
  local last = days_in_month(y, m)
  if n > last then n = last end
  local first = days_from_civil(y, m, 1)
  local wd = weekday(first + n - 1)
  if wd == 7 then n = n == 1 and 3 or n - 1       -- Saturday: the Friday before, or Monday the 3rd
  elseif wd == 1 then n = n == last and n - 2 or n + 1 end -- Sunday: the Monday after, or Friday
  return n
end

local function day_matches(c, y, m, d, days)
  local dom, dow = c.dom, c.dow
  if not dom.any then
    if dom.last then return d == days_in_month(y, m) end
    if dom.nearest then return d == nearest_weekday(y, m, dom.nearest) end
    return dom.set[d] == true
  end
  if dow.any then return true end
  local wd = weekday(days)
  if dow.last_of then return wd == dow.last_of and d + 7 > days_in_month(y, m) end
  if dow.nth then return wd == dow.day and (d - 1) // 7 + 1 == dow.nth end
  return dow.set[wd] == true
end

local function parse_cron(body)
  local fields = {}
  for f in body:gmatch("%S+") do fields[#fields + 1] = f end
  if #fields ~= 6 then
    fail("cron() takes six fields (minutes hours day-of-month month day-of-week year), not %d", #fields)
  end
  local c = {
    minutes = value_set(fields[1], 0, 59, nil, "minutes"),
    hours = value_set(fields[2], 0, 23, nil, "hours"),
    dom = day_of_month(fields[3]),
    months = value_set(fields[4], 1, 12, MONTHS, "month"),
    dow = day_of_week(fields[5]),
    years = value_set(fields[6], 1970, 2199, nil, "year"),
  }
  if c.dom.any == c.dow.any then
    fail("one of day-of-month and day-of-week must be ? (and only one), as in cron(0 12 * * ? *)")
  end
  return c
end

local RATE_UNITS = {minute = 60, minutes = 60, hour = 3600, hours = 3600, day = 86400, days = 86400}

local function parse_rate(body)
  local value, unit = body:match("^%s*(%d+)%s+(%a+)%s*$")
  if not value then fail("rate() takes a value and a unit, such as rate(5 minutes)") end
  value = tonumber(value)
  if value < 1 then fail("rate(): the value must be positive") end
  if not RATE_UNITS[unit] then fail("rate(): %s is not minute(s), hour(s) or day(s)", unit) end
  local singular = not unit:match("s$")
  if value == 1 and not singular then fail("rate(1 %s): say %s for a value of 1", unit, unit:sub(1, -2)) end
  if value > 1 and singular then fail("rate(%d %s): say %ss for a value above 1", value, unit, unit) end
  return {every_s = value * RATE_UNITS[unit]}
end

local function parse_at(body)
  local y, mo, d, h, mi, s = body:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)$")
  if not y then fail("at() takes a date and time, such as at(2026-12-31T23:00:00)") end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) or h > 23 or mi > 59 or s > 59 then
    fail("at(%s) is not a date and time", body)
  end
  return {at_s = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s}
end

--- The expression parsed: {kind = "rate"|"cron"|"at", ...}; or nil and why. options.at: at()
--- is allowed (ScheduleV2).
function M.parse(text, options)
  if type(text) ~= "string" then return nil, "a schedule expression is text, such as rate(5 minutes)" end
  local kind, body = text:match("^(%a+)%((.*)%)$")
  local ok, result
  if kind == "rate" then ok, result = pcall(parse_rate, body)
  elseif kind == "cron" then ok, result = pcall(parse_cron, body)
  elseif kind == "at" and options and options.at then ok, result = pcall(parse_at, body)
  else
    return nil, string.format("%q is not rate(...) or cron(...)%s", text, options and options.at and " or at(...)" or "")
  end
  if not ok then
    if type(result) == "table" and result.cron_error then return nil, result.cron_error end
    error(result, 0)
  end
  result.kind = kind
  result.text = text
  return result
end

--- The next firing (seconds since the epoch, UTC) strictly after after_s; started_s is when the
--- schedule began (a rate counts from it). nil when there is none (an at() past, a cron whose
--- years are over).
function M.next(expression, after_s, started_s)
  if expression.kind == "rate" then
    local every = expression.every_s
    local base = started_s or after_s
    local n = math.max(1, (after_s - base) // every + 1)
    return base + n * every
  elseif expression.kind == "at" then
    return expression.at_s > after_s and expression.at_s or nil
  end
  local c = expression
  local start = (after_s // 60 + 1) * 60 -- the next whole minute
  local day = start // 86400
  local first_minute = (start % 86400) // 60
  for _ = 1, 366 * 230 do
    local y, m, d = civil_from_days(day)
    if y > 2199 then return nil end
    if c.years[y] and c.months[m] and day_matches(c, y, m, d, day) then
      for minute_of_day = first_minute, 1439 do
        local h, mi = minute_of_day // 60, minute_of_day % 60
        if c.hours[h] and c.minutes[mi] then return day * 86400 + minute_of_day * 60 end
      end
    end
    day = day + 1
    first_minute = 0
  end
  return nil
end

return M
