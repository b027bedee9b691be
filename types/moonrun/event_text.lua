---@meta moonrun.event_text
-- Text helpers of the sample events and moonrun dev's HTTP front.
local event_text = {}

---@param text string
---@return string
function event_text.percent_decode(text) end
---@param text string
---@return string
function event_text.form_decode(text) end
---A query string as an ordered list of {name, value}.
---@param query string
---@return table
function event_text.parse_query(query) end
---@param n integer
---@return string
function event_text.random_bytes(n) end
---@param n integer
---@param alphabet string
---@return string
function event_text.random_text(n, alphabet) end
---Milliseconds as Common Log Format's time (01/Jun/2024:12:00:00 +0000).
---@param ms integer
---@return string
function event_text.clf_time(ms) end
---A request id as API Gateway makes them.
---@return string
function event_text.http_request_id() end

return event_text
