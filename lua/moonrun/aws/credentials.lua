-- Where AWS credentials come from, in the SDKs' order: the client's options, the environment
-- (what Lambda provides), the shared files' profile (a developer's machine), then the container
-- credentials endpoint (ECS, and Lambda-like hosts). Credentials that expire are refreshed
-- before they do. A secret never appears in a message: credential tables print as their key id,
-- and their secret fields are not among their keys.
local config = require "moonrun.aws.config"
local json = require "moonrun.json"

local M = {}

-- Refresh this long before expiry, so that a request signed now is still valid when it lands.
M.REFRESH_MARGIN = 15 * 60

local function describe(c)
  return string.format("AWS credentials %s (from %s)", c.access_key_id, c.source)
end

-- The secret and the token live behind __index, so that pairs, json.encode or a debugging
-- dump of the table do not show them; c.secret_access_key still reads them.
local function credentials(access_key_id, secret, token, source, expiration)
  local hidden = {secret_access_key = secret, session_token = token ~= "" and token or nil}
  return setmetatable({access_key_id = access_key_id, source = source, expiration = expiration},
    {__index = hidden, __tostring = describe})
end

local function nonempty(value)
  if value and value ~= "" then return value end
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

local function from_options(options)
  local given = options.credentials or options
  if given.access_key_id or given.secret_access_key then
    if not (nonempty(given.access_key_id) and nonempty(given.secret_access_key)) then
      error("the client's credentials need both access_key_id and secret_access_key", 0)
    end
    return credentials(given.access_key_id, given.secret_access_key, given.session_token,
      "the client's options")
  end
end

local function from_environment()
  local id, secret = nonempty(os.getenv("AWS_ACCESS_KEY_ID")), nonempty(os.getenv("AWS_SECRET_ACCESS_KEY"))
  if id and secret then
    return credentials(id, secret, os.getenv("AWS_SESSION_TOKEN"), "the environment")
  elseif id or secret then
    error(string.format("%s is set but %s is not: set both, or neither",
      id and "AWS_ACCESS_KEY_ID" or "AWS_SECRET_ACCESS_KEY",
      id and "AWS_SECRET_ACCESS_KEY" or "AWS_ACCESS_KEY_ID"), 0)
  end
end

-- credential_process: a command that prints {"Version": 1, "AccessKeyId": ...} on stdout.
local function from_process(command, profile_where)
  local pipe = io.popen(command, "r")
  local output = pipe and pipe:read("a") or ""
  local ok, _, status = true, nil, 0
  if pipe then ok, _, status = pipe:close() end
  if not ok then
    error(string.format("the credential_process of %s failed (exit status %s)", profile_where,
      tostring(status)), 0)
  end
  local decoded_ok, answer = pcall(json.decode, output)
  if not decoded_ok or type(answer) ~= "table" or answer.Version ~= 1 or
    not nonempty(answer.AccessKeyId) or not nonempty(answer.SecretAccessKey) then
    error(string.format("the credential_process of %s did not print a Version 1 JSON object " ..
      "with AccessKeyId and SecretAccessKey", profile_where), 0)
  end
  return credentials(answer.AccessKeyId, answer.SecretAccessKey, answer.SessionToken,
    "credential_process", answer.Expiration and M.parse_iso8601(answer.Expiration))
end

local function from_profile(options)
  local settings, where = config.cached_profile(options)
  if nonempty(settings.aws_access_key_id) and nonempty(settings.aws_secret_access_key) then
    return credentials(settings.aws_access_key_id, settings.aws_secret_access_key,
      settings.aws_session_token, where)
  end
  if nonempty(settings.credential_process) then
    return from_process(settings.credential_process, where)
  end
  for _, key in ipairs{"role_arn", "sso_session", "sso_start_url", "web_identity_token_file"} do
    if settings[key] then
      error(string.format("%s uses %s, which moonrun does not support: give it static keys, a " ..
        "credential_process, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", where, key), 0)
    end
  end
  return nil, where
end

-- The hosts a plain-http full URI may name: loopback and the container agents' link-local
-- addresses, as the SDKs allow, so credentials never cross a network in the clear.
local function allowed_http_host(host)
  return host:match("^127%.%d+%.%d+%.%d+$") or host == "localhost" or host == "[::1]" or
    host == "169.254.170.2" or host == "169.254.170.23" or host == "[fd00:ec2::23]"
end

local function container_token()
  local token = nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
  local path = nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
  if path then -- the file wins: it is rotated, the variable is not
    local file, why = io.open(path, "r")
    if not file then
      error("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " .. tostring(why), 0)
    end
    token = file:read("a"):gsub("%s+$", "")
    file:close()
  end
  return token
end

local function container_url()
  local relative = nonempty(os.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
  if relative then return "http://169.254.170.2" .. relative, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" end
  local full = nonempty(os.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
  if not full then return nil end
  local scheme, host = full:match("^(%a+)://(%[?[^/:%]]*%]?)")
  if scheme == "http" and not allowed_http_host(host or "") then
    error(string.format("AWS_CONTAINER_CREDENTIALS_FULL_URI names '%s' over plain http; only " ..
      "loopback and the container agent's addresses may be used without https", host or full), 0)
  elseif scheme ~= "http" and scheme ~= "https" then
    error("AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http or https URL", 0)
  end
  return full, "AWS_CONTAINER_CREDENTIALS_FULL_URI"
end

local function from_container()
  local url, variable = container_url()
  if not url then return nil end
  local http = require "moonrun.http"
  local headers = {Accept = "application/json"}
  local token = container_token()
  if token then headers.Authorization = token end
  local response, failure
  for _ = 1, 2 do -- the agent may be starting: one more try
    response, failure = http.request{url = url, headers = headers, timeout = 5, connect_timeout = 2}
    if response and response.status < 500 then break end
  end
  if not response then
    error(string.format("cannot get credentials from the container endpoint (%s): %s", variable,
      failure.message), 0)
  end
  local ok, answer = pcall(json.decode, response.body)
  if response.status ~= 200 or not ok or type(answer) ~= "table" or
    not nonempty(answer.AccessKeyId) or not nonempty(answer.SecretAccessKey) then
    error(string.format("the container credentials endpoint (%s) answered %d without " ..
      "AccessKeyId and SecretAccessKey", variable, response.status), 0)
  end
  local expiration = answer.Expiration and M.parse_iso8601(answer.Expiration)
  return credentials(answer.AccessKeyId, answer.SecretAccessKey, answer.Token,
    "the container endpoint", expiration)
end

-- Resolves credentials, or raises an error that lists every place looked at.
function M.resolve(options)
  options = options or {}
  local found = from_options(options) or from_environment()
  if found then return found end
  local profile_where
  found, profile_where = from_profile(options)
  if found then return found end
  found = from_container()
  if found then return found end
  error("no AWS credentials found; moonrun looked in: the client's options (access_key_id), " ..
    "the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), " .. profile_where ..
    ", and the container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI and _RELATIVE_URI are " ..
    "not set)", 0)
end

-- When c should be replaced: REFRESH_MARGIN before it expires, but never sooner than halfway
-- through its life, so that short-lived credentials are not fetched again on every request.
function M.refresh_at(c, fetched_at)
  if not c.expiration then return math.huge end
  return math.max(c.expiration - M.REFRESH_MARGIN, fetched_at + (c.expiration - fetched_at) / 2)
end

return M
