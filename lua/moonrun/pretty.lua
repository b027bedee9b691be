-- Renders Lua values for people, as the REPL prints results: tables with sorted keys and
-- indentation, a depth limit, and cycles marked instead of followed.
local M = {}

local keywords = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or
               repeat return then true until while]]):gmatch("%a+") do
  keywords[word] = true
end

local function is_identifier(key)
  return type(key) == "string" and key:match("^[%a_][%w_]*$") ~= nil and not keywords[key]
end

-- Numbers before strings before the rest; each group in its natural order.
local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    local rank = {number = 1, string = 2}
    return (rank[ta] or 3) < (rank[tb] or 3) or ((rank[ta] or 3) == (rank[tb] or 3) and ta < tb)
  end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function scalar(value)
  if type(value) == "string" then return string.format("%q", value):gsub("\\\n", "\\n") end
  return tostring(value)
end

local function render(value, depth, options, open, out)
  if type(value) ~= "table" then
    out[#out + 1] = scalar(value)
    return
  end
  if open[value] then
    out[#out + 1] = "<cycle>"
    return
  end
  if depth >= options.depth then
    out[#out + 1] = "{...}"
    return
  end
  local keys, length = {}, #value
  for key in pairs(value) do keys[#keys + 1] = key end
  if #keys == 0 then
    out[#out + 1] = "{}"
    return
  end
  table.sort(keys, key_order)
  open[value] = true
  local pad = string.rep(options.indent, depth + 1)
  out[#out + 1] = "{\n"
  for _, key in ipairs(keys) do
    out[#out + 1] = pad
    if not (math.type(key) == "integer" and key >= 1 and key <= length) then
      out[#out + 1] = is_identifier(key) and key or "[" .. scalar(key) .. "]"
      out[#out + 1] = " = "
    end
    render(value[key], depth + 1, options, open, out)
    out[#out + 1] = ",\n"
  end
  out[#out + 1] = string.rep(options.indent, depth) .. "}"
  open[value] = nil
end

--- Returns value as text. options: depth (default 5), indent (default two spaces).
function M.format(value, options)
  options = options or {}
  local settings = {depth = options.depth or 5, indent = options.indent or "  "}
  local out = {}
  render(value, 0, settings, {}, out)
  return table.concat(out)
end

return M
