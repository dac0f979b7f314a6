-- Simulated service handlers called directly, with a small world whose
-- clock the test moves by hand. The same behaviour is checked through the
-- AWS CLI in tests/sim/test_svc_*.sh.
local t = require("t")

local SERVICES = { "sts", "rds", "ssm", "ecs", "logs", "elbv2", "application_autoscaling", "secretsmanager" }

local function new_world(scenario)
  scenario = scenario or {}
  local w = { state = {}, account = "123456789012", region = "us-east-1", clock = 1700000000,
              scenario = scenario, credentials = {} }
  local seed = 7
  function w:now() return self.clock end
  function w.random()
    seed = (seed * 48271) % 2147483647
    return seed / 2147483647
  end
  function w.service(_, name) return require("sim.services." .. name) end
  function w:add_credentials(c) self.credentials[#self.credentials + 1] = c end
  for _, name in ipairs(SERVICES) do require("sim.services." .. name).init(w, scenario[name]) end
  return w
end

local function call(w, service, op, input, headers)
  local ctx = {
    world = w, region = "us-east-1", account = w.account, request_id = "req-1", operation = op,
    request = { headers = headers or { authorization = "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/x/"
      .. "aws4_request" } },
    fail = function(code, message, status)
      error(setmetatable({ code = code, message = message, status = status or 400 },
        { __tostring = function(e) return e.code .. ": " .. e.message end }), 0)
    end,
  }
  return require("sim.services." .. service).operations[op](ctx, input or {})
end

local function call_error(w, service, op, input)
  local ok, err = pcall(call, w, service, op, input)
  t.ok(not ok, op .. " should fail")
  return err
end

local PG_INPUT = { DBInstanceIdentifier = "db1", DBInstanceClass = "db.t4g.micro", Engine = "postgres",
                   AllocatedStorage = 20, StorageType = "gp3", MasterUsername = "admin",
                   MasterUserPassword = "Secret-pw-1" }

t.test("rds create walks every phase", function()
  local w = new_world()
  local db = call(w, "rds", "CreateDBInstance", PG_INPUT).DBInstance
  t.eq(db.DBInstanceStatus, "creating")
  t.eq(db.Iops, 3000)
  t.eq(db.StorageThroughput, 125)
  t.eq(db.Endpoint, nil, "no endpoint while creating")
  w.clock = w.clock + 301
  t.eq(call(w, "rds", "DescribeDBInstances", { DBInstanceIdentifier = "db1" }).DBInstances[1].DBInstanceStatus,
    "backing-up")
  w.clock = w.clock + 120
  t.eq(call(w, "rds", "DescribeDBInstances", {}).DBInstances[1].DBInstanceStatus, "modifying")
  w.clock = w.clock + 90
  local ready = call(w, "rds", "DescribeDBInstances", {}).DBInstances[1]
  t.eq(ready.DBInstanceStatus, "available")
  t.contains(ready.Endpoint.Address, "db1.cabcdefghijk.us-east-1.rds.amazonaws.com")
  t.eq(ready.Endpoint.Port, 5432)
end)

t.test("rds validation errors", function()
  local w = new_world()
  local with_iops = {}
  for k, v in pairs(PG_INPUT) do with_iops[k] = v end
  with_iops.Iops = 3000
  local e = call_error(w, "rds", "CreateDBInstance", with_iops)
  t.eq(e.code, "InvalidParameterCombination")
  t.contains(e.message, "less than 400")
  call(w, "rds", "CreateDBInstance", PG_INPUT)
  t.eq(call_error(w, "rds", "CreateDBInstance", PG_INPUT).code, "DBInstanceAlreadyExists")
  e = call_error(w, "rds", "DescribeDBInstances", { DBInstanceIdentifier = "nope" })
  t.eq(e.code, "DBInstanceNotFound")
  t.eq(e.status, 404)
  t.eq(e.message, "DBInstance nope not found.")
  t.eq(call_error(w, "rds", "ModifyDBInstance", { DBInstanceIdentifier = "db1", AllocatedStorage = 30 }).code,
    "InvalidDBInstanceState")
  local bad_engine = { DBInstanceIdentifier = "db3", DBInstanceClass = "db.t4g.micro", Engine = "postgress",
                       AllocatedStorage = 20, MasterUsername = "a", MasterUserPassword = "Secret-pw-1" }
  t.eq(call_error(w, "rds", "CreateDBInstance", bad_engine).code, "InvalidParameterValue")
  local bad_group = { DBInstanceIdentifier = "db4", DBInstanceClass = "db.t4g.micro", Engine = "postgres",
                      AllocatedStorage = 20, MasterUsername = "a", MasterUserPassword = "Secret-pw-1",
                      DBSubnetGroupName = "missing" }
  t.eq(call_error(w, "rds", "CreateDBInstance", bad_group).code, "DBSubnetGroupNotFoundFault")
end)

t.test("rds modify and protected delete", function()
  local w = new_world({ rds = { instances = { { identifier = "old", engine = "postgres", class = "db.t4g.small",
                                                allocated_storage = 50, storage_type = "gp3",
                                                master_username = "admin", deletion_protection = true } } } })
  local db = call(w, "rds", "ModifyDBInstance", { DBInstanceIdentifier = "old", DBInstanceClass = "db.t4g.large",
                                                  ApplyImmediately = true }).DBInstance
  t.eq(db.DBInstanceStatus, "modifying")
  t.eq(db.PendingModifiedValues.DBInstanceClass, "db.t4g.large")
  t.eq(db.DBInstanceClass, "db.t4g.small")
  w.clock = w.clock + 91
  db = call(w, "rds", "DescribeDBInstances", { DBInstanceIdentifier = "old" }).DBInstances[1]
  t.eq(db.DBInstanceStatus, "available")
  t.eq(db.DBInstanceClass, "db.t4g.large")
  local e = call_error(w, "rds", "DeleteDBInstance", { DBInstanceIdentifier = "old", SkipFinalSnapshot = true })
  t.eq(e.message, "Cannot delete protected DB Instance, please disable deletion protection and try again.")
  call(w, "rds", "ModifyDBInstance", { DBInstanceIdentifier = "old", DeletionProtection = false })
  t.eq(call(w, "rds", "DeleteDBInstance", { DBInstanceIdentifier = "old", SkipFinalSnapshot = true })
    .DBInstance.DBInstanceStatus, "deleting")
  w.clock = w.clock + 61
  t.eq(call_error(w, "rds", "DescribeDBInstances", { DBInstanceIdentifier = "old" }).code, "DBInstanceNotFound")
end)

t.test("ssm securestring stays encrypted", function()
  local w = new_world()
  call(w, "ssm", "PutParameter", { Name = "/a/pw", Value = "hunter2-pw", Type = "SecureString" })
  local p = call(w, "ssm", "GetParameter", { Name = "/a/pw" }).Parameter
  t.ok(p.Value ~= "hunter2-pw", "value is not the plain text")
  t.not_contains(p.Value, "hunter2")
  t.ok(require("sim.services.common").unbase64(p.Value) ~= nil, "value is base64")
  t.eq(call(w, "ssm", "GetParameter", { Name = "/a/pw", WithDecryption = true }).Parameter.Value, "hunter2-pw")
  t.ok(require("mnem.secret").is_secret("hunter2-pw"), "plain value marked secret")
end)

t.test("ssm versions and errors", function()
  local w = new_world()
  t.eq(call(w, "ssm", "PutParameter", { Name = "/a/b", Value = "1", Type = "String" }).Version, 1)
  t.eq(call_error(w, "ssm", "PutParameter", { Name = "/a/b", Value = "2", Type = "String" }).code,
    "ParameterAlreadyExists")
  t.eq(call(w, "ssm", "PutParameter", { Name = "/a/b", Value = "2", Overwrite = true }).Version, 2)
  t.eq(call(w, "ssm", "GetParameter", { Name = "/a/b:1" }).Parameter.Value, "1")
  t.eq(call_error(w, "ssm", "GetParameter", { Name = "/nope" }).code, "ParameterNotFound")
  local got = call(w, "ssm", "GetParameters", { Names = { "/a/b", "/nope" } })
  t.eq(#got.Parameters, 1)
  t.eq(got.InvalidParameters, { "/nope" })
  call(w, "ssm", "DeleteParameter", { Name = "/a/b" })
  t.eq(call_error(w, "ssm", "DeleteParameter", { Name = "/a/b" }).code, "ParameterNotFound")
end)

t.test("ssm by path pages and recursion", function()
  local w = new_world()
  for i = 1, 12 do call(w, "ssm", "PutParameter", { Name = ("/app/p%02d"):format(i), Value = "v", Type = "String" }) end
  call(w, "ssm", "PutParameter", { Name = "/app/deep/x", Value = "v", Type = "String" })
  local first = call(w, "ssm", "GetParametersByPath", { Path = "/app", MaxResults = 10 })
  t.eq(#first.Parameters, 10)
  t.ok(first.NextToken, "a next token")
  local second = call(w, "ssm", "GetParametersByPath", { Path = "/app", NextToken = first.NextToken })
  t.eq(#second.Parameters, 2)
  t.eq(second.NextToken, nil)
  local all = call(w, "ssm", "GetParametersByPath", { Path = "/app/", Recursive = true, MaxResults = 10 })
  local again = call(w, "ssm", "GetParametersByPath", { Path = "/app/", Recursive = true, NextToken = all.NextToken })
  t.eq(#all.Parameters + #again.Parameters, 13)
  local typed = call(w, "ssm", "DescribeParameters", { ParameterFilters = { { Key = "Name", Option = "BeginsWith",
                                                                             Values = { "/app/deep" } } } })
  t.eq(#typed.Parameters, 1)
end)

local function put_events(w, stream, messages)
  local events = {}
  for i, m in ipairs(messages) do events[i] = { timestamp = w.clock * 1000 + i, message = m } end
  call(w, "logs", "PutLogEvents", { logGroupName = "/g", logStreamName = stream, logEvents = events })
end

t.test("logs get events both directions", function()
  local w = new_world()
  call(w, "logs", "CreateLogGroup", { logGroupName = "/g" })
  call(w, "logs", "CreateLogStream", { logGroupName = "/g", logStreamName = "s" })
  put_events(w, "s", { "e1", "e2", "e3", "e4", "e5" })
  local tail = call(w, "logs", "GetLogEvents", { logGroupName = "/g", logStreamName = "s", limit = 2 })
  t.eq(tail.events[1].message, "e4")
  t.eq(tail.events[2].message, "e5")
  t.ok(tail.nextForwardToken:match("^f/%d+/s$"), "forward token shape")
  local back = call(w, "logs", "GetLogEvents", { logGroupName = "/g", logStreamName = "s", limit = 2,
                                                 nextToken = tail.nextBackwardToken })
  t.eq(back.events[1].message, "e2")
  local head = call(w, "logs", "GetLogEvents", { logGroupName = "/g", logStreamName = "s", startFromHead = true,
                                                 limit = 3 })
  t.eq(head.events[1].message, "e1")
  local rest = call(w, "logs", "GetLogEvents", { logGroupName = "/g", logStreamName = "s",
                                                 nextToken = head.nextForwardToken })
  t.eq(#rest.events, 2)
  local at_end = call(w, "logs", "GetLogEvents", { logGroupName = "/g", logStreamName = "s",
                                                   nextToken = rest.nextForwardToken })
  t.eq(#at_end.events, 0)
  t.eq(at_end.nextForwardToken, rest.nextForwardToken, "same token at the end")
  t.eq(call_error(w, "logs", "GetLogEvents", { logGroupName = "/g", logStreamName = "x" }).code,
    "ResourceNotFoundException")
end)

t.test("logs filter patterns", function()
  local w = new_world()
  call(w, "logs", "CreateLogGroup", { logGroupName = "/g" })
  call(w, "logs", "CreateLogStream", { logGroupName = "/g", logStreamName = "a" })
  call(w, "logs", "CreateLogStream", { logGroupName = "/g", logStreamName = "b" })
  put_events(w, "a", { "ERROR db down", "INFO all good", "WARN slow query" })
  put_events(w, "b", { "ERROR schema \"x\" does not exist", "ERROR timeout" })
  local function count(pattern)
    return #call(w, "logs", "FilterLogEvents", { logGroupName = "/g", filterPattern = pattern }).events
  end
  t.eq(count(""), 5)
  t.eq(count("ERROR"), 3)
  t.eq(count("ERROR db"), 1)
  t.eq(count("ERROR -timeout"), 2)
  t.eq(count("?WARN ?INFO"), 2)
  t.eq(count('"does not exist"'), 1)
  local limited = call(w, "logs", "FilterLogEvents", { logGroupName = "/g", limit = 2 })
  t.eq(#limited.events, 2)
  local more = call(w, "logs", "FilterLogEvents", { logGroupName = "/g", nextToken = limited.nextToken })
  t.eq(#more.events, 3)
end)

local function ecs_scenario(health, cb)
  return {
    ecs = {
      clusters = { "c" },
      task_definitions = { { family = "api", revision = 41, containerDefinitions = { {
        name = "api", image = "api:1", portMappings = { { containerPort = 8000 } },
        logConfiguration = { logDriver = "awslogs", options = { ["awslogs-group"] = "/ecs/api",
                                                                ["awslogs-stream-prefix"] = "ecs" } } } } } },
      services = { api = { cluster = "c", task_definition = "api:41", desired = 1, target_group = "api-tg",
                           circuit_breaker = cb, health = health } },
    },
    elbv2 = { target_groups = { { name = "api-tg", port = 8000 } },
              load_balancers = { { name = "api-alb", listeners = { { port = 80, target_group = "api-tg" } } } } },
  }
end

local function select_status_body(status, _, body)
  return status, body
end

local function describe_service(w)
  return call(w, "ecs", "DescribeServices", { cluster = "c", services = { "api" } }).services[1]
end

t.test("ecs crash then heal", function()
  local healthy = false
  local w = new_world(ecs_scenario(function() return healthy, "not yet" end))
  local svc = describe_service(w)
  t.eq(svc.runningCount, 1)
  w.clock = w.clock + 11
  local stopped = call(w, "ecs", "ListTasks", { cluster = "c", serviceName = "api", desiredStatus = "STOPPED" })
  t.eq(#stopped.taskArns, 1)
  local task = call(w, "ecs", "DescribeTasks", { cluster = "c", tasks = stopped.taskArns }).tasks[1]
  t.eq(task.stopCode, "EssentialContainerExited")
  t.eq(task.stoppedReason, "Essential container in task exited")
  t.eq(task.containers[1].exitCode, 1)
  t.eq(task.group, "service:api")
  local id = task.taskArn:match("/(%x+)$")
  local logs = call(w, "logs", "GetLogEvents", { logGroupName = "/ecs/api", logStreamName = "ecs/api/" .. id })
  t.contains(logs.events[#logs.events].message, "RuntimeError")
  local lb = require("sim.services.elbv2")
  local status = lb.listener_request({ world = w }, { load_balancer = "api-alb", port = 80 }, { path = "/health/" })
  t.eq(status, 503)
  healthy = true
  w.clock = w.clock + 60
  svc = describe_service(w)
  t.eq(svc.runningCount, 1)
  t.contains(svc.events[1].message, "has reached a steady state")
  local body
  status, body = select_status_body(lb.listener_request({ world = w }, { load_balancer = "api-alb", port = 80 },
    { path = "/health/" }))
  t.eq(status, 200)
  t.eq(body, '{"status":"ok"}')
  local tg = call(w, "elbv2", "DescribeTargetGroups", { Names = { "api-tg" } }).TargetGroups[1]
  local th = call(w, "elbv2", "DescribeTargetHealth", { TargetGroupArn = tg.TargetGroupArn })
  t.eq(th.TargetHealthDescriptions[1].TargetHealth.State, "healthy")
end)

t.test("ecs circuit breaker rolls back", function()
  local w = new_world(ecs_scenario(function(info) return info.task_definition:find(":41$") ~= nil end,
    { enable = true, rollback = true }))
  call(w, "ecs", "RegisterTaskDefinition", { family = "api", containerDefinitions = { { name = "api",
                                                                                          image = "api:2" } } })
  local svc = call(w, "ecs", "UpdateService", { cluster = "c", service = "api", taskDefinition = "api:42" }).service
  t.eq(#svc.deployments, 2)
  t.eq(svc.deployments[1].rolloutState, "IN_PROGRESS")
  local failed_id = svc.deployments[1].id
  w.clock = w.clock + 600
  svc = describe_service(w)
  t.eq(svc.deployments[1].status, "PRIMARY")
  t.ok(svc.deployments[1].id ~= failed_id, "the previous deployment is primary again")
  t.contains(svc.taskDefinition, "api:41")
  local text = {}
  for _, e in ipairs(svc.events) do text[#text + 1] = e.message end
  t.contains(table.concat(text, "\n"), "deployment failed: tasks failed to start.")
end)

t.test("ecs circuit breaker without rollback", function()
  local w = new_world(ecs_scenario("unhealthy", { enable = true, rollback = false }))
  call(w, "ecs", "UpdateService", { cluster = "c", service = "api", forceNewDeployment = true })
  w.clock = w.clock + 600
  local d = describe_service(w).deployments[1]
  t.eq(d.rolloutState, "FAILED")
  t.eq(d.failedTasks, 3)
  t.eq(d.rolloutStateReason, "ECS deployment circuit breaker: tasks failed to start.")
end)

t.test("sts assume role", function()
  local w = new_world()
  local id = call(w, "sts", "GetCallerIdentity")
  t.eq(id.Account, "123456789012")
  t.eq(id.Arn, "arn:aws:iam::123456789012:user/mnem-sim")
  local out = call(w, "sts", "AssumeRole", { RoleArn = "arn:aws:iam::123456789012:role/ops", RoleSessionName = "s1" })
  t.ok(out.Credentials.AccessKeyId:match("^ASIA"), "ASIA key")
  t.eq(w.credentials[1].access_key_id, out.Credentials.AccessKeyId)
  local as_role = call(w, "sts", "GetCallerIdentity", nil, { authorization = "AWS4-HMAC-SHA256 Credential="
    .. out.Credentials.AccessKeyId .. "/20240101/us-east-1/sts/aws4_request" })
  t.eq(as_role.Arn, "arn:aws:sts::123456789012:assumed-role/ops/s1")
end)

t.test("secrets manager stages", function()
  local w = new_world()
  call(w, "secretsmanager", "CreateSecret", { Name = "app/db", SecretString = "one" })
  call(w, "secretsmanager", "PutSecretValue", { SecretId = "app/db", SecretString = "two" })
  t.eq(call(w, "secretsmanager", "GetSecretValue", { SecretId = "app/db" }).SecretString, "two")
  t.eq(call(w, "secretsmanager", "GetSecretValue", { SecretId = "app/db", VersionStage = "AWSPREVIOUS" })
    .SecretString, "one")
  t.eq(call_error(w, "secretsmanager", "GetSecretValue", { SecretId = "nope" }).code, "ResourceNotFoundException")
  t.eq(call_error(w, "secretsmanager", "CreateSecret", { Name = "app/db", SecretString = "x" }).code,
    "ResourceExistsException")
end)

t.test("autoscaling register and deregister", function()
  local w = new_world()
  local key = { ServiceNamespace = "ecs", ResourceId = "service/c/api", ScalableDimension = "ecs:service:DesiredCount" }
  t.eq(call_error(w, "application_autoscaling", "RegisterScalableTarget", key).code, "ValidationException")
  local input = { MinCapacity = 1, MaxCapacity = 3 }
  for k, v in pairs(key) do input[k] = v end
  t.eq(next(call(w, "application_autoscaling", "RegisterScalableTarget", input)), nil,
    "the embedded model's RegisterScalableTarget output has no members")
  local targets = call(w, "application_autoscaling", "DescribeScalableTargets", { ServiceNamespace = "ecs" })
    .ScalableTargets
  t.eq(#targets, 1)
  local members = require("aws.model").load("application-autoscaling").shapes.ScalableTarget.members
  for name in pairs(targets[1]) do t.ok(members[name] ~= nil, name .. " is a ScalableTarget member of the model") end
  call(w, "application_autoscaling", "DeregisterScalableTarget", key)
  t.eq(call_error(w, "application_autoscaling", "DeregisterScalableTarget", key).code, "ObjectNotFoundException")
end)

return t.done()
