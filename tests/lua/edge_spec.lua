-- Specs of what moonrun dev's front does before a function runs: moonrun.dev.jwt (with a key
-- made by openssl), moonrun.dev.cors, the IAM policy decisions of moonrun.dev.authorizers, and
-- the APIs moonrun.dev.template reads (CORS, authorizers, event Auth):
-- build/moonrun run /usr/bin/busted tests/lua/edge_spec.lua
local jwt = require "moonrun.dev.jwt"
local cors = require "moonrun.dev.cors"
local authorizers = require "moonrun.dev.authorizers"
local template = require "moonrun.dev.template"
local json = require "moonrun.json"

local function shell(cmd)
  local pipe = assert(io.popen(cmd))
  local out = pipe:read("a")
  pipe:close()
  return out
end

local dir = shell("mktemp -d"):gsub("%s+$", "")

local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(text)
  f:close()
  return dir .. "/" .. name
end

-- An RSA key made by openssl, its JWK, and tokens signed with it.
local function rsa_key(name, kid)
  shell(string.format("openssl genrsa -out %s/%s.pem 2048 2>/dev/null", dir, name))
  local modulus = shell(string.format("openssl rsa -in %s/%s.pem -noout -modulus", dir, name)):match("=(%x+)")
  local n = modulus:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  local key = {kid = kid, pem = dir .. "/" .. name .. ".pem",
               jwk = {kty = "RSA", kid = kid, n = jwt.base64url_encode(n), e = "AQAB"}}
  function key.token(claims, header)
    local h = jwt.base64url_encode(json.encode(header or {alg = "RS256", kid = kid}))
    local p = jwt.base64url_encode(json.encode(claims))
    local input = write("input", h .. "." .. p)
    local sig = shell(string.format("openssl dgst -sha256 -sign %s %s", key.pem, input))
    return h .. "." .. p .. "." .. jwt.base64url_encode(sig)
  end
  return key
end

describe("moonrun.dev.jwt", function()
  local key = rsa_key("a", "k1")
  local forger = rsa_key("b", "k1")
  local keys = assert(jwt.key_set(json.encode{keys = {key.jwk, {kty = "EC", kid = "e1", crv = "P-256"}}}))
  local now = os.time()
  local function claims(extra)
    local c = {iss = "https://i.test", aud = {"x", "app"}, exp = now + 60, iat = now - 1, scp = {"read"}}
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
  end
  local options = {issuer = "https://i.test", audience = {"app"}, scopes = {}, now = now}

  it("base64url round-trips", function()
    for _, s in ipairs{"", "f", "fo", "foo", "\255\254\253"} do
      assert.are.equal(s, jwt.base64url_decode(jwt.base64url_encode(s)))
    end
    assert.is_nil(jwt.base64url_decode("a+b"))
  end)

  it("reads a key set, leaving non-RSA keys out", function()
    assert.are.equal(1, keys.skipped)
    assert.is_truthy(keys.keys.k1.der)
    assert.is_nil(jwt.key_set("[]"))
    assert.is_nil(jwt.key_set('{"keys": [{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}]}'))
  end)

  it("takes a good token and gives its claims and scopes", function()
    local c, scopes = jwt.check(key.token(claims()), keys, options)
    assert.are.equal("https://i.test", c.iss)
    assert.are.same({"read"}, scopes)
  end)

  it("refuses bad tokens with the reason", function()
    local cases = {
      {key.token(claims{exp = now - 1}), "expired"},
      {key.token(claims{aud = "other"}), "aud"},
      {key.token(claims{iss = "https://evil.test"}), "issuer"},
      {forger.token(claims()), "signature is invalid"},
      {key.token(claims(), {alg = "HS256", kid = "k1"}), "algorithm HS256"},
      {key.token(claims(), {alg = "RS256", kid = "zz"}), "kid zz"},
      {key.token(claims{nbf = now + 100}), "nbf"},
      {key.token(claims{iat = now + 100}), "iat"},
      {key.token(claims{exp = "soon"}), "exp"},
      {"a.b", "not a JWT"},
      {"e30.e30.!!", "signature is not base64url"},
    }
    for _, case in ipairs(cases) do
      local c, why = jwt.check(case[1], keys, options)
      assert.is_nil(c)
      assert.is_truthy(why:find(case[2], 1, true), why)
    end
  end)

  it("checks the route's scopes (scope or scp) apart, as a 403", function()
    local opts = {issuer = "https://i.test", audience = {"app"}, scopes = {"write"}, now = now}
    local c, why, scope_failure = jwt.check(key.token(claims()), keys, opts)
    assert.is_nil(c)
    assert.is_true(scope_failure, why)
    assert.is_truthy(jwt.check(key.token(claims{scp = json.null, scope = "a write"}), keys, opts))
  end)

  it("writes claims as text", function()
    assert.are.same({n = "5", l = "[a b]", b = "true", s = "x"},
      jwt.claims_as_text{n = 5, l = {"a", "b"}, b = true, s = "x"})
  end)
end)

