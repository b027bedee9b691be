-- Inspects how events were decoded and exercises the moonrun.json module.
local json = require("moonrun.json")

local M = {}

local function describe(v)
  if v == json.null then
    return { t = "null" }
  end
  local t = type(v)
  if t == "number" then
    return { t = math.type(v), s = string.format(math.type(v) == "integer" and "%d" or "%.17g", v) }
  elseif t == "string" then
    return { t = "string", len = #v, bytes = { string.byte(v, 1, -1) } }
  elseif t == "table" then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    return { t = "table", n = n, len = #v }
  end
  return { t = t }
end

-- event: {"values": {name: value, ...}} -> {name: description}
function M.describe(event, context)
  local out = {}
  for k, v in pairs(event.values) do
    out[k] = describe(v)
  end
  return out
end

-- Returns the value selected by event.what (to check result encoding).
local returns = {
  hi = function() return "hi" end,
  int = function() return 42 end,
  neg = function() return -7 end,
  float_one = function() return 1.0 end,
  float_tenth = function() return 0.1 end,
  tiny = function() return 1e-300 end,
  maxint = function() return math.maxinteger end,
  minint = function() return math.mininteger end,
  ["true"] = function() return true end,
  ["false"] = function() return false end,
  ["nil"] = function() return nil end,
  none = function() end,
  null = function() return json.null end,
  empty_table = function() return {} end,
  empty_array = function() return json.array({}) end,
  marked_array = function() return json.array({ 1, 2 }) end,
  sequence = function() return { 1, "two", 3.5, false } end,
  int_keys = function() return { [200] = "ok", [404] = "missing" } end,
  sparse = function() return { [1] = "a", [3] = "c" } end,
  nulls = function() return { a = json.null, list = { 1, json.null, 3 } } end,
  unicode = function() return { s = "caf\u{e9} \u{1F600} \u{65E5}\u{672C}" } end,
  escapes = function() return { s = "q\"b\\s/n\nt\tc\1d\31e\127" } end,
  nested = function() return { a = { b = { c = { 1, { d = "e" } } } } } end,
}

function M.returns(event, context)
  return returns[event.what]()
end

-- Exercises json.encode / json.decode / json.null / json.array from Lua.
function M.module(event, context)
  local out = {}
  out.same_null = (require("moonrun.json").null == json.null)
  out.event_null_is_sentinel = (event.n == json.null)
  out.null_type = type(json.null)
  out.encode_obj = json.encode({ a = 1 })
  out.encode_arr = json.encode({ 1, 2, 3 })
  out.encode_empty_array = json.encode(json.array({}))
  out.encode_str = json.encode("x\"y")
  out.encode_null = json.encode(json.null)
  local decoded = json.decode('{"k":[1,2.5,"s",null,true],"e":[]}')
  out.decoded_k1_type = math.type(decoded.k[1])
  out.decoded_k2_type = math.type(decoded.k[2])
  out.decoded_k4_null = (decoded.k[4] == json.null)
  out.decoded_len = #decoded.k
  out.reencode_empty = json.encode(decoded.e)
  local ok, err = pcall(json.decode, '{"a":')
  out.bad_decode_ok = ok
  out.bad_decode_msg_type = type(err)
  out.bad_decode_msg = tostring(err)
  local ok2, err2 = pcall(json.encode, { f = print })
  out.bad_encode_ok = ok2
  out.bad_encode_msg_type = type(err2)
  return out
end

return M
