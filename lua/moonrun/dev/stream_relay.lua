-- The relay of a function's streamed response to the HTTP client of a RESPONSE_STREAM function
-- URL: the function's Runtime API server hands it each piece of the chunked POST as it arrives
-- (httpd's body_sink), and it writes each on to the client at once (httpd.stream_write), never
-- holding the body. A response of the HTTP integration type (stream.http) begins with a JSON
-- prelude and 8 NUL bytes: that part is held until complete, and becomes the status, headers
-- and cookies. An error in the stream's trailers cuts the client's response (no terminating
-- chunk), since its status has gone out already.
local httpd = require "moonrun.httpd"
local json = require "moonrun.json"

local M = {}

M.HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
M.MAX_STREAMED_BYTES = 200 * 1024 * 1024 -- Lambda's limit for a streamed response's body
local DELIMITER = string.rep("\0", 8)
local MAX_PRELUDE_BYTES = 64 * 1024 -- a prelude is status, headers and cookies; more is not one

local function media_type(content_type)
  return content_type and content_type:lower():match("^%s*([^;%s]+)")
end

local Relay = {}
Relay.__index = Relay

--- A relay to the httpd request request_id. map_prelude(prelude table) -> status, headers, or
--- nil and why it cannot be used; add_headers(headers) -> the headers the client gets (such as
--- CORS headers), optional.
function M.new(request_id, map_prelude, add_headers)
  return setmetatable({id = request_id, map_prelude = map_prelude, add_headers = add_headers, sent = 0,
                       held_parts = {}, held_bytes = 0}, Relay)
end

--- The function's streamed POST began: its content type says whether a prelude comes first.
function Relay:open(content_type)
  self.opened = true
  self.content_type = content_type or "application/octet-stream"
  self.http = media_type(content_type) == M.HTTP_INTEGRATION
end

function Relay:start(status, headers)
  self.started, self.status = true, status
  if self.add_headers then headers = self.add_headers(headers) end
  if not httpd.respond_stream(self.id, status, headers) then self.gone = true end
end

function Relay:send(data)
  if data == "" or self.gone or self.cut then return end
  if self.sent + #data > M.MAX_STREAMED_BYTES then
    self.cut = string.format("the streamed response passed %d bytes, Lambda's limit", M.MAX_STREAMED_BYTES)
    return
  end
  self.sent = self.sent + #data
  if not httpd.stream_write(self.id, data) then self.gone = true end
end

-- The prelude, once its delimiter has come: the response starts, the rest is body.
function Relay:take_prelude()
  local held = table.concat(self.held_parts)
  local at = held:find(DELIMITER, 1, true)
  if not at then
    self.held_parts = {held}
    if #held > MAX_PRELUDE_BYTES then self.bad_prelude = "no 8-NUL delimiter in its first 64 KiB" end
    return
  end
  local ok, prelude = pcall(json.decode, held:sub(1, at - 1))
  local status, headers
  if ok and type(prelude) == "table" and not json.is_array(prelude) then
    if prelude.statusCode == nil then prelude.statusCode = 200 end
    status, headers = self.map_prelude(prelude)
  else
    headers = "it is not a JSON object"
  end
  if not status then
    self.bad_prelude = "its prelude cannot be used: " .. tostring(headers)
    return
  end
  self.held_parts, self.held_bytes = {}, 0
  self:start(status, headers)
  self:send(held:sub(at + #DELIMITER))
end

--- A piece of the function's response body, as it arrives.
function Relay:push(chunk)
  if chunk == "" or self.bad_prelude then return end
  if self.started then return self:send(chunk) end
  if not self.http then
    self:start(200, {["content-type"] = self.content_type})
    return self:send(chunk)
  end
  self.held_parts[#self.held_parts + 1] = chunk
  self.held_bytes = self.held_bytes + #chunk
  self:take_prelude()
end

--- What the relay holds of a response that never started (a prelude not yet complete).
function Relay:held()
  return table.concat(self.held_parts)
end

--- Ends the client's response with the invocation's outcome: whole when it succeeded, cut
--- (the connection closed without the terminating chunk) when it failed mid-stream. Returns the
--- summary for dev's log and whether it was a success.
function Relay:finish(outcome)
  if self.gone then
    return string.format("%d, the client went away after %d bytes", self.status, self.sent), outcome.ok
  end
  if outcome.ok and not self.cut then
    httpd.stream_end(self.id, false)
    return string.format("%d streamed, %d bytes", self.status, self.sent), true
  end
  httpd.stream_end(self.id, true)
  local why = self.cut
  if not why then
    local decoded_ok, err = pcall(json.decode, outcome.payload or "")
    if decoded_ok and type(err) == "table" then
      why = tostring(err.errorType or "error") .. ": " .. tostring(err.errorMessage or ""):gsub("%s+", " ")
    else
      why = "the function failed"
    end
  end
  return string.format("%d, stream cut after %d bytes: %s", self.status, self.sent, why), false
end

--- A streamed response read whole (a BUFFERED function URL, or one whose stream never
--- started), split into the prelude it stands for (a table with statusCode, headers, cookies)
--- and its body; nil when its prelude is not usable. The body is never decoded or re-encoded:
--- it may be megabytes.
function M.split(payload, content_type)
  if media_type(content_type) ~= M.HTTP_INTEGRATION then
    return {statusCode = 200, headers = {["content-type"] = content_type or "application/octet-stream"}}, payload
  end
  local at = payload:find(DELIMITER, 1, true)
  if not at then return nil end
  local ok, prelude = pcall(json.decode, payload:sub(1, at - 1))
  if not ok or type(prelude) ~= "table" or json.is_array(prelude) then return nil end
  if prelude.statusCode == nil then prelude.statusCode = 200 end
  return prelude, payload:sub(at + #DELIMITER)
end

return M
