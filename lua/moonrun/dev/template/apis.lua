-- The APIs of a SAM template as moonrun dev applies them: each AWS::Serverless::HttpApi and
-- AWS::Serverless::Api (and SAM's implicit ServerlessHttpApi and ServerlessRestApi, which
-- events without ApiId/RestApiId join), with Globals.HttpApi / Globals.Api merged in, read
-- into their CORS configuration and authorizers; and each HTTP event's API and authorizer.
--
-- Its own module because what an API's Auth and CORS mean is one concern (the front applies
-- them: dev/cors.lua, dev/authorizers.lua). Its functions are methods of template/init.lua's Loader.
local values = require "moonrun.dev.template.values"

local present, sorted_keys, is_map, is_list = values.present, values.sorted_keys, values.is_map, values.is_list
local describe = values.describe

local Loader = {}

local IMPLICIT = {HttpApi = "ServerlessHttpApi", Api = "ServerlessRestApi"}
local RESOURCE_TYPE = {HttpApi = "AWS::Serverless::HttpApi", Api = "AWS::Serverless::Api"}

-- What each API resource may hold that moonrun dev applies; anything else is deploy-side
-- (stages, domains, definitions, logging) and is said to be ignored.
local APPLIED = {HttpApi = {Auth = true, CorsConfiguration = true}, Api = {Auth = true, Cors = true}}

local HTTP_AUTH_KEYS = {Authorizers = true, DefaultAuthorizer = true, EnableIamAuthorizer = true}
local REST_AUTH_KEYS = {Authorizers = true, DefaultAuthorizer = true, AddDefaultAuthorizerToCorsPreflight = true,
                        AddApiKeyRequiredToCorsPreflight = true, ApiKeyRequired = true, InvokeRole = true,
                        ResourcePolicy = true, UsagePlan = true, DisableFunctionDefaultPermissions = true}

local IAM_REFUSED = "AWS_IAM authorization (SigV4-signed requests checked against IAM policies) is not " ..
  "emulated by moonrun dev: use a Lambda or JWT authorizer for these routes, or Authorizer: NONE on " ..
  "the event to run it open locally"

