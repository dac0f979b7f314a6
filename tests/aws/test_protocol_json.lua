-- aws.protocol.json: both directions with real shapes of the ssm, ecs,
-- logs, application-autoscaling and secretsmanager models, and error
-- responses including malformed bodies.
local t = require("t")
local cjson = require("cjson")
local model = require("aws.model")
local json = require("aws.protocol.json")

local ssm = model.load("ssm")
local ecs = model.load("ecs")
local logs = model.load("logs")
local aas = model.load("application-autoscaling")
local secrets = model.load("secretsmanager")

local function header(list, name)
  for _, pair in ipairs(list) do
    if pair[1]:lower() == name:lower() then return pair[2] end
  end
  return nil
end

local function round_trip_request(m, operation, params)
  local request = json.build_request(m, operation, params)
  local headers = {}
  for _, pair in ipairs(request.headers) do headers[pair[1]:lower()] = pair[2] end
  return json.parse_request(m, headers, request.body)
end

local function round_trip_response(m, operation, output)
  local status, headers, body = json.build_response(m, operation, output, "req-1")
  t.eq(status, 200, "status")
  local parsed, request_id = json.parse_response(m, operation, status, headers, body)
  t.eq(request_id, "req-1", "request id")
  return parsed, body
end

-- Client requests ----------------------------------------------------------

t.test("request headers and empty body", function()
  local request = json.build_request(ecs, "list_clusters", nil)
  t.eq(request.method, "POST")
  t.eq(request.path, "/")
  t.eq(header(request.headers, "Content-Type"), "application/x-amz-json-1.1")
  t.eq(header(request.headers, "X-Amz-Target"), "AmazonEC2ContainerServiceV20141113.ListClusters")
  t.eq(request.body, "{}")
end)

t.test("request body in model order", function()
  local request = json.build_request(ssm, "PutParameter",
    { Type = "String", Value = "v", Name = "/n", Overwrite = false })
  t.eq(request.body, '{"Name": "/n", "Value": "v", "Type": "String", "Overwrite": false}')
end)

t.test("request timestamps are whole epoch seconds", function()
  local request = json.build_request(aas, "PutScheduledAction", { ServiceNamespace = "ecs", ScheduledActionName = "a",
    ResourceId = "r", ScalableDimension = "ecs:service:DesiredCount", StartTime = "2024-01-02T03:04:05.900Z" })
  t.contains(request.body, '"StartTime": 1704164645}')
end)

t.test("request blobs are base64", function()
  local request = json.build_request(secrets, "PutSecretValue", { SecretId = "s", SecretBinary = "\0\1\2\255" })
  t.eq(request.body, '{"SecretId": "s", "SecretBinary": "AAEC/w=="}')
end)

-- Round trips through the server side ------------------------------------

t.test("round trip ssm requests", function()
  local params = { Name = "/app/ü", Value = 'a "b"\n\\', Type = "SecureString", Overwrite = true,
    Tags = { { Key = "k", Value = "v" } } }
  local operation, parsed = round_trip_request(ssm, "put_parameter", params)
  t.eq(operation, "PutParameter")
  t.eq(parsed, params)
  local by_path = { Path = "/app", Recursive = true, MaxResults = 10, WithDecryption = true,
    ParameterFilters = { { Key = "Type", Option = "Equals", Values = { "SecureString" } } } }
  local _, parsed_path = round_trip_request(ssm, "GetParametersByPath", by_path)
  t.eq(parsed_path, by_path)
  local send = { DocumentName = "AWS-RunShellScript", InstanceIds = { "i-1" },
    Parameters = { commands = { "uptime", "df -h" }, workingDirectory = { "/" } } }
  local _, parsed_send = round_trip_request(ssm, "SendCommand", send)
  t.eq(parsed_send, send, "map of lists")
end)

t.test("round trip ecs and logs requests", function()
  local update = { cluster = "prod", service = "web", desiredCount = 3, forceNewDeployment = true,
    deploymentConfiguration = { maximumPercent = 200, minimumHealthyPercent = 100,
      deploymentCircuitBreaker = { enable = true, rollback = true } } }
  local _, parsed = round_trip_request(ecs, "UpdateService", update)
  t.eq(parsed, update)
  local filter = { logGroupName = "/ecs/web", startTime = 1704164645000, endTime = 1704164745000,
    filterPattern = "ERROR", limit = 50, logStreamNames = { "a" } }
  local _, parsed_filter = round_trip_request(logs, "FilterLogEvents", filter)
  t.eq(parsed_filter, filter)
  t.eq(math.type(parsed_filter.startTime), "integer", "long stays an integer")
end)

