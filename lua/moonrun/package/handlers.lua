-- What goes into a function's handlers zip: the files of its CodeUri folder, less the
-- development files (specs, sample events, moonrun's state, dist/, the local rocks tree, hidden
-- files) and what the project's .moonrunignore lists. The format of .moonrunignore, one rule a
-- line (blank lines and lines starting with # are skipped):
--   name       a file or folder of that name anywhere (* and ? match within a name)
--   dir/       a folder of that name anywhere, with everything in it
--   /path      anchored: that path relative to the CodeUri folder (a folder: all of it)
--   !rule      keeps what an earlier rule (or a default) left out
local files = require "moonrun.package.files"

local M = {}

-- Left out unless a ! rule keeps them.
M.DEFAULT_RULES = {"spec/", "*_spec.lua", "events/", ".*", "dist/", "lua_modules/", "*.rockspec",
                   "template.yaml", "samconfig.toml"}

-- A glob of one path segment (*, ? and literal text) as an anchored Lua pattern.
local function segment_pattern(glob)
  local out = glob:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", "[^/]*"):gsub("%?", "[^/]")
  return out
end

-- One rule's text as {negate, pattern over a path, folder_only}, or nil and why.
local function compile(text, where)
  local rule = {text = text}
  if text:sub(1, 1) == "!" then
    rule.negate = true
    text = text:sub(2)
  end
  if text:sub(-1) == "/" then
    rule.folder_only = true
    text = text:sub(1, -2)
  end
  local anchored = text:sub(1, 1) == "/"
  if anchored then text = text:sub(2) end
  if text == "" or text:find("//", 1, true) then return nil, where .. ": '" .. rule.text .. "' is not a path" end
  local segments = {}
  for segment in text:gmatch("[^/]+") do
    if segment == ".." then return nil, where .. ": '" .. rule.text .. "' leaves the folder (..)" end
    segments[#segments + 1] = segment_pattern(segment)
  end
  -- a rule with a / inside is relative to the CodeUri folder, as in .gitignore
  rule.anchored = anchored or #segments > 1
  rule.pattern = table.concat(segments, "/")
  return rule
end

-- The project's rules: the defaults, then .moonrunignore's (later rules win).
function M.rules(project_dir)
  local rules = {}
  for _, text in ipairs(M.DEFAULT_RULES) do rules[#rules + 1] = assert(compile(text, "default")) end
  local path = project_dir .. "/.moonrunignore"
  local text = files.read(path)
  if not text then return rules end
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", ""):gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local rule, err = compile(line, path .. ":" .. n)
      if not rule then error(err, 0) end
      rules[#rules + 1] = rule
    end
  end
  return rules
end

-- Whether the rule matches the file (a path relative to the folder) or a folder above it.
local function matches(rule, name)
  local parts = {}
  for segment in name:gmatch("[^/]+") do parts[#parts + 1] = segment end
  for depth = 1, #parts do
    local is_folder = depth < #parts
    if is_folder or not rule.folder_only then
      if rule.anchored then
        if table.concat(parts, "/", 1, depth):match("^" .. rule.pattern .. "$") then return true end
      elseif parts[depth]:match("^" .. rule.pattern .. "$") then
        return true
      end
    end
  end
  return false
end

-- The files of dir to zip (files.files_under's entries), in order.
function M.select(dir, rules)
  local kept = {}
  for _, file in ipairs(files.files_under(dir)) do
    local left_out = false
    for _, rule in ipairs(rules) do
      if matches(rule, file.name) then left_out = not rule.negate end
    end
    if not left_out then kept[#kept + 1] = file end
  end
  return kept
end

-- Copies the selected files of dir into stage (emptied first), keeping the executable bit.
function M.stage(dir, selected, stage)
  files.remove(stage)
  files.mkdir(stage)
  local list = {}
  for _, file in ipairs(selected) do list[#list + 1] = file.name end
  if #list == 0 then return end
  local listing = stage .. ".list"
  files.write(listing, table.concat(list, "\0") .. "\0")
  local ok = files.run("cd " .. files.quote(dir) .. " && xargs -0 cp -L --parents -t " .. files.quote(stage) ..
    " <" .. files.quote(listing))
  os.remove(listing)
  if not ok then error("cannot copy the handlers of " .. dir .. " to " .. stage, 0) end
end

return M
