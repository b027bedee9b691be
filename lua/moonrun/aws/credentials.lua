-- Where AWS credentials come from, in botocore's order: the client's options, the environment
-- (what Lambda provides; set aside when the client names a profile), the profile (a role to
-- assume, a web identity, the credentials file, credential_process, the config file), then the
-- container credentials endpoint (ECS, and Lambda-like hosts). Credentials that expire are
-- refreshed before they do, and refused once they have. A secret never appears in a message:
-- credential tables print as their key id, their secret fields are not among their keys, and
-- errors name files, lines, variables and settings, never values.
local config = require "moonrun.aws.config"
local errors = require "moonrun.aws.errors"
local json = require "moonrun.json"
local sts = require "moonrun.aws.sts"
local time = require "moonrun.time"

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

local function invalid(message)
  error(errors.new{code = "InvalidConfiguration", message = message}, 0)
end

-- A header value must be one line: a line break would end the header early, or let a value
-- smuggle in another one.
local function one_line(value, what)
  if value and value:find("[\r\n]") then
    invalid(what .. " contains a line break; it must be one line (a trailing newline from a " ..
      "file or a copy and paste is the usual cause)")
  end
  return value
end

-- Credentials with an expiry that has passed are refused here rather than sent to AWS, which
-- would answer with a less telling ExpiredToken.
local function unexpired(c)
  if c.expiration and c.expiration <= time.now() then
    error(errors.new{code = "ExpiredCredentials", message = string.format(
      "the credentials from %s (%s) expired at %s; whatever issues them must issue new ones",
      c.source, c.access_key_id, os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(c.expiration)))}, 0)
  end
  return c
end

-- An Expiration field as epoch seconds; nil when absent, an error when unreadable.
local function expiration_of(value, where)
  if value == nil then return nil end
  local at = M.parse_iso8601(value)
  if not at then
    error(string.format("%s gave an Expiration that is not an ISO 8601 time such as " ..
      "2024-06-01T12:00:00Z", where), 0)
  end
  return at
end

local function from_options(options)
  local given = options.credentials or options
  if given.access_key_id or given.secret_access_key then
    if not (nonempty(given.access_key_id) and nonempty(given.secret_access_key)) then
      error("the client's credentials need both access_key_id and secret_access_key", 0)
    end
    return credentials(given.access_key_id, given.secret_access_key,
      one_line(given.session_token, "the session_token option"), "the client's options")
  end
end

local function from_environment()
  local id, secret = nonempty(os.getenv("AWS_ACCESS_KEY_ID")), nonempty(os.getenv("AWS_SECRET_ACCESS_KEY"))
  if id and secret then
    -- botocore reads the older name first
    local token, variable = nonempty(os.getenv("AWS_SECURITY_TOKEN")), "AWS_SECURITY_TOKEN"
    if not token then token, variable = os.getenv("AWS_SESSION_TOKEN"), "AWS_SESSION_TOKEN" end
    one_line(id, "AWS_ACCESS_KEY_ID")
    local expiration = nonempty(os.getenv("AWS_CREDENTIAL_EXPIRATION"))
    return unexpired(credentials(id, secret, one_line(token, variable), "the environment",
      expiration_of(expiration, "AWS_CREDENTIAL_EXPIRATION")))
  elseif id or secret then
    error(string.format("%s is set but %s is not: set both, or neither",
      id and "AWS_ACCESS_KEY_ID" or "AWS_SECRET_ACCESS_KEY",
      id and "AWS_SECRET_ACCESS_KEY" or "AWS_ACCESS_KEY_ID"), 0)
  end
end

-- The keys of one file's section of a profile, as botocore's providers read them: a key id
-- needs its secret in the same section (a secret alone is not looked at), and the token comes
-- from that section too (aws_security_token before aws_session_token).
local function from_section(section, path, name)
  if not section or section.aws_access_key_id == nil then return nil end
  local where = string.format("profile '%s' in %s", name, path)
  if section.aws_secret_access_key == nil then
    error(string.format("%s has aws_access_key_id but not aws_secret_access_key: put both in " ..
      "the same file and profile", where), 0)
  end
  local token = section.aws_security_token
  if token == nil then token = section.aws_session_token end
  if type(section.aws_access_key_id) ~= "string" or type(section.aws_secret_access_key) ~= "string" or
    (token ~= nil and type(token) ~= "string") then
    invalid(where .. " has its keys written as nested settings (indented lines under them)")
  end
  one_line(section.aws_access_key_id, "aws_access_key_id of " .. where)
  one_line(token, "the session token of " .. where)
  return credentials(section.aws_access_key_id, section.aws_secret_access_key, token, where)
