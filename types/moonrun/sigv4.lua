---@meta moonrun.sigv4
local sigv4 = {}

---@class MoonrunSigv4Fields
---@field method string
---@field url string
---@field headers? table<string, string>
---@field body? string
---@field access_key_id string
---@field secret_access_key string
---@field session_token? string
---@field region string
---@field service string

---Signs a request with AWS Signature Version 4: the headers to add (and the signature).
---@param fields MoonrunSigv4Fields|table
---@return {headers: table<string, string>, signature: string, url?: string}
function sigv4.sign(fields) end

return sigv4