t.test("round trip timestamps, doubles and blobs", function()
  local _, scheduled = round_trip_request(aas, "PutScheduledAction", { ServiceNamespace = "ecs",
    ScheduledActionName = "a", ResourceId = "r", ScalableDimension = "ecs:service:DesiredCount",
    StartTime = 1704164645, ScalableTargetAction = { MinCapacity = 1, MaxCapacity = 3 } })
  t.eq(scheduled.StartTime, "2024-01-02T03:04:05Z")
  local policy = { PolicyName = "p", ServiceNamespace = "ecs", ResourceId = "r",
    ScalableDimension = "ecs:service:DesiredCount", PolicyType = "TargetTrackingScaling",
    TargetTrackingScalingPolicyConfiguration = { TargetValue = 55.5, ScaleInCooldown = 60,
      PredefinedMetricSpecification = { PredefinedMetricType = "ECSServiceAverageCPUUtilization" } } }
  local _, parsed_policy = round_trip_request(aas, "PutScalingPolicy", policy)
  t.eq(parsed_policy, policy)
  local _, secret = round_trip_request(secrets, "PutSecretValue", { SecretId = "s", SecretBinary = "\0bin\255" })
  t.eq(secret.SecretBinary, "\0bin\255")
end)

t.test("parse_request rejects malformed requests", function()
  local cases = {
    { {}, "{}", "UnknownOperationException" },
    { { ["X-Amz-Target"] = "AmazonSSM.NoSuchThing" }, "{}", "UnknownOperationException" },
    { { ["X-Amz-Target"] = "Wrong.GetParameter" }, "{}", "UnknownOperationException" },
    { { ["x-amz-target"] = "AmazonSSM.GetParameter" }, "{not json", "SerializationException" },
    { { ["X-Amz-Target"] = "AmazonSSM.GetParameter" }, "[1, 2]", "SerializationException" },
  }
  for i, case in ipairs(cases) do
    local ok, err = pcall(json.parse_request, ssm, case[1], case[2])
    t.eq(ok, false, "case " .. i)
    t.eq(type(err), "table", "case " .. i)
    t.eq(err.code, case[3], "case " .. i)
    t.eq(err.status, 400, "case " .. i)
  end
  local operation, params = json.parse_request(ssm, { { "X-Amz-Target", "AmazonSSM.GetParameter" } }, "")
  t.eq(operation, "GetParameter", "empty body is an empty object")
  t.eq(params, {})
end)

-- Responses --------------------------------------------------------------

