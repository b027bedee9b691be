-- Running Debian's luarocks (3.8) for moonrun's dependency commands, and turning its output
-- into errors a user can act on: a rock the servers do not have, a C module that does not
-- compile (the compiler's last lines and the log), luarocks missing. Everything luarocks
-- prints goes to a log file; only the verdict reaches the terminal.
local M = {}

M.LUA_VERSION = "5.4"

local function quote(text)
  return "'" .. tostring(text):gsub("'", "'\\''") .. "'"
end
M.quote = quote

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- Text as a message or the log may show it: URLs without the user and password they may carry.
function M.shown(text)
  return (text:gsub("(%a[%w+.-]*://)[^/@%s'\"]*@", "%1***@"))
end

-- luarocks writes the URLs it fetches into its output: the log keeps none of their passwords.
function M.redact_file(path)
  local f = io.open(path, "rb")
  if not f then return end
  local text = f:read("a")
  f:close()
  local shown = M.shown(text)
  if shown == text then return end
  f = io.open(path, "wb")
  if f then
    f:write(shown)
    f:close()
  end
end

-- The servers luarocks would ask (the one given, or luarocks's configured list), as shown.
function M.servers(server)
  if server then return {M.shown(server)} end
  local p = io.popen("luarocks --lua-version " .. M.LUA_VERSION .. " config rocks_servers 2>/dev/null")
  local text = p and p:read("a") or ""
  if p then p:close() end
  local list = {}
  for url in text:gmatch('"([^"]+)"') do list[#list + 1] = M.shown(url) end
  return list
end

-- Runs `luarocks ARGS` in cwd with env (NAME = VALUE) added, all output appended to log.
-- Returns the exit status (127: luarocks is not installed).
function M.run(args, options)
  local words = {}
  for _, name in ipairs(sorted_keys(options.env)) do
    words[#words + 1] = quote(name .. "=" .. options.env[name])
  end
  -- stdbuf: luarocks's own lines (stdout) and the compiler's (stderr) stay in order in the log
  local command = ("cd %s && %s stdbuf -oL luarocks"):format(quote(options.cwd or "."),
    #words > 0 and ("env " .. table.concat(words, " ")) or "")
  for _, a in ipairs(args) do command = command .. " " .. quote(a) end
  local log = io.open(options.log, "ab")
  if log then
    log:write("$ ", M.shown(command), "\n")
    log:close()
  end
  local ok, how, code = os.execute(command .. " >>" .. quote(options.log) .. " 2>&1 </dev/null")
  M.redact_file(options.log)
  if ok then return 0 end
  if how == "signal" then return 128 + (code or 0) end
  return code or 1
end

-- `luarocks --tree TREE --lua-version 5.4 [--only-server S] install --deps-only ROCKSPEC VAR=V...`
function M.install_args(o)
  local args = {"--tree", o.tree, "--lua-version", M.LUA_VERSION}
  if o.server then
    args[#args + 1] = "--only-server"
    args[#args + 1] = o.server
  end
  for _, a in ipairs{"install", "--deps-only", "--deps-mode", "one", "--no-doc", o.rockspec} do
    args[#args + 1] = a
  end
  for _, name in ipairs(sorted_keys(o.variables)) do args[#args + 1] = name .. "=" .. o.variables[name] end
  return args
end

local function lines_of(path, from)
  local f = io.open(path, "rb")
  if not f then return {} end
  if from then f:seek("set", from) end
  local lines = {}
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  return lines
end

-- luarocks's chatter, which says nothing about why a build failed.
local function is_noise(line)
  return line == "" or line:find("^Warning: Lua 5%.4 interpreter not found") or
    line:find("^Modules may not install with the correct") or line:find("^%s+luarocks config %-%-local") or
    line:find("^No existing manifest") or line:find("depends on .* %(.*%)$") or
    line:find("^Installing ") or line:find("^Missing dependencies for") or line:find("^   %S.* %(not installed%)$")
end

-- The last count lines before the error that are the failing build's own: after luarocks's
-- last "Installing" line (the rock that failed), without its chatter.
local function last_meaningful(lines, before, count)
  local picked = {}
  for i = before - 1, 1, -1 do
    if #picked >= count then break end
    if lines[i]:find("^%$ ") or lines[i]:find("^Installing ") then break end
    if not is_noise(lines[i]) then table.insert(picked, 1, lines[i]) end
  end
  return picked
end

-- The rock luarocks was installing when it stopped (from its last "Installing" line).
local function rock_being_installed(lines, before)
  for i = before, 1, -1 do
    local file = lines[i]:match("^Installing%s+(%S+)")
    if file then
      local name, version = file:match("([^/]+)%-(%d[^/%-]*%-%d+)%.[%w%.]*rock$")
      return name, version, file
    end
  end
end

local function classify(o)
  if o.status == 127 then
    return {kind = "luarocks", message = "luarocks is not installed: apt-get install luarocks"}
  end
  local lines = lines_of(o.log, o.offset)
  local at, message
  for i = #lines, 1, -1 do
    message = lines[i]:match("^Error: (.*)")
    if message then
      at = i
      break
    end
  end
  if not message then
    return {kind = "luarocks", log = o.log,
            message = ("luarocks failed (status %d); its output is in %s"):format(o.status, o.log)}
  end
  local wanted, why = message:match("^Could not satisfy dependency (.-): (.*)$")
  if wanted then
    local servers = #o.servers > 0 and table.concat(o.servers, ", ") or "(none configured)"
    local name = wanted:match("^(%S+)")
    local extra = why:find("No results matching query", 1, true) and "" or (" (" .. why .. ")")
    local unread = {} -- a server that could not be read is the likelier cause
    for _, line in ipairs(lines) do
      local failed = line:match("^Warning: Failed searching manifest: (.*)")
      if failed then
        local url, why_not = failed:match("^Failed downloading (%S-)/?manifest%S* %- (.*)$")
        unread[#unread + 1] = url and (url .. ": " .. why_not) or failed
      end
    end
    if #unread > 0 then
      extra = extra .. ("; %d of them could not be read (%s)"):format(#unread, table.concat(unread, "; "))
    end
    return {kind = "not_found", rock = name, servers = o.servers, log = o.log,
            message = ("no rock '%s' on the rocks servers (%s)%s: check its name and version in %s"):format(
              wanted, servers, extra, o.rockspec)}
  end
  if message:find("^Build error") or message:find("^Failed installing dependency") and
     message:find("[Bb]uild error") then
    local name, version = rock_being_installed({message:match("dependency: (%S+)") and
      ("Installing " .. message:match("dependency: (%S+)")) or ""}, 1)
    if not name then name, version = rock_being_installed(lines, at) end
    local tail = last_meaningful(lines, at, 12)
    return {kind = "build", rock = name, version = version, log = o.log,
            message = ("the C module of rock '%s'%s does not compile:\n  %s\n(the whole build: %s)"):format(
              name or "?", version and (" " .. version) or "", table.concat(tail, "\n  "), o.log)}
  end
  if message:find("rockspec", 1, true) then
    return {kind = "rockspec", file = o.rockspec, log = o.log,
            message = ("invalid rockspec %s: %s"):format(o.rockspec, message)}
  end
  local name, version = rock_being_installed(lines, at)
  return {kind = "luarocks", rock = name, log = o.log,
          message = ("luarocks failed%s: %s (the whole output: %s)"):format(
            name and (" installing " .. name .. " " .. (version or "")) or "", message, o.log)}
end

-- The error of a failed run, from the log's text after offset, with no URL's password in it.
-- o: {status, log, offset, servers (list, as shown), rockspec}
function M.error(o)
  local err = classify(o)
  err.message = M.shown(err.message)
  return err
end

return M
