-- `moonrun package [--arch x86_64|arm64|all] [--server URL]...`: in a project (a folder with
-- template.yaml), writes what `sam deploy` uploads into dist/: a handlers zip per CodeUri folder,
-- per architecture the dependencies layer and moonrun's runtime layer, and the template that
-- deploys them (package/deploy_template.lua). Each zip is
-- reproducible (bootstrap/make_zip.py) and rebuilt only when what it is made of changed (the
-- keys are in .moonrun/package/state.json); every ELF file of an architecture's zips is checked
-- against provided.al2023 (bootstrap/check_elf.py) before the command reports success.
local json = require "moonrun.json"
local template = require "moonrun.dev.template"
local files = require "moonrun.package.files"
local handlers = require "moonrun.package.handlers"
local rocks = require "moonrun.package.rocks"
local runtime = require "moonrun.package.runtime"
local deploy_template = require "moonrun.package.deploy_template"

local M = {}

local quote = files.quote

local USAGE = [[
usage: moonrun package [--arch x86_64|arm64|all] [--server URL]... [--template FILE]
  In a project (a folder with template.yaml, as moonrun init writes it), writes into dist/:
    handlers-FOLDER.zip       each function CodeUri folder's files, less specs, events, dot
                              files, dist/, lua_modules/ and what .moonrunignore lists
    deps-layer-ARCH.zip       the rockspec's dependencies under lua/ (/opt/lua on Lambda), C rocks
                              compiled for ARCH
    moonrun-layer-ARCH.zip    moonrun itself (bootstrap, its Lua library, libcurl, OpenSSL)
    template.yaml             the template with CodeUri: the handlers zips
  Then: sam deploy --template-file dist/template.yaml. Unchanged inputs are not rebuilt; every
  shared object is checked against provided.al2023 (glibc 2.34, no library the base image lacks).

  --arch ARCH      x86_64, arm64 or all (the default): which layers to build
  --server URL     a LuaRocks server (a URL or a local folder) to take rocks from, instead of
                   luarocks' configured ones; may be repeated (default: MOONRUN_ROCKS_SERVER
                   when it is set, as for moonrun deps)
  --template FILE  the SAM template (default: template.yaml)
  --help
]]

