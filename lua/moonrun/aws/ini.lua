-- The INI dialect of the AWS shared files (~/.aws/credentials and ~/.aws/config), read as
-- botocore reads it (Python's RawConfigParser, then botocore's nested settings): `name = value`
-- or `name: value`, names lower-cased, whole-line comments only (a '#' after a value is part of
-- the value), indented lines continuing the setting above, [DEFAULT] inherited by every section,
-- and a section or a setting given twice refused. Errors are values with the code
-- InvalidConfiguration that quote the file, the line and at most a setting's name: a line of
-- these files may hold a secret, so no value is ever quoted.
local errors = require "moonrun.aws.errors"

local M = {}

local function fail(path, number, message)
  error(errors.new{code = "InvalidConfiguration",
    message = string.format("%s:%d: %s", path, number, message)}, 0)
end

-- A setting's name as a message may show it: names are words; anything else (a pasted key
-- with a '=' in it, say) is not quoted.
local function shown(name)
  if #name <= 64 and name:match("^[%a_][%w_%-%.]*$") then return "'" .. name .. "'" end
  return "(a name that is not a word)"
end

local function trim(text)
  return (text:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- The lines of text with their numbers; \r\n and \r end a line as Python's universal newlines do.
local function lines(text)
  text = text:gsub("\r\n?", "\n")
  if text:sub(-1) ~= "\n" then text = text .. "\n" end
  return text:gmatch("([^\n]*)\n")
end

-- A value that starts on the next line holds nested settings (s3 =\n  addressing_style = path).
local function nested(path, section, name, value, first_line)
  local settings = {}
  local number = first_line - 1
  for line in lines(value) do
    local text = trim(line)
    if text ~= "" then
      local key, rest = text:match("^([^=]*)=(.*)$")
      if not key then
        fail(path, number, string.format("a nested setting under %s in [%s] must look like " ..
          "'name = value'", shown(name), section))
      end
      settings[trim(key)] = trim(rest)
    end
    number = number + 1
  end
  return settings
end

--- Parses text (the contents of path) into {sections = {name = {key = value}}, order = {name,
-- ...}}; a nested setting's value is a table.
function M.parse(text, path)
  if text:sub(1, 3) == "\239\187\191" then
    fail(path, 1, "the file starts with a byte order mark; save it as UTF-8 without one")
  end
  if not utf8.len(text) then
    local number = 0
    for line in lines(text) do
      number = number + 1
      if not utf8.len(line) then fail(path, number, "the line is not UTF-8 text") end
    end
  end
  local sections, order, defaults, seen = {}, {}, {}, {}
  local current, current_name, option, indent = nil, nil, nil, 0
  local first_lines = {} -- where each multi-line value starts, for nested errors
  local number = 0
  for line in lines(text) do
    number = number + 1
    local stripped = trim(line)
    local comment = stripped:match("^[#;]") ~= nil
    if stripped == "" or comment then
      -- a blank line inside a value is kept (a comment line is not); neither ends it
      if not comment and current and option then
        local parts = current[option]
        parts[#parts + 1] = ""
      end
    else
      local line_indent = #line:match("^%s*")
      if current and option and line_indent > indent then
        local parts = current[option]
        parts[#parts + 1] = stripped
      else
        indent = line_indent
        local header = stripped:match("^%[(.+)%]")
        if header then
          if seen[header] then -- [DEFAULT] may come back: it is not a section
            fail(path, number, string.format("the section [%s] appears twice", header))
          end
          seen[header] = header ~= "DEFAULT"
          if header == "DEFAULT" then
            current = defaults
          else
            current = sections[header]
            if not current then
              current = {}
              sections[header] = current
              order[#order + 1] = header
            end
          end
          current_name, option = header, nil
        elseif not current then
          fail(path, number, "a setting before any [section] header")
        else
          local at = stripped:find("[=:]")
          local name = at and trim(stripped:sub(1, at - 1)):lower()
          if not name or name == "" then
            fail(path, number, string.format("expected 'name = value' (or 'name: value') in " ..
              "[%s]; the line is not quoted, as it may hold a secret", current_name))
          end
          local key = current_name .. "\0" .. name
          if seen[key] then
            fail(path, number, string.format("the setting %s appears twice in [%s]", shown(name),
              current_name))
          end
          seen[key] = true
          option = name
          current[name] = {trim(stripped:sub(at + 1))}
          first_lines[current] = first_lines[current] or {}
          first_lines[current][name] = number
        end
      end
    end
  end
  -- a section's settings: its own, then [DEFAULT]'s it does not have; a value is joined
  -- (and its nested settings read, and found wrong) only where a section holds it
  local result = {}
  for _, name in ipairs(order) do
    local settings = {}
    for _, source in ipairs{sections[name], defaults} do
      for key, parts in pairs(source) do
        if settings[key] == nil then
          local value = table.concat(parts, "\n"):gsub("%s+$", "")
          if value:sub(1, 1) == "\n" then
            value = nested(path, name, key, value, first_lines[source][key])
          end
          settings[key] = value
        end
      end
    end
    result[name] = settings
  end
  return {sections = result, order = order}
end

--- Reads and parses path; nil when there is no such file.
function M.read(path)
  local file = io.open(path, "rb")
  if not file then return nil end
  local text, why = file:read("a")
  file:close()
  if not text then
    error(errors.new{code = "InvalidConfiguration",
      message = string.format("cannot read %s: %s", path, tostring(why))}, 0)
  end
  return M.parse(text, path)
end

-- Python's shlex.split for a section name (`[profile "my dev"]`): words split on white space,
-- quotes grouping, a backslash escaping outside single quotes; nil when a quote is not closed.
function M.split_words(text)
  local words, word, quote, i = {}, nil, nil, 1
  while i <= #text do
    local c = text:sub(i, i)
    if quote == "'" then
      if c == "'" then quote = nil else word = word .. c end
    elseif quote == '"' then
      if c == '"' then
        quote = nil
      elseif c == "\\" and text:sub(i + 1, i + 1):match('["\\]') then
        i = i + 1
        word = word .. text:sub(i, i)
      else
        word = word .. c
      end
    elseif c:match("%s") then
      if word then words[#words + 1], word = word, nil end
    elseif c == "'" or c == '"' then
      quote, word = c, word or ""
    elseif c == "\\" then
      if i == #text then return nil end
      i = i + 1
      word = (word or "") .. text:sub(i, i)
    else
      word = (word or "") .. c
    end
    i = i + 1
  end
  if quote then return nil end
  if word then words[#words + 1] = word end
  return words
end

return M
