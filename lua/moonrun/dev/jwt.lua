-- JSON Web Tokens as an HTTP API's JWT authorizer checks them: the signature against the
-- issuer's key set (JWKS), then kid, iss, aud or client_id, exp, nbf, iat, and the route's
-- scopes (API Gateway developer guide, "Control access to HTTP APIs with JWT authorizers").
-- Like API Gateway, only RSA signatures are taken (RS256, RS384, RS512).
--
--   local keys = jwt.key_set(json_text)            -- or nil, why
--   local claims, why, scope_failure = jwt.check(token, keys, {issuer = ..., audience = {...},
--                                                 scopes = {...}, now = os.time()})
--
-- A JWK becomes the DER SubjectPublicKeyInfo OpenSSL reads (moonrun.signature checks it).
local base64 = require "moonrun.base64"
local json = require "moonrun.json"

local M = {}

local DIGESTS = {RS256 = "SHA256", RS384 = "SHA384", RS512 = "SHA512"}

--- base64url (RFC 4648 section 5, no padding) to bytes, or nil and why.
function M.base64url_decode(text)
  if type(text) ~= "string" or text:find("[^%w%-_]") then return nil, "not base64url text" end
  local std = text:gsub("%-", "+"):gsub("_", "/")
  local rest = #std % 4
  if rest == 1 then return nil, "base64url text of a wrong length" end
  if rest > 0 then std = std .. string.rep("=", 4 - rest) end
  return base64.decode(std)
end

function M.base64url_encode(bytes)
  return (base64.encode(bytes):gsub("=+$", ""):gsub("%+", "-"):gsub("/", "_"))
end

-- ---- DER, for the key OpenSSL reads ----

