-- aws.validate: each kind of bad parameter raises one plain message naming
-- the operation, the member path and what was expected.
local t = require("t")
local model = require("aws.model")
local validate = require("aws.validate")

local function rds_instance(extra)
  local params = { DBInstanceIdentifier = "db1", DBInstanceClass = "db.t3.micro", Engine = "postgres" }
  for key, value in pairs(extra or {}) do params[key] = value end
  return params
end

-- Each case: service, operation, params, expected full message.
local CASES = {
  { "rds", "CreateDBInstance", rds_instance({ DBInstanceIdentifer = "x" }),
    "rds.CreateDBInstance: unknown parameter DBInstanceIdentifer (did you mean DBInstanceIdentifier?)" },
  { "rds", "CreateDBInstance", { DBInstanceIdentifier = "db1", DBInstanceClass = "db.t3.micro" },
    "rds.CreateDBInstance: missing required parameter Engine" },
  { "rds", "CreateDBInstance", rds_instance({ Tags = { { Key = "a" }, { Key = 5 } } }),
    "rds.CreateDBInstance: invalid parameter Tags[2].Key: expected a string, got number 5" },
  { "rds", "CreateDBInstance", rds_instance({ Tags = { { Kye = "a" } } }),
    "rds.CreateDBInstance: unknown parameter Tags[1].Kye (did you mean Tags[1].Key?)" },
  { "rds", "CreateDBInstance", rds_instance({ Tags = { Key = "a" } }),
    "rds.CreateDBInstance: invalid parameter Tags: expected a list (array table), got table" },
  { "rds", "CreateDBInstance", rds_instance({ VpcSecurityGroupIds = "sg-1" }),
    "rds.CreateDBInstance: invalid parameter VpcSecurityGroupIds: expected a list (array table), got string \"sg-1\"" },
  { "rds", "CreateDBInstance", rds_instance({ AllocatedStorage = "20" }),
    "rds.CreateDBInstance: invalid parameter AllocatedStorage: expected an integer, got string \"20\"" },
  { "rds", "CreateDBInstance", rds_instance({ AllocatedStorage = 20.5 }),
    "rds.CreateDBInstance: invalid parameter AllocatedStorage: expected an integer, got number 20.5" },
  { "rds", "CreateDBInstance", rds_instance({ MultiAZ = "yes" }),
    "rds.CreateDBInstance: invalid parameter MultiAZ: expected a boolean, got string \"yes\"" },
  { "rds", "DescribeEvents", { StartTime = "yesterday" },
    "rds.DescribeEvents: invalid parameter StartTime: expected a timestamp (ISO-8601 text such as "
      .. "2024-01-31T12:00:00Z, or epoch seconds), got string \"yesterday\"" },
  { "rds", "DescribeEvents", { StartTime = true },
    "rds.DescribeEvents: invalid parameter StartTime: expected a timestamp (ISO-8601 text such as "
      .. "2024-01-31T12:00:00Z, or epoch seconds), got boolean true" },
  { "rds", "DescribeDBInstances", { Filters = { { Name = "engine", Values = { "postgres", 7 } } } },
    "rds.DescribeDBInstances: invalid parameter Filters[1].Values[2]: expected a string, got number 7" },
  { "rds", "DescribeDBInstances", { [1] = "db1" },
    "rds.DescribeDBInstances: invalid parameter (parameters): expected a table with string keys, got key number 1" },
  { "rds", "DescribeDBInstances", "db1",
    "rds.DescribeDBInstances: invalid parameters: expected a table, got string \"db1\"" },
  { "ssm", "PutParameter", { Name = "/a", Value = "b", Type = "Secure" },
    "ssm.PutParameter: invalid parameter Type: \"Secure\" must be one of String, StringList, SecureString" },
  { "ssm", "PutParameter", { Name = "", Value = "b" },
    "ssm.PutParameter: invalid parameter Name: length 0 is below the minimum 1" },
  { "ssm", "PutParameter", { Name = ("n"):rep(2049), Value = "b" },
    "ssm.PutParameter: invalid parameter Name: length 2049 is above the maximum 2048" },
  { "ssm", "GetParametersByPath", { Path = "/a", MaxResults = 70 },
    "ssm.GetParametersByPath: invalid parameter MaxResults: 70 is above the maximum 10" },
  { "ssm", "GetParametersByPath", { Path = "/a", MaxResults = 0 },
    "ssm.GetParametersByPath: invalid parameter MaxResults: 0 is below the minimum 1" },
  { "ssm", "GetParameters", { Names = {} },
    "ssm.GetParameters: invalid parameter Names: length 0 is below the minimum 1" },
  { "ssm", "SendCommand", { DocumentName = "d", Parameters = { commands = "ls" } },
    "ssm.SendCommand: invalid parameter Parameters[\"commands\"]: expected a list (array table), got string \"ls\"" },
  { "ecs", "UpdateService", { service = "web", desiredCount = "3" },
    "ecs.UpdateService: invalid parameter desiredCount: expected an integer, got string \"3\"" },
  { "ecs", "UpdateService", { service = "web", deploymentConfiguration = { maximumPercent = "x" } },
    "ecs.UpdateService: invalid parameter deploymentConfiguration.maximumPercent: "
      .. "expected an integer, got string \"x\"" },
  { "application-autoscaling", "PutScalingPolicy", { PolicyName = "p", ServiceNamespace = "ecs",
      ResourceId = "service/c/s", ScalableDimension = "ecs:service:DesiredCount",
      TargetTrackingScalingPolicyConfiguration = { TargetValue = "50" } },
    "application-autoscaling.PutScalingPolicy: invalid parameter "
      .. "TargetTrackingScalingPolicyConfiguration.TargetValue: expected a number, got string \"50\"" },
  { "logs", "FilterLogEvents", { logGroupName = "g", startTime = -1 },
    "logs.FilterLogEvents: invalid parameter startTime: -1 is below the minimum 0" },
  { "sts", "GetCallerIdentity", { Foo = 1 },
    "sts.GetCallerIdentity: unknown parameter Foo; valid parameters: " },
  { "rds", "DescribeDBInstancez", {},
    "rds: unknown operation DescribeDBInstancez (did you mean DescribeDBInstances?)" },
}

