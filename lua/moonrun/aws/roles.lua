-- Credentials for a role, from STS: a profile's role_arn with source_profile or
-- credential_source (AssumeRole, signed with the source's credentials), and a web identity
-- token (AssumeRoleWithWebIdentity). Sessions are kept for the life of the process and fetched
-- again before they expire. chain: the sources a role's own credentials may come from
-- ({environment = fn, container = fn, profile = fn(name, settings, options, visited,
-- static_only)}), given by credentials.lua, whose chain this is part of.
local config = require "moonrun.aws.config"
local credential = require "moonrun.aws.credential"
local sts = require "moonrun.aws.sts"
local time = require "moonrun.time"

local M = {}

local function nonempty(value)
  if value and value ~= "" then return value end
end

-- Sessions from STS, kept for the life of the process and fetched again before they expire.
local assumed = {}

local function session_name(given)
  return given or string.format("moonrun-session-%d", math.floor(time.now()))
end

local function cached_session(key, fetch, source)
  local entry = assumed[key]
  local now = time.now()
  if entry and now < credential.refresh_at(entry.credentials, entry.fetched_at) then
    return entry.credentials
  end
  local answer = fetch()
  local c = credential.new(answer.AccessKeyId, answer.SecretAccessKey, answer.SessionToken, source,
    credential.expiration_of(answer.Expiration, "STS"))
  assumed[key] = {credentials = credential.unexpired(c), fetched_at = now}
  return c
end

local function sts_region(options)
  return config.region(options) or "us-east-1"
end

local function source_credentials(name, settings, options, visited, chain)
  local source, from = settings.source_profile, settings.credential_source
  if source ~= nil and from ~= nil then
    credential.invalid(string.format("the AWS profile '%s' has both source_profile and credential_source; " ..
      "keep one", name))
  elseif source == nil and from == nil then
    credential.invalid(string.format("the AWS profile '%s' has role_arn but neither source_profile nor " ..
      "credential_source: name where the credentials to assume the role with come from", name))
  elseif from ~= nil then
    local found
    if from == "Environment" then
      found = chain.environment()
    elseif from == "EcsContainer" then
      found = chain.container()
    elseif from == "Ec2InstanceMetadata" then
      error(string.format("the AWS profile '%s' has credential_source = Ec2InstanceMetadata; " ..
        "moonrun does not read EC2 instance metadata", name), 0)
    else
      credential.invalid(string.format("the AWS profile '%s' has credential_source = %s; it must be " ..
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
    credential.invalid(string.format("the source_profile '%s' of the AWS profile '%s' is in neither file",
      tostring(source), name))
  end
  local static = source_settings.aws_access_key_id ~= nil or
    source_settings.aws_secret_access_key ~= nil
  if visited[source] and not (source == name and static) then
    credential.invalid(string.format("the AWS profiles' source_profile settings form a loop " ..
      "through '%s'", source))
  end
  visited[source] = true
  local found = chain.profile(source, source_settings, options, visited, source == name or static)
  if not found then
    credential.invalid(string.format("the source_profile '%s' of the AWS profile '%s' has no credentials",
      source, name))
  end
  return found
end

function M.assume_role(name, settings, options, visited, chain)
  if settings.mfa_serial ~= nil then
    error(string.format("the AWS profile '%s' needs an MFA code (mfa_serial), which moonrun " ..
      "cannot ask for", name), 0)
  end
  local source = source_credentials(name, settings, options, visited, chain)
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
function M.web_identity(name, settings, options, use_environment)
  local function setting(variable, key)
    local value = use_environment and nonempty(os.getenv(variable))
    if value then return value, variable end
    return settings[key], string.format("%s of the AWS profile '%s'", key, name)
  end
  local token_file, token_from = setting("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file")
  if token_file == nil then return nil end
  local role_arn = setting("AWS_ROLE_ARN", "role_arn")
  if role_arn == nil then
    credential.invalid(string.format("%s is set but no role_arn (or AWS_ROLE_ARN) says which role to assume",
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

return M
