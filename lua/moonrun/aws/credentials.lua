-- Where AWS credentials come from, in botocore's order: the client's options, the environment
-- (what Lambda provides; set aside when the client names a profile), the profile (a role to
-- assume or a web identity (roles.lua), the credentials file, credential_process, the config
-- file), then the container credentials endpoint. A secret never appears in a message:
-- credential tables print as their key id, their secret fields are not among their keys (see
-- credential.lua), and errors name files, lines, variables and settings, never values.
local config = require "moonrun.aws.config"
local credential = require "moonrun.aws.credential"

-- The providers past the environment load when first used: on Lambda the environment holds the
-- credentials, and a handler's cold start need not load them (nor STS, which roles needs).
local function on_first_use(name)
  return setmetatable({}, {__index = function(_, key) return require(name)[key] end})
end
local container_credentials = on_first_use "moonrun.aws.container_credentials"
local credential_process = on_first_use "moonrun.aws.credential_process"
local roles = on_first_use "moonrun.aws.roles"

local M = {}

M.parse_iso8601 = credential.parse_iso8601

--- When c, fetched at fetched_at, should be replaced (see credential.lua).
function M.refresh_at(c, fetched_at)
  return credential.refresh_at(c, fetched_at)
end

local function nonempty(value)
  if value and value ~= "" then return value end
end

local function from_options(options)
  local given = options.credentials or options
  if given.access_key_id or given.secret_access_key then
    if not (nonempty(given.access_key_id) and nonempty(given.secret_access_key)) then
      error("the client's credentials need both access_key_id and secret_access_key", 0)
    end
    return credential.new(given.access_key_id, given.secret_access_key,
      credential.one_line(given.session_token, "the session_token option"), "the client's options")
  end
end

local function from_environment()
  local id, secret = nonempty(os.getenv("AWS_ACCESS_KEY_ID")), nonempty(os.getenv("AWS_SECRET_ACCESS_KEY"))
  if id and secret then
    -- botocore reads the older name first
    local token, variable = nonempty(os.getenv("AWS_SECURITY_TOKEN")), "AWS_SECURITY_TOKEN"
    if not token then token, variable = os.getenv("AWS_SESSION_TOKEN"), "AWS_SESSION_TOKEN" end
    credential.one_line(id, "AWS_ACCESS_KEY_ID")
    local expiration = nonempty(os.getenv("AWS_CREDENTIAL_EXPIRATION"))
    return credential.unexpired(credential.new(id, secret, credential.one_line(token, variable), "the environment",
      credential.expiration_of(expiration, "AWS_CREDENTIAL_EXPIRATION")))
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
    credential.invalid(where .. " has its keys written as nested settings (indented lines under them)")
  end
  credential.one_line(section.aws_access_key_id, "aws_access_key_id of " .. where)
  credential.one_line(token, "the session token of " .. where)
  return credential.new(section.aws_access_key_id, section.aws_secret_access_key, token, where)
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

local chain = {environment = from_environment, container = function() return container_credentials.fetch() end}

-- botocore's profile providers, in its order. static_only: a source profile with keys of its
-- own, whose role_arn (if any) is not followed again.
local function resolve_profile(name, settings, options, visited, static_only, use_environment)
  if not static_only and settings.role_arn ~= nil and settings.web_identity_token_file == nil then
    return roles.assume_role(name, settings, options, visited, chain)
  end
  local found = roles.web_identity(name, settings, options, use_environment)
  if found then return found end
  refuse_sso(name, settings)
  local files = config.files()
  local from_credentials, from_config = config.sections(name)
  found = from_section(from_credentials, files.credentials_path, name)
  if found then return found end
  if settings.credential_process ~= nil then
    if type(settings.credential_process) ~= "string" or settings.credential_process == "" then
      credential.invalid(string.format("the credential_process of the AWS profile '%s' must be " ..
        "a command", name))
    end
    return credential_process.fetch(settings.credential_process,
      string.format("profile '%s'", name))
  end
  return from_section(from_config, files.config_path, name)
end
chain.profile = resolve_profile

local function from_profile(options)
  local settings, name, where = config.profile(options)
  local _, _, explicit = config.profile_name(options)
  local found = resolve_profile(name, settings, options, {[name] = true}, false, not explicit)
  return found, where
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
  found = container_credentials.fetch()
  if found then return found end
  error("no AWS credentials found; moonrun looked in: the client's options (access_key_id), " ..
    (explicit and "" or "the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), ") ..
    profile_where .. ", and the container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI and " ..
    "_RELATIVE_URI are not set)", 0)
end

return M
