-- Where a service's requests go, in the SDKs' order: the client's endpoint option, the
-- configured endpoints (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's
-- [services NAME] section, the profile's endpoint_url), then AWS's own address for the region,
-- its partition's domain, and the FIPS and dual-stack variants the settings ask for.
local config = require "moonrun.aws.config"
local errors = require "moonrun.aws.errors"

local M = {}

-- AWS's partitions (botocore's partitions.json): which regions, which domains.
local PARTITIONS = {
  {id = "aws-cn", pattern = "^cn%-%w+%-%d+$", dns = "amazonaws.com.cn",
    dualstack = "api.amazonwebservices.com.cn"},
  {id = "aws-us-gov", pattern = "^us%-gov%-%w+%-%d+$", dns = "amazonaws.com", dualstack = "api.aws"},
  {id = "aws-iso", pattern = "^us%-iso%-%w+%-%d+$", dns = "c2s.ic.gov", dualstack = "api.aws.ic.gov"},
  {id = "aws-iso-b", pattern = "^us%-isob%-%w+%-%d+$", dns = "sc2s.sgov.gov", dualstack = "api.aws.scloud"},
  {id = "aws-iso-e", pattern = "^eu%-isoe%-%w+%-%d+$", dns = "cloud.adc-e.uk",
    dualstack = "api.cloud-aws.adc-e.uk"},
  {id = "aws-iso-f", pattern = "^us%-isof%-%w+%-%d+$", dns = "csp.hci.ic.gov",
    dualstack = "api.aws.hci.ic.gov"},
  {id = "aws-eusc", pattern = "^eusc%-de%-%w+%-%d+$", dns = "amazonaws.eu",
    dualstack = "api.amazonwebservices.eu"},
}
-- everything else, as in the SDKs, is the commercial partition
local AWS = {id = "aws", dns = "amazonaws.com", dualstack = "api.aws"}

-- Services whose standard endpoint already is FIPS-validated in these partitions (their rules
-- give the same host with FIPS on).
local FIPS_IS_STANDARD = {
  sqs = {["aws-us-gov"] = true, ["aws-iso"] = true, ["aws-iso-b"] = true, ["aws-iso-f"] = true},
  sts = {["aws-us-gov"] = true},
}

function M.partition(region)
  for _, partition in ipairs(PARTITIONS) do
    if region:match(partition.pattern) then return partition end
  end
  return AWS
end

local function check_url(url, from)
  if type(url) ~= "string" or not url:match("^https?://[^/?#]+") then
    error(errors.new{code = "InvalidEndpoint", message = string.format(
      "%s must be an http or https URL such as http://127.0.0.1:4566, got '%s'", from,
      tostring(url))}, 0)
  end
  return url
end

-- The service's name in variables and [services] sections: its service id, lower snake case.
local function snake_id(service)
  return (service.service_id:lower():gsub("[ -]", "_"))
end

-- The configured endpoint, or nil: botocore's order (the environment's service and global
-- variables, then the profile's services section and endpoint_url), unless
-- AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the profile's ignore_configured_endpoint_urls is true.
local function configured(service, options)
  if config.flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "ignore_configured_endpoint_urls", options) then
    return nil
  end
  local id = snake_id(service)
  for _, name in ipairs{"AWS_ENDPOINT_URL_" .. id:upper(), "AWS_ENDPOINT_URL"} do
    local url = os.getenv(name)
    if url and url ~= "" then return check_url(url, name) end
  end
  local services = config.services(options)
  local own = services[id]
  if type(own) == "table" and own.endpoint_url and own.endpoint_url ~= "" then
    return check_url(own.endpoint_url, string.format("the endpoint_url of %s in the profile's " ..
      "services section", id))
  end
  local settings = config.profile(options)
  if type(settings.endpoint_url) == "string" and settings.endpoint_url ~= "" then
    return check_url(settings.endpoint_url, "the profile's endpoint_url")
  end
end

--- The endpoint URL for service (a table with service_id and endpoint_prefix) in region.
function M.resolve(service, region, options)
  options = options or {}
  if options.endpoint then return check_url(options.endpoint, "the endpoint option") end
  local url = configured(service, options)
  if url then return url end
  local partition = M.partition(region)
  local fips = options.use_fips_endpoint
  if fips == nil then fips = config.flag("AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint", options) end
  local dualstack = options.use_dualstack_endpoint
  if dualstack == nil then
    dualstack = config.flag("AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint", options)
  end
  local prefix = service.endpoint_prefix
  local exempt = FIPS_IS_STANDARD[prefix]
  if fips and not (exempt and exempt[partition.id] and not dualstack) then prefix = prefix .. "-fips" end
  return string.format("https://%s.%s.%s", prefix, region,
    dualstack and partition.dualstack or partition.dns)
end

return M
