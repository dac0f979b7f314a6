-- Request bodies of aws.protocol.{query,json} against the real AWS CLI.
--
-- A loopback capture server (capture_server.py) records what
-- /usr/bin/aws sends for a call. build_request for the same parameters
-- must produce the same body, Content-Type and X-Amz-Target, byte for byte.
local t = require("t")
local cjson = require("cjson")
local model = require("aws.model")
local protocol = require("aws.protocol")

local ROOT = os.getenv("MNEM_ROOT") or "."
local AWS = "/usr/bin/aws"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function quote(text)
  return "'" .. text:gsub("'", "'\\''") .. "'"
end

-- The capture server, started once for the whole file.
local server = {}

local function start_server()
  local dir = t.tmpdir()
  server.port_file, server.log = dir .. "/port", dir .. "/requests.jsonl"
  local pid_file = dir .. "/pid"
  os.execute(("python3 %s %s %s >%s/server.out 2>&1 & echo $! >%s"):format(
    quote(ROOT .. "/tests/aws/capture_server.py"), quote(server.port_file), quote(server.log), dir, pid_file))
  server.pid = tonumber(t.read_file(pid_file):match("%d+"))
  -- Up to 30 s: a loaded machine can be slow to start Python.
  for _ = 1, 600 do
    if exists(server.port_file) then break end
    os.execute("sleep 0.05")
  end
  server.port = tonumber(t.read_file(server.port_file))
  server.seen = 0
end

