-- The settings a developer's machine keeps for the AWS SDKs and CLI: the shared files
-- (~/.aws/credentials and ~/.aws/config), the profile to use, and the region. Lambda sets
-- everything through the environment, so none of this is read there unless asked for.
local M = {}

local function home()
  return os.getenv("HOME") or ""
end

local function expand(path)
  if path:sub(1, 2) == "~/" then return home() .. path:sub(2) end
  return path
end

function M.credentials_file()
  return expand(os.getenv("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials")
end

function M.config_file()
  return expand(os.getenv("AWS_CONFIG_FILE") or "~/.aws/config")
end

-- Reads an INI file as the SDKs write it: {section = {key = value}}, or nil when the file does
-- not exist. Indented lines continue the setting above them (nested service settings): they
-- are not settings of the profile itself, so they are skipped.
local function read_ini(path)
  local file = io.open(path, "r")
  if not file then return nil end
  local sections, current = {}, nil
  local number = 0
  for line in file:lines() do
    number = number + 1
    local text = line:gsub("%s+[#;].*$", "")
    if text:match("^%s*[#;]") or text:match("^%s*$") then
      -- a comment or a blank line
    elseif text:match("^%s") then
      -- a nested setting (s3 =\n  addressing_style = path): not a profile setting
    elseif text:match("^%[") then
      local name = text:match("^%[%s*(.-)%s*%]%s*$")
      if not name then
        file:close()
        error(string.format("%s:%d: a section header must look like [name], got %q", path, number, line), 0)
      end
      current = sections[name] or {}
      sections[name] = current
    else
      local key, value = text:match("^([^=]-)%s*=%s*(.-)%s*$")
      if not key then
        file:close()
        error(string.format("%s:%d: expected 'name = value', got %q", path, number, line), 0)
      end
      if current then current[key:lower()] = value end
    end
  end
  file:close()
  return sections
end

-- The profile's name and where it was chosen.
function M.profile_name(options)
  if options and options.profile then return options.profile, "the profile option" end
  local name = os.getenv("AWS_PROFILE")
  if name and name ~= "" then return name, "AWS_PROFILE" end
  name = os.getenv("AWS_DEFAULT_PROFILE")
  if name and name ~= "" then return name, "AWS_DEFAULT_PROFILE" end
  return "default", nil
end

-- The named profile's settings, merged from both files (the credentials file wins, as in the
-- SDKs), and a description of what was found where, for error messages. A profile chosen
-- explicitly that neither file has is an error; the default profile may be absent.
function M.profile(options)
  local name, chosen_by = M.profile_name(options)
  local credentials_path, config_path = M.credentials_file(), M.config_file()
  local credentials = read_ini(credentials_path)
  local config = read_ini(config_path)
  local from_credentials = credentials and credentials[name]
  local from_config = config and (config["profile " .. name] or (name == "default" and config.default))
  if chosen_by and not from_credentials and not from_config then
    error(string.format("the AWS profile '%s' (chosen by %s) is in neither %s%s nor %s%s",
      name, chosen_by, credentials_path, credentials and "" or " (no such file)",
      config_path, config and "" or " (no such file)"), 0)
  end
  local settings = {}
  for key, value in pairs(from_config or {}) do settings[key] = value end
  for key, value in pairs(from_credentials or {}) do settings[key] = value end
  local where = string.format("profile '%s' in %s%s and %s%s", name, credentials_path,
    credentials and "" or " (no such file)", config_path, config and "" or " (no such file)")
  return settings, name, where
end

-- A profile read once per process: the files do not change under a running function.
local cached_profile = {}
function M.cached_profile(options)
  local name = M.profile_name(options)
  local entry = cached_profile[name]
  if not entry then
    local settings, _, where = M.profile(options)
    entry = {settings = settings, where = where}
    cached_profile[name] = entry
  end
  return entry.settings, entry.where
end

local function nonempty(value)
  if value and value ~= "" then return value end
end

-- The region: the option, AWS_REGION (Lambda sets it), AWS_DEFAULT_REGION, then the profile.
function M.region(options)
  local region = options and options.region or nonempty(os.getenv("AWS_REGION")) or
    nonempty(os.getenv("AWS_DEFAULT_REGION"))
  if region then return region end
  local settings = M.cached_profile(options)
  if nonempty(settings.region) then return settings.region end
  return nil
end

return M