end

-- A failing command's stderr, bounded: enough to read the reason, not a log.
local STDERR_LIMIT = 1000

local function shown_command(command)
  if #command > 200 then return command:sub(1, 200) .. "..." end
  return command
end

-- credential_process: a command that prints {"Version": 1, "AccessKeyId": ...} on stdout.
-- Nothing it prints on stdout is quoted (that is where the secret is); its stderr is, when it
-- fails, since that is where it says why.
local function from_process(command, where)
  local stderr_path = os.tmpname()
  local pipe, why = io.popen("(" .. command .. "\n) 2>'" .. stderr_path .. "'", "r")
  if not pipe then
    os.remove(stderr_path)
    error(string.format("cannot start the credential_process of %s: %s", where, tostring(why)), 0)
  end
  local output = pipe:read("a") or ""
  local ok, how, status = pipe:close()
  local file = io.open(stderr_path, "rb")
  local stderr = file and file:read("a") or ""
  if file then file:close() end
  os.remove(stderr_path)
  local about = string.format("the credential_process of %s (%s)", where, shown_command(command))
  if not ok then
    stderr = stderr:gsub("%s+$", "")
    if #stderr > STDERR_LIMIT then stderr = "..." .. stderr:sub(-STDERR_LIMIT) end
    error(string.format("%s failed (%s %s)%s", about, how == "signal" and "signal" or "exit status",
      tostring(status), stderr ~= "" and ": " .. stderr or " and wrote nothing on stderr"), 0)
  end
  local decoded_ok, answer = pcall(json.decode, output)
  if not decoded_ok or type(answer) ~= "table" then
    error(about .. " did not print a JSON object on stdout (its output is not shown: it may " ..
      "hold a secret)", 0)
  elseif answer.Version ~= 1 then
    error(string.format("%s printed Version %s; the SDKs' format is Version 1", about,
      math.type(answer.Version) and tostring(answer.Version) or "(missing or not a number)"), 0)
  end
  for _, name in ipairs{"AccessKeyId", "SecretAccessKey"} do
    if type(answer[name]) ~= "string" or answer[name] == "" then
      error(string.format("%s printed no %s", about, name), 0)
    end
  end
  if answer.SessionToken ~= nil and type(answer.SessionToken) ~= "string" then
    error(about .. " printed a SessionToken that is not a string", 0)
  end
  one_line(answer.SessionToken, "the SessionToken " .. about .. " printed")
  return unexpired(credentials(answer.AccessKeyId, answer.SecretAccessKey, answer.SessionToken,
    "the credential_process of " .. where, expiration_of(answer.Expiration, about)))
end

local SSO_SETTINGS = {"sso_session", "sso_start_url", "sso_account_id", "sso_role_name", "sso_region"}

local function refuse_sso(name, settings)
  for _, key in ipairs(SSO_SETTINGS) do
    if settings[key] ~= nil then
      error(string.format("the AWS profile '%s' uses SSO (%s), which moonrun does not sign in " ..
        "to: give the profile credential_process = aws configure export-credentials --profile " ..
        "%s --format process (after aws sso login), or use static keys", name, key, name), 0)
    end
  end
end

-- Sessions from STS, kept for the life of the process and fetched again before they expire.
local assumed = {}

local function session_name(given)
  return given or string.format("moonrun-session-%d", math.floor(time.now()))
end

local function cached_session(key, fetch, source)
  local entry = assumed[key]
  local now = time.now()
  if entry and now < M.refresh_at(entry.credentials, entry.fetched_at) then return entry.credentials end
  local answer = fetch()
  local c = credentials(answer.AccessKeyId, answer.SecretAccessKey, answer.SessionToken, source,
    expiration_of(answer.Expiration, "STS"))
  assumed[key] = {credentials = unexpired(c), fetched_at = now}
  return c
