-- The dependencies layer of one architecture: the project rockspec's dependencies installed by
-- Debian's luarocks into a tree of their own (.moonrun/package/ARCH/tree), C rocks compiled for
-- that architecture (arm64 with Debian's aarch64 cross compiler and the arm64 Lua headers of
-- liblua5.4-dev:arm64), then laid out as Lambda mounts a layer: Lua modules and C modules under
-- lua/ (/opt/lua, which moonrun's require searches), and moonrun-deps.txt naming the rocks.
local files = require "moonrun.package.files"

local M = {}

local quote = files.quote

M.TOOLCHAINS = {
  x86_64 = {triplet = "x86_64-linux-gnu", debian = "amd64"},
  arm64 = {triplet = "aarch64-linux-gnu", debian = "arm64"},
}

local function host_arch()
  local machine = files.lines("uname -m")[1] or ""
  return machine == "aarch64" and "arm64" or "x86_64"
end
M.host_arch = host_arch

-- The compiler for arch: the machine's cc when it is the host's, else Debian's cross compiler.
-- Errors name the Debian package that brings what is missing.
function M.compiler(arch)
  local triplet = M.TOOLCHAINS[arch].triplet
  if arch == host_arch() then
    if files.run("command -v cc >/dev/null 2>&1") then return "cc" end
    error("no C compiler (cc) to build C rocks for " .. arch .. ": apt-get install gcc", 0)
  end
  local cc = triplet .. "-gcc"
  if not files.run("command -v " .. cc .. " >/dev/null 2>&1") then
    error(string.format("%s not found, which compiles C rocks for %s: apt-get install gcc-%s", cc, arch,
      triplet:gsub("_", "-")), 0)
  end
  return cc
end

-- A folder of the target's Lua 5.4 headers (Debian's are shared by all architectures but for
-- lua5.4-deb-multiarch.h), so no other header of the build machine is on the include path.
function M.lua_headers(arch, into)
  local t = M.TOOLCHAINS[arch]
  local multiarch = "/usr/include/" .. t.triplet .. "/lua5.4-deb-multiarch.h"
  if not files.exists("/usr/include/lua5.4/lua.h") or not files.exists(multiarch) then
    error(string.format("the %s Lua 5.4 headers are missing (%s): %sapt-get install liblua5.4-dev:%s", arch,
      files.exists("/usr/include/lua5.4/lua.h") and multiarch or "/usr/include/lua5.4/lua.h",
      t.debian ~= "amd64" and "dpkg --add-architecture " .. t.debian .. " && apt-get update && " or "",
      t.debian), 0)
  end
  files.mkdir(into)
  if not files.run("cp /usr/include/lua5.4/*.h " .. quote(multiarch) .. " " .. quote(into)) then
    error("cannot copy the Lua headers into " .. into, 0)
  end
  return into
end

local function lua_string(text)
  return string.format("%q", text)
end

-- luarocks' configuration for one architecture: its own tree, the servers asked for, and the
-- compiler and headers of the target (luarocks' CC, LD, CFLAGS, LIBFLAG and LUA_INCDIR).
local function write_config(path, tree, servers, cc, incdir)
  local lines = {
    "-- written by moonrun package for one architecture's dependencies layer",
    "lua_version = \"5.4\"",
    "rocks_trees = {" .. lua_string(tree) .. "}",
    "variables = {",
    "  CC = " .. lua_string(cc) .. ", LD = " .. lua_string(cc) .. ",",
    "  CFLAGS = \"-O2 -fPIC\", LIBFLAG = \"-shared\",",
    "  LUA_INCDIR = " .. lua_string(incdir) .. ", LUA_DIR = \"/usr\",",
    "}",
  }
  if #servers > 0 then
    local quoted = {}
    for i, s in ipairs(servers) do quoted[i] = lua_string(s) end
    lines[#lines + 1] = "rocks_servers = {" .. table.concat(quoted, ", ") .. "}"
  end
  files.write(path, table.concat(lines, "\n") .. "\n")
end

-- The last lines of the log (a failed build's compiler output).
local function tail(log, count)
  local lines = files.lines("tail -n " .. count .. " " .. quote(log))
  return table.concat(lines, "\n")
end

-- Why luarocks failed, as a sentence with luarocks' own "Error:" line and the log's last lines.
local function failure(arch, log)
  local text = files.read(log) or ""
  local last = tail(log, 12)
  local rock = text:match(".*Installing [^\n]-([%w_%.%-]+)%-[%w%.]+%-%d+%.src%.rock")
  if text:match("Error: Build error") or text:match("Failed compiling") or text:match("error:") then
    return string.format("a C rock%s failed to compile for %s; the compiler's last lines:\n%s\n(the whole log: %s)",
      rock and " (" .. rock .. ")" or "", arch, last, log)
  end
  local said = text:match("\n(Error: [^\n]*)")
  return string.format("luarocks could not install the dependencies for %s%s\n%s\n(the whole log: %s)", arch,
    said and ": " .. said:gsub("^Error: ", "") or ":", last, log)
end

-- Installs the rockspec's dependencies for arch into work/tree and stages the layer in stage.
-- servers: luarocks servers (empty: luarocks' defaults). Returns the rocks installed.
-- Without a rockspec there is nothing to install, and no compiler or luarocks is asked for.
function M.build(arch, rockspec, work, stage, servers)
  local tree = work .. "/tree"
  files.remove(tree)
  local config, log = work .. "/luarocks-config.lua", work .. "/luarocks.log"
  local env = "env LUAROCKS_CONFIG=" .. quote(config) .. " "
  if rockspec then
    local cc = M.compiler(arch)
    local incdir = M.lua_headers(arch, work .. "/lua-include")
    if not files.run("command -v luarocks >/dev/null 2>&1") then
      error("luarocks not found, which installs the project's dependencies: apt-get install luarocks", 0)
    end
    write_config(config, tree, servers, cc, incdir)
    os.remove(log)
    local dir, name = rockspec:match("^(.*)/([^/]+)$")
    if not files.run_logged("cd " .. quote(dir) .. " && " .. env .. "luarocks --tree " .. quote(tree) ..
        " install --deps-only " .. quote(name), log) then
      error(failure(arch, log), 0)
    end
  end
  files.remove(stage)
  files.mkdir(stage .. "/lua")
  for _, from in ipairs{tree .. "/share/lua/5.4", tree .. "/lib/lua/5.4"} do
    if files.is_dir(from) and not files.run("cp -R " .. quote(from) .. "/. " .. quote(stage .. "/lua/")) then
      error("cannot copy " .. from .. " into " .. stage, 0)
    end
  end
  local rocks = {}
  if files.is_dir(tree) then
    rocks = files.lines(env .. "luarocks --tree " .. quote(tree) ..
      " list --porcelain 2>/dev/null | cut -f1,2 | LC_ALL=C sort")
  end
  local listing = {"# the rocks in this layer (name, version), for " .. arch}
  for _, line in ipairs(rocks) do listing[#listing + 1] = (line:gsub("\t", " ")) end
  files.write(stage .. "/moonrun-deps.txt", table.concat(listing, "\n") .. "\n")
  return rocks
end

return M