describe("moonrun.dev.cors", function()
  local http = {kind = "http", origins = {"https://a.test"}, methods = {"GET"}, headers = {"x-h"}, expose = {"x-e"},
                max_age = 10, credentials = true}
  local function req(method, headers) return {method = method, path = "/p", headers = headers} end

  it("answers an HTTP API preflight for an allowed origin only", function()
    local status, headers = cors.http_preflight(http, req("OPTIONS", {origin = "https://a.test"}))
    assert.are.equal(204, status)
    assert.are.same({["access-control-allow-origin"] = "https://a.test", ["access-control-allow-methods"] = "GET",
                     ["access-control-allow-headers"] = "x-h", ["access-control-max-age"] = "10",
                     ["access-control-allow-credentials"] = "true"}, headers)
    status, headers = cors.http_preflight(http, req("OPTIONS", {origin = "https://b.test"}))
    assert.are.same({204, {}}, {status, headers})
  end)

  it("replaces the function's CORS headers", function()
    local out = cors.http_apply(http, req("GET", {origin = "https://a.test"}),
      {["Access-Control-Allow-Origin"] = "*", ["X-Other"] = "1"})
    assert.are.same({["access-control-allow-origin"] = "https://a.test", ["access-control-allow-credentials"] = "true",
                     ["access-control-expose-headers"] = "x-e", ["X-Other"] = "1"}, out)
    assert.are.same({["X-Other"] = "1"}, cors.http_apply(http, req("GET", {}), {["access-control-max-age"] = "1", ["X-Other"] = "1"}))
  end)

  it("lists a REST path's methods as SAM does", function()
    assert.are.equal("GET,OPTIONS,POST", cors.rest_methods{"POST", "GET"})
    assert.are.equal("DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT", cors.rest_methods{"ANY"})
  end)
end)

describe("moonrun.dev.authorizers policy decisions", function()
  local arn = "arn:aws:execute-api:us-east-1:000000000000:api/Prod/GET/items/7"
  local function policy(effect, resource, action)
    return {Version = "2012-10-17", Statement = {{Effect = effect, Resource = resource, Action = action or "execute-api:Invoke"}}}
  end
  it("allows, denies, and wildcards", function()
    assert.are.equal("Allow", authorizers.policy_decision(policy("Allow", arn), arn))
    assert.are.equal("Allow", authorizers.policy_decision(policy("Allow", "arn:aws:execute-api:us-east-1:000000000000:api/*/GET/*"), arn))
    assert.is_nil(authorizers.policy_decision(policy("Allow", "arn:aws:execute-api:us-east-1:000000000000:api/*/POST/*"), arn))
    assert.is_nil(authorizers.policy_decision(policy("Allow", arn, "s3:GetObject"), arn))
    local both = {Statement = {{Effect = "Allow", Resource = "*", Action = "*"}, {Effect = "Deny", Resource = arn, Action = "execute-api:*"}}}
    assert.are.equal("Deny", authorizers.policy_decision(both, arn))
    assert.is_nil(authorizers.policy_decision({}, arn))
  end)
end)

