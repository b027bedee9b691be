-- Files and processes for `moonrun package`: shell quoting, running a command with its output in
-- a log, listing and hashing folders, reading and writing whole files. Everything that touches
-- the file system outside Lua's io goes through here, so the other package modules stay about
-- what goes into the zips.
local digest = require "moonrun.digest"

local M = {}

function M.quote(text)
  return "'" .. tostring(text):gsub("'", "'\\''") .. "'"
end
local quote = M.quote

-- The lines a shell command prints (its status as second value: true when it succeeded).
function M.lines(command)
  local p = io.popen(command, "r")
  if not p then error("cannot run: " .. command, 0) end
  local lines = {}
  for line in p:lines() do lines[#lines + 1] = line end
  local ok = p:close()
  return lines, ok == true
end

-- Runs a shell command; true when it exits with 0.
function M.run(command)
  local ok = os.execute(command)
  return ok == true
end

-- Runs a shell command with stdout and stderr appended to the log file; true when it succeeded.
function M.run_logged(command, log)
  local f = io.open(log, "ab")
  if f then
    f:write("$ ", command, "\n")
    f:close()
  end
  return M.run(command .. " >>" .. quote(log) .. " 2>&1 </dev/null")
end

function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

function M.write(path, text)
  local f, err = io.open(path, "wb")
  if not f then error("cannot write " .. tostring(err), 0) end
  local ok, why = f:write(text)
  local closed, close_why = f:close()
  if not ok or not closed then error("cannot write " .. path .. ": " .. tostring(why or close_why), 0) end
end

-- exists, is_dir and mkdir use no shell: an unchanged project is repackaged with as few
-- processes as possible (each costs milliseconds on a busy machine).
function M.is_dir(path)
  local f = io.open(path .. "/.", "rb")
  if f then f:close() end
  return f ~= nil
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil or M.is_dir(path)
end

function M.size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

function M.mkdir(path)
  if M.is_dir(path) then return end
  if not M.run("mkdir -p -- " .. quote(path)) then error("cannot create the folder " .. path, 0) end
end

-- Removes a folder of moonrun's own making (a staging or state folder), never a user's.
function M.remove(path)
  if not M.run("rm -rf -- " .. quote(path)) then error("cannot remove " .. path, 0) end
end

function M.real_path(path)
  return M.lines("realpath -m -- " .. quote(path) .. " 2>/dev/null")[1] or path
end

-- The files under dir (or under several of its entries: within = {"src", "lua"}), sorted
-- byte-wise by relative path, hidden ones included, symbolic links followed as the zips follow
-- them: {{name = "a/b.lua", executable = false}, ...}.
function M.files_under(dir, within)
  local roots = "."
  if within then
    local quoted = {}
    for i, w in ipairs(within) do quoted[i] = quote(w) end
    roots = table.concat(quoted, " ")
  end
  local lines, ok = M.lines("cd " .. quote(dir) .. " && find -L " .. roots ..
    " -type f -printf '%m %p\\n' | LC_ALL=C sort -k2")
  if not ok then error("cannot list the files of " .. dir, 0) end
  local found = {}
  for _, line in ipairs(lines) do
    local mode, name = line:match("^(%d+) (.*)$")
    if name then
      found[#found + 1] = {name = name:gsub("^%./", ""), executable = tonumber(mode, 8) & 64 ~= 0}
    end
  end
  return found
end

-- One hex SHA-256 over the names, executable bits and contents of files (files_under's
-- entries) of dir: the same files give the same key, whatever their dates.
function M.hash_files(dir, files)
  local parts = {}
  for _, file in ipairs(files) do
    local text = M.read(dir .. "/" .. file.name)
    if not text then error("cannot read " .. dir .. "/" .. file.name, 0) end
    parts[#parts + 1] = file.name .. "\0" .. (file.executable and "x" or "-") .. "\0" .. digest.sha256_hex(text)
  end
  return digest.sha256_hex(table.concat(parts, "\n"))
end

-- The SHA-256 of one file, or nil when it cannot be read.
function M.hash_file(path)
  local text = M.read(path)
  return text and digest.sha256_hex(text)
end

function M.hash_text(text)
  return digest.sha256_hex(text)
end

return M
