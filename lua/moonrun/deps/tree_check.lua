-- What a rocks tree holds (read from its luarocks manifest, no luarocks process) and whether it
-- satisfies every constraint: the project's and each installed rock's. luarocks 3.8 installs a
-- dependency's dependencies one at a time and, when a later one needs another version of a
-- rock already there, replaces it without a word; this check turns that into a conflict error.
local rockspec = require "moonrun.deps.rockspec"
local versions = require "moonrun.deps.versions"

local M = {}

local function load_data(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local values = {}
  local chunk = load(text, "@" .. path, "t", values)
  if not chunk or not pcall(chunk) then return nil end
  return values
end

-- {{name, version}, ...} sorted by name, from TREE/lib/luarocks/rocks-V/manifest.
function M.installed(tree, lua_version)
  local base = ("%s/lib/luarocks/rocks-%s"):format(tree, lua_version)
  local manifest = load_data(base .. "/manifest")
  local rocks = {}
  for name, by_version in pairs(manifest and manifest.repository or {}) do
    for version in pairs(by_version) do
      rocks[#rocks + 1] = {name = name, version = version,
                           rockspec = ("%s/%s/%s/%s-%s.rockspec"):format(base, name, version, name, version)}
    end
  end
  table.sort(rocks, function(a, b) return a.name < b.name or a.name == b.name and a.version < b.version end)
  return rocks
end

local function describe(who, dependency)
  return ("%s needs %s"):format(who, dependency.text:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- The installed rocks, or nil and a conflict error.
-- spec: the project's rockspec path; dependencies: its parsed dependencies.
function M.check(tree, spec, dependencies, lua_version)
  local rocks = M.installed(tree, lua_version)
  local by_name = {}
  for _, rock in ipairs(rocks) do
    by_name[rock.name] = by_name[rock.name] or {}
    table.insert(by_name[rock.name], rock)
  end
  -- who needs what: {name = {{who, dependency}, ...}}
  local needs = {}
  local function add(who, list)
    for _, dependency in ipairs(list) do
      needs[dependency.name] = needs[dependency.name] or {}
      table.insert(needs[dependency.name], {who = who, dependency = dependency})
    end
  end
  add(spec:match("[^/]*$"), dependencies)
  for _, rock in ipairs(rocks) do
    local list = rockspec.dependencies(rock.rockspec)
    if list then add(rock.name .. " " .. rock.version, list) end
  end
  local names = {}
  for name in pairs(needs) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local installed = by_name[name]
    local broken = false
    for _, rock in ipairs(installed or {}) do
      for _, need in ipairs(needs[name]) do
        if #versions.broken(versions.parse(rock.version), need.dependency) > 0 then broken = true end
      end
    end
    if broken or (installed and #installed > 1) then
      local parts = {}
      for _, need in ipairs(needs[name]) do parts[#parts + 1] = describe(need.who, need.dependency) end
      local have = {}
      for _, rock in ipairs(installed) do have[#have + 1] = rock.version end
      local message = ("dependency conflict on '%s': %s; no one version satisfies them all " ..
        "(luarocks picked %s). Change the constraints in %s"):format(
        name, table.concat(parts, ", "), table.concat(have, " and "), spec)
      return nil, {kind = "conflict", rock = name, file = spec, message = message}
    end
  end
  local list = {}
  for _, rock in ipairs(rocks) do list[#list + 1] = {name = rock.name, version = rock.version} end
  return list
end

return M
