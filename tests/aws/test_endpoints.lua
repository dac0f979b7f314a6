-- Endpoint resolution: options, per-service and global variables, the
-- config file, and the default AWS endpoints (resolved, never contacted).
local t = require("t")
local helper = require("client_helper")
local aws_config = require("aws.config")
local endpoints = require("aws.endpoints")
local model = require("aws.model")

local CLEAR = { AWS_ENDPOINT_URL = false, AWS_ENDPOINT_URL_RDS = false, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = false }

local function resolve(service, settings)
  settings.region = settings.region or "us-east-1"
  return endpoints.resolve(model.load(service), settings)
end

t.test("env suffix of every service", function()
  local expected = {
    rds = "RDS", ssm = "SSM", ecs = "ECS", logs = "CLOUDWATCH_LOGS", elbv2 = "ELASTIC_LOAD_BALANCING_V2",
    ["application-autoscaling"] = "APPLICATION_AUTO_SCALING", sts = "STS", secretsmanager = "SECRETS_MANAGER",
  }
  for service, suffix in pairs(expected) do
    t.eq(endpoints.env_suffix(model.load(service)), suffix, service)
  end
end)

t.test("config key of services", function()
  t.eq(endpoints.config_key(model.load("secretsmanager")), "secrets_manager")
  t.eq(endpoints.config_key(model.load("logs")), "cloudwatch_logs")
end)

t.test("signing names", function()
  t.eq(endpoints.signing_name(model.load("elbv2")), "elasticloadbalancing")
  t.eq(endpoints.signing_name(model.load("application-autoscaling")), "application-autoscaling")
  t.eq(endpoints.signing_name(model.load("logs")), "logs")
end)

t.test("default endpoints by region", function()
  helper.with_env(CLEAR, function()
    t.eq(resolve("rds", { region = "eu-west-1" }), "https://rds.eu-west-1.amazonaws.com")
    t.eq(resolve("sts", { region = "eu-west-1" }), "https://sts.eu-west-1.amazonaws.com")
    t.eq(resolve("elbv2", { region = "us-east-2" }), "https://elasticloadbalancing.us-east-2.amazonaws.com")
    t.eq(resolve("ssm", { region = "cn-north-1" }), "https://ssm.cn-north-1.amazonaws.com.cn")
  end)
end)

t.test("option beats every variable", function()
  helper.with_env({ AWS_ENDPOINT_URL = "http://127.0.0.1:1", AWS_ENDPOINT_URL_RDS = "http://127.0.0.1:2" }, function()
    local url, source = resolve("rds", { endpoint_url = "http://127.0.0.1:3" })
    t.eq(url, "http://127.0.0.1:3")
    t.eq(source, "endpoint_url option")
  end)
end)

t.test("service variable beats global", function()
  helper.with_env({ AWS_ENDPOINT_URL = "http://127.0.0.1:1", AWS_ENDPOINT_URL_RDS = "http://127.0.0.1:2" }, function()
    t.eq(resolve("rds", {}), "http://127.0.0.1:2")
    t.eq(resolve("ssm", {}), "http://127.0.0.1:1")
  end)
  helper.with_env({ AWS_ENDPOINT_URL_SECRETS_MANAGER = "http://127.0.0.1:4", AWS_ENDPOINT_URL = false }, function()
    t.eq(resolve("secretsmanager", {}), "http://127.0.0.1:4")
  end)
end)

t.test("config file services section", function()
  local files = {
    config = aws_config.parse([[
[profile ops]
services = local
endpoint_url = http://127.0.0.1:7

[services local]
rds =
  endpoint_url = http://127.0.0.1:6
cloudwatch_logs =
  endpoint_url = http://127.0.0.1:5
]], "config"),
    credentials = {}, config_path = "config", credentials_path = "credentials",
  }
  local profile = aws_config.profile(files, "ops")
  helper.with_env(CLEAR, function()
    t.eq(resolve("rds", { profile = profile, files = files }), "http://127.0.0.1:6")
    t.eq(resolve("logs", { profile = profile, files = files }), "http://127.0.0.1:5")
    t.eq(resolve("ssm", { profile = profile, files = files }), "http://127.0.0.1:7", "profile endpoint_url")
  end)
  helper.with_env({ AWS_ENDPOINT_URL = "http://127.0.0.1:8", AWS_ENDPOINT_URL_RDS = false }, function()
    t.eq(resolve("rds", { profile = profile, files = files }), "http://127.0.0.1:8", "variable beats the file")
  end)
  helper.with_env({ AWS_ENDPOINT_URL = "http://127.0.0.1:8", AWS_ENDPOINT_URL_RDS = false,
                    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "true" }, function()
    t.eq(resolve("rds", { profile = profile, files = files }), "https://rds.us-east-1.amazonaws.com",
      "ignore configured endpoints")
  end)
end)

t.test("split endpoint URL", function()
  local scheme, authority, path = endpoints.split("http://127.0.0.1:4566/base/")
  t.eq(scheme, "http")
  t.eq(authority, "127.0.0.1:4566")
  t.eq(path, "/base")
  t.raises(function() endpoints.split("127.0.0.1:4566") end, "invalid endpoint URL")
end)

return t.done()