local function der_length(n)
  if n < 128 then return string.char(n) end
  local bytes = ""
  while n > 0 do
    bytes = string.char(n & 255) .. bytes
    n = n >> 8
  end
  return string.char(128 | #bytes) .. bytes
end

local function der(tag, content) return string.char(tag) .. der_length(#content) .. content end

-- An unsigned big-endian integer: no leading zero bytes, then one if the high bit is set.
local function der_integer(bytes)
  bytes = bytes:gsub("^%z+", "")
  if bytes == "" then bytes = "\0" end
  if bytes:byte(1) >= 128 then bytes = "\0" .. bytes end
  return der(0x02, bytes)
end

local RSA_ALGORITHM = der(0x30, der(0x06, "\42\134\72\134\247\13\1\1\1") .. "\5\0") -- rsaEncryption, NULL

--- The DER SubjectPublicKeyInfo of an RSA JWK, or nil and why.
function M.rsa_public_key(jwk)
  if type(jwk.n) ~= "string" or type(jwk.e) ~= "string" then return nil, "an RSA key needs n and e" end
  local n, why = M.base64url_decode(jwk.n)
  if not n then return nil, "its n is " .. why end
  local e, why_e = M.base64url_decode(jwk.e)
  if not e then return nil, "its e is " .. why_e end
  local key = der(0x30, der_integer(n) .. der_integer(e))
  return der(0x30, RSA_ALGORITHM .. der(0x03, "\0" .. key))
end

--- The keys of a JWKS document (JSON text): kid -> {der = SPKI, alg = ...}. RSA signing keys
--- only; others are left out (and counted in skipped). nil and why for a document that is not one.
function M.key_set(text)
  local ok, doc = pcall(json.decode, text)
  if not ok or type(doc) ~= "table" or type(doc.keys) ~= "table" then
    return nil, "not a JWKS document (JSON with a \"keys\" list)"
  end
  local keys, skipped = {}, 0
  for i, jwk in ipairs(doc.keys) do
    if type(jwk) ~= "table" then return nil, string.format("keys[%d] is not an object", i - 1) end
    if jwk.kty == "RSA" and (jwk.use == nil or jwk.use == "sig") then
      local der_key, why = M.rsa_public_key(jwk)
      if not der_key then return nil, string.format("keys[%d] (kid %s): %s", i - 1, tostring(jwk.kid), why) end
      keys[tostring(jwk.kid or "")] = {der = der_key, alg = jwk.alg}
    else
      skipped = skipped + 1
    end
  end
  return {keys = keys, skipped = skipped}
end

-- ---- the token ----

local function decode_part(part, name)
  local bytes = M.base64url_decode(part)
  if not bytes then return nil, "its " .. name .. " is not base64url" end
  local ok, value = pcall(json.decode, bytes)
  if not ok or type(value) ~= "table" or json.is_array(value) then return nil, "its " .. name .. " is not a JSON object" end
  return value
end

local function number_claim(claims, name)
  local v = claims[name]
  if v == nil then return nil end
  if type(v) ~= "number" then return false end
  return v
end

local function strings_of(v)
  if type(v) == "string" then return {v} end
  if type(v) == "table" then
    local out = {}
    for _, s in ipairs(v) do if type(s) == "string" then out[#out + 1] = s end end
    return out
  end
  return {}
end

-- The token's scopes: scope (space-separated text, OAuth 2.0) or scp (a list or text).
local function token_scopes(claims)
  local out = {}
  for _, name in ipairs{"scope", "scp"} do
    local v = claims[name]
    if type(v) == "string" then
      for s in v:gmatch("%S+") do out[#out + 1] = s end
    elseif type(v) == "table" then
      for _, s in ipairs(v) do if type(s) == "string" then out[#out + 1] = s end end
    end
  end
  return out
end
M.token_scopes = token_scopes

--- Checks token (the text, without "Bearer ") against key_set and options: issuer (text),
--- audience (a list), scopes (the route's, a list, may be empty), now (seconds), verify (the
--- signature check: moonrun.signature.verify by default). Returns the claims and the token's
--- scopes, or nil, the reason (for the www-authenticate header) and true when only the scopes
--- failed (a 403, not a 401).
function M.check(token, key_set, options)
  if type(token) ~= "string" or token == "" then return nil, "no token" end
  local h, p, s = token:match("^([^.]*)%.([^.]*)%.([^.]*)$")
  if not h then return nil, "the token is not a JWT (three base64url parts separated by dots)" end
  local header, why = decode_part(h, "header")
  if not header then return nil, "the token is malformed: " .. why end
  local claims, why_p = decode_part(p, "payload")
  if not claims then return nil, "the token is malformed: " .. why_p end
  local signature = M.base64url_decode(s)
  if not signature then return nil, "the token is malformed: its signature is not base64url" end
  local digest = DIGESTS[header.alg]
  if not digest then
    return nil, string.format("the token's algorithm %s is not supported (RS256, RS384 or RS512)", tostring(header.alg))
  end
  local key = key_set and key_set.keys[tostring(header.kid or "")]
  if not key then return nil, string.format("no key of the issuer's key set has the kid %s", tostring(header.kid)) end
  local verify = options.verify or require("moonrun.signature").verify
  local ok, valid = pcall(verify, digest, key.der, h .. "." .. p, signature)
  if not ok then return nil, "the signature could not be checked: " .. tostring(valid) end
  if not valid then return nil, "signature is invalid" end
  if claims.iss ~= options.issuer then
    return nil, string.format("the token's issuer %s is not %s", tostring(claims.iss), tostring(options.issuer))
  end
  -- aud when the token has one, else client_id (as API Gateway reads Cognito's access tokens)
  local audiences = claims.aud ~= nil and strings_of(claims.aud) or strings_of(claims.client_id)
  local matched = false
  for _, a in ipairs(audiences) do
    for _, want in ipairs(options.audience or {}) do if a == want then matched = true end end
  end
  if not matched then return nil, "the token's aud (or client_id) is none of the authorizer's audiences" end
  local now = options.now or os.time()
  local exp, nbf, iat = number_claim(claims, "exp"), number_claim(claims, "nbf"), number_claim(claims, "iat")
  if not exp then return nil, "the token has no valid exp" end
  if exp <= now then return nil, "the token has expired" end
  if nbf == false or (nbf and nbf > now) then return nil, "the token is not valid yet (nbf)" end
  if iat == false or (iat and iat > now) then return nil, "the token was issued in the future (iat)" end
  local scopes = token_scopes(claims)
  if options.scopes and #options.scopes > 0 then
    local found = false
    for _, have in ipairs(scopes) do
      for _, want in ipairs(options.scopes) do if have == want then found = true end end
    end
    if not found then return nil, "the token has none of the route's scopes", true end
  end
  return claims, scopes
end

-- A claim as API Gateway passes it in requestContext.authorizer.jwt.claims: text. A number is
-- written as an integer when it is one; a list as [a b c].
local function claim_text(v)
  if type(v) == "string" then return v end
  if math.type(v) == "integer" then return string.format("%d", v) end
  if type(v) == "number" then
    return v == math.floor(v) and v < 2^53 and v > -2^53 and string.format("%d", math.tointeger(v)) or tostring(v)
  end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "table" and (json.is_array(v) or #v > 0) then
    local parts = {}
    for i, item in ipairs(v) do parts[i] = claim_text(item) end
    return "[" .. table.concat(parts, " ") .. "]"
  end
  if v == json.null then return "" end
  local ok, text = pcall(json.encode, v)
  return ok and text or tostring(v)
end

function M.claims_as_text(claims)
  local out = {}
  for k, v in pairs(claims) do out[k] = claim_text(v) end
  return out
end

return M
