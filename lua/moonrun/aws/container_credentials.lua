-- The container credentials endpoint (ECS, and Lambda-like hosts):
-- AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)
-- as the Authorization header. Plain http only to loopback and the agents' own addresses.
local credential = require "moonrun.aws.credential"
local json = require "moonrun.json"

local M = {}

local function nonempty(value)
  if value and value ~= "" then return value end
end

-- The hosts a plain-http full URI may name: loopback and the container agents' link-local
-- addresses, as the SDKs allow, so credentials never cross a network in the clear.
local function allowed_http_host(host)
  return host:match("^127%.%d+%.%d+%.%d+$") or host == "localhost" or host == "[::1]" or
    host == "169.254.170.2" or host == "169.254.170.23" or host == "[fd00:ec2::23]"
end

local function container_token()
  local token = nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
  local variable = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
  local path = nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
  if path then -- the file wins: it is rotated, the variable is not
    local file, why = io.open(path, "r")
    if not file then
      error("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " .. tostring(why), 0)
    end
    token = file:read("a"):gsub("%s+$", "")
    file:close()
    variable = "the file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names"
  end
  return credential.one_line(token, variable)
end

local function container_url()
  local relative = nonempty(os.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
  if relative then return "http://169.254.170.2" .. relative, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" end
  local full = nonempty(os.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
  if not full then return nil end
  local scheme, host = full:match("^(%a+)://(%[?[^/:%]]*%]?)")
  if scheme == "http" and not allowed_http_host(host or "") then
    error(string.format("AWS_CONTAINER_CREDENTIALS_FULL_URI names '%s' over plain http; only " ..
      "loopback and the container agent's addresses may be used without https", host or full), 0)
  elseif scheme ~= "http" and scheme ~= "https" then
    error("AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http or https URL", 0)
  end
  return full, "AWS_CONTAINER_CREDENTIALS_FULL_URI"
end

function M.fetch()
  local url, variable = container_url()
  if not url then return nil end
  local http = require "moonrun.http"
  local headers = {Accept = "application/json"}
  local token = container_token()
  if token then headers.Authorization = token end
  local response, failure
  for _ = 1, 2 do -- the agent may be starting: one more try
    response, failure = http.request{url = url, headers = headers, timeout = 5, connect_timeout = 2}
    if response and response.status < 500 then break end
  end
  if not response then
    error(string.format("cannot get credentials from the container endpoint (%s): %s", variable,
      failure.message), 0)
  end
  local ok, answer = pcall(json.decode, response.body)
  if response.status ~= 200 or not ok or type(answer) ~= "table" or
    type(answer.AccessKeyId) ~= "string" or answer.AccessKeyId == "" or
    type(answer.SecretAccessKey) ~= "string" or answer.SecretAccessKey == "" or
    (answer.Token ~= nil and type(answer.Token) ~= "string") then
    -- the answer is not quoted: it may hold a secret
    error(string.format("the container credentials endpoint (%s) answered %d without " ..
      "AccessKeyId and SecretAccessKey", variable, response.status), 0)
  end
  credential.one_line(answer.Token, "the Token the container endpoint answered")
  local expiration = credential.expiration_of(answer.Expiration,
    string.format("the container credentials endpoint (%s)", variable))
  return credential.unexpired(credential.new(answer.AccessKeyId, answer.SecretAccessKey,
    answer.Token, "the container endpoint", expiration))
end

return M
