---@meta moonrun.aws.credentials
local credentials = {}

---Seconds before expiry that temporary credentials are fetched again.
---@type integer
credentials.REFRESH_MARGIN = 900

---@param text string
---@return number|nil
function credentials.parse_iso8601(text) end
---The credentials, from the SDKs' chain.
---@param options? table
---@return table
function credentials.resolve(options) end
---When c must be fetched again (epoch seconds), or nil.
---@param c table
---@param fetched_at number
---@return number|nil
function credentials.refresh_at(c, fetched_at) end

return credentials
