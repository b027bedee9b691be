-- One set of AWS credentials as a value, and the rules every source's credentials follow: the
-- secret and the token are hidden from pairs and printing, an Expiration is read as ISO 8601,
-- credentials already expired are refused, a token is one line, and credentials are replaced
-- some time before they expire.
local errors = require "moonrun.aws.errors"
local time = require "moonrun.time"

local M = {}

-- Refresh this long before expiry, so that a request signed now is still valid when it lands.
M.REFRESH_MARGIN = 15 * 60

local function describe(c)
  return string.format("AWS credentials %s (from %s)", c.access_key_id, c.source)
end

-- The secret and the token live behind __index, so that pairs, json.encode or a debugging
-- dump of the table do not show them; c.secret_access_key still reads them.
function M.new(access_key_id, secret, token, source, expiration)
  local hidden = {secret_access_key = secret, session_token = token ~= "" and token or nil}
  return setmetatable({access_key_id = access_key_id, source = source, expiration = expiration},
    {__index = hidden, __tostring = describe})
end

-- "2024-06-01T12:00:00Z" (or with fractions, or an offset) as epoch seconds.
function M.parse_iso8601(text)
  local y, mo, d, h, mi, s, rest = tostring(text):match(
    "^(%d%d%d%d)-(%d%d)-(%d%d)T(%d%d):(%d%d):(%d%d)%.?%d*(.*)$")
  if not y then return nil end
  local offset = 0
  if rest ~= "Z" and rest ~= "" then
    local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days since 1970-01-01 in the proleptic Gregorian calendar, counting years from March
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local year_of_era = y - era * 400
  local day_of_year = (153 * ((mo + 9) % 12) + 2) // 5 + d - 1
  local day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
  local days = era * 146097 + day_of_era - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
end

function M.invalid(message)
  error(errors.new{code = "InvalidConfiguration", message = message}, 0)
end

-- A header value must be one line: a line break would end the header early, or let a value
-- smuggle in another one.
function M.one_line(value, what)
  if value and value:find("[\r\n]") then
    M.invalid(what .. " contains a line break; it must be one line (a trailing newline from a " ..
      "file or a copy and paste is the usual cause)")
  end
  return value
end

-- Credentials with an expiry that has passed are refused here rather than sent to AWS, which
-- would answer with a less telling ExpiredToken.
function M.unexpired(c)
  if c.expiration and c.expiration <= time.now() then
    error(errors.new{code = "ExpiredCredentials", message = string.format(
      "the credentials from %s (%s) expired at %s; whatever issues them must issue new ones",
      c.source, c.access_key_id, os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(c.expiration)))}, 0)
  end
  return c
end

-- An Expiration field as epoch seconds; nil when absent, an error when unreadable.
function M.expiration_of(value, where)
  if value == nil then return nil end
  local at = M.parse_iso8601(value)
  if not at then
    error(string.format("%s gave an Expiration that is not an ISO 8601 time such as " ..
      "2024-06-01T12:00:00Z", where), 0)
  end
  return at
end

-- When c should be replaced: REFRESH_MARGIN before it expires, but never sooner than halfway
-- through its life, so that short-lived credentials are not fetched again on every request.
function M.refresh_at(c, fetched_at)
  if not c.expiration then return math.huge end
  return math.max(c.expiration - M.REFRESH_MARGIN, fetched_at + (c.expiration - fetched_at) / 2)
end

return M
