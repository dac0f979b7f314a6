-- aws.endpoints: the URL a service's requests go to, and its signing name.
--
-- Order, as the AWS CLI v2 resolves configured endpoints:
--   1. the client's endpoint_url option (`--endpoint-url` for `mnem aws`);
--   2. AWS_ENDPOINT_URL_<SERVICE>, SERVICE being the model's serviceId
--      upper-cased with spaces turned into underscores (AWS_ENDPOINT_URL_RDS,
--      AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS,
--      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2, ...);
--   3. AWS_ENDPOINT_URL;
--   4. in the profile's `services = NAME` section, `<service> = ` with a
--      nested `endpoint_url` (service as serviceId lower-cased, spaces to
--      underscores: `rds`, `secrets_manager`, `cloudwatch_logs`);
--   5. the profile's `endpoint_url`;
--   6. the regional AWS endpoint https://{endpointPrefix}.{region}.amazonaws.com
--      (.amazonaws.com.cn in cn- regions). STS uses its regional endpoint.
-- Steps 2 to 5 are skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the
-- profile's ignore_configured_endpoint_urls is "true".
local aws_config = require("aws.config")

local M = {}

local function service_words(model)
  return model.metadata.serviceId or model.metadata.endpointPrefix
end

--- Returns the suffix of the service's AWS_ENDPOINT_URL_<SERVICE> variable.
function M.env_suffix(model)
  return (service_words(model):upper():gsub("[%s%-]", "_"))
end

--- Returns the service's key inside a config file `[services NAME]` section.
function M.config_key(model)
  return (service_words(model):lower():gsub("[%s%-]", "_"))
end

--- Returns the name requests to the service are signed with.
function M.signing_name(model)
  return model.metadata.signingName or model.metadata.endpointPrefix
end

--- Returns the regional AWS endpoint of the service in REGION. Used only
-- when nothing else is configured: tests must never send to it.
function M.default_url(model, region)
  local suffix = region:match("^cn%-") and "amazonaws.com.cn" or "amazonaws.com"
  return ("https://%s.%s.%s"):format(model.metadata.endpointPrefix, region, suffix)
end

local function truthy(value)
  return type(value) == "string" and value:lower() == "true"
end

--- Returns the endpoint URL for the service of MODEL and where it came
-- from. SETTINGS: { endpoint_url = option or nil, region = string,
-- profile = the profile's settings table or nil, files = what aws.config.load
-- returned or nil }.
function M.resolve(model, settings)
  if settings.endpoint_url then return settings.endpoint_url, "endpoint_url option" end
  local profile = settings.profile or {}
  local ignore = truthy(os.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
    or truthy(profile.ignore_configured_endpoint_urls)
  if not ignore then
    local variable = "AWS_ENDPOINT_URL_" .. M.env_suffix(model)
    local value = os.getenv(variable)
    if value and value ~= "" then return value, variable end
    value = os.getenv("AWS_ENDPOINT_URL")
    if value and value ~= "" then return value, "AWS_ENDPOINT_URL" end
    if type(profile.services) == "string" and settings.files then
      local section = aws_config.services(settings.files, profile.services) or {}
      local entry = section[M.config_key(model)]
      if type(entry) == "table" and entry.endpoint_url then
        return entry.endpoint_url, "services " .. profile.services .. " in the config file"
      end
    end
    if type(profile.endpoint_url) == "string" then
      return profile.endpoint_url, "endpoint_url in the profile"
    end
  end
  return M.default_url(model, settings.region), "default AWS endpoint"
end

--- Splits endpoint URL into scheme, host (with the port when one is
-- given) and base path (without a trailing slash). Raises a string for a
-- URL that is not http(s)://HOST[:PORT][/PATH].
function M.split(url)
  local scheme, authority, path = url:match("^(https?)://([^/?#]+)([^?#]*)$")
  if not scheme then
    error(("invalid endpoint URL %q: expected http(s)://HOST[:PORT][/PATH]"):format(url), 0)
  end
  return scheme, authority, (path:gsub("/+$", ""))
end

return M
