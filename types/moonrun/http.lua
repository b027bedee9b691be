---@meta moonrun.http
local http = {}

---@class MoonrunHttpRequest
---@field method? string default "GET"
---@field url string http:// or https://
---@field headers? table<string, string>
---@field body? string
---@field timeout? number seconds for the whole request
---@field connect_timeout? number seconds to connect

---@class MoonrunHttpResponse
---@field status integer
---@field headers table<string, string> lower-case names
---@field body string
---@field error? MoonrunHttpFailure in request_many's answers, when there was no response

---@class MoonrunHttpFailure
---@field kind string
---@field message string
---@field curl_code? integer
---@field sent? boolean true: the request may have reached the server before the failure

---One request: the response whatever its status, or nil and why no response came.
---@param request MoonrunHttpRequest
---@return MoonrunHttpResponse|nil
---@return MoonrunHttpFailure|nil
function http.request(request) end

---Several requests at once; the answers in the same order.
---@param requests MoonrunHttpRequest[]
---@return MoonrunHttpResponse[]
function http.request_many(requests) end

return http
