-- The signature check of the embedded SQS endpoint: an incoming request's Signature Version 4
-- Authorization header verified against the credentials moonrun dev gave its functions, with the
-- codes and messages AWS answers a wrong one with (moonrun dev --verify-signatures, and the
-- embedded SQS of moonrun.testing).
--
-- Its own module because it depends on nothing of SQS but the service's name in the scope: the
-- handler (sqs/api.lua) calls M.verify before any operation runs.
local sigv4 = require "moonrun.sigv4"

local M = {}

M.CLOCK_SKEW_S = 15 * 60

-- Seconds since the epoch of a UTC date-time in ISO 8601 basic form (20150830T123600Z).
local function parse_amz_date(text)
  local y, mo, d, h, mi, s = tostring(text):match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 then return nil end
  -- days from the civil date (Howard Hinnant's algorithm)
  local year = mo <= 2 and y - 1 or y
  local era = year // 400
  local yoe = year - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end
M._parse_amz_date = parse_amz_date

-- Checks the request's Authorization header against the credentials ({access_key_id,
-- secret_access_key, session_token, region}: a scope for another region, or for another service
-- than sqs, is refused as AWS refuses it); returns the access key id, or nil, a code and a message.
function M.verify(req, credentials, now_s)
  local headers = req.headers
  local authorization = headers.authorization
  if not authorization or authorization == "" then
    return nil, "MissingAuthenticationToken", "Request is missing Authentication Token"
  end
  local algorithm, rest = authorization:match("^(%S+)%s+(.*)$")
  if algorithm ~= "AWS4-HMAC-SHA256" then
    return nil, "IncompleteSignature", "Unsupported AWS 'algorithm': '" .. tostring(algorithm) .. "'"
  end
  local fields = {}
  for key, value in rest:gmatch("([%w]+)=([^,%s]*)") do fields[key] = value end
  local credential, signed, signature = fields.Credential, fields.SignedHeaders, fields.Signature
  if not credential or not signed or not signature then
    return nil, "IncompleteSignature", "Authorization header requires 'Credential', " ..
      "'SignedHeaders' and 'Signature' parameters. Authorization=" .. authorization
  end
  local key_id, scope_date, region, service = credential:match("^([^/]+)/(%d+)/([^/]+)/([^/]+)/aws4_request$")
  if not key_id then
    return nil, "IncompleteSignature", "Credential must have the form " ..
      "KEY/DATE/REGION/SERVICE/aws4_request, got " .. credential
  end
  -- a session token is part of the credentials: one the credentials do not have (signed or
  -- not) is as wrong as another key id
  local given_token = headers["x-amz-security-token"]
  if key_id ~= credentials.access_key_id or given_token ~= credentials.session_token then
    return nil, "InvalidClientTokenId", "The security token included in the request is invalid."
  end
  if service ~= "sqs" then
    return nil, "SignatureDoesNotMatch", string.format("Credential should be scoped to correct " ..
      "service: 'sqs', not '%s'.", service)
  end
  if credentials.region and region ~= credentials.region then
    return nil, "SignatureDoesNotMatch", string.format("Credential should be scoped to a valid " ..
      "region: this endpoint is '%s', not '%s'.", credentials.region, region)
  end
  local amz_date = headers["x-amz-date"]
  local at = parse_amz_date(amz_date)
  if not at then
    return nil, "IncompleteSignature", "Authorization header requires existence of a valid " ..
      "'X-Amz-Date' header."
  end
  if math.abs(at - now_s) > M.CLOCK_SKEW_S then
    return nil, "SignatureDoesNotMatch", string.format("Signature expired: %s is now earlier or " ..
      "later than 15 min from the server's time.", amz_date)
  end
  local sign_headers, token, content_hash = {}, nil, nil
  for name in signed:gmatch("[^;]+") do
    local value = headers[name]
    if value == nil then
      return nil, "SignatureDoesNotMatch", string.format("The request signature we calculated " ..
        "does not match the signature you provided: the signed header %s is missing.", name)
    end
    if name == "x-amz-security-token" then
      token = value
    elseif name == "x-amz-content-sha256" then
      content_hash = value
    elseif name ~= "x-amz-date" then
      sign_headers[#sign_headers + 1] = {name, value}
    end
  end
  local host = headers.host or "localhost"
  local url = "http://" .. host .. (req.path ~= "" and req.path or "/")
  if req.query and req.query ~= "" then url = url .. "?" .. req.query end
  local ok, result = pcall(sigv4.sign, {
    method = req.method, url = url, headers = sign_headers, body = req.body or "",
    payload_hash = content_hash, access_key_id = key_id,
    secret_access_key = credentials.secret_access_key, session_token = token,
    region = region, service = service, time = at,
    content_sha256_header = content_hash ~= nil,
  })
  local expected = ok and result.signature
  if not expected or expected ~= signature or
      not result.headers.Authorization:find("SignedHeaders=" .. signed .. ",", 1, true) or
      scope_date ~= amz_date:sub(1, 8) then
    return nil, "SignatureDoesNotMatch", "The request signature we calculated does not match " ..
      "the signature you provided. Check your AWS Secret Access Key and signing method. Consult " ..
      "the service documentation for details."
  end
  return key_id
end

-- The access key id in an Authorization header, unchecked (for SenderId).
local function access_key_of(headers)
  local authorization = headers.authorization
  return authorization and authorization:match("Credential=([^/,%s]+)/")
end
M.access_key_of = access_key_of

return M
