-- AWS::ApiGatewayV2 HTTP APIs with Lambda proxy integrations, as CloudFormation and CDK write
-- them (an Api, its Routes, Integrations and Stages, or an Api's quick create), read into the
-- functions' http_events: the same routes a SAM HttpApi event makes, served by the same HTTP
-- front. WebSocket APIs, OpenAPI bodies and non-Lambda integrations are errors naming the
-- resource.
--
-- Its own module because API Gateway's resource graph is one concern apart from Lambda's own
-- resources (template/cfn.lua, which calls these in its pass). Its functions are methods of
-- template/init.lua's Loader, which template/init.lua takes into its class.
local values = require "moonrun.dev.template.values"

local is_map, describe = values.is_map, values.describe

-- Methods of template/init.lua's Loader.
local Loader = {}

local API_READ = {ProtocolType = true, Name = true, Target = true, RouteKey = true, Body = true, BodyS3Location = true}
local API_DEPLOY_ONLY = {
  ApiKeySelectionExpression = true, BasePath = true, CredentialsArn = true, Description = true,
  DisableExecuteApiEndpoint = true, DisableSchemaValidation = true, FailOnWarnings = true, IpAddressType = true,
  RouteSelectionExpression = true, Tags = true, Version = true,
}
local API_NOT_APPLIED = {CorsConfiguration = "CORS is not applied locally: the function's own headers are returned"}
local ROUTE_READ = {ApiId = true, RouteKey = true, Target = true, AuthorizationType = true}
local ROUTE_DEPLOY_ONLY = {
  ApiKeyRequired = true, AuthorizationScopes = true, AuthorizerId = true, ModelSelectionExpression = true,
  OperationName = true, RequestModels = true, RequestParameters = true, RouteResponseSelectionExpression = true,
}
local INTEGRATION_READ = {ApiId = true, IntegrationType = true, IntegrationUri = true, PayloadFormatVersion = true,
                          IntegrationSubtype = true}
local INTEGRATION_DEPLOY_ONLY = {
  ConnectionId = true, ConnectionType = true, ContentHandlingStrategy = true, CredentialsArn = true,
  Description = true, IntegrationMethod = true, PassthroughBehavior = true, RequestParameters = true,
  RequestTemplates = true, ResponseParameters = true, TemplateSelectionExpression = true,
  TimeoutInMillis = true, TlsConfig = true,
}
local STAGE_KNOWN = {
  AccessLogSettings = true, ApiId = true, AutoDeploy = true, ClientCertificateId = true,
  DefaultRouteSettings = true, DeploymentId = true, Description = true, RouteSettings = true,
  StageName = true, StageVariables = true, Tags = true,
}

-- The API a Route, Integration or Stage belongs to: an HTTP API of this template.
function Loader:http_api_of(props, base)
  local api = props.ApiId
  local ref = is_map(api) and api.Ref
  if type(ref) ~= "string" or not self.http_apis[ref] then
    self:fail(base .. ".ApiId", "expected !Ref of an AWS::ApiGatewayV2::Api (ProtocolType HTTP) of this template, got %s",
      describe(api))
  end
  return ref
end

-- A route key ("GET /items/{id}", "ANY /{proxy+}" or "$default") into a route of fn.
function Loader:v2_route(fn, name, key, payload_version, where)
  local event = {name = name, type = "HttpApi", payload_version = payload_version}
  self.where_of[event] = where
  if key ~= "$default" then
    local method, path = key:match("^(%S+) (/%S*)$")
    if not method then self:fail(where, "%q is not a route key (such as \"GET /items\", \"ANY /{proxy+}\" or $default)", key) end
    self:route_path(path, where)
    event.method, event.path = self:route_method(method, where), path
  end
  fn.http_events[#fn.http_events + 1] = event
end

function Loader:v2_api(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = self:properties_of(r, base)
  self:known_keys(props, base, "AWS::ApiGatewayV2::Api", API_READ, API_DEPLOY_ONLY, API_NOT_APPLIED)
  local protocol = self:property(props, "ProtocolType", base)
  if protocol == nil then self:fail(base .. ".ProtocolType", "missing (HTTP)") end
  protocol = self:text(protocol, base .. ".ProtocolType")
  if protocol == "WEBSOCKET" then
    self:fail("Resources." .. logical_id, "a WebSocket API is not run by moonrun dev: it serves HTTP APIs only")
  end
  if protocol ~= "HTTP" then self:fail(base .. ".ProtocolType", "%s is not HTTP or WEBSOCKET", protocol) end
  for _, k in ipairs{"Body", "BodyS3Location"} do
    if props[k] ~= nil then
      self:fail(base .. "." .. k, "an OpenAPI definition is not read by moonrun dev: declare the routes as " ..
        "AWS::ApiGatewayV2::Route and Integration resources (or SAM HttpApi events)")
    end
  end
  if self:property(props, "CorsConfiguration", base) ~= nil then
    self:warn(base .. ".CorsConfiguration", "ignored: %s", API_NOT_APPLIED.CorsConfiguration)
  end
  self.http_apis[logical_id] = true
  -- its quick-create route is read once every integration's function is known
  self.quick_create[#self.quick_create + 1] = {id = logical_id, props = props, base = base}
end

-- An HTTP API's quick create: Target (a function's ARN) makes the route RouteKey ($default
-- unless given) with a Lambda proxy integration of payload format 2.0.
function Loader:v2_quick_create(logical_id, props, base)
  local target = self:property(props, "Target", base)
  if target == nil then
    if props.RouteKey ~= nil then self:fail(base .. ".RouteKey", "is for quick create, with Target: use an AWS::ApiGatewayV2::Route") end
    return
  end
  local fn = self:target_function(target, base .. ".Target")
  local key = self:property(props, "RouteKey", base)
  key = key and self:text(key, base .. ".RouteKey") or "$default"
  self:v2_route(fn, logical_id, key, "2.0", base .. ".RouteKey")
end

function Loader:v2_integration(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = self:properties_of(r, base)
  self:known_keys(props, base, "AWS::ApiGatewayV2::Integration", INTEGRATION_READ, INTEGRATION_DEPLOY_ONLY)
  self:http_api_of(props, base)
  local itype = self:property(props, "IntegrationType", base)
  if itype == nil then self:fail(base .. ".IntegrationType", "missing (AWS_PROXY)") end
  itype = self:text(itype, base .. ".IntegrationType")
  if itype ~= "AWS_PROXY" or props.IntegrationSubtype ~= nil then
    self:fail("Resources." .. logical_id, "a %s integration is not run by moonrun dev: it runs Lambda proxy " ..
      "integrations (AWS_PROXY to a function of the template)",
      props.IntegrationSubtype ~= nil and "service (IntegrationSubtype)" or itype)
  end
  local uri = self:property(props, "IntegrationUri", base)
  if uri == nil then self:fail(base .. ".IntegrationUri", "missing (!GetAtt Function.Arn)") end
  uri = self:text(uri, base .. ".IntegrationUri")
  -- API Gateway's own form of a Lambda integration's URI wraps the function's ARN
  local inner = uri:match("^arn:[^:]+:apigateway:[^:]*:lambda:path/[^/]+/functions/(.+)/invocations$")
  local fn = self:target_function(inner or uri, base .. ".IntegrationUri")
  local version = self:property(props, "PayloadFormatVersion", base)
  if version == nil then
    self:fail(base .. ".PayloadFormatVersion", "missing: an HTTP API's Lambda integration needs 2.0 (or 1.0)")
  end
  version = self:text(version, base .. ".PayloadFormatVersion")
  if version ~= "1.0" and version ~= "2.0" then self:fail(base .. ".PayloadFormatVersion", "%q is not 1.0 or 2.0", version) end
  self.integrations[logical_id] = {fn = fn, payload_version = version}
end

function Loader:v2_route_resource(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = self:properties_of(r, base)
  self:known_keys(props, base, "AWS::ApiGatewayV2::Route", ROUTE_READ, ROUTE_DEPLOY_ONLY)
  self:http_api_of(props, base)
  local key = self:property(props, "RouteKey", base)
  if key == nil then self:fail(base .. ".RouteKey", "missing (such as \"GET /items\")") end
  key = self:text(key, base .. ".RouteKey")
  local auth = self:property(props, "AuthorizationType", base)
  if auth ~= nil and auth ~= "NONE" then
    self:warn(base .. ".AuthorizationType", "authorizers are not applied locally: every request reaches the function")
  end
  local target = self:property(props, "Target", base)
  if target == nil then
    self:warn("Resources." .. logical_id, "no Target: API Gateway answers this route with 404, and so does moonrun dev")
    return
  end
  target = self:text(target, base .. ".Target")
  local integration_id = target:match("^integrations/(.+)$")
  local integration = integration_id and self.integrations[integration_id]
  if not integration then
    self:fail(base .. ".Target", "%q is not integrations/ and an AWS::ApiGatewayV2::Integration of this template " ..
      "(!Sub integrations/${Integration})", target)
  end
  self:v2_route(integration.fn, logical_id, key, integration.payload_version, base .. ".RouteKey")
end

function Loader:v2_stage(logical_id, r)
  local base = "Resources." .. logical_id .. ".Properties"
  local props = self:properties_of(r, base)
  self:known_keys(props, base, "AWS::ApiGatewayV2::Stage", STAGE_KNOWN)
  self:http_api_of(props, base)
  local name = self:property(props, "StageName", base)
  if name ~= nil and name ~= "$default" then
    self:warn(base .. ".StageName", "%s: moonrun dev serves the routes at the root (on AWS its URLs start with /%s)", name, name)
  end
end

return {methods = Loader}