function Loader:text_list(v, where)
  if type(v) == "string" then return {v} end
  if not is_list(v) then self:fail(where, "expected a list of strings, got %s", describe(v)) end
  local out = {}
  for i, item in ipairs(v) do out[#out + 1] = self:text(item, string.format("%s[%d]", where, i - 1)) end
  return out
end

-- ---- CORS ----

-- HttpApi CorsConfiguration: true (every origin), or AllowOrigins, AllowMethods, AllowHeaders,
-- ExposeHeaders, MaxAge, AllowCredentials, as SAM takes them.
function Loader:http_cors(v, where)
  if v == true or v == "true" then return {kind = "http", origins = {"*"}, methods = {}, headers = {}, expose = {}, credentials = false} end
  if v == false or v == "false" then return nil end
  if type(v) == "string" then return {kind = "http", origins = {v}, methods = {}, headers = {}, expose = {}, credentials = false} end
  if not is_map(v) then self:fail(where, "expected true or a mapping (AllowOrigins, AllowMethods, AllowHeaders, ExposeHeaders, MaxAge, AllowCredentials)") end
  local known = {AllowOrigins = true, AllowMethods = true, AllowHeaders = true, ExposeHeaders = true, MaxAge = true, AllowCredentials = true}
  for _, k in ipairs(sorted_keys(v)) do
    if not known[k] then self:fail(where .. "." .. k, "not a key of CorsConfiguration%s", values.suggestion(k, known)) end
  end
  local function strings(k)
    local x = self:property(v, k, where)
    return x and self:text_list(x, where .. "." .. k) or {}
  end
  local cors = {kind = "http", origins = strings("AllowOrigins"), methods = strings("AllowMethods"),
                headers = strings("AllowHeaders"), expose = strings("ExposeHeaders")}
  local age = self:property(v, "MaxAge", where)
  if age ~= nil then cors.max_age = self:integer(age, where .. ".MaxAge", -1, 86400) end
  local credentials = self:property(v, "AllowCredentials", where)
  cors.credentials = credentials ~= nil and self:boolean(credentials, where .. ".AllowCredentials") or false
  for i, m in ipairs(cors.methods) do cors.methods[i] = m:upper() end
  if cors.credentials then
    for _, o in ipairs(cors.origins) do
      if o == "*" then self:fail(where .. ".AllowCredentials", "true with AllowOrigins '*': API Gateway refuses it (name the origins)") end
    end
  end
  return cors
end

-- A REST API's Cors values are API Gateway mapping values: text in single quotes ("'*'").
function Loader:quoted(v, where)
  local text = self:text(v, where)
  local inner = text:match("^'(.*)'$")
  if not inner then
    self:fail(where, "%q: a REST API's CORS values are quoted as API Gateway takes them, such as \"'*'\" or \"'https://example.com'\"", text)
  end
  return inner
end

-- Api Cors: an origin ("'*'"), or AllowOrigin, AllowMethods, AllowHeaders, MaxAge, AllowCredentials.
function Loader:rest_cors(v, where)
  if type(v) == "string" then return {kind = "rest", origin = self:quoted(v, where), credentials = false} end
  if not is_map(v) then self:fail(where, "expected an origin (\"'*'\") or a mapping (AllowOrigin, AllowMethods, AllowHeaders, MaxAge, AllowCredentials)") end
  local known = {AllowOrigin = true, AllowMethods = true, AllowHeaders = true, MaxAge = true, AllowCredentials = true}
  for _, k in ipairs(sorted_keys(v)) do
    if not known[k] then self:fail(where .. "." .. k, "not a key of Cors%s", values.suggestion(k, known)) end
  end
  local origin = self:property(v, "AllowOrigin", where)
  if origin == nil then self:fail(where .. ".AllowOrigin", "missing (such as \"'*'\")") end
  local cors = {kind = "rest", origin = self:quoted(origin, where .. ".AllowOrigin")}
  for key, field in pairs{AllowMethods = "methods", AllowHeaders = "headers"} do
    local x = self:property(v, key, where)
    if x ~= nil then cors[field] = self:quoted(x, where .. "." .. key) end
  end
  local age = self:property(v, "MaxAge", where)
  if age ~= nil then
    cors.max_age = self:integer(type(age) == "string" and age:match("^'(.*)'$") or age, where .. ".MaxAge", -1, 86400)
  end
  local credentials = self:property(v, "AllowCredentials", where)
  cors.credentials = credentials ~= nil and self:boolean(credentials, where .. ".AllowCredentials") or false
  if cors.credentials and cors.origin == "*" then
    self:fail(where .. ".AllowCredentials", "true with AllowOrigin \"'*'\": SAM refuses it (name the origin)")
  end
  return cors
end

-- ---- authorizers ----

local function function_name_of(arn)
  return type(arn) == "string" and (arn:match("^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)") or arn:match("^([%w_%-]+)$"))
end

function Loader:identity_lists(identity, where, keys)
  local out = {headers = {}, query = {}}
  for key, field in pairs{Headers = "headers", QueryStrings = "query"} do
    local x = self:property(identity, key, where)
    if x ~= nil then out[field] = self:text_list(x, where .. "." .. key) end
  end
  for _, k in ipairs(sorted_keys(identity)) do
    if not keys[k] then self:fail(where .. "." .. k, "not a key of Identity%s", values.suggestion(k, keys)) end
    if (k == "StageVariables" or k == "Context") and present(identity[k]) then
      self:warn(where .. "." .. k, "identity sources from %s are not checked locally (only Headers and QueryStrings)", k)
    end
  end
  local ttl = self:property(identity, "ReauthorizeEvery", where)
  if ttl ~= nil then out.ttl = self:integer(ttl, where .. ".ReauthorizeEvery", 0, 3600) end
  return out
end

function Loader:http_authorizer(name, a, where)
  if not is_map(a) then self:fail(where, "expected a mapping (JwtConfiguration and IdentitySource, or FunctionArn)") end
  local jwt_config = a.JwtConfiguration
  if present(jwt_config) then
    local known = {JwtConfiguration = true, IdentitySource = true, AuthorizationScopes = true}
    for _, k in ipairs(sorted_keys(a)) do
      if not known[k] then self:fail(where .. "." .. k, "not a key of a JWT authorizer (JwtConfiguration, IdentitySource, AuthorizationScopes)") end
    end
    local config = self:resolve(jwt_config, where .. ".JwtConfiguration")
    if not is_map(config) then self:fail(where .. ".JwtConfiguration", "expected a mapping (issuer, audience)") end
    local issuer, audience
    for k, v in pairs(config) do
      local lower = k:lower()
      if lower == "issuer" then issuer = self:text(v, where .. ".JwtConfiguration." .. k)
      elseif lower == "audience" then audience = self:text_list(v, where .. ".JwtConfiguration." .. k)
      else self:fail(where .. ".JwtConfiguration." .. k, "not a key of JwtConfiguration (issuer, audience)") end
    end
    if not issuer then self:fail(where .. ".JwtConfiguration.issuer", "missing (the token issuer's URL)") end
    if not audience or #audience == 0 then self:fail(where .. ".JwtConfiguration.audience", "missing (the audiences a token may have)") end
    local source = self:property(a, "IdentitySource", where)
    if source == nil then self:fail(where .. ".IdentitySource", "missing (such as $request.header.Authorization)") end
    source = self:text(source, where .. ".IdentitySource")
    local header = source:match("^%$request%.header%.(.+)$")
    local query = source:match("^%$request%.querystring%.(.+)$")
    if not header and not query then
      self:fail(where .. ".IdentitySource", "%q: moonrun dev reads a token from $request.header.NAME or $request.querystring.NAME", source)
    end
    local scopes = self:property(a, "AuthorizationScopes", where)
    return {name = name, kind = "jwt", issuer = issuer, audience = audience,
            header = header and header:lower(), query = query,
            scopes = scopes and self:text_list(scopes, where .. ".AuthorizationScopes") or {}}
  end
  local known = {FunctionArn = true, FunctionInvokeRole = true, Identity = true, AuthorizerPayloadFormatVersion = true,
                 EnableSimpleResponses = true, EnableFunctionDefaultPermissions = true}
  for _, k in ipairs(sorted_keys(a)) do
    if not known[k] then self:fail(where .. "." .. k, "not a key of a Lambda authorizer of an HttpApi%s", values.suggestion(k, known)) end
  end
  local arn = self:property(a, "FunctionArn", where)
  if arn == nil then
    self:fail(where .. ".FunctionArn",
      "missing (the authorizer function: !GetAtt AuthorizerFunction.Arn), or JwtConfiguration for a JWT authorizer")
  end
  local fn = function_name_of(self:text(arn, where .. ".FunctionArn"))
  if not fn then self:fail(where .. ".FunctionArn", "%s is not a function's ARN (use !GetAtt Function.Arn)", describe(arn)) end
  local version = self:property(a, "AuthorizerPayloadFormatVersion", where)
  if version == nil then self:fail(where .. ".AuthorizerPayloadFormatVersion", "missing (1.0 or 2.0), as SAM requires") end
  version = self:text(version, where .. ".AuthorizerPayloadFormatVersion")
  if version == "1" then version = "1.0" elseif version == "2" then version = "2.0" end
  if version ~= "1.0" and version ~= "2.0" then self:fail(where .. ".AuthorizerPayloadFormatVersion", "%q is not 1.0 or 2.0", version) end
  local simple = self:property(a, "EnableSimpleResponses", where)
  simple = simple ~= nil and self:boolean(simple, where .. ".EnableSimpleResponses") or false
  if simple and version ~= "2.0" then self:fail(where .. ".EnableSimpleResponses", "simple responses need AuthorizerPayloadFormatVersion 2.0") end
  local identity = self:property(a, "Identity", where)
  if identity ~= nil and not is_map(identity) then self:fail(where .. ".Identity", "expected a mapping (Headers, QueryStrings, ReauthorizeEvery)") end
  local id = self:identity_lists(identity or {}, where .. ".Identity",
    {Headers = true, QueryStrings = true, ReauthorizeEvery = true, StageVariables = true, Context = true})
  return {name = name, kind = "lambda", api_type = "HttpApi", function_name = fn, payload_version = version,
          simple = simple, headers = id.headers, query = id.query, ttl = id.ttl or 0}
end

function Loader:rest_authorizer(name, a, where)
  if not is_map(a) then self:fail(where, "expected a mapping (FunctionArn, FunctionPayloadType, Identity)") end
  if present(a.UserPoolArn) then
    self:fail(where .. ".UserPoolArn", "Cognito user pool authorizers are not emulated by moonrun dev: use a Lambda authorizer locally")
  end
  local known = {FunctionArn = true, FunctionPayloadType = true, FunctionInvokeRole = true, Identity = true,
                 AuthorizationScopes = true, DisableFunctionDefaultPermissions = true}
  for _, k in ipairs(sorted_keys(a)) do
    if not known[k] then self:fail(where .. "." .. k, "not a key of a Lambda authorizer of an Api%s", values.suggestion(k, known)) end
  end
  local arn = self:property(a, "FunctionArn", where)
  if arn == nil then self:fail(where .. ".FunctionArn", "missing (the authorizer function: !GetAtt AuthorizerFunction.Arn)") end
  local fn = function_name_of(self:text(arn, where .. ".FunctionArn"))
  if not fn then self:fail(where .. ".FunctionArn", "%s is not a function's ARN (use !GetAtt Function.Arn)", describe(arn)) end
  local payload = self:property(a, "FunctionPayloadType", where)
  payload = payload and self:text(payload, where .. ".FunctionPayloadType") or "TOKEN"
  if payload ~= "TOKEN" and payload ~= "REQUEST" then self:fail(where .. ".FunctionPayloadType", "%q is not TOKEN or REQUEST", payload) end
  local identity = self:property(a, "Identity", where)
  if identity ~= nil and not is_map(identity) then self:fail(where .. ".Identity", "expected a mapping") end
  identity = identity or {}
  local keys = payload == "TOKEN" and {Header = true, ValidationExpression = true, ReauthorizeEvery = true}
    or {Headers = true, QueryStrings = true, StageVariables = true, Context = true, ReauthorizeEvery = true}
  local id = self:identity_lists(identity, where .. ".Identity", keys)
  local out = {name = name, kind = "lambda", api_type = "Api", function_name = fn, payload_type = payload,
               headers = id.headers, query = id.query, ttl = id.ttl or 300}
  if payload == "TOKEN" then
    local header = self:property(identity, "Header", where .. ".Identity")
    out.headers = {header and self:text(header, where .. ".Identity.Header") or "Authorization"}
    local expression = self:property(identity, "ValidationExpression", where .. ".Identity")
    if expression ~= nil then
      self:warn(where .. ".Identity.ValidationExpression", "not checked locally: every token reaches the authorizer function")
    end
  elseif #out.headers + #out.query == 0 and out.ttl > 0 then
    self:fail(where .. ".Identity", "a REQUEST authorizer with caching (ReauthorizeEvery, 300 by default) needs Headers or QueryStrings")
  end
  return out
end

-- ---- one API ----

function Loader:api_model(id, etype, props, where)
  local api = {id = id, type = etype, authorizers = {}}
  local ignored = {}
  for _, k in ipairs(sorted_keys(props)) do
    if not APPLIED[etype][k] and present(props[k]) then ignored[#ignored + 1] = k end
  end
  if #ignored > 0 then
    self:warn(where, "%s not applied locally (the routes come from the functions' events)", table.concat(ignored, ", "))
  end
  local raw = props[etype == "HttpApi" and "CorsConfiguration" or "Cors"]
  if etype == "HttpApi" and type(raw) == "string" and raw ~= "true" and raw ~= "false" then
    -- SAM takes true, a mapping, or an intrinsic (its AllowOrigins); text is its error too
    self:fail(where .. ".CorsConfiguration", "%q: SAM takes true or a mapping (AllowOrigins: [%q], ...)", raw, raw)
  end
  local cors = self:property(props, etype == "HttpApi" and "CorsConfiguration" or "Cors", where)
  if cors ~= nil then
    local at = where .. "." .. (etype == "HttpApi" and "CorsConfiguration" or "Cors")
    api.cors = etype == "HttpApi" and self:http_cors(cors, at) or self:rest_cors(cors, at)
  end
  local auth = props.Auth
  if present(auth) then
    local at = where .. ".Auth"
    auth = self:resolve(auth, at)
    if not is_map(auth) then self:fail(at, "expected a mapping (Authorizers, DefaultAuthorizer)") end
    local keys = etype == "HttpApi" and HTTP_AUTH_KEYS or REST_AUTH_KEYS
    for _, k in ipairs(sorted_keys(auth)) do
      if not keys[k] then self:fail(at .. "." .. k, "not a key of an %s's Auth%s", etype, values.suggestion(k, keys)) end
    end
    for _, k in ipairs{"ApiKeyRequired", "ResourcePolicy", "UsagePlan"} do
      if present(auth[k]) then self:warn(at .. "." .. k, "not applied locally") end
    end
    local authorizers = auth.Authorizers
    if present(authorizers) then
      if not is_map(authorizers) then self:fail(at .. ".Authorizers", "expected a mapping of authorizers by name") end
      for _, name in ipairs(sorted_keys(authorizers)) do
        local a_where = at .. ".Authorizers." .. name
        if name == "AWS_IAM" or name == "NONE" then self:fail(a_where, "%s is a reserved name", name) end
        api.authorizers[name] = etype == "HttpApi" and self:http_authorizer(name, authorizers[name], a_where)
          or self:rest_authorizer(name, authorizers[name], a_where)
      end
    end
    local default = self:property(auth, "DefaultAuthorizer", at)
    if default ~= nil then
      default = self:text(default, at .. ".DefaultAuthorizer")
      if default == "AWS_IAM" then self:fail(at .. ".DefaultAuthorizer", "%s", IAM_REFUSED) end
      if default ~= "NONE" and not api.authorizers[default] then
        self:fail(at .. ".DefaultAuthorizer", "%s is not one of the Authorizers (%s)", default,
          table.concat(sorted_keys(api.authorizers), ", "))
      end
      api.default_authorizer = default ~= "NONE" and default or nil
    end
    if etype == "Api" then
      local flag = self:property(auth, "AddDefaultAuthorizerToCorsPreflight", at)
      api.preflight_authorized = flag == nil or self:boolean(flag, at .. ".AddDefaultAuthorizerToCorsPreflight")
    end
  end
  return api
end

--- The template's APIs by logical id, the implicit ones included (built from Globals alone).
function Loader:apis(merge)
  local globals = self.doc.Globals
  local by_type = {}
  if present(globals) and is_map(globals) then
    for etype in pairs(IMPLICIT) do
      local g = globals[etype]
      if present(g) then
        if not is_map(g) then self:fail("Globals." .. etype, "expected a mapping") end
        by_type[etype] = g
      end
    end
  end
  local apis = {}
  for etype, id in pairs(IMPLICIT) do
    apis[id] = self:api_model(id, etype, by_type[etype] or {}, "Globals." .. etype)
  end
  for _, id in ipairs(sorted_keys(self.resources)) do
    local r = self.resources[id]
    for etype, rtype in pairs(RESOURCE_TYPE) do
      if r.type == rtype and not r.left_out then
        local base = "Resources." .. id .. ".Properties"
        local own = r.body.Properties
        if present(own) and not is_map(own) then self:fail(base, "expected a mapping") end
        apis[id] = self:api_model(id, etype, merge(by_type[etype], present(own) and own or {}), base)
      end
    end
  end
  return apis
end

--- An HTTP event's API (ApiId or RestApiId, else the implicit one) and its authorization:
--- {api = id, authorizer = the authorizer model or nil, scopes = {...}}.
function Loader:event_api(etype, props, where, apis)
  local key = etype == "HttpApi" and "ApiId" or "RestApiId"
  local id = IMPLICIT[etype]
  local ref = props[key]
  if present(ref) then
    if is_map(ref) and type(ref.Ref) == "string" then
      id = ref.Ref
    else
      id = self:text(self:resolve(ref, where .. "." .. key), where .. "." .. key)
    end
    if not apis[id] then self:fail(where .. "." .. key, "%s is not an %s of this template", id, RESOURCE_TYPE[etype]) end
    if apis[id].type ~= etype then self:fail(where .. "." .. key, "%s is not an %s", id, RESOURCE_TYPE[etype]) end
  end
  local api = apis[id]
  local name, scopes = api.default_authorizer, nil
  local auth = props.Auth
  if present(auth) then
    auth = self:resolve(auth, where .. ".Auth")
    if not is_map(auth) then self:fail(where .. ".Auth", "expected a mapping (Authorizer, AuthorizationScopes)") end
    for _, k in ipairs(sorted_keys(auth)) do
      if k ~= "Authorizer" and k ~= "AuthorizationScopes" then
        if present(auth[k]) then self:warn(where .. ".Auth." .. k, "not applied locally") end
      end
    end
    local chosen = self:property(auth, "Authorizer", where .. ".Auth")
    if chosen ~= nil then
      chosen = self:text(chosen, where .. ".Auth.Authorizer")
      if chosen == "AWS_IAM" then self:fail(where .. ".Auth.Authorizer", "%s", IAM_REFUSED) end
      if chosen ~= "NONE" and not api.authorizers[chosen] then
        self:fail(where .. ".Auth.Authorizer", "%s is not an authorizer of %s (%s)", chosen, id,
          #sorted_keys(api.authorizers) > 0 and table.concat(sorted_keys(api.authorizers), ", ") or "it has none")
      end
      name = chosen ~= "NONE" and chosen or nil
    end
    local s = self:property(auth, "AuthorizationScopes", where .. ".Auth")
    if s ~= nil then scopes = self:text_list(s, where .. ".Auth.AuthorizationScopes") end
  end
  local authorizer = name and api.authorizers[name]
  if authorizer and not scopes then scopes = authorizer.scopes end
  return {api = id, authorizer = authorizer, scopes = scopes or {}}
end

return {methods = Loader, IAM_REFUSED = IAM_REFUSED}
