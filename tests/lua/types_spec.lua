-- The LuaLS definitions (types/) against the modules themselves, for busted run inside moonrun
-- from the repository's root:
--   build/moonrun run /usr/bin/busted -o gtest tests/lua/types_spec.lua
-- Every moonrun.* module a handler or spec can require (the C modules moonrun preloads and the
-- Lua files of lua/moonrun/) has a definition file whose fields are exactly the module's: an
-- exported field without an annotation fails, and so does an annotation of a field that the
-- module does not have. The commands' own modules (moonrun dev's, moonrun init's, moonrun deps's) are not a
-- library and are left out.
-- moonrun.aws's configuration and credential chain are its own parts, not a library: handlers
-- use them through moonrun.aws (aws.client, aws.credentials).
local NOT_LIBRARY = {"^moonrun%.dev$", "^moonrun%.dev%.", "^moonrun%.project_init$", "^moonrun%.scaffold%.",
  "^moonrun%.deps$", "^moonrun%.deps%.", "^moonrun%.package$", "^moonrun%.package%.",
  "^moonrun%.aws%.config$", "^moonrun%.aws%.credentials?$", "^moonrun%.aws%.credential_process$",
  "^moonrun%.aws%.container_credentials$", "^moonrun%.aws%.endpoints$", "^moonrun%.aws%.ini$",
  "^moonrun%.aws%.roles$", "^moonrun%.aws%.sts$"}

local function is_library(name)
  for _, pattern in ipairs(NOT_LIBRARY) do
    if name:match(pattern) then return false end
  end
  return true
end

local function lines_of(command)
  local p = assert(io.popen(command))
  local lines = {}
  for line in p:lines() do lines[#lines + 1] = line end
  p:close()
  return lines
end

local function module_names()
  local names, seen = {}, {}
  local function add(name)
    if is_library(name) and not seen[name] then seen[name] = true; names[#names + 1] = name end
  end
  for name in pairs(package.preload) do
    if name:match("^moonrun%.") then add(name) end
  end
  for _, file in ipairs(lines_of("cd lua && find moonrun -name '*.lua' | LC_ALL=C sort")) do
    add((file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")))
  end
  table.sort(names)
  return names
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- The module name of a definition file and the fields it annotates on the module's table.
local function annotated(text)
  local name = text:match("^%-%-%-@meta ([%w_.]+)")
  local var = text:match("\nlocal ([%w_]+) = {}")
  local fields = {}
  if var then
    for line in text:gmatch("[^\n]+") do
      local field = line:match("^function " .. var .. "%.([%w_]+)%(") or line:match("^" .. var .. "%.([%w_]+)%s*=")
      if field then fields[field] = true end
    end
  end
  return name, fields
end

local function sorted(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

describe("the LuaLS definitions in types/", function()
  local names = module_names()

  it("find the modules to check", function()
    assert.is_true(#names >= 25, "only " .. #names .. " modules found: run from the repository's root")
  end)

  for _, name in ipairs(names) do
    it("annotate exactly the fields of " .. name, function()
      local path = "types/" .. name:gsub("%.", "/") .. ".lua"
      local text = read(path)
      assert.is_truthy(text, path .. " is missing: " .. name .. " has no LuaLS definitions")
      local meta, fields = annotated(text)
      assert.equal(name, meta, path .. " must begin ---@meta " .. name)
      local ok, module = pcall(require, name)
      assert.is_true(ok, "cannot load " .. name .. ": " .. tostring(module))
      assert.equal("table", type(module))
      local exported = {}
      for k in pairs(module) do
        if type(k) == "string" then exported[k] = true end
      end
      local missing, extra = {}, {}
      for k in pairs(exported) do if not fields[k] then missing[k] = true end end
      for k in pairs(fields) do if not exported[k] then extra[k] = true end end
      assert.same({}, sorted(missing), name .. " exports fields " .. path .. " does not annotate")
      assert.same({}, sorted(extra), path .. " annotates fields " .. name .. " does not have")
    end)
  end

  it("hold no definition file of a module that does not exist", function()
    local known = {}
    for _, name in ipairs(names) do known["types/" .. name:gsub("%.", "/") .. ".lua"] = true end
    local strays = {}
    for _, file in ipairs(lines_of("find types/moonrun -name '*.lua' | LC_ALL=C sort")) do
      if not known[file] then strays[#strays + 1] = file end
    end
    assert.same({}, strays)
  end)

  it("define the Lambda shapes moonrun knows", function()
    local text = assert(read("types/lambda.lua"))
    for _, class in ipairs{"LambdaContext", "SQSEvent", "SQSRecord", "SQSBatchResponse", "APIGatewayProxyEventV2",
                           "APIGatewayProxyResultV2", "APIGatewayProxyEvent", "APIGatewayProxyResult", "ScheduledEvent"} do
      assert.is_truthy(text:find("---@class " .. class .. "\n", 1, true), "no ---@class " .. class)
    end
  end)
end)
