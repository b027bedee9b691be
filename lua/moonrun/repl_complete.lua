-- Tab completion for `moonrun repl`: the word before the cursor, a Lua name path such as
-- `json.enc`, `sqs.send_m` or `q:send_`, completed from the globals, the fields of the table
-- the path leads to, and (after ':') the methods its metatable's __index offers.
--
-- Looking a path up must not run the user's code: fields are read with rawget, and a
-- metatable's __index is followed only when it is a table, never called.
local M = {}

local KEYWORDS = {"and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
  "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"}

-- The value of field name in value, without running a metamethod.
local function peek(value, name)
  local seen = 0
  while type(value) == "table" and seen < 8 do
    local found = rawget(value, name)
    if found ~= nil then return found end
    local mt = getmetatable(value)
    local index = type(mt) == "table" and rawget(mt, "__index")
    value, seen = index, seen + 1
  end
  if type(value) == "string" then return string[name] end
end

-- Each name value offers for completion: its own fields, then its __index tables' (strings:
-- the string library's). methods_only keeps the functions.
local function names_of(value, methods_only)
  local names, seen = {}, {}
  local depth = 0
  if type(value) == "string" then value = string end
  while type(value) == "table" and depth < 8 do
    for key, field in next, value do
      if type(key) == "string" and key:match("^[%a_][%w_]*$") and not seen[key] and
          (not methods_only or type(field) == "function" or
            (type(field) == "table" and type(getmetatable(field)) == "table" and getmetatable(field).__call)) then
        seen[key] = true
        names[#names + 1] = key
      end
    end
    local mt = getmetatable(value)
    value = type(mt) == "table" and rawget(mt, "__index") or nil
    depth = depth + 1
  end
  return names
end

--- The completions of word (the text before the cursor, from the start of the name path),
--- looked up in env (the REPL's globals): full replacements for word, sorted; a table or a
--- function is followed by the character that usually comes next.
function M.complete(word, env)
  env = env or _G
  local path, separator, partial = word:match("^(.-)([.:])([%w_]*)$")
  local base, candidates, methods
  if path then
    for part in (path .. "."):gmatch("([^.]*)%.") do
      if not part:match("^[%a_][%w_]*$") then return {} end
    end
    base = env
    for part in path:gmatch("[^.]+") do
      base = peek(base, part)
      if base == nil then return {} end
    end
    methods = separator == ":"
    candidates = names_of(base, methods)
  else
    if not word:match("^[%a_]?[%w_]*$") then return {} end
    partial, path, separator, base = word, "", "", env
    candidates = names_of(env)
    if #word > 0 then for _, keyword in ipairs(KEYWORDS) do candidates[#candidates + 1] = keyword end end
  end
  local results, prefix = {}, path .. separator
  for _, name in ipairs(candidates) do
    if name:sub(1, #partial) == partial then
      local value = peek(base, name)
      local suffix = ""
      if type(value) == "function" then suffix = "("
      elseif type(value) == "table" and not methods then suffix = "." end
      results[#results + 1] = prefix .. name .. suffix
    end
  end
  table.sort(results)
  -- a keyword and a global of the same name would be offered twice
  local unique = {}
  for _, r in ipairs(results) do if unique[#unique] ~= r then unique[#unique + 1] = r end end
  return unique
end

return M
