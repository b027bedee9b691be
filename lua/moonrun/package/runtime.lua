-- Where moonrun's own runtime layer (moonrun-layer-ARCH.zip: bootstrap, lua/, lib/) comes from.
-- An installed moonrun carries it in PREFIX/share/moonrun/layers/ (cmake -DMOONRUN_LAYERS_DIR=
-- puts zips there); a moonrun run from its source tree builds it with bootstrap/package.sh
-- --layers-only, whose builds stay in the tree's build/package (or MOONRUN_PACKAGE_WORK).
local files = require "moonrun.package.files"

local M = {}

local quote = files.quote

-- moonrun's share folder (PREFIX/share/moonrun) or source tree: two folders above the library.
local function home()
  local source = debug.getinfo(1, "S").source
  local here = source:sub(1, 1) == "@" and source:sub(2):match("^(.*)/[^/]*$") or "."
  return files.real_path(here .. "/../../..")
end
M.home = home

-- A tool of bootstrap/ (make_zip.py, check_elf.py): installed in share/moonrun/bootstrap.
function M.tool(name)
  local path = home() .. "/bootstrap/" .. name
  if not files.exists(path) then error("moonrun's " .. name .. " is missing (" .. path .. "): reinstall moonrun", 0) end
  return path
end

-- The source files the layer is built from (for the incremental key), or nil when not a tree.
local SOURCES = {"CMakeLists.txt", "cmake", "src", "lua", "bootstrap"}

-- {kind = "installed", zip = PATH} or {kind = "source", repo = PATH}, or an error naming both.
function M.locate(arch)
  local root = home()
  local installed = root .. "/layers/moonrun-layer-" .. arch .. ".zip"
  if files.exists(installed) then return {kind = "installed", zip = installed} end
  if files.exists(root .. "/bootstrap/package.sh") and files.exists(root .. "/src/commands/main.c") then
    return {kind = "source", repo = root}
  end
  error(string.format("moonrun's runtime layer for %s is not installed (%s) and this moonrun has no source " ..
    "tree to build it from: install a moonrun package built with its layers (cmake -DMOONRUN_LAYERS_DIR=...), " ..
    "or run moonrun package with the moonrun of a source checkout", arch, installed), 0)
end

-- The key of what the layer is made of: the installed zip's hash, or the source files' (one
-- listing of them all, computed once for every architecture).
local source_keys = {}
function M.key(where)
  if where.kind == "installed" then return "installed " .. files.hash_file(where.zip) end
  if not source_keys[where.repo] then
    local present = {}
    for _, name in ipairs(SOURCES) do
      if files.exists(where.repo .. "/" .. name) then present[#present + 1] = name end
    end
    source_keys[where.repo] = "source " .. files.hash_files(where.repo, files.files_under(where.repo, present))
  end
  return source_keys[where.repo]
end

-- Writes the layer zip to out: a copy of the installed one, or package.sh's build.
function M.make(where, arch, out, work)
  if where.kind == "installed" then
    if not files.run("cp " .. quote(where.zip) .. " " .. quote(out)) then error("cannot copy " .. where.zip, 0) end
    return
  end
  local build_work = os.getenv("MOONRUN_PACKAGE_WORK")
  if not build_work or build_work == "" then build_work = where.repo .. "/build/package" end
  local log = work .. "/runtime-" .. arch .. ".log"
  os.remove(log)
  local staged = work .. "/runtime-" .. arch
  files.mkdir(staged)
  if not files.run_logged(quote(where.repo .. "/bootstrap/package.sh") .. " --layers-only --arch " .. arch ..
      " --out " .. quote(staged) .. " --work " .. quote(build_work), log) then
    local last = table.concat(files.lines("tail -n 8 " .. quote(log)), "\n")
    error(string.format("building moonrun's runtime layer for %s with bootstrap/package.sh failed:\n%s\n" ..
      "(the whole log: %s)", arch, last, log), 0)
  end
  if not files.run("mv " .. quote(staged .. "/moonrun-layer-" .. arch .. ".zip") .. " " .. quote(out)) then
    error("bootstrap/package.sh wrote no moonrun-layer-" .. arch .. ".zip (see " .. log .. ")", 0)
  end
end

return M
