-- LuaRocks version numbers and dependency constraints, as rockspecs write them ("penlight >=
-- 1.13, < 2", "lpeg ~> 1.1"): parsing, comparing, and whether a version satisfies a constraint.
-- moonrun checks the tree luarocks made against every constraint itself because luarocks 3.8,
-- given two that cannot both hold, keeps one of them silently.
local M = {}

-- "scm" and "dev" versions are newer than any number, as in luarocks.
local SPECIAL = {scm = math.huge, dev = math.huge - 1}

-- "1.2.3-4" -> {parts = {1, 2, 3}, revision = 4}; a part that is not a number stays text.
function M.parse(text)
  local version, revision = text:match("^%s*(.-)%-(%d+)%s*$")
  if not version then version = text:match("^%s*(.-)%s*$") end
  if version == "" then return nil end
  local parts = {}
  for part in version:gmatch("[^%.]+") do
    parts[#parts + 1] = tonumber(part) or SPECIAL[part:lower()] or part:lower()
  end
  return {parts = parts, revision = tonumber(revision), text = text}
end

local function compare_part(a, b)
  if a == b then return 0 end
  if type(a) == type(b) then return a < b and -1 or 1 end
  return type(a) == "number" and 1 or -1 -- 1.0 is after 1.0rc
end

-- -1, 0 or 1; the revisions count only when both versions have one.
function M.compare(a, b)
  for i = 1, math.max(#a.parts, #b.parts) do
    local c = compare_part(a.parts[i] or 0, b.parts[i] or 0)
    if c ~= 0 then return c end
  end
  if a.revision and b.revision and a.revision ~= b.revision then
    return a.revision < b.revision and -1 or 1
  end
  return 0
end

local OPERATORS = {["=="] = true, ["~="] = true, ["<"] = true, [">"] = true, ["<="] = true, [">="] = true,
                   ["~>"] = true}

-- "name >= 1.0, < 2" -> {name = "name", constraints = {{op = ">=", version = ...}, ...}, text = ...}
-- or nil and why.
function M.parse_dependency(text)
  local name, rest = text:match("^%s*([%w_%.%-]+)%s*(.-)%s*$")
  if not name then return nil, "a dependency starts with a rock's name" end
  local dependency = {name = name:lower(), constraints = {}, text = text}
  if rest == "" then return dependency end
  for piece in (rest .. ","):gmatch("%s*(.-)%s*,") do
    local op, version = piece:match("^([=~<>]*)%s*([%w_%.%-]+)$")
    if op == "" then op = "==" end
    if op == "=" then op = "==" end
    if not op or not OPERATORS[op] then
      return nil, "'" .. piece .. "' is not a version constraint (such as >= 1.0, < 2, ~> 1.1)"
    end
    dependency.constraints[#dependency.constraints + 1] = {op = op, version = M.parse(version), text = piece}
  end
  return dependency
end

local function pessimistic(version, wanted)
  for i = 1, #wanted.parts do
    if compare_part(version.parts[i] or 0, wanted.parts[i]) ~= 0 then return false end
  end
  return true
end

function M.satisfies(version, constraint)
  local op, c = constraint.op, M.compare(version, constraint.version)
  if op == "==" then return c == 0 end
  if op == "~=" then return c ~= 0 end
  if op == "<" then return c < 0 end
  if op == ">" then return c > 0 end
  if op == "<=" then return c <= 0 end
  if op == ">=" then return c >= 0 end
  return pessimistic(version, constraint.version)
end

-- The constraints of dependency (a parse_dependency result) that version breaks.
function M.broken(version, dependency)
  local broken = {}
  for _, constraint in ipairs(dependency.constraints) do
    if not M.satisfies(version, constraint) then broken[#broken + 1] = constraint end
  end
  return broken
end

return M
