---@meta moonrun.httpd
-- HTTP servers for moonrun dev, driven by moonrun.event_loop's poll from one thread.
local httpd = {}

---@class MoonrunHttpdRequest
---@field id integer
---@field method string
---@field path string
---@field query string
---@field headers table<string, string>
---@field body string

---@class MoonrunHttpdServer
---@field port fun(self: MoonrunHttpdServer): integer
---@field close fun(self: MoonrunHttpdServer)

---body_sink(req) may return a function that takes the request's body piece by piece as it arrives.
---@param settings {host?: string, port?: integer, handler: fun(req: MoonrunHttpdRequest), max_body?: integer, body_limit?: fun(req: MoonrunHttpdRequest): integer?, body_sink?: fun(req: MoonrunHttpdRequest): (fun(bytes: string))?}
---@return MoonrunHttpdServer
function httpd.listen(settings) end

---@param id integer
---@param status integer
---@param headers? table<string, string>
---@param body? string
---@return boolean
function httpd.respond(id, status, headers, body) end

---Starts an answer whose body follows with httpd.stream_write; false when the client has gone.
---@param id integer
---@param status integer
---@param headers? table<string, string|string[]>
---@return boolean
function httpd.respond_stream(id, status, headers) end

---Sends bytes as the next chunk of a streamed answer; false when the client has gone.
---@param id integer
---@param bytes string
---@return boolean
function httpd.stream_write(id, bytes) end

---Ends a streamed answer; failed closes the connection without the terminating chunk.
---@param id integer
---@param failed? boolean
---@return boolean
function httpd.stream_end(id, failed) end

return httpd