t.test("parse a real-shaped GetParametersByPath", function()
  local body = [[{"NextToken":"t2","Parameters":[{"ARN":"arn:aws:ssm:us-east-1:1:parameter/app/a",
    "DataType":"text","LastModifiedDate":1.704164645123E9,"Name":"/app/a","Type":"String","Value":"x",
    "Version":3,"Selector":null}]}]]
  local output, request_id = json.parse_response(ssm, "GetParametersByPath", 200,
    { ["x-amzn-RequestId"] = "r-7" }, body)
  t.eq(request_id, "r-7")
  t.eq(output.NextToken, "t2")
  local p = output.Parameters[1]
  t.eq(p.LastModifiedDate, "2024-01-02T03:04:05.123Z")
  t.eq(p.Version, 3)
  t.eq(math.type(p.Version), "integer")
  t.eq(p.Selector, nil, "null is dropped")
  t.eq(#output.Parameters, 1)
end)

t.test("parse empty and invalid bodies", function()
  t.eq(json.parse_response(ssm, "DeleteParameter", 200, {}, ""), {})
  t.raises(function() json.parse_response(ssm, "GetParameter", 200, {}, "<html>") end,
    "ssm.GetParameter: invalid JSON response")
end)

t.test("round trip ecs DescribeServices output", function()
  local output = {
    services = { {
      serviceName = "web", status = "ACTIVE", desiredCount = 3, runningCount = 2,
      createdAt = "2024-01-02T03:04:05.250Z",
      deployments = { { id = "d1", status = "PRIMARY", rolloutState = "IN_PROGRESS",
        createdAt = "2024-01-02T03:04:05Z", desiredCount = 3 } },
      loadBalancers = { { targetGroupArn = "arn:tg", containerName = "app", containerPort = 8080 } },
      tags = { { key = "team", value = "ops" } },
    } },
    failures = {},
  }
  local parsed, body = round_trip_response(ecs, "DescribeServices", output)
  t.contains(body, '"createdAt": 1704164645.25')
  t.eq(parsed, output)
end)

t.test("round trip logs, secrets and ssm outputs", function()
  local events = { events = { { logStreamName = "a", timestamp = 1704164645000, message = "ERROR ü\n",
    ingestionTime = 1704164645100, eventId = "e1" } }, nextToken = "n" }
  t.eq((round_trip_response(logs, "FilterLogEvents", events)), events)
  local secret = { ARN = "arn:s", Name = "s", SecretBinary = "\0\1", VersionStages = { "AWSCURRENT" },
    CreatedDate = "2024-01-02T03:04:05Z" }
  local parsed_secret, body = round_trip_response(secrets, "GetSecretValue", secret)
  t.contains(body, '"SecretBinary": "AAE="')
  t.eq(parsed_secret, secret)
  local command = { Command = { CommandId = "c1", Parameters = { commands = { "uptime" } }, InstanceIds = { "i-1" },
    RequestedDateTime = "2024-01-02T03:04:05Z", MaxConcurrency = "50" } }
  t.eq((round_trip_response(ssm, "SendCommand", command)), command)
end)

t.test("response JSON is valid for other readers", function()
  local _, _, body = json.build_response(ssm, "GetParameter", { Parameter = { Name = "/ü", Value = "😀\t",
    Version = 1, LastModifiedDate = 1704164645 } }, "r")
  local decoded = cjson.decode(body)
  t.eq(decoded.Parameter.Name, "/ü")
  t.eq(decoded.Parameter.Value, "😀\t")
  t.eq(decoded.Parameter.LastModifiedDate, 1704164645)
end)

-- Errors -------------------------------------------------------------------

t.test("parse __type with a prefix", function()
  local body = '{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"Parameter /x not found."}'
  t.eq(json.parse_error(ssm, 400, { ["x-amzn-RequestId"] = "e-1" }, body),
    { code = "ParameterNotFound", message = "Parameter /x not found.", request_id = "e-1" })
end)

t.test("parse error type from the header", function()
  local parsed = json.parse_error(ecs, 400, { { "X-Amzn-ErrorType", "ClusterNotFoundException:http://internal/" },
    { "x-amz-request-id", "e-2" } }, '{"Message":"Cluster not found."}')
  t.eq(parsed, { code = "ClusterNotFoundException", message = "Cluster not found.", request_id = "e-2" })
end)

t.test("parse malformed JSON error bodies", function()
  local empty = json.parse_error(ssm, 500, {}, "")
  t.eq(empty.code, "HTTP 500")
  t.contains(empty.message, "empty body")
  local html = json.parse_error(ssm, 503, {}, "<html><body><h1>503 Service Unavailable</h1>\n\1</body></html>")
  t.eq(html.code, "HTTP 503")
  t.contains(html.message, "503 Service Unavailable")
  t.not_contains(html.message, "<h1>")
  t.not_contains(html.message, "\1")
  local broken = json.parse_error(ssm, 400, {}, '{"__type": "Thrott')
  t.eq(broken.code, "HTTP 400")
  local no_code = json.parse_error(ssm, 400, {}, '{"message": "something"}')
  t.eq(no_code, { code = "HTTP 400", message = "something" })
  t.eq(json.parse_error(ssm, nil, nil, nil).code, "UnknownError")
end)

t.test("build_error envelope", function()
  local status, headers, body = json.build_error(ssm, "ParameterNotFound", "Parameter /x not found.", nil, "e-3")
  t.eq(status, 400)
  t.eq(header(headers, "x-amzn-RequestId"), "e-3")
  t.eq(header(headers, "Content-Type"), "application/x-amz-json-1.1")
  t.eq(body, '{"__type": "ParameterNotFound", "message": "Parameter /x not found."}')
  t.eq(json.parse_error(ssm, status, headers, body),
    { code = "ParameterNotFound", message = "Parameter /x not found.", request_id = "e-3" })
  local throttled = json.build_error(ssm, "ThrottlingException", "slow down", 400, "e-4")
  t.eq(throttled, 400)
  t.eq((json.build_error(ssm, "InternalServerError", "boom", 500, "e-5")), 500)
end)

return t.done()
