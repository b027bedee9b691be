-- POST /send with {"messages": ["text", ...]}: each message goes to the queue (QUEUE_URL, which
-- the template sets to the queue's URL) as {"text": ..., "request": the request's id}.
local base64 = require "moonrun.base64"
local json = require "moonrun.json"
local sqs = require "moonrun.sqs"

local M = {}

local MAX_MESSAGES = 10 -- one send_message_batch

local function reply(status, body)
  return {statusCode = status, headers = {["content-type"] = "application/json"}, body = json.encode(body)}
end

-- The request's messages, or nil and what is wrong with the request.
local function messages_of(event)
  local text = event.body or ""
  if event.isBase64Encoded then text = base64.decode(text) end
  local ok, request = pcall(json.decode, text)
  if not ok or type(request) ~= "table" or type(request.messages) ~= "table" then
    return nil, 'expected a JSON body {"messages": ["text", ...]}'
  end
  local messages = request.messages
  if #messages == 0 or #messages > MAX_MESSAGES then
    return nil, string.format("expected 1 to %d messages, got %d", MAX_MESSAGES, #messages)
  end
  for i, message in ipairs(messages) do
    if type(message) ~= "string" or message == "" then
      return nil, string.format("messages[%d] is not a non-empty string", i)
    end
  end
  return messages
end

function M.handler(event, context)
  local queue_url = os.getenv("QUEUE_URL")
  if not queue_url or queue_url == "" then
    error("QUEUE_URL is not set: the template sets it to the queue's URL (!Ref Queue)")
  end
  local messages, why = messages_of(event)
  if not messages then return reply(400, {message = why}) end
  local entries = json.array{}
  for i, text in ipairs(messages) do
    entries[i] = {Id = tostring(i), MessageBody = json.encode{text = text, request = context.aws_request_id}}
  end
  local result = sqs.send_message_batch{QueueUrl = queue_url, Entries = entries}
  if #result.Failed > 0 then
    local first = result.Failed[1]
    error(string.format("%d of %d messages were not sent: %s (%s)", #result.Failed, #entries,
      tostring(first.Message), tostring(first.Code)))
  end
  local ids = json.array{}
  for i, sent in ipairs(result.Successful) do ids[i] = sent.MessageId end
  return reply(200, {sent = #ids, message_ids = ids})
end

return M