describe("moonrun.dev.template APIs", function()
  local HEAD = "Transform: AWS::Serverless-2016-10-31\n"
  local FN = [[
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: provided.al2023
      Events:
        E:
          Type: %s
          Properties:
            Path: /x
            Method: GET
%s
]]
  local function load(text)
    return template.load(write("template.yaml", text))
  end
  local function fails(text, fragment)
    local ok, err = pcall(load, text)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find(fragment, 1, true), tostring(err))
  end

  it("reads JWT and Lambda authorizers, the default one and an event's own", function()
    local model = load(HEAD .. [[
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: J
        Authorizers:
          J:
            IdentitySource: $request.querystring.token
            JwtConfiguration: {Issuer: https://i.test, Audience: [a]}
          L:
            FunctionArn: !GetAtt F.Arn
            AuthorizerPayloadFormatVersion: 2.0
            Identity: {Headers: [X-Key], ReauthorizeEvery: 60}
]] .. FN:format("HttpApi", "            ApiId: !Ref Api\n            Auth: {AuthorizationScopes: [s]}"))
    local e = model.functions[1].http_events[1]
    assert.are.equal("Api", e.api)
    assert.are.same({name = "J", kind = "jwt", issuer = "https://i.test", audience = {"a"}, query = "token", scopes = {}},
      e.authorizer)
    assert.are.same({"s"}, e.scopes)
    assert.are.same({name = "L", kind = "lambda", api_type = "HttpApi", function_name = "F", payload_version = "2.0",
                     simple = false, headers = {"X-Key"}, query = {}, ttl = 60}, model.apis.Api.authorizers.L)
  end)

  it("reads a REST API's Cors and TOKEN authorizer defaults", function()
    local model = load(HEAD .. [[
Globals:
  Api:
    Cors: {AllowOrigin: "'https://a.test'", MaxAge: "'5'"}
    Auth:
      DefaultAuthorizer: T
      Authorizers:
        T: {FunctionArn: !GetAtt F.Arn}
Resources:
]] .. FN:format("Api", ""))
    local api = model.apis.ServerlessRestApi
    assert.are.same({kind = "rest", origin = "https://a.test", max_age = 5, credentials = false}, api.cors)
    assert.are.same({name = "T", kind = "lambda", api_type = "Api", function_name = "F", payload_type = "TOKEN",
                     headers = {"Authorization"}, query = {}, ttl = 300}, api.authorizers.T)
    assert.are.equal("T", model.functions[1].http_events[1].authorizer.name)
  end)

  it("refuses what it cannot do or what is wrong, naming it", function()
    fails(HEAD .. "Globals:\n  Api:\n    Cors: '*'\nResources:\n" .. FN:format("Api", ""), "Globals.Api.Cors: \"*\": a REST API's CORS values are quoted")
    fails(HEAD .. "Globals:\n  HttpApi:\n    CorsConfiguration: {AllowOrigins: ['*'], AllowCredentials: true}\nResources:\n" .. FN:format("HttpApi", ""),
      "AllowCredentials: true with AllowOrigins '*'")
    fails(HEAD .. "Globals:\n  HttpApi:\n    CorsConfiguration: {AllowOrigin: ['*']}\nResources:\n" .. FN:format("HttpApi", ""),
      "Globals.HttpApi.CorsConfiguration.AllowOrigin: not a key of CorsConfiguration (did you mean AllowOrigins?)")
    fails(HEAD .. "Globals:\n  HttpApi:\n    Auth:\n      Authorizers:\n        L: {FunctionArn: arn:aws:lambda:us-east-1:1:function:Elsewhere, AuthorizerPayloadFormatVersion: '2.0'}\nResources:\n" ..
      FN:format("HttpApi", ""), "Elsewhere is not a function of this template")
    fails(HEAD .. "Globals:\n  Api:\n    Auth:\n      Authorizers:\n        C: {UserPoolArn: arn:aws:cognito-idp:us-east-1:1:userpool/x}\nResources:\n" ..
      FN:format("Api", ""), "Cognito user pool authorizers are not emulated")
    fails(HEAD .. "Resources:\n" .. FN:format("HttpApi", "            ApiId: !Ref Nothing"), "Nothing is not an AWS::Serverless::HttpApi of this template")
  end)
end)
