-- The settings a developer's machine keeps for the AWS SDKs and CLI: the shared files
-- (~/.aws/credentials and ~/.aws/config), the profile to use, its [services NAME] section, and
-- the region. Lambda sets everything through the environment, so none of this is read there
-- unless asked for. Profiles are found as botocore finds them (see docs/lua-library.md, "Credentials").
local errors = require "moonrun.aws.errors"
-- The files' reader loads when a file is first read: not at all on Lambda, where the
-- environment says everything.
local ini = setmetatable({}, {__index = function(_, key) return require("moonrun.aws.ini")[key] end})

local M = {}

local function home()
  return os.getenv("HOME") or ""
end

local function expand(path)
  if path:sub(1, 2) == "~/" then return home() .. path:sub(2) end
  return path
end

local function nonempty(value)
  if value and value ~= "" then return value end
end

function M.credentials_file()
  return expand(nonempty(os.getenv("AWS_SHARED_CREDENTIALS_FILE")) or "~/.aws/credentials")
end

function M.config_file()
  return expand(nonempty(os.getenv("AWS_CONFIG_FILE")) or "~/.aws/config")
end

-- The config file's sections sorted as botocore sorts them: a name starting with "profile",
-- "sso-session" or "services" is split into words like a shell would, and counts only when it
-- has exactly two ([profile  dev] and [profile "dev"] are the profile dev); [default] is the
-- default profile; other sections are ignored.
local function sort_sections(parsed)
  local map = {profiles = {}, services = {}, sso_sessions = {}}
  for _, name in ipairs(parsed.order) do
    local values = parsed.sections[name]
    local kind = name:sub(1, 7) == "profile" and "profiles" or
      name:sub(1, 11) == "sso-session" and "sso_sessions" or
      name:sub(1, 8) == "services" and "services" or nil
    if kind then
      local words = ini.split_words(name)
      if words and #words == 2 then map[kind][words[2]] = values end
    elseif name == "default" then
      map.profiles.default = values
    end
  end
  return map
end

-- Both files, parsed once per process and pair of paths (they do not change under a running
-- function). A malformed file is an InvalidConfiguration error, whatever asked for it.
local loaded = {}
function M.files()
  local credentials_path, config_path = M.credentials_file(), M.config_file()
  local key = credentials_path .. "\0" .. config_path
  local files = loaded[key]
  if not files then
    local config = ini.read(config_path)
    local credentials = ini.read(credentials_path)
    files = {
      credentials_path = credentials_path,
      config_path = config_path,
      credentials = credentials and credentials.sections,
      config = config and sort_sections(config),
    }
    loaded[key] = files
  end
  return files
end

--- The profile's name, what chose it, and whether it was the client's own option (which, as in
-- botocore, sets the environment's keys aside). AWS_DEFAULT_PROFILE comes before AWS_PROFILE,
-- botocore's order.
function M.profile_name(options)
  if options and options.profile then return options.profile, "the profile option", true end
  for _, variable in ipairs{"AWS_DEFAULT_PROFILE", "AWS_PROFILE"} do
    local name = nonempty(os.getenv(variable))
    if name then return name, variable, false end
  end
  return "default", nil, false
end

local function describe_files(files)
  return string.format("%s%s and %s%s", files.credentials_path,
    files.credentials and "" or " (no such file)", files.config_path,
    files.config and "" or " (no such file)")
end

--- One profile's sections: (from the credentials file, from the config file), either nil.
function M.sections(name)
  local files = M.files()
  return files.credentials and files.credentials[name], files.config and files.config.profiles[name]
end

--- A profile's settings from both files (the credentials file's win, as in botocore), or nil.
function M.settings_of(name)
  local from_credentials, from_config = M.sections(name)
  if not from_credentials and not from_config then return nil end
  local settings = {}
  for key, value in pairs(from_config or {}) do settings[key] = value end
  for key, value in pairs(from_credentials or {}) do settings[key] = value end
  return settings
end

--- The chosen profile's settings, its name, and a description of where it was looked for. A
-- profile chosen by name that neither file has is a ProfileNotFound error; the default profile
-- may be absent.
function M.profile(options)
  local name, chosen_by = M.profile_name(options)
  local files = M.files()
  local settings = M.settings_of(name)
  if not settings and chosen_by then
    error(errors.new{code = "ProfileNotFound", message = string.format(
      "the AWS profile '%s' (chosen by %s) is in neither %s", name, chosen_by,
      describe_files(files))}, 0)
  end
  return settings or {}, name, string.format("profile '%s' in %s", name, describe_files(files))
end

-- Kept for the callers that read one setting of the chosen profile.
function M.cached_profile(options)
  local settings, _, where = M.profile(options)
  return settings, where
end

--- The [services NAME] section the profile names with `services = NAME` ({} when it names
-- none); naming one that does not exist is an InvalidConfiguration error, as in botocore.
function M.services(options)
  local settings, name = M.profile(options)
  local section = settings.services
  if section == nil then return {} end
  local files = M.files()
  local found = type(section) == "string" and files.config and files.config.services[section]
  if not found or next(found) == nil then
    error(errors.new{code = "InvalidConfiguration", message = string.format(
      "the AWS profile '%s' names the services section '%s', which %s does not have",
      name, tostring(section), files.config_path)}, 0)
  end
  return found
end

--- Whether a boolean setting is on: the variable, else the profile's setting; "true" in any
-- case is true, anything else false (botocore's reading).
function M.flag(variable, setting, options)
  local value = os.getenv(variable)
  if value == nil then value = M.profile(options)[setting] end
  return type(value) == "string" and value:lower() == "true"
end

-- The region: the option, AWS_REGION (Lambda sets it), AWS_DEFAULT_REGION, then the profile.
function M.region(options)
  local region = options and options.region or nonempty(os.getenv("AWS_REGION")) or
    nonempty(os.getenv("AWS_DEFAULT_REGION"))
  if region then return region end
  local settings = M.profile(options)
  if type(settings.region) == "string" and settings.region ~= "" then return settings.region end
  return nil
end

return M