-- Runs the AWS CLI with ARGS (already shell-quoted) and returns the request
-- it sent, as recorded by the capture server.
local function cli_request(args)
  local env = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true "
    .. "AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1 "
    .. "AWS_DEFAULT_REGION=us-east-1 AWS_MAX_ATTEMPTS=1 AWS_PAGER="
  os.execute(("env %s %s --endpoint-url http://127.0.0.1:%d %s >/dev/null 2>&1"):format(env, AWS, server.port, args))
  local lines = {}
  for line in io.lines(server.log) do lines[#lines + 1] = line end
  t.eq(#lines, server.seen + 1, "requests recorded by the capture server")
  server.seen = #lines
  return cjson.decode(lines[#lines])
end

local function header(list, name)
  for _, pair in ipairs(list) do
    if pair[1]:lower() == name:lower() then return pair[2] end
  end
  return nil
end

-- Each case: the service, the AWS CLI arguments, the operation and the
-- same parameters as a playbook passes them.
local CASES = {
  {
    "rds", [[rds create-db-instance --db-instance-identifier 'db 1/ü~*' --db-instance-class db.t3.micro
      --engine postgres --allocated-storage 20 --vpc-security-group-ids sg-1 sg-2
      --tags Key=team,Value=ops Key=env,Value=dev --no-multi-az --master-username admin]],
    "CreateDBInstance",
    { DBInstanceIdentifier = "db 1/ü~*", DBInstanceClass = "db.t3.micro", Engine = "postgres",
      AllocatedStorage = 20, VpcSecurityGroupIds = { "sg-1", "sg-2" }, MultiAZ = false,
      Tags = { { Key = "team", Value = "ops" }, { Key = "env", Value = "dev" } }, MasterUsername = "admin" },
  },
  {
    "rds", [[rds describe-db-instances --filters Name=engine,Values=postgres,mysql --no-paginate
      --max-records 20]],
    "DescribeDBInstances",
    { Filters = { { Name = "engine", Values = { "postgres", "mysql" } } }, MaxRecords = 20 },
  },
  {
    "rds", [[rds describe-events --start-time 2024-01-02T03:04:05.5Z --end-time 2024-01-03T00:00:00Z
      --duration 60 --no-paginate]],
    "DescribeEvents",
    { StartTime = "2024-01-02T03:04:05.500Z", EndTime = 1704240000, Duration = 60 },
  },
  {
    "rds", [[rds modify-db-instance --db-instance-identifier db1 --apply-immediately
      --backup-retention-period 7 --db-instance-class db.r6g.large]],
    "ModifyDBInstance",
    { DBInstanceIdentifier = "db1", ApplyImmediately = true, BackupRetentionPeriod = 7,
      DBInstanceClass = "db.r6g.large" },
  },
  {
    "elbv2", [[elbv2 describe-load-balancers --names web-1 web-2 --no-paginate]],
    "DescribeLoadBalancers",
    { Names = { "web-1", "web-2" } },
  },
  {
    "elbv2", [[elbv2 modify-target-group-attributes --target-group-arn
      arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123456789abcdef
      --attributes Key=deregistration_delay.timeout_seconds,Value=30]],
    "ModifyTargetGroupAttributes",
    { TargetGroupArn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123456789abcdef",
      Attributes = { { Key = "deregistration_delay.timeout_seconds", Value = "30" } } },
  },
  { "sts", "sts get-caller-identity", "GetCallerIdentity", {} },
  {
    "ssm", [[ssm put-parameter --name /app/db/password --value 'p"w\ü😀	\t
x' --type SecureString --overwrite]],
    "PutParameter",
    { Name = "/app/db/password", Value = 'p"w\\ü😀\t\\t\nx', Type = "SecureString", Overwrite = true },
  },
  {
    "ssm", [[ssm get-parameters-by-path --path /app --recursive --with-decryption
      --parameter-filters Key=Type,Values=SecureString --no-paginate --max-results 5]],
    "GetParametersByPath",
    { Path = "/app", Recursive = true, WithDecryption = true, MaxResults = 5,
      ParameterFilters = { { Key = "Type", Values = { "SecureString" } } } },
  },
  {
    "ssm", [[ssm send-command --document-name AWS-RunShellScript --instance-ids i-1
      --parameters commands=uptime]],
    "SendCommand",
    { DocumentName = "AWS-RunShellScript", InstanceIds = { "i-1" }, Parameters = { commands = { "uptime" } } },
  },
  {
    "ecs", [[ecs update-service --cluster prod --service web --desired-count 3 --force-new-deployment
      --deployment-configuration maximumPercent=200,minimumHealthyPercent=100]],
    "UpdateService",
    { cluster = "prod", service = "web", desiredCount = 3, forceNewDeployment = true,
      deploymentConfiguration = { maximumPercent = 200, minimumHealthyPercent = 100 } },
  },
  {
    "ecs", [[ecs describe-services --cluster prod --services web worker --include TAGS]],
    "DescribeServices",
    { cluster = "prod", services = { "web", "worker" }, include = { "TAGS" } },
  },
  {
    "logs", [[logs filter-log-events --log-group-name /ecs/web --log-stream-names a b
      --start-time 1704164645000 --filter-pattern ERROR --no-paginate --limit 50]],
    "FilterLogEvents",
    { logGroupName = "/ecs/web", logStreamNames = { "a", "b" }, startTime = 1704164645000,
      filterPattern = "ERROR", limit = 50 },
  },
  {
    "application-autoscaling", [[application-autoscaling put-scheduled-action --service-namespace ecs
      --scheduled-action-name night --resource-id service/prod/web
      --scalable-dimension ecs:service:DesiredCount --start-time 2024-01-02T03:04:05Z
      --scalable-target-action MinCapacity=1,MaxCapacity=3]],
    "PutScheduledAction",
    { ServiceNamespace = "ecs", ScheduledActionName = "night", ResourceId = "service/prod/web",
      ScalableDimension = "ecs:service:DesiredCount", StartTime = "2024-01-02T03:04:05Z",
      ScalableTargetAction = { MinCapacity = 1, MaxCapacity = 3 } },
  },
  {
    "secretsmanager", [[secretsmanager get-secret-value --secret-id prod/db --version-stage AWSCURRENT]],
    "GetSecretValue",
    { SecretId = "prod/db", VersionStage = "AWSCURRENT" },
  },
}

if not exists(AWS) then
  t.test("aws cli comparison", function() t.skip("the AWS CLI is not installed at " .. AWS) end)
  return t.done()
end

start_server()

for _, case in ipairs(CASES) do
  local service, args, operation, params = case[1], case[2], case[3], case[4]
  t.test(("%s %s matches the AWS CLI"):format(service, operation), function()
    local sent = cli_request(args:gsub("%s*\n%s+", " "))
    local m = model.load(service)
    local request = protocol.for_model(m).build_request(m, operation, params)
    t.eq(request.method, sent.method, "method")
    t.eq(request.path, sent.path, "path")
    t.eq(header(request.headers, "Content-Type"), sent.headers["content-type"], "Content-Type")
    t.eq(header(request.headers, "X-Amz-Target"), sent.headers["x-amz-target"], "X-Amz-Target")
    t.eq(request.body, sent.body, "body")
  end)
end

if server.pid then os.execute("kill " .. server.pid .. " 2>/dev/null") end
return t.done()