local function parse_args(args)
  local options = {archs = nil, servers = {}, template = "template.yaml"}
  local i = 1
  local function value(name)
    i = i + 1
    if args[i] == nil then error(name .. " needs a value", 0) end
    return args[i]
  end
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then options.help = true
    elseif a == "--arch" then
      local arch = value(a)
      if arch == "all" then options.archs = {"x86_64", "arm64"}
      elseif rocks.TOOLCHAINS[arch] then options.archs = {arch}
      else error("unknown architecture '" .. arch .. "' (x86_64, arm64 or all)", 0) end
    elseif a == "--server" then options.servers[#options.servers + 1] = value(a)
    elseif a == "--template" then options.template = value(a)
    else error("unknown " .. (a:sub(1, 1) == "-" and "option " or "argument ") .. a, 0) end
    i = i + 1
  end
  options.archs = options.archs or {"x86_64", "arm64"}
  -- as moonrun deps and the local commands install a project's rocks (moonrun.deps)
  local server = os.getenv("MOONRUN_ROCKS_SERVER")
  if #options.servers == 0 and server and server ~= "" then options.servers = {server} end
  return options
end

-- The project rockspec: the one *.rockspec in the project folder (nil when there is none).
local function find_rockspec(dir)
  local found = files.lines("cd " .. quote(dir) .. " && ls -1 -- *.rockspec 2>/dev/null | LC_ALL=C sort")
  if #found > 1 then
    error(string.format("the project has %d rockspecs (%s): keep the one that declares the dependencies", #found,
      table.concat(found, ", ")), 0)
  end
  return found[1] and dir .. "/" .. found[1]
end

-- dist/ name of a CodeUri folder: handlers-src.zip for src/, handlers.zip for the project itself.
local function handlers_zip_name(project, code_dir)
  if code_dir == project then return "handlers.zip" end
  local relative = code_dir:sub(#project + 2)
  if code_dir:sub(1, #project + 1) ~= project .. "/" then
    error(code_dir .. " (a CodeUri) is outside the project " .. project ..
      ": moonrun package zips the project's folders", 0)
  end
  return "handlers-" .. relative:gsub("/", "-") .. ".zip"
end

local State = {}
State.__index = State

local function load_state(path)
  local text = files.read(path)
  local ok, doc = pcall(json.decode, text or "{}")
  if not ok or type(doc) ~= "table" then doc = {} end
  return setmetatable({path = path, outputs = type(doc.outputs) == "table" and doc.outputs or {},
                       checks = type(doc.checks) == "table" and doc.checks or {}}, State)
end

-- Whether out (a dist/ file) was made from key and is still as it was written.
function State:fresh(name, out, key)
  local entry = self.outputs[name]
  return type(entry) == "table" and entry.key == key and entry.sha256 ~= nil and files.hash_file(out) == entry.sha256
end

function State:record(name, out, key)
  self.outputs[name] = {key = key, sha256 = files.hash_file(out)}
  self:save()
end

function State:forget(name)
  self.outputs[name] = nil
  self:save()
end

function State:save()
  files.write(self.path, json.encode({outputs = self.outputs, checks = self.checks}))
end

local function zip(tool, out, dir)
  if not files.run("python3 " .. quote(tool) .. " " .. quote(out) .. " " .. quote(dir)) then
    error("cannot write " .. out .. " (python3 " .. tool .. ")", 0)
  end
end

local function report(io_out, out, what)
  io_out:write(string.format("  %-28s %9s bytes  %s\n", out:match("[^/]+$"), files.size(out) or "?", what))
end

-- Every zip of one architecture unpacked side by side, each in a folder of its name, then
-- check_elf.py over them all. Returns the problems (sentences naming zip, file and symbol).
local function check_arch(arch, zips, work, checker)
  local dir = work .. "/check-" .. arch
  files.remove(dir)
  local folders = {}
  for _, out in ipairs(zips) do
    local folder = dir .. "/" .. out:match("[^/]+$")
    files.mkdir(folder)
    if not files.run("python3 -m zipfile -e " .. quote(out) .. " " .. quote(folder)) then
      error("cannot unpack " .. out .. " to check it", 0)
    end
    folders[#folders + 1] = quote(folder)
  end
  local problems, ok = files.lines("python3 " .. quote(checker) .. " " .. table.concat(folders, " "))
  if ok then files.remove(dir) end
  return ok and {} or problems
end

local function package(options, io_out)
  local project = files.real_path(".")
  local template_path = options.template
  if not files.exists(template_path) then
    error(string.format("%s not found in %s: run moonrun package in a project (moonrun init writes one), " ..
      "or name the template with --template", template_path, project), 0)
  end
  local model = template.load(template_path)
  local dist, work = project .. "/dist", project .. "/.moonrun/package"
  files.mkdir(dist)
  files.mkdir(work)
  local state = load_state(work .. "/state.json")
  local zip_tool, checker = runtime.tool("make_zip.py"), runtime.tool("check_elf.py")

  -- the handlers zips, one per CodeUri folder
  local rules = handlers.rules(project)
  local code_dirs, seen = {}, {}
  for _, fn in ipairs(model.functions) do
    if not seen[fn.code_dir] then
      seen[fn.code_dir] = true
      code_dirs[#code_dirs + 1] = fn.code_dir
    end
  end
  table.sort(code_dirs)
  if #code_dirs == 0 then error(template_path .. " has no AWS::Serverless::Function to package", 0) end
  local handler_zips = {}
  for _, dir in ipairs(code_dirs) do
    local name = handlers_zip_name(project, dir)
    local out = dist .. "/" .. name
    local selected = handlers.select(dir, rules)
    if #selected == 0 then error(dir .. " (a CodeUri) holds no file to package", 0) end
    local key = "handlers 1 " .. files.hash_files(dir, selected)
    if state:fresh(name, out, key) then
      report(io_out, out, "unchanged")
    else
      local stage = work .. "/stage/" .. name:gsub("%.zip$", "")
      handlers.stage(dir, selected, stage)
      zip(zip_tool, out, stage)
      state:record(name, out, key)
      local relative = dir == project and "." or dir:sub(#project + 2)
      report(io_out, out, string.format("%d files from %s", #selected, relative))
    end
    handler_zips[#handler_zips + 1] = out
  end

  -- per architecture: the dependencies layer, moonrun's layer, then the check of them all
  local rockspec = find_rockspec(project)
  local rockspec_text = rockspec and files.read(rockspec) or ""
  for _, arch in ipairs(options.archs) do
    local arch_work = work .. "/" .. arch
    files.mkdir(arch_work)

    local deps_name = "deps-layer-" .. arch .. ".zip"
    local deps_out = dist .. "/" .. deps_name
    -- the servers as a digest: a URL's password is not kept in state.json
    local deps_key = table.concat({"deps 1", arch, files.hash_text(rockspec_text),
                                   files.hash_text(table.concat(options.servers, "\n"))}, "\n")
    if state:fresh(deps_name, deps_out, deps_key) then
      report(io_out, deps_out, "unchanged")
    else
      -- a zip whose inputs changed is gone until it is made again: a failed build cannot leave
      -- the previous one in dist/ for sam deploy to take as current
      state:forget(deps_name)
      os.remove(deps_out)
      local stage = work .. "/stage/deps-layer-" .. arch
      local installed = rocks.build(arch, rockspec, arch_work, stage, options.servers)
      zip(zip_tool, deps_out, stage)
      state:record(deps_name, deps_out, deps_key)
      report(io_out, deps_out, #installed == 0 and "no dependencies" or string.format("%d rocks", #installed))
    end

    local runtime_name = "moonrun-layer-" .. arch .. ".zip"
    local runtime_out = dist .. "/" .. runtime_name
    local where = runtime.locate(arch)
    local runtime_key = runtime.key(where)
    if state:fresh(runtime_name, runtime_out, runtime_key) then
      report(io_out, runtime_out, "unchanged")
    else
      state:forget(runtime_name)
      os.remove(runtime_out)
      if where.kind == "source" then io_out:write("  building moonrun for ", arch, " (bootstrap/package.sh)\n") end
      io_out:flush()
      runtime.make(where, arch, runtime_out, arch_work)
      state:record(runtime_name, runtime_out, runtime_key)
      report(io_out, runtime_out,
        where.kind == "installed" and "from " .. where.zip or "built from " .. where.repo)
    end

    local zips = {deps_out, runtime_out}
    for _, out in ipairs(handler_zips) do zips[#zips + 1] = out end
    local check_key = {}
    for _, out in ipairs(zips) do
      local name = out:match("[^/]+$")
      check_key[#check_key + 1] = name .. " " .. state.outputs[name].sha256
    end
    check_key = table.concat(check_key, "\n")
    if state.checks[arch] ~= check_key then
      local problems = check_arch(arch, zips, arch_work, checker)
      if #problems > 0 then
        -- a zip that cannot run is not left in dist/ for sam deploy to upload
        for _, out in ipairs(zips) do
          local name = out:match("[^/]+$")
          for _, problem in ipairs(problems) do
            if problem:sub(1, #name + 1) == name .. "/" and os.remove(out) then state.outputs[name] = nil end
          end
        end
        state.checks[arch] = nil
        state:save()
        error(string.format("the %s zips cannot run on provided.al2023:\n  %s", arch,
          table.concat(problems, "\n  ")), 0)
      end
      state.checks[arch] = check_key
      state:save()
    end
  end
  -- the template sam deploys: the same, with the handlers zips as the functions' code
  local zips_of = {}
  for i, dir in ipairs(code_dirs) do zips_of[dir] = handler_zips[i]:match("[^/]+$") end
  local template_dir = model.path:match("^(.*)/[^/]*$")
  local written, why = false, "the template is not in the project folder"
  if template_dir == project then written, why = deploy_template.write(model.path, project, zips_of, dist) end
  if written then
    io_out:write("  template.yaml                          the template, CodeUri: the handlers zips\n")
    io_out:write("dist/ is ready: sam deploy --template-file dist/template.yaml (or the AWS CLI)\n")
  else
    os.remove(dist .. "/template.yaml")
    io_out:write("dist/template.yaml not written (", why, "): sam deploy with ", template_path,
      " zips the CodeUri folders itself\n")
    io_out:write("dist/ is ready: sam deploy (see the template), or upload the zips with the AWS CLI\n")
  end
  return 0
end

-- Exit status: 0 dist/ is ready, 1 a zip could not be made or failed its check (the error
-- names it), 2 a bad command line.
function M.main(args, _)
  local ok, options = pcall(parse_args, args)
  if not ok then
    io.stderr:write("moonrun package: ", tostring(options), "\nrun 'moonrun package --help' for the options\n")
    return 2
  end
  if options.help then
    io.stdout:write(USAGE)
    return 0
  end
  local done, result = pcall(package, options, io.stdout)
  io.stdout:flush()
  if not done then
    io.stderr:write("moonrun package: ", tostring(result), "\n")
    return 1
  end
  return result
end

return M
