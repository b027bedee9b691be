-- What keeps moonrun dev's servers to the clients of this machine. Listening on 127.0.0.1 is not
-- enough against a browser: any page it shows can send a request to 127.0.0.1 (a cross-origin
-- POST with a text/plain body needs no CORS preflight), or reach it through a DNS name of its
-- own that resolves to 127.0.0.1 (DNS rebinding), and either would invoke a function or send a
-- message. So a request whose Host header is not one of the listening address's names is refused,
-- and so is a request from a web page of another origin to the endpoints no page has reason to
-- call (the invoke endpoint, the embedded SQS). The HTTP API's own routes stay open to pages of
-- any origin, as an API Gateway API is.
--
-- With --host 0.0.0.0 (or ::) the user opened the servers to the network on purpose: any Host is
-- accepted then, since the machine's names cannot all be known; the origin check stays.
local json = require "moonrun.json"

local M = {}

local LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]"}
local WILDCARDS = {["0.0.0.0"] = true, ["::"] = true, ["[::]"] = true}

--- A guard for a server listening on host:port.
function M.new(host, port)
  local names = {}
  local function add(name)
    names[name:lower() .. ":" .. port] = true
    if port == 80 then names[name:lower()] = true end
  end
  local loopback = host == "127.0.0.1" or host == "localhost" or host == "::1" or host == "[::1]"
  if loopback then
    for _, name in ipairs(LOOPBACK_NAMES) do add(name) end
  else
    add(host:find(":", 1, true) and not host:find("^%[") and "[" .. host .. "]" or host)
  end
  return {any_host = WILDCARDS[host] or false, names = names}
end

local function refused(message)
  return 403, {["content-type"] = "application/json", ["x-amzn-errortype"] = "AccessDeniedException"},
    json.encode{__type = "AccessDeniedException", message = message}
end

--- nil when req may be served, else the refusal's status, headers and body. same_origin_only:
-- a request sent by a web page of another origin is refused too.
function M.check(guard, req, same_origin_only)
  local headers = req.headers or {}
  local host = headers.host
  if host and not guard.any_host and not guard.names[host:lower()] then
    return refused(string.format("moonrun dev: a request for the host '%s' is refused: this server " ..
      "answers only to its own address (a name that resolves here could be a DNS rebinding attack); " ..
      "use 127.0.0.1 or localhost, or --host to listen on another address", host))
  end
  local origin = headers.origin
  if same_origin_only and origin then
    local origin_host = origin:lower():match("^https?://([^/]+)$")
    if not (origin_host and (guard.names[origin_host] or (guard.any_host and origin_host == (host or ""):lower()))) then
      return refused(string.format("moonrun dev: a request from the web page origin '%s' is refused: " ..
        "the invoke endpoint and the embedded SQS endpoint answer SDKs and tools, not pages of other sites",
        origin))
    end
  end
end

return M
