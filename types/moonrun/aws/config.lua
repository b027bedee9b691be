---@meta moonrun.aws.config
-- ~/.aws/config and ~/.aws/credentials, read as the SDKs read them.
local config = {}

---@return string
function config.credentials_file() end
---@return string
function config.config_file() end
---@param options? table
---@return string
function config.profile_name(options) end
---The profile's settings (a table of names and values).
---@param options? table
---@return table<string, string>
function config.profile(options) end
---config.profile, read once per process.
---@param options? table
---@return table<string, string>
function config.cached_profile(options) end
---@param options? table
---@return string|nil
function config.region(options) end

return config
