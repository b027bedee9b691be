-- Standard base64 (RFC 4648, with padding): SQS carries binary message attributes in it.
local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local VALUE = {}
for i = 1, #ALPHABET do VALUE[ALPHABET:byte(i)] = i - 1 end

function M.encode(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = data:byte(i, i + 2)
    local bits = a << 16 | (b or 0) << 8 | (c or 0)
    local quad = {}
    for k = 1, 4 do
      local index = (bits >> (24 - 6 * k)) & 63
      quad[k] = ALPHABET:sub(index + 1, index + 1)
    end
    if not b then quad[3] = "=" end
    if not c then quad[4] = "=" end
    out[#out + 1] = table.concat(quad)
  end
  return table.concat(out)
end

--- Returns the bytes, or nil and a message naming what is wrong with the text.
function M.decode(text)
  if #text % 4 ~= 0 then
    return nil, string.format("base64 text of %d characters is not a multiple of 4 long", #text)
  end
  local out = {}
  for i = 1, #text, 4 do
    local bits, pad = 0, 0
    for k = 0, 3 do
      local byte = text:byte(i + k)
      local value = VALUE[byte]
      if byte == 61 and i + 4 > #text and k >= 2 then -- '=' only at the very end
        pad, value = pad + 1, 0
      elseif not value or pad > 0 then
        return nil, string.format("invalid base64 character at position %d", i + k)
      end
      bits = bits << 6 | value
    end
    local chunk = string.char(bits >> 16 & 255, bits >> 8 & 255, bits & 255)
    out[#out + 1] = chunk:sub(1, 3 - pad)
  end
  return table.concat(out)
end

return M