end

local function sts_region(options)
  return config.region(options) or "us-east-1"
end

local resolve_profile -- the profile chain (below); a role's source profile goes through it too

local function source_credentials(name, settings, options, visited)
  local source, from = settings.source_profile, settings.credential_source
  if source ~= nil and from ~= nil then
    invalid(string.format("the AWS profile '%s' has both source_profile and credential_source; " ..
      "keep one", name))
  elseif source == nil and from == nil then
    invalid(string.format("the AWS profile '%s' has role_arn but neither source_profile nor " ..
      "credential_source: name where the credentials to assume the role with come from", name))
  elseif from ~= nil then
    local found
    if from == "Environment" then
      found = from_environment()
    elseif from == "EcsContainer" then
      found = M.from_container()
    elseif from == "Ec2InstanceMetadata" then
      error(string.format("the AWS profile '%s' has credential_source = Ec2InstanceMetadata; " ..
        "moonrun does not read EC2 instance metadata", name), 0)
    else
      invalid(string.format("the AWS profile '%s' has credential_source = %s; it must be " ..
        "Environment, EcsContainer or Ec2InstanceMetadata", name, tostring(from)))
    end
    if not found then
      error(string.format("the AWS profile '%s' takes its credentials from %s (credential_source), " ..
        "which has none", name, from), 0)
    end
    return found
  end
  local source_settings = config.settings_of(source)
  if not source_settings then
    invalid(string.format("the source_profile '%s' of the AWS profile '%s' is in neither file",
      tostring(source), name))
  end
  local static = source_settings.aws_access_key_id ~= nil or source_settings.aws_secret_access_key ~= nil
  if visited[source] and not (source == name and static) then
    invalid(string.format("the AWS profiles' source_profile settings form a loop through '%s'", source))
  end
  visited[source] = true
  local found = resolve_profile(source, source_settings, options, visited, source == name or static)
  if not found then
    invalid(string.format("the source_profile '%s' of the AWS profile '%s' has no credentials",
      source, name))
  end
  return found
end

local function assume_role(name, settings, options, visited)
  if settings.mfa_serial ~= nil then
    error(string.format("the AWS profile '%s' needs an MFA code (mfa_serial), which moonrun " ..
      "cannot ask for", name), 0)
  end
  local source = source_credentials(name, settings, options, visited)
  local args = {RoleArn = settings.role_arn, RoleSessionName = session_name(settings.role_session_name),
    ExternalId = settings.external_id, DurationSeconds = math.tointeger(tonumber(settings.duration_seconds))}
  local key = table.concat({"role", settings.role_arn, source.access_key_id,
    tostring(settings.role_session_name), tostring(settings.external_id),
    tostring(settings.duration_seconds)}, "\0")
  return cached_session(key, function()
    return sts.assume_role(source, args, sts_region(options), options)
  end, string.format("role %s (profile '%s')", settings.role_arn, name))
end

-- A web identity: the environment's AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN /
-- AWS_ROLE_SESSION_NAME (unless a profile was named), else the profile's settings.
local function web_identity(name, settings, options, use_environment)
  local function setting(variable, key)
    local value = use_environment and nonempty(os.getenv(variable))
    if value then return value, variable end
    return settings[key], string.format("%s of the AWS profile '%s'", key, name)
  end
  local token_file, token_from = setting("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file")
  if token_file == nil then return nil end
  local role_arn = setting("AWS_ROLE_ARN", "role_arn")
  if role_arn == nil then
    invalid(string.format("%s is set but no role_arn (or AWS_ROLE_ARN) says which role to assume",
      token_from))
  end
  local given_name = setting("AWS_ROLE_SESSION_NAME", "role_session_name")
  local key = table.concat({"web", role_arn, token_file, tostring(given_name)}, "\0")
  return cached_session(key, function()
    local file, why = io.open(token_file, "rb")
    if not file then error(string.format("cannot read the web identity token (%s): %s", token_from,
      tostring(why)), 0) end
    local token = file:read("a"):gsub("%s+$", "")
    file:close()
    return sts.assume_role_with_web_identity({RoleArn = role_arn,
      RoleSessionName = session_name(given_name), WebIdentityToken = token},
      sts_region(options), options)
  end, string.format("web identity for role %s", role_arn))
