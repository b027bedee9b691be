-- Reading a project's rockspec (a Lua file of assignments) the way luarocks would, to know its
-- dependencies without starting luarocks, and to say where it is wrong: a syntax error with
-- the file and line, a dependency that is not a "name [constraints]" string with its line.
local versions = require "moonrun.deps.versions"

local M = {}

-- A rockspec is data: a runaway loop in one is stopped rather than hanging every command.
local INSTRUCTION_LIMIT = 1000000

local function read_text(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end
M.read_text = read_text

-- The line of text where needle first appears (1 when it does not).
local function line_of(text, needle)
  local at = text:find(needle, 1, true)
  if not at then return 1 end
  local _, newlines = text:sub(1, at):gsub("\n", "")
  return newlines + 1
end

-- The line where the field is assigned ("dependencies = ..."), not where a comment names it.
local function line_of_field(text, name)
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:match("^%s*" .. name .. "%s*=") then return n end
  end
  return 1
end

local function invalid(path, line, message)
  return {kind = "rockspec", file = path, line = line,
          message = ("invalid rockspec %s%s: %s"):format(path, line and (":" .. line) or "", message)}
end

-- The rockspec's values as a table, or nil and an error {kind = "rockspec", file, line, message}.
function M.load(path, text)
  if not text then
    local err
    text, err = read_text(path)
    if not text then return nil, {kind = "rockspec", file = path, message = "cannot read the rockspec " .. err} end
  end
  local values = {}
  local chunk, err = load(text, "@" .. path, "t", values)
  if not chunk then
    local line, why = err:match(":(%d+): (.*)$")
    return nil, invalid(path, tonumber(line), why or err)
  end
  local co = coroutine.create(chunk)
  debug.sethook(co, function() error("it runs too long for a rockspec", 0) end, "", INSTRUCTION_LIMIT)
  local ok, run_err = coroutine.resume(co)
  if not ok then
    local line, why = tostring(run_err):match(":(%d+): (.*)$")
    return nil, invalid(path, tonumber(line), why or tostring(run_err))
  end
  return values
end

-- The rockspec's dependencies, parsed (without "lua" itself, which moonrun provides), or nil
-- and an error naming the file, the line and the entry.
function M.dependencies(path, text)
  local values, err = M.load(path, text)
  if not values then return nil, err end
  text = text or read_text(path) or ""
  if type(values.package) ~= "string" or values.package == "" then
    return nil, invalid(path, line_of_field(text, "package"), "package must be the project's name, a string")
  end
  local list = values.dependencies
  if list == nil then return {}, values end
  if type(list) ~= "table" then
    return nil, invalid(path, line_of_field(text, "dependencies"),
      "dependencies must be a list of strings such as {\"lua >= 5.4\", \"penlight >= 1.13\"}")
  end
  local dependencies = {}
  for i, entry in ipairs(list) do
    if type(entry) ~= "string" then
      return nil, invalid(path, line_of_field(text, "dependencies"),
        ("dependencies[%d] is a %s, not a string such as \"penlight >= 1.13\""):format(i, type(entry)))
    end
    local dependency, why = versions.parse_dependency(entry)
    if not dependency then
      local line = text:find('"' .. entry .. '"', 1, true) and line_of(text, '"' .. entry .. '"') or
        line_of(text, entry)
      return nil, invalid(path, line, ("dependency \"%s\": %s"):format(entry, why))
    end
    if dependency.name ~= "lua" then dependencies[#dependencies + 1] = dependency end
  end
  return dependencies, values
end

return M
