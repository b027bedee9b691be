-- The two STS operations credentials need: AssumeRole (signed with the source credentials) and
-- AssumeRoleWithWebIdentity (unsigned: the token is the proof). STS speaks the query protocol:
-- a form-encoded POST, an XML answer. Answers are read for the few fields used; an error answer
-- becomes an error value with STS's code (AccessDenied, ExpiredToken, ...).
local endpoints = require "moonrun.aws.endpoints"
local errors = require "moonrun.aws.errors"
local sigv4 = require "moonrun.sigv4"

local M = {}

local SERVICE = {service_id = "STS", endpoint_prefix = "sts"}
local ATTEMPTS = 3

local function encode(value)
  return (tostring(value):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

local function form(params)
  local names = {}
  for name in pairs(params) do names[#names + 1] = name end
  table.sort(names)
  local parts = {}
  for i, name in ipairs(names) do parts[i] = encode(name) .. "=" .. encode(params[name]) end
  return table.concat(parts, "&")
end

local ENTITIES = {amp = "&", lt = "<", gt = ">", quot = '"', apos = "'"}

local function unescape(text)
  return (text:gsub("&(#?x?)(%w+);", function(kind, name)
    if kind == "" then return ENTITIES[name] end
    local code = tonumber(name, kind == "#x" and 16 or 10)
    return code and code < 0x110000 and utf8.char(code) or nil
  end))
end

local function field(xml, name)
  local value = xml:match("<" .. name .. ">([^<]*)</" .. name .. ">")
  return value and unescape(value)
end

-- STS's answer to operation as {AccessKeyId, SecretAccessKey, SessionToken, Expiration}, or an
-- error value.
local function read_answer(operation, response)
  local body = response.body
  if response.status ~= 200 then
    local code = field(body, "Code")
    return nil, errors.new{
      code = code or ("HTTP" .. response.status),
      message = field(body, "Message") or string.format("STS answered status %d without an " ..
        "AWS error", response.status),
      status = response.status,
      request_id = field(body, "RequestId") or response.headers["x-amzn-requestid"],
      operation = operation,
      retryable = response.status >= 500 or code == "Throttling" or code == "IDPCommunicationError",
    }
  end
  local credentials = body:match("<Credentials>(.-)</Credentials>") or ""
  local answer = {}
  for _, name in ipairs{"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"} do
    answer[name] = field(credentials, name)
    if not answer[name] or answer[name] == "" then
      return nil, errors.new{code = "ResponseParserError", operation = operation,
        status = response.status, message = "STS's answer has no Credentials." .. name}
    end
  end
  return answer
end

-- One STS call: params (with Action), signed with credentials unless they are nil.
local function call(operation, params, credentials, region, options)
  local http = require "moonrun.http"
  -- the client's own endpoint option names its service's endpoint, not STS's
  local url = endpoints.resolve(SERVICE, region, {profile = options and options.profile})
  if url:match("^https?://[^/?#]+$") then url = url .. "/" end
  params.Action, params.Version = operation, "2011-06-15"
  local body = form(params)
  local last
  for _ = 1, ATTEMPTS do
    local headers = {["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"}
    if credentials then
      local signed = sigv4.sign{method = "POST", url = url, headers = headers, body = body,
        access_key_id = credentials.access_key_id, secret_access_key = credentials.secret_access_key,
        session_token = credentials.session_token, region = region, service = "sts"}
      for name, value in pairs(signed.headers) do headers[name] = value end
    end
    local response, failure = http.request{method = "POST", url = url, headers = headers,
      body = body, timeout = 30, connect_timeout = 5}
    local answer, err
    if response then
      answer, err = read_answer(operation, response)
    else
      err = errors.from_transport(failure, operation)
    end
    if answer then return answer end
    last = err
    if not err.retryable then break end
  end
  error(last, 0)
end

--- AssumeRole with source credentials; args: RoleArn, RoleSessionName, ExternalId,
-- DurationSeconds.
function M.assume_role(source, args, region, options)
  return call("AssumeRole", args, source, region, options)
end

--- AssumeRoleWithWebIdentity; args: RoleArn, RoleSessionName, WebIdentityToken.
function M.assume_role_with_web_identity(args, region, options)
  return call("AssumeRoleWithWebIdentity", args, nil, region, options)
end

return M
