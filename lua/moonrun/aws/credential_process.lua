-- credential_process: a profile's command that prints the SDKs' Version 1 JSON
-- ({"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ..., "SessionToken": ...,
-- "Expiration": ...}) on stdout. It runs through /bin/sh, its stderr kept for the error when it
-- fails; what it prints on stdout is never quoted.
local credential = require "moonrun.aws.credential"
local json = require "moonrun.json"

local M = {}

-- A failing command's stderr, bounded: enough to read the reason, not a log.
local STDERR_LIMIT = 1000

local function shown_command(command)
  if #command > 200 then return command:sub(1, 200) .. "..." end
  return command
end

-- credential_process: a command that prints {"Version": 1, "AccessKeyId": ...} on stdout.
-- Nothing it prints on stdout is quoted (that is where the secret is); its stderr is, when it
-- fails, since that is where it says why.
function M.fetch(command, where)
  local stderr_path = os.tmpname()
  local pipe, why = io.popen("(" .. command .. "\n) 2>'" .. stderr_path .. "'", "r")
  if not pipe then
    os.remove(stderr_path)
    error(string.format("cannot start the credential_process of %s: %s", where, tostring(why)), 0)
  end
  local output = pipe:read("a") or ""
  local ok, how, status = pipe:close()
  local file = io.open(stderr_path, "rb")
  local stderr = file and file:read("a") or ""
  if file then file:close() end
  os.remove(stderr_path)
  local about = string.format("the credential_process of %s (%s)", where, shown_command(command))
  if not ok then
    stderr = stderr:gsub("%s+$", "")
    if #stderr > STDERR_LIMIT then stderr = "..." .. stderr:sub(-STDERR_LIMIT) end
    error(string.format("%s failed (%s %s)%s", about, how == "signal" and "signal" or "exit status",
      tostring(status), stderr ~= "" and ": " .. stderr or " and wrote nothing on stderr"), 0)
  end
  local decoded_ok, answer = pcall(json.decode, output)
  if not decoded_ok or type(answer) ~= "table" then
    error(about .. " did not print a JSON object on stdout (its output is not shown: it may " ..
      "hold a secret)", 0)
  elseif answer.Version ~= 1 then
    error(string.format("%s printed Version %s; the SDKs' format is Version 1", about,
      math.type(answer.Version) and tostring(answer.Version) or "(missing or not a number)"), 0)
  end
  for _, name in ipairs{"AccessKeyId", "SecretAccessKey"} do
    if type(answer[name]) ~= "string" or answer[name] == "" then
      error(string.format("%s printed no %s", about, name), 0)
    end
  end
  if answer.SessionToken ~= nil and type(answer.SessionToken) ~= "string" then
    error(about .. " printed a SessionToken that is not a string", 0)
  end
  credential.one_line(answer.SessionToken, "the SessionToken " .. about .. " printed")
  return credential.unexpired(credential.new(answer.AccessKeyId, answer.SecretAccessKey, answer.SessionToken,
    "the credential_process of " .. where, credential.expiration_of(answer.Expiration, about)))
end

return M
