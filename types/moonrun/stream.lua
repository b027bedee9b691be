---@meta moonrun.stream
-- Streamed responses (InvokeWithResponseStream, function URLs with RESPONSE_STREAM).
local stream = {}

---@class MoonrunStreamWriter
---@field write fun(self: MoonrunStreamWriter, bytes: string)

---A response whose body fn writes as it goes; prelude sets the HTTP status, headers and cookies.
---@param prelude {statusCode?: integer, headers?: table<string, string>, cookies?: string[]}
---@param fn fun(w: MoonrunStreamWriter)
---@return userdata
function stream.http(prelude, fn) end

return stream