end

-- botocore's profile providers, in its order. static_only: a source profile with keys of its
-- own, whose role_arn (if any) is not followed again.
resolve_profile = function(name, settings, options, visited, static_only, use_environment)
  if not static_only and settings.role_arn ~= nil and settings.web_identity_token_file == nil then
    return assume_role(name, settings, options, visited)
  end
  local found = web_identity(name, settings, options, use_environment)
  if found then return found end
  refuse_sso(name, settings)
  local files = config.files()
  local from_credentials, from_config = config.sections(name)
  found = from_section(from_credentials, files.credentials_path, name)
  if found then return found end
  if settings.credential_process ~= nil then
    if type(settings.credential_process) ~= "string" or settings.credential_process == "" then
      invalid(string.format("the credential_process of the AWS profile '%s' must be a command", name))
    end
    return from_process(settings.credential_process, string.format("profile '%s'", name))
  end
  return from_section(from_config, files.config_path, name)
end

local function from_profile(options)
  local settings, name, where = config.profile(options)
  local _, _, explicit = config.profile_name(options)
  local found = resolve_profile(name, settings, options, {[name] = true}, false, not explicit)
  return found, where
end

-- The hosts a plain-http full URI may name: loopback and the container agents' link-local
-- addresses, as the SDKs allow, so credentials never cross a network in the clear.
local function allowed_http_host(host)
  return host:match("^127%.%d+%.%d+%.%d+$") or host == "localhost" or host == "[::1]" or
    host == "169.254.170.2" or host == "169.254.170.23" or host == "[fd00:ec2::23]"
end

local function container_token()
  local token = nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
  local variable = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
  local path = nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
  if path then -- the file wins: it is rotated, the variable is not
    local file, why = io.open(path, "r")
    if not file then
      error("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " .. tostring(why), 0)
    end
    token = file:read("a"):gsub("%s+$", "")
    file:close()
    variable = "the file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names"
  end
  return one_line(token, variable)
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

function M.from_container()
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
    type(answer.AccessKeyId) ~= "string" or answer.AccessKeyId == "" or
    type(answer.SecretAccessKey) ~= "string" or answer.SecretAccessKey == "" or
    (answer.Token ~= nil and type(answer.Token) ~= "string") then
    -- the answer is not quoted: it may hold a secret
    error(string.format("the container credentials endpoint (%s) answered %d without " ..
      "AccessKeyId and SecretAccessKey", variable, response.status), 0)
  end
  one_line(answer.Token, "the Token the container endpoint answered")
  local source = "the container endpoint"
  return unexpired(credentials(answer.AccessKeyId, answer.SecretAccessKey, answer.Token, source,
    expiration_of(answer.Expiration, string.format("the container credentials endpoint (%s)", variable))))
end

-- Resolves credentials, or raises an error that lists every place looked at.
function M.resolve(options)
  options = options or {}
  local found = from_options(options)
  if found then return found end
  local _, _, explicit = config.profile_name(options)
  if not explicit then
    found = from_environment()
    if found then return found end
  end
  local profile_where
  found, profile_where = from_profile(options)
  if found then return found end
  found = M.from_container()
  if found then return found end
  error("no AWS credentials found; moonrun looked in: the client's options (access_key_id), " ..
    (explicit and "" or "the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), ") ..
    profile_where .. ", and the container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI and " ..
    "_RELATIVE_URI are not set)", 0)
end

-- When c should be replaced: REFRESH_MARGIN before it expires, but never sooner than halfway
-- through its life, so that short-lived credentials are not fetched again on every request.
function M.refresh_at(c, fetched_at)
  if not c.expiration then return math.huge end
  return math.max(c.expiration - M.REFRESH_MARGIN, fetched_at + (c.expiration - fetched_at) / 2)
end

return M
