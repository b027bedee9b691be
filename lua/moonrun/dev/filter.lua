-- Event filtering of an SQS trigger (FilterCriteria), as Lambda does it: up to 5 patterns in
-- EventBridge's pattern syntax, ORed, each matched against a record; the record's `body` is
-- matched as JSON when the pattern gives it fields, as text when it gives it values. Records
-- that match no pattern are deleted without invoking the function (poller.lua).
--
-- A pattern is a JSON object whose leaves are lists of conditions; a field matches when one of
-- its conditions does (an event's list value matches when one of its items does), and a pattern
-- matches when every field it names does. Conditions: a string, number, boolean or null (equal;
-- numbers by value), {"prefix": s}, {"suffix": s} (either also {"equals-ignore-case": s} inside),
-- {"equals-ignore-case": s}, {"anything-but": value, list, {"prefix": s}, {"suffix": s} or
-- {"equals-ignore-case": s or list}}, {"numeric": [op, n, op, n]} (=, <, <=, >, >=),
-- {"exists": true/false}; and "$or": [pattern, ...] where a field could be.
-- Pure Lua, without sockets: tests/lua/filter_spec.lua.
local json = require "moonrun.json"

local M = {}

M.MAX_PATTERNS = 5
M.MAX_PATTERN_BYTES = 4096

local null = json.null

local function is_object(v) return type(v) == "table" and v ~= null and not json.is_array(v) and next(v) ~= nil end
local function is_list(v)
  if type(v) ~= "table" or v == null then return false end
  return json.is_array(v) or next(v) == nil
end

local function fail(path, message, ...)
  error({filter_error = string.format("%s: " .. message, path, ...)}, 0)
end

local NUMERIC_OPS = {["="] = true, ["<"] = true, ["<="] = true, [">"] = true, [">="] = true}

-- ---- compiling: a pattern's conditions become functions of (present, value) ----

local function string_condition(kind, operand, path)
  if type(operand) == "string" then
    if kind == "prefix" then return function(s) return s:sub(1, #operand) == operand end end
    return function(s) return operand == "" or s:sub(-#operand) == operand end
  end
  if is_object(operand) and type(operand["equals-ignore-case"]) == "string" and next(operand, next(operand)) == nil then
    local lower = operand["equals-ignore-case"]:lower()
    if kind == "prefix" then return function(s) return s:sub(1, #lower):lower() == lower end end
    return function(s) return lower == "" or s:sub(-#lower):lower() == lower end
  end
  fail(path, "%s takes a string (or {\"equals-ignore-case\": string})", kind)
end

-- Lua's == already compares an integer and a float by value (5 == 5.0), as EventBridge does.
local function equal(a, b) return a == b end

local compile_condition

local function anything_but(operand, path)
  if type(operand) == "string" or type(operand) == "number" or type(operand) == "boolean" then
    return function(_, v) return not equal(v, operand) end
  end
  if is_list(operand) then
    if #operand == 0 then fail(path, "anything-but takes a value or a non-empty list") end
    for _, item in ipairs(operand) do
      if type(item) ~= "string" and type(item) ~= "number" then fail(path, "anything-but's list holds strings or numbers") end
    end
    return function(_, v)
      for _, item in ipairs(operand) do if equal(v, item) then return false end end
      return true
    end
  end
  if is_object(operand) then
    local key = next(operand)
    if next(operand, key) ~= nil then fail(path, "anything-but takes one of prefix, suffix or equals-ignore-case") end
    if key == "prefix" or key == "suffix" then
      local test = string_condition(key, operand[key], path .. ".anything-but")
      return function(_, v) return type(v) == "string" and not test(v) end
    end
    if key == "equals-ignore-case" then
      local values = operand[key]
      if type(values) == "string" then values = {values} end
      if not is_list(values) or #values == 0 then fail(path, "anything-but's equals-ignore-case takes a string or a list of strings") end
      local lowered = {}
      for i, s in ipairs(values) do
        if type(s) ~= "string" then fail(path, "anything-but's equals-ignore-case takes strings") end
        lowered[i] = s:lower()
      end
      return function(_, v)
        if type(v) ~= "string" then return false end
        for _, s in ipairs(lowered) do if v:lower() == s then return false end end
        return true
      end
    end
    fail(path, "anything-but takes a value, a list, or {prefix|suffix|equals-ignore-case: ...}, not %s", tostring(key))
  end
  fail(path, "anything-but takes a value, a list, or {prefix|suffix|equals-ignore-case: ...}")
end

local function numeric(operand, path)
  if not is_list(operand) or #operand == 0 or #operand % 2 ~= 0 or #operand > 4 then
    fail(path, "numeric takes one or two comparisons, such as [\">\", 0, \"<=\", 5]")
  end
  local tests = {}
  for i = 1, #operand, 2 do
    local op, n = operand[i], operand[i + 1]
    if not NUMERIC_OPS[op] then fail(path, "numeric: %s is not =, <, <=, > or >=", tostring(op)) end
    if type(n) ~= "number" then fail(path, "numeric: %s needs a number after it", op) end
    tests[#tests + 1] = {op, n}
  end
  return function(_, v)
    if type(v) ~= "number" then return false end
    for _, t in ipairs(tests) do
      local op, n = t[1], t[2]
      local ok = (op == "=" and v == n) or (op == "<" and v < n) or (op == "<=" and v <= n) or
                 (op == ">" and v > n) or (op == ">=" and v >= n)
      if not ok then return false end
    end
    return true
  end
end

-- One condition of a leaf list: a function(present, value) -> boolean; value is a scalar.
function compile_condition(c, path)
  if c == null then return function(present, v) return present and v == null end end
  local kind = type(c)
  if kind == "string" or kind == "number" or kind == "boolean" then
    return function(present, v) return present and equal(v, c) end
  end
  if not is_object(c) then fail(path, "a condition is a value or an object such as {\"prefix\": \"...\"}") end
  local key = next(c)
  if next(c, key) ~= nil then fail(path, "a condition object has one key, not several") end
  local operand = c[key]
  if key == "prefix" or key == "suffix" then
    local test = string_condition(key, operand, path)
    return function(present, v) return present and type(v) == "string" and test(v) end
  elseif key == "equals-ignore-case" then
    if type(operand) ~= "string" then fail(path, "equals-ignore-case takes a string") end
    local lower = operand:lower()
    return function(present, v) return present and type(v) == "string" and v:lower() == lower end
  elseif key == "anything-but" then
    local test = anything_but(operand, path)
    return function(present, v) return present and test(present, v) end
  elseif key == "numeric" then
    local test = numeric(operand, path)
    return function(present, v) return present and test(present, v) end
  elseif key == "exists" then
    if type(operand) ~= "boolean" then fail(path, "exists takes true or false") end
    return function(present) return present == operand end
  end
  fail(path, "%s is not a filter condition Lambda knows (prefix, suffix, equals-ignore-case, anything-but, numeric, exists)", tostring(key))
end

local compile_object

-- A leaf: the list of conditions; the field matches when one does.
local function compile_leaf(list, path)
  if #list == 0 then fail(path, "an empty list matches nothing") end
  local conditions = {}
  for i, c in ipairs(list) do conditions[i] = compile_condition(c, string.format("%s[%d]", path, i - 1)) end
  return function(present, value)
    local values = {value}
    if type(value) == "table" and value ~= null then
      if json.is_array(value) then values = value else return false end -- an object is not a leaf's value
    end
    if present and #values == 0 then return false end
    for _, v in ipairs(values) do
      for _, test in ipairs(conditions) do
        if test(present, v) then return true end
      end
    end
    if not present then
      for _, test in ipairs(conditions) do if test(false, nil) then return true end end
    end
    return false
  end
end

-- An object of the pattern: every named field must match; "$or" is a list of alternatives.
function compile_object(pattern, path, top)
  local fields = {}
  local names = {}
  for name in pairs(pattern) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local sub = pattern[name]
    local at = path == "" and name or (path .. "." .. name)
    if name == "$or" then
      if not is_list(sub) or #sub < 2 then fail(at, "$or takes a list of at least two patterns") end
      local alternatives = {}
      for i, alt in ipairs(sub) do
        if not is_object(alt) then fail(string.format("%s[%d]", at, i - 1), "each $or alternative is an object") end
        alternatives[i] = compile_object(alt, path, top)
      end
      fields[#fields + 1] = function(event)
        for _, alt in ipairs(alternatives) do if alt(event) then return true end end
        return false
      end
    elseif is_object(sub) then
      local inner = compile_object(sub, at)
      local body = top and name == "body"
      fields[#fields + 1] = function(event)
        local value = type(event) == "table" and event[name]
        if body and type(value) == "string" then
          -- the body is matched as JSON when the pattern names fields in it
          local ok, decoded = pcall(json.decode, value)
          if not ok then return false end
          value = decoded
        end
        return is_object(value) and inner(value) or false
      end
    elseif is_list(sub) then
      local leaf = compile_leaf(sub, at)
      fields[#fields + 1] = function(event)
        local value
        if type(event) == "table" and event ~= null then value = event[name] end
        return leaf(value ~= nil, value)
      end
    else
      fail(at, "a pattern's value is an object or a list of conditions, not %s", json.encode(sub))
    end
  end
  return function(event)
    for _, test in ipairs(fields) do if not test(event) then return false end end
    return true
  end
end

--- A pattern (JSON text) compiled to a function(record) -> boolean; or nil and a message.
function M.compile(text)
  if type(text) ~= "string" then return nil, "a pattern is JSON text" end
  if #text > M.MAX_PATTERN_BYTES then return nil, string.format("a pattern is at most %d bytes", M.MAX_PATTERN_BYTES) end
  local ok, pattern = pcall(json.decode, text)
  if not ok then return nil, "the pattern is not JSON: " .. tostring(pattern) end
  if not is_object(pattern) then return nil, "a pattern is a JSON object, such as {\"body\": {\"kind\": [\"order\"]}}" end
  local compiled, result = pcall(compile_object, pattern, "", true)
  if compiled then return result end
  if type(result) == "table" and result.filter_error then return nil, result.filter_error end
  error(result, 0)
end

--- The patterns (a list of JSON texts, at most MAX_PATTERNS) compiled to one function(record)
--- -> boolean that is true when any matches (or there are none); or nil and a message naming
--- the pattern.
function M.compile_all(texts)
  if #texts > M.MAX_PATTERNS then
    return nil, string.format("%d filter patterns: Lambda takes at most %d", #texts, M.MAX_PATTERNS)
  end
  local matchers = {}
  for i, text in ipairs(texts) do
    local matcher, why = M.compile(text)
    if not matcher then return nil, string.format("filter pattern %d: %s", i, why) end
    matchers[i] = matcher
  end
  return function(record)
    if #matchers == 0 then return true end
    for _, matcher in ipairs(matchers) do if matcher(record) then return true end end
    return false
  end
end

return M
