---@meta moonrun.httpd
-- HTTP servers for moonrun dev, driven by httpd.poll from one thread.
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

---@param settings {host?: string, port?: integer, handler: fun(req: MoonrunHttpdRequest), max_body?: integer}
---@return MoonrunHttpdServer
function httpd.listen(settings) end

---@param id integer
---@param status integer
---@param headers? table<string, string>
---@param body? string
---@return boolean
function httpd.respond(id, status, headers, body) end

---Serves until timeout_s; false when SIGINT or SIGTERM arrived.
---@param timeout_s number
---@return boolean
function httpd.poll(timeout_s) end

return httpd