for i, case in ipairs(CASES) do
  local service, operation, params, expected = case[1], case[2], case[3], case[4]
  t.test(("invalid input %d: %s"):format(i, expected:match(": (.-):") or expected), function()
    local m = model.load(service)
    local ok, err = pcall(validate.input, m, operation, params)
    t.eq(ok, false, "raised")
    t.eq(type(err), "string", "error type")
    if expected:sub(-2) == ": " then
      t.contains(err, expected)
    else
      t.eq(err, expected)
    end
  end)
end

t.test("valid inputs pass", function()
  local rds = model.load("rds")
  t.eq(validate.input(rds, "CreateDBInstance", rds_instance({
    AllocatedStorage = 20.0, MultiAZ = false, VpcSecurityGroupIds = { "sg-1" },
    Tags = { { Key = "k", Value = "v" } } })), nil)
  t.eq(validate.input(rds, "describe_events", { StartTime = "2024-01-02T03:04:05Z", EndTime = 1704164645 }), nil)
  t.eq(validate.input(rds, "DescribeDBInstances", {}), nil)
  t.eq(validate.input(rds, "DescribeDBInstances", nil), nil)
  local ssm = model.load("ssm")
  t.eq(validate.input(ssm, "SendCommand", { DocumentName = "d", Parameters = { commands = { "ls" } } }), nil)
  t.eq(validate.input(ssm, "GetParameters", { Names = { "/a" } }), nil)
  local aas = model.load("application-autoscaling")
  t.eq(validate.input(aas, "PutScalingPolicy", { PolicyName = "p", ServiceNamespace = "ecs",
    ResourceId = "service/c/s", ScalableDimension = "ecs:service:DesiredCount",
    TargetTrackingScalingPolicyConfiguration = { TargetValue = 50 } }), nil)
  t.eq(validate.input(model.load("sts"), "GetCallerIdentity", {}), nil)
end)

-- The compiled check (validate.checker) must reject whatever validate.input
-- rejects, and accept the valid inputs, so aws.client can skip the full
-- walk when it returns true.
for i, case in ipairs(CASES) do
  local service, operation, params = case[1], case[2], case[3]
  t.test(("quick check rejects case %d"):format(i), function()
    local passes = validate.checker(model.load(service), operation)
    t.eq(passes(params), false)
  end)
end

t.test("quick check accepts valid inputs", function()
  local rds = model.load("rds")
  local create = validate.checker(rds, "CreateDBInstance")
  t.eq(create(rds_instance({ AllocatedStorage = 20.0, MultiAZ = false, VpcSecurityGroupIds = { "sg-1" },
    Tags = { { Key = "k", Value = "v" } } })), true)
  t.eq(validate.checker(rds, "describe_events")({ StartTime = "2024-01-02T03:04:05Z", EndTime = 1704164645 }), true)
  t.eq(validate.checker(rds, "DescribeDBInstances")({}), true)
  local ssm = model.load("ssm")
  t.eq(validate.checker(ssm, "SendCommand")({ DocumentName = "d", Parameters = { commands = { "ls" } } }), true)
  t.eq(validate.checker(model.load("sts"), "GetCallerIdentity")({}), true)
end)

t.test("quick check leaves placeholders to input", function()
  local placeholder = setmetatable({}, { __index = function() error("must not be read") end })
  local passes = validate.checker(model.load("rds"), "DescribeDBInstances")
  t.eq(passes({ DBInstanceIdentifier = placeholder }), false)
  t.eq(passes({ Filters = placeholder }), false)
end)

t.test("quick check marks secret members", function()
  local secret = require("mnem.secret")
  local rds = model.load("rds")
  local password = "quick-check-password-" .. tostring(os.time())
  t.eq(validate.checker(rds, "CreateDBInstance")(rds_instance({ MasterUserPassword = password })), true)
  t.eq(secret.is_secret(password), true)
  local value = "quick-check-secret-" .. tostring(os.time())
  t.eq(validate.checker(model.load("secretsmanager"), "PutSecretValue")({ SecretId = "s", SecretString = value }),
    true)
  t.eq(secret.is_secret(value), true)
  local client_secret = "quick-check-oidc-" .. tostring(os.time())
  local action = { Type = "authenticate-oidc", Order = 1, AuthenticateOidcConfig = {
    Issuer = "i", AuthorizationEndpoint = "a", TokenEndpoint = "t", UserInfoEndpoint = "u", ClientId = "c",
    ClientSecret = client_secret } }
  t.eq(validate.checker(model.load("elbv2"), "ModifyListener")({ ListenerArn = "arn:l", DefaultActions = { action } }),
    true)
  t.eq(secret.is_secret(client_secret), true, "OIDC client secret")
end)

t.test("patterns are not checked", function()
  -- DBInstanceIdentifier has no published pattern; ssm Name's is skipped
  -- as botocore skips it.
  local ssm = model.load("ssm")
  t.eq(validate.input(ssm, "PutParameter", { Name = "has spaces and ü", Value = "v" }), nil)
end)

return t.done()
