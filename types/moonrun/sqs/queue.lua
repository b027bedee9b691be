---@meta moonrun.sqs.queue
local queue = {}

---@class MoonrunSqsQueue
---@field url string
local Queue = {}
---@param params table MessageBody, ...
---@return table
function Queue:send_message(params) end
---@param params? table
---@return table[] messages
function Queue:receive_messages(params) end
---@param message table|string a received message or its receipt handle
function Queue:delete(message) end
---@param names? string[]
---@return table<string, string>
function Queue:attributes(names) end
---@param items (string|table)[]
---@return table result {Successful, Failed, Unknown}: Unknown entries may or may not be queued
function Queue:send_messages(items) end
---@param messages (table|string)[]
---@return table
function Queue:delete_messages(messages) end

---@param client table
---@param url string
---@return MoonrunSqsQueue
function queue.new(client, url) end

return queue
