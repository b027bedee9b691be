-- `moonrun init [DIR] [--force]`: writes a new service into DIR (default: the current folder)
-- from the scaffold beside this file (lua/moonrun/scaffold/, real files: a SAM template, two
-- handlers, their specs, sample events, a rockspec, editor and luacheck settings), naming every
-- file it writes. A folder that already holds something is left alone unless --force is given,
-- and even then no existing file is overwritten without being named.
local M = {}

local USAGE = [[
usage: moonrun init [DIR] [--force]
  Writes a new service into DIR (default: the current folder, created when missing): a SAM
  template (an HTTP API route POST /send to a producer that puts messages on a queue, a
  consumer triggered by the queue with ReportBatchItemFailures, a dead-letter queue, the
  moonrun layer for sam deploy), the handlers in src/, busted specs in spec/, sample events in
  events/, a rockspec for dependencies, .gitignore, .luarc.json (lua-language-server, with
  moonrun's type definitions) and .luacheckrc. Then, in DIR: moonrun dev, moonrun test.

  --force   write into a folder that is not empty (files of the same names are replaced)
  --help
]]

-- Scaffold files whose name in the project differs: a real .gitignore inside moonrun's own
-- repository would apply to it; the rockspec is named after the project.
local RENAMED = {gitignore = ".gitignore", ["project.rockspec"] = "{{name}}-dev-1.rockspec"}

local function shell_quote(text)
  return "'" .. text:gsub("'", "'\\''") .. "'"
end

local function here()
  local source = debug.getinfo(1, "S").source
  return source:sub(1, 1) == "@" and source:sub(2):match("^(.*)/[^/]*$") or "."
end

local function lines_of(command)
  local p = io.popen(command, "r")
  if not p then error("cannot run: " .. command, 0) end
  local lines = {}
  for line in p:lines() do lines[#lines + 1] = line end
  p:close()
  return lines
end

local function real_path(path)
  return lines_of("realpath -m -- " .. shell_quote(path) .. " 2>/dev/null")[1] or path
end

-- The scaffold's files, relative to its folder, sorted.
local function scaffold_files(root)
  local files = lines_of("cd " .. shell_quote(root) .. " && find . -type f | LC_ALL=C sort")
  for i, f in ipairs(files) do files[i] = f:gsub("^%./", "") end
  if #files == 0 then error("moonrun's scaffold is missing (" .. root .. "): reinstall moonrun", 0) end
  return files
end

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then error("cannot read " .. tostring(err), 0) end
  local text = f:read("a")
  f:close()
  return text
end

local function write(path, text)
  local f, err = io.open(path, "wb")
  if not f then error("cannot write " .. tostring(err), 0) end
  local ok, why = f:write(text)
  local closed, close_why = f:close()
  if not ok or not closed then error("cannot write " .. path .. ": " .. tostring(why or close_why), 0) end
end

-- A project name luarocks accepts: the folder's name, lower case, other characters as '-'.
local function project_name(dir)
  local base = real_path(dir):match("([^/]+)/*$") or "service"
  local name = base:lower():gsub("[^a-z0-9_-]+", "-"):gsub("^[-_]+", ""):gsub("[-_]+$", "")
  return name ~= "" and name or "service"
end

-- moonrun's LuaLS definitions: types/ beside the Lua library (share/moonrun/types when
-- installed, the repository's types/ in a build tree).
local function types_dir()
  return real_path(here() .. "/../../types")
end

local function substitute(text, values)
  return (text:gsub("{{(%w+)}}", function(key) return values[key] end))
end

local function parse_args(args)
  local options = {}
  for _, a in ipairs(args) do
    if a == "--help" or a == "-h" then options.help = true
    elseif a == "--force" then options.force = true
    elseif a:sub(1, 1) == "-" then error("unknown option " .. a, 0)
    elseif options.dir then error("one folder at a time (" .. options.dir .. " and " .. a .. ")", 0)
    else options.dir = a end
  end
  options.dir = options.dir or "."
  return options
end

-- What the folder holds (names, sorted), or nil when it does not exist.
local function contents(dir)
  local ok = os.execute("test -d " .. shell_quote(dir))
  if not ok then
    if os.execute("test -e " .. shell_quote(dir)) then error(dir .. " exists and is not a folder", 0) end
    return nil
  end
  return lines_of("ls -A -- " .. shell_quote(dir) .. " | LC_ALL=C sort")
end

local function init(options, io_out)
  local dir = options.dir
  local present = contents(dir)
  if present and #present > 0 and not options.force then
    local shown = {}
    for i = 1, math.min(#present, 8) do shown[i] = present[i] end
    error(string.format("%s is not empty (it holds %s%s): moonrun init writes a new project into an empty folder; " ..
      "name another folder, or add --force to write into this one", dir, table.concat(shown, ", "),
      #present > 8 and string.format(" and %d more", #present - 8) or ""), 0)
  end
  local root = here() .. "/scaffold"
  local values = {name = project_name(dir), types = types_dir()}
  local written = 0
  for _, file in ipairs(scaffold_files(root)) do
    local base = file:match("[^/]+$")
    local target = file
    if RENAMED[base] then target = (file:match("^(.*/)") or "") .. substitute(RENAMED[base], values) end
    local path = dir .. "/" .. target
    local folder = path:match("^(.*)/[^/]*$")
    if not os.execute("mkdir -p -- " .. shell_quote(folder)) then error("cannot create the folder " .. folder, 0) end
    local existed = io.open(path, "rb")
    if existed then existed:close() end
    write(path, substitute(read(root .. "/" .. file), values))
    io_out:write(existed and "replaced  " or "wrote  ", path, "\n")
    written = written + 1
  end
  io_out:write(string.format("\n%d files. Next: cd %s && moonrun dev   (and moonrun test)\n", written, dir))
  return 0
end

function M.main(args)
  local ok, options = pcall(parse_args, args)
  if not ok then
    io.stderr:write("moonrun init: ", tostring(options), "\nrun 'moonrun init --help' for the options\n")
    return 2
  end
  if options.help then
    io.stdout:write(USAGE)
    return 0
  end
  local done, result = pcall(init, options, io.stdout)
  if not done then
    io.stderr:write("moonrun init: ", tostring(result), "\n")
    return 1
  end
  return result
end

return M
