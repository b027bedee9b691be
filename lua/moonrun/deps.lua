-- A project's dependencies: the rocks its rockspec declares, installed with Debian's luarocks
-- into the project-local tree lua_modules/ (what handlers' `require` sees, see lua_paths.c).
--
--   deps.find_project(dir)  -> project folder, its rockspec; or nil (no rockspec in dir or above)
--   deps.install{...}       -> true, {rocks = {{name, version}, ...}}; or nil, error
--   deps.ensure{...}        -> true, what happened; or nil, error: install only when stale
--   deps.main(args)         -> `moonrun deps`
--
-- An error is a table {kind = "rockspec"|"not_found"|"build"|"conflict"|"luarocks"|"io",
-- message = a sentence for the user, and rock, version, file, line, log, servers when known}.
--
-- "Stale" is decided without starting luarocks: the tree keeps a stamp (lua_modules/.moonrun-deps,
-- the rockspec's text) and an unchanged one costs a file read. A refresh installs into a new
-- tree (in .moonrun/) and swaps it with the old one only when the whole install succeeded, so a
-- failed one leaves the last working tree in place, and a rock no longer declared does not
-- linger.
local files = require "moonrun.files"
local luarocks = require "moonrun.deps.luarocks"
local rockspec = require "moonrun.deps.rockspec"
local tree_check = require "moonrun.deps.tree_check"
local uuid = require "moonrun.uuid"

local M = {}

M.TREE = "lua_modules"
M.STAMP = ".moonrun-deps"
M.SERVER_VARIABLE = "MOONRUN_ROCKS_SERVER"

local USAGE = [[
usage: moonrun deps [DIR]
  Installs the dependencies that the rockspec of the project in DIR (default: the current
  folder, or the nearest folder above it with a *.rockspec) declares into DIR/lua_modules/,
  with Debian's luarocks, replacing what was there: the tree then holds exactly the declared
  rocks and what they depend on. moonrun dev, invoke, test and repl do the same by themselves
  when the rockspec changed since the last install.

Environment: MOONRUN_ROCKS_SERVER, the rocks server (a URL or a folder) to install from
instead of luarocks's configured ones (https://luarocks.org by default).
  --help
]]

local function shell_quote(text)
  return luarocks.quote(text)
end

local function is_dir(path)
  return files.list(path) ~= nil
end

-- An absolute path: resolved when it exists, else the current folder's path in front of it.
local function absolute(path)
  local resolved = files.realpath(path)
  if resolved then return resolved end
  if path:sub(1, 1) == "/" then return path end
  return (assert(files.realpath("."), "the current folder is gone") .. "/" .. path:gsub("^%./", ""))
end

-- The folder's rockspec, nil when it has none, or an error when it has several.
local function rockspec_in(dir)
  local names = files.list(dir)
  if not names then return nil end
  local found = {}
  for _, name in ipairs(names) do
    if name:match("%.rockspec$") then found[#found + 1] = name end
  end
  if #found > 1 then
    return nil, {kind = "rockspec", file = dir,
                 message = ("%s holds %d rockspecs (%s): keep the one that declares the project's dependencies"):format(
                   dir, #found, table.concat(found, ", "))}
  end
  return found[1] and (dir .. "/" .. found[1])
end

-- The nearest folder from dir upwards that holds a *.rockspec: the project (as lua_paths.c
-- finds the nearest lua_modules/, so a template's CodeUri folder finds the project's tree).
function M.find_project(dir)
  dir = absolute(dir or "."):gsub("/+$", "")
  while true do
    local spec, err = rockspec_in(dir == "" and "/" or dir)
    if spec or err then return spec and (dir == "" and "/" or dir), spec or err end
    if dir == "" then return nil end
    dir = dir:match("^(.*)/[^/]*$")
  end
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function write_file(path, text)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, why = f:write(text)
  local closed, close_why = f:close()
  if not ok or not closed then return nil, why or close_why end
  return true
end

local function remove_tree(path)
  os.execute("rm -rf -- " .. shell_quote(path))
end

-- What the tree was made from. Not the server: another terminal without MOONRUN_ROCKS_SERVER
-- must not find the tree stale (moonrun deps installs again from a new server).
local function stamp_text(spec_text)
  return "moonrun deps 1\n" .. spec_text
end

-- Installs what the project's rockspec declares into tree, replacing it.
-- o: project (folder), rockspec (default: the one in project), tree (default project/lua_modules),
-- server (a rocks server URL or folder; default MOONRUN_ROCKS_SERVER or luarocks's own),
-- variables ({CC = ..., LUA_INCDIR = ...}: luarocks's VAR=VALUE arguments), env (variables
-- for luarocks's process), log (default project/.moonrun/deps.log), stamp (write the stamp:
-- default true only for the project's own tree).
function M.install(o)
  local project = absolute(assert(o.project, "deps.install: project is required"))
  local spec = o.rockspec
  if not spec then
    local err
    spec, err = rockspec_in(project)
    if not spec then
      return nil, err or {kind = "rockspec", file = project,
                          message = "no *.rockspec in " .. project .. ": moonrun init writes one"}
    end
  end
  local text = rockspec.read_text(spec)
  if not text then return nil, {kind = "rockspec", file = spec, message = "cannot read the rockspec " .. spec} end
  local dependencies, values_or_err = rockspec.dependencies(spec, text)
  if not dependencies then return nil, values_or_err end
  local tree = absolute(o.tree or (project .. "/" .. M.TREE))
  local server = o.server or os.getenv(M.SERVER_VARIABLE)
  if server == "" then server = nil end
  local log = o.log or (project .. "/.moonrun/deps.log")
  os.execute("mkdir -p -- " .. shell_quote(log:match("^(.*)/") or "."))
  local header = io.open(log, "wb") -- each install's log replaces the last one
  if not header then return nil, {kind = "io", message = "cannot write the install log " .. log} end
  header:write("moonrun deps: ", spec, " into ", tree, "\n")
  header:close()

  -- the new tree is built where an interrupted install leaves nothing in sight: in .moonrun/
  -- (hidden, ignored by git, luacheck and test --watch) for the project's own tree
  local scratch = o.tree and tree or (project .. "/.moonrun/" .. M.TREE)
  local fresh = ("%s.new-%s"):format(scratch, uuid.v4():sub(1, 8))
  remove_tree(fresh)
  if #dependencies > 0 then
    local args = luarocks.install_args{tree = fresh, server = server, rockspec = spec, variables = o.variables}
    local status = luarocks.run(args, {cwd = project, env = o.env, log = log})
    if status ~= 0 then
      remove_tree(fresh)
      return nil, luarocks.error{status = status, log = log, servers = luarocks.servers(server), rockspec = spec}
    end
  else
    os.execute("mkdir -p -- " .. shell_quote(fresh))
  end
  local rocks, conflict = tree_check.check(fresh, spec, dependencies, luarocks.LUA_VERSION)
  if not rocks then
    remove_tree(fresh)
    return nil, conflict
  end
  if o.stamp ~= false and (o.stamp or not o.tree) then
    local ok, why = write_file(fresh .. "/" .. M.STAMP, stamp_text(text))
    if not ok then
      remove_tree(fresh)
      return nil, {kind = "io", message = "cannot write " .. fresh .. "/" .. M.STAMP .. ": " .. tostring(why)}
    end
  end
  -- the swap: the old tree out of the way, the new one in, the old one removed
  local old = fresh:gsub("%.new%-", ".old-")
  local had_old = is_dir(tree)
  if had_old and not os.rename(tree, old) then
    remove_tree(fresh)
    return nil, {kind = "io", message = "cannot move " .. tree .. " aside to replace it (is it writable?)"}
  end
  if not os.rename(fresh, tree) then
    if had_old then os.rename(old, tree) end
    remove_tree(fresh)
    return nil, {kind = "io", message = "cannot put the new tree in place at " .. tree}
  end
  if had_old then remove_tree(old) end
  return true, {rocks = rocks, tree = tree, rockspec = spec, log = log}
end

-- Installs when the project's tree is stale: its stamp missing or different from the
-- rockspec. o: start (the folder to look from, default "."), force (install anyway), say (a
-- function given a line of progress, default to stderr), failed (a table kept between calls:
-- a rockspec text that failed returns its error again, marked repeated, without luarocks).
-- Returns true and "none" (no project), "fresh" or "installed" (with install's details), or
-- nil and an error.
function M.ensure(o)
  o = o or {}
  local project, spec = M.find_project(o.start or ".")
  if not project then
    if type(spec) == "table" then return nil, spec end
    return true, "none"
  end
  local text = rockspec.read_text(spec)
  if not text then return nil, {kind = "rockspec", file = spec, message = "cannot read the rockspec " .. spec} end
  local tree = project .. "/" .. M.TREE
  local stamp = read_file(tree .. "/" .. M.STAMP)
  if not o.force and stamp == stamp_text(text) then return true, "fresh" end
  -- o.failed (a table kept between calls): a rockspec that failed is not tried again until it changes
  if o.failed and o.failed.text == text then return nil, o.failed.err end
  local function failure(err)
    if o.failed then
      o.failed.text = text
      o.failed.err = setmetatable({repeated = true}, {__index = err})
    end
    return nil, err
  end
  local dependencies, err = rockspec.dependencies(spec, text) -- a bad rockspec: said before anything runs
  if not dependencies then return failure(err) end
  -- a tree moonrun did not make, or none: left alone while nothing is declared
  if not o.force and not stamp and #dependencies == 0 then return true, "fresh" end
  local say = o.say or function(line) io.stderr:write(line, "\n") end
  say(("moonrun: installing the dependencies of %s into %s/ (luarocks; log: %s/.moonrun/deps.log)"):format(
    spec:match("[^/]*$"), M.TREE, project))
  local ok, result = M.install{project = project, rockspec = spec}
  if not ok then return failure(result) end
  local names = {}
  for _, rock in ipairs(result.rocks) do names[#names + 1] = rock.name .. " " .. rock.version end
  say(("moonrun: %s/ holds %s"):format(M.TREE, #names > 0 and table.concat(names, ", ") or "no rocks"))
  return true, "installed", result
end

function M.main(args)
  local dir
  for _, a in ipairs(args) do
    if a == "--help" or a == "-h" then
      io.stdout:write(USAGE)
      return 0
    elseif a:sub(1, 1) == "-" then
      io.stderr:write("moonrun deps: unknown option '", a, "'\n", USAGE)
      return 2
    elseif dir then
      io.stderr:write("moonrun deps: one folder at most (got '", dir, "' and '", a, "')\n", USAGE)
      return 2
    else
      dir = a
    end
  end
  if dir and not is_dir(dir) then
    io.stderr:write("moonrun deps: no such folder: ", dir, "\n")
    return 2
  end
  local project, spec_or_err = M.find_project(dir or ".")
  if not project and spec_or_err then
    io.stderr:write("moonrun deps: ", spec_or_err.message, "\n")
    return 1
  end
  if not project then
    io.stderr:write("moonrun deps: no *.rockspec in ", absolute(dir or "."),
      " or a folder above it: this is not a project (moonrun init makes one)\n")
    return 2
  end
  local ok, err = M.ensure{start = dir or ".", force = true,
                           say = function(line) io.stdout:write(line, "\n") end}
  if not ok then
    io.stderr:write("moonrun deps: ", err.message, "\n")
    return 1
  end
  return 0
end

return M
