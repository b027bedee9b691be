-- What moonrun.sqs checks on its side of the wire: the limits SQS would refuse a message for
-- (so that no request is made for it), and the MD5 digests SQS returns (so that a message
-- corrupted on the way is an error, as in the SDKs).
local base64 = require "moonrun.base64"
local digest = require "moonrun.digest"
local find_invalid = require("moonrun.textcheck").find_invalid

local M = {}

M.MAX_MESSAGE_BYTES = 1048576 -- 1 MiB, body and attributes together
M.MAX_BATCH_ENTRIES = 10

-- The characters SQS accepts in a body or a string attribute: #x9 #xA #xD, #x20-#xD7FF,
-- #xE000-#xFFFD, #x10000-#x10FFFF, as valid UTF-8. Returns nil or what is wrong.
function M.invalid_characters(text)
  local position, code = find_invalid(text)
  if not position then return nil end
  if not code then return string.format("it is not valid UTF-8 (at byte %d)", position) end
  return string.format("it holds U+%04X at byte %d, a character SQS does not accept", code, position)
end

-- The bytes a message counts against the limit: its body and each attribute's name, type and
-- value (binary values counted decoded).
function M.message_size(body, attributes)
  local size = #body
  for name, attribute in pairs(attributes or {}) do
    size = size + #name + #(attribute.DataType or "")
    local value = attribute.StringValue or attribute.BinaryValue
    if type(value) == "string" then size = size + #value end
  end
  return size
end

-- Checks one message to be sent; returns nil, or an error code and a message.
function M.check_message(body, attributes)
  if type(body) ~= "string" then
    return "MissingParameter", "MessageBody must be a string, got " .. type(body)
  elseif body == "" then
    return "MissingParameter", "MessageBody must not be empty"
  end
  local problem = M.invalid_characters(body)
  if problem then return "InvalidMessageContents", "MessageBody cannot be sent: " .. problem end
  for name, attribute in pairs(attributes or {}) do
    if type(attribute) ~= "table" or type(attribute.DataType) ~= "string" then
      return "InvalidParameterValue", string.format(
        "message attribute '%s' must be a table with a DataType", tostring(name))
    end
    if type(attribute.StringValue) == "string" then
      problem = M.invalid_characters(attribute.StringValue)
      if problem then
        return "InvalidMessageContents", string.format(
          "message attribute '%s' cannot be sent: %s", name, problem)
      end
    end
  end
  local size = M.message_size(body, attributes)
  if size > M.MAX_MESSAGE_BYTES then
    return "InvalidParameterValue", string.format(
      "the message is %d bytes (body and attributes); SQS takes at most %d", size,
      M.MAX_MESSAGE_BYTES)
  end
  return nil
end

local function be32(n)
  return string.pack(">I4", n)
end

-- SQS's digest of message attributes: for each name in byte order, the length-prefixed name,
-- data type, a transport byte (1 string, 2 binary) and the length-prefixed value.
function M.attributes_md5(attributes)
  local names = {}
  for name in pairs(attributes) do names[#names + 1] = name end
  table.sort(names)
  local parts = {}
  for _, name in ipairs(names) do
    local attribute = attributes[name]
    parts[#parts + 1] = be32(#name) .. name .. be32(#attribute.DataType) .. attribute.DataType
    if attribute.StringValue ~= nil then
      parts[#parts + 1] = "\1" .. be32(#attribute.StringValue) .. attribute.StringValue
    elseif attribute.BinaryValue ~= nil then
      parts[#parts + 1] = "\2" .. be32(#attribute.BinaryValue) .. attribute.BinaryValue
    end
  end
  return digest.md5_hex(table.concat(parts))
end

-- A copy of attributes with binary values in base64, as the JSON protocol carries them.
function M.encode_attributes(attributes)
  if attributes == nil then return nil end
  local copy = {}
  for name, attribute in pairs(attributes) do
    local encoded = {}
    for key, value in pairs(attribute) do encoded[key] = value end
    if type(attribute.BinaryValue) == "string" then
      encoded.BinaryValue = base64.encode(attribute.BinaryValue)
    end
    copy[name] = encoded
  end
  return copy
end

-- Decodes received binary attribute values in place; returns nil or what is wrong.
function M.decode_attributes(attributes)
  for name, attribute in pairs(attributes or {}) do
    if type(attribute.BinaryValue) == "string" then
      local bytes, why = base64.decode(attribute.BinaryValue)
      if not bytes then return string.format("message attribute '%s': %s", name, why) end
      attribute.BinaryValue = bytes
    end
  end
end

-- Compares a digest SQS returned with ours; returns nil or a message naming the mismatch.
function M.mismatch(what, returned, expected)
  if returned ~= nil and returned ~= expected then
    return string.format("the %s SQS returned (%s) is not the MD5 of what was %s (%s)", what,
      tostring(returned), "sent or received", expected)
  end
end

return M
