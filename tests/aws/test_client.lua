-- The AWS client against a loopback capture server: the requests it sends
-- (compared with what /usr/bin/aws sends for the same call), error
-- responses, validation before sending, the non-raising form, dry-run,
-- secrets and the run record.
local t = require("t")
local helper = require("client_helper")
local aws = require("aws")
local cjson = require("cjson")
local dryrun = require("mnem.dryrun")
local errors = require("mnem.errors")
local record = require("mnem.record")
local secret = require("mnem.secret")
local sigv4 = require("mnem._sigv4")

local server = helper.start()
local client = aws.client{ endpoint_url = server.endpoint, region = "us-east-1", max_attempts = 1,
                           access_key_id = "test", secret_access_key = "test" }

local JSON_HEADERS = { ["Content-Type"] = "application/x-amz-json-1.1", ["x-amzn-RequestId"] = "req-77" }

-- Runs the AWS CLI against the capture server and returns its one request.
local function cli_request(args)
  server:script{}
  local _, err, status = helper.run(helper.aws_cli_env() .. "/usr/bin/aws --endpoint-url " .. server.endpoint
    .. " " .. args)
  local requests = server:requests()
  t.eq(#requests, 1, "the AWS CLI sent one request (status " .. tostring(status) .. ", stderr " .. err .. ")")
  return requests[1]
end

local function mnem_request(call)
  server:script{}
  pcall(call)
  local requests = server:requests()
  t.eq(#requests, 1, "mnem sent one request")
  return requests[1]
end

local function auth_parts(request)
  local auth = request:header("Authorization") or ""
  return {
    algorithm = auth:match("^(%S+)"),
    scope = auth:match("Credential=[^/]+/%d+/([^,]+)"),
    signed_headers = auth:match("SignedHeaders=([^,]+)"),
  }
end

-- Recomputes the request's signature with secret "test" at its own
-- X-Amz-Date and checks that it equals the one sent.
local function check_signature(request, sender)
  local parts = auth_parts(request)
  local region, service = parts.scope:match("^([^/]+)/([^/]+)/aws4_request$")
  local headers = {}
  for name in parts.signed_headers:gmatch("[^;]+") do headers[#headers + 1] = { name, request:header(name) } end
  local signed = sigv4.sign{ method = request.method, path = request.path:match("^[^?]*"), query = "",
                             headers = headers, body = request.body, access_key = "test", secret_key = "test",
                             region = region, service = service, time = request:header("X-Amz-Date") }
  t.eq(signed.signature, request:header("Authorization"):match("Signature=(%x+)"), sender .. " signature verifies")
end

local function compare(cli, ours)
  t.eq(ours.method, cli.method, "method")
  t.eq(ours.path, cli.path, "path")
  t.eq(ours.body, cli.body, "body")
  for _, name in ipairs({ "Content-Type", "X-Amz-Target", "Host" }) do
    t.eq(ours:header(name), cli:header(name), name)
  end
  t.ok(ours:header("X-Amz-Date"):match("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ$"), "X-Amz-Date format")
  t.eq(auth_parts(ours), auth_parts(cli), "Authorization algorithm, scope and SignedHeaders")
  check_signature(cli, "the AWS CLI's")
  check_signature(ours, "mnem's")
end

t.test("json request matches AWS CLI", function()
  local cli = cli_request("ssm get-parameter --name /app/db/host --with-decryption")
  local ours = mnem_request(function() client.ssm.get_parameter{ Name = "/app/db/host", WithDecryption = true } end)
  compare(cli, ours)
end)

t.test("json request with list matches", function()
  local cli = cli_request("ecs describe-services --cluster c1 --services s1 s2")
  local ours = mnem_request(function() client.ecs.describe_services{ cluster = "c1", services = { "s1", "s2" } } end)
  compare(cli, ours)
end)

t.test("query request matches AWS CLI", function()
  local cli = cli_request("sts get-caller-identity")
  local ours = mnem_request(function() client.sts.get_caller_identity{} end)
  compare(cli, ours)
end)

t.test("query request with members matches", function()
  local cli = cli_request("rds describe-db-instances --db-instance-identifier db-1 --max-records 20")
  local ours = mnem_request(function()
    client.rds.describe_db_instances{ DBInstanceIdentifier = "db-1", MaxRecords = 20 }
  end)
  compare(cli, ours)
end)

t.test("json error envelope", function()
  server:script{ { status = 400, headers = JSON_HEADERS,
                   body = '{"__type": "com.amazonaws.ssm#ParameterNotFound", "message": "Parameter /x not found."}' } }
  local ok, err = pcall(client.ssm.get_parameter, { Name = "/x" })
  t.ok(not ok, "the call raised")
  t.ok(errors.is(err), "a mnem.errors value")
  t.eq(err.kind, "aws")
  t.eq(err.code, "ParameterNotFound")
  t.eq(err.message, "Parameter /x not found.")
  t.eq(err.http_status, 400)
  t.eq(err.request_id, "req-77")
  t.eq(err.service, "ssm")
  t.eq(err.operation, "GetParameter")
  t.eq(err.retryable, false)
  local line = tostring(err)
  t.not_contains(line, "\n", "one line")
  t.contains(line, "aws ParameterNotFound: Parameter /x not found.")
end)

t.test("query error envelope", function()
  server:script{ { status = 404, headers = { ["Content-Type"] = "text/xml" }, body = [[<ErrorResponse
 xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>DBInstanceNotFound</Code>
<Message>DBInstance db-9 not found.</Message></Error><RequestId>req-404</RequestId></ErrorResponse>]] } }
  local ok, err = pcall(client.rds.describe_db_instances, { DBInstanceIdentifier = "db-9" })
  t.ok(not ok, "the call raised")
  t.eq(err.code, "DBInstanceNotFound")
  t.eq(err.message, "DBInstance db-9 not found.")
  t.eq(err.http_status, 404)
  t.eq(err.request_id, "req-404")
  t.eq(err.service, "rds")
  t.eq(err.operation, "DescribeDBInstances")
end)

t.test("json success output", function()
  server:script{ { status = 200, headers = JSON_HEADERS,
                   body = '{"Parameter": {"Name": "/a", "Type": "String", "Value": "v1", "Version": 3}}' } }
  local out = client.ssm.get_parameter{ Name = "/a" }
  t.eq(out.Parameter.Value, "v1")
  t.eq(out.Parameter.Version, 3)
end)

t.test("validation before sending", function()
  server:script{}
  t.raises(function() client.rds.describe_db_instances{ DBInstanceIdentifer = "x" } end, "DBInstanceIdentifier")
  t.raises(function() client.ssm.get_parameter{} end, "Name")
  t.raises(function() client.ssm.get_parameter("x") end, "expected a parameter table")
  t.eq(#server:requests(), 0, "the server saw no request")
end)

t.test("unknown operation suggests name", function()
  t.raises(function() return client.rds.describe_db_instance end, "did you mean describe_db_instances?")
  t.raises(function() return client.nosuch end, "unknown service nosuch")
end)

t.test("service names and aliases", function()
  t.ok(client["application-autoscaling"] == client.application_autoscaling, "same service object")
  t.eq(client.application_autoscaling.name, "application-autoscaling")
end)

t.test("try form returns nil and error", function()
  server:script{ { status = 400, headers = JSON_HEADERS, body = '{"__type": "ParameterNotFound", "message": "gone"}' },
                 { status = 400, headers = JSON_HEADERS, body = '{"__type": "ParameterNotFound", "message": "gone"}' } }
  local out, err = client.ssm.try.get_parameter{ Name = "/x" }
  t.eq(out, nil)
  t.eq(err.code, "ParameterNotFound")
  local out2, err2 = aws.try(client.ssm.get_parameter, { Name = "/x" })
  t.eq(out2, nil)
  t.eq(err2.code, "ParameterNotFound")
  t.raises(function() client.ssm.try.get_parameter{ Nmae = "/x" } end, "Nmae", "misuse still raises")
  server:script{}
  local ok_out = client.ssm.try.get_parameter{ Name = "/y" }
  t.ok(type(ok_out) == "table", "success returns the output")
end)

t.test("colon call form", function()
  server:script{}
  local out = client.ssm:describe_parameters{}
  t.ok(type(out) == "table", "output table")
  t.eq(#server:requests(), 1)
end)

t.test("connections are kept alive", function()
  server:script{}
  client.ssm.describe_parameters{}
  client.ssm.describe_parameters{}
  client.logs.describe_log_groups{}
  local requests = server:requests()
  t.eq(#requests, 3)
  t.eq(requests[2].client_port, requests[1].client_port, "same connection")
  t.eq(requests[3].client_port, requests[1].client_port, "shared across services of a client")
end)

t.test("endpoint with base path", function()
  local c = aws.client{ endpoint_url = server.endpoint .. "/base/", region = "eu-west-1",
                        access_key_id = "test", secret_access_key = "test" }
  server:script{}
  c.ssm.describe_parameters{}
  local r = server:requests()[1]
  t.eq(r.path, "/base/")
  t.contains(r:header("Authorization"), "/eu-west-1/ssm/aws4_request")
end)

t.test("session token header", function()
  local c = aws.client{ endpoint_url = server.endpoint, region = "us-east-1",
                        access_key_id = "ASIATEMP", secret_access_key = "temp-secret-1", session_token = "tok-123" }
  server:script{}
  c.ssm.describe_parameters{}
  local r = server:requests()[1]
  t.eq(r:header("X-Amz-Security-Token"), "tok-123")
  t.contains(r:header("Authorization"), "x-amz-security-token")
end)

t.test("connection refused", function()
  local c = aws.client{ endpoint_url = "http://127.0.0.1:9", region = "us-east-1", max_attempts = 1,
                        access_key_id = "test", secret_access_key = "test" }
  local ok, err = pcall(c.sts.get_caller_identity)
  t.ok(not ok, "the call raised")
  t.eq(err.kind, "aws")
  t.eq(err.code, "ConnectionRefused")
  t.eq(err.retryable, true)
  t.eq(err.operation, "GetCallerIdentity")
end)

t.test("dry run skips writes", function()
  server:script{}
  dryrun.set_active(true)
  local ok, result = pcall(function()
    local placeholder = client.ssm.put_parameter{ Name = "/p", Value = "v", Type = "String" }
    local read = client.ssm.describe_parameters{}
    return { placeholder = placeholder, read = read }
  end)
  dryrun.set_active(false)
  t.ok(ok, tostring(result))
  t.ok(dryrun.is_unknown(result.placeholder), "a write returns a placeholder")
  local requests = server:requests()
  t.eq(#requests, 1, "only the read was sent")
  t.eq(requests[1]:header("X-Amz-Target"), "AmazonSSM.DescribeParameters")
end)

t.test("secrets marked and recorded redacted", function()
  local dir = t.tmpdir()
  local rec = record.open{ dir = dir }
  server:script{
    {}, { status = 200, headers = JSON_HEADERS,
          body = '{"Parameter": {"Name": "/s", "Type": "SecureString", "Value": "returned-secret-9"}}' },
    { status = 400, headers = JSON_HEADERS, body = '{"__type": "ParameterNotFound", "message": "gone"}' },
  }
  client.ssm.put_parameter{ Name = "/s", Value = "stored-secret-8", Type = "SecureString" }
  client.ssm.get_parameter{ Name = "/s", WithDecryption = true }
  pcall(client.ssm.get_parameter, { Name = "/missing" })
  rec:close()
  t.ok(secret.is_secret("stored-secret-8"), "SecureString input marked")
  t.ok(secret.is_secret("returned-secret-9"), "SecureString output marked")
  local text = t.read_file(rec.path)
  t.not_contains(text, "stored-secret-8")
  local events = record.read(rec.path)
  local names, statuses = {}, {}
  for _, e in ipairs(events) do
    if e.event == "primitive" then
      names[#names + 1] = e.name
      statuses[#statuses + 1] = e.status
    end
  end
  t.eq(names, { "aws.ssm.put_parameter", "aws.ssm.get_parameter", "aws.ssm.get_parameter" })
  t.eq(statuses, { "ok", "ok", "error" })
  t.contains(text, "ParameterNotFound")
end)

t.test("password members marked", function()
  server:script{}
  pcall(client.rds.modify_db_instance, { DBInstanceIdentifier = "db", MasterUserPassword = "pw-secret-77" })
  t.ok(secret.is_secret("pw-secret-77"), "MasterUserPassword marked secret")
end)

t.test("json body is valid JSON", function()
  server:script{}
  client.logs.filter_log_events{ logGroupName = "/g", startTime = 1700000000000, limit = 5 }
  local body = cjson.decode(server:requests()[1].body)
  t.eq(body.logGroupName, "/g")
  t.eq(body.limit, 5)
end)

t.test("secret outputs are marked", function()
  server:script{
    { status = 200, headers = JSON_HEADERS,
      body = '{"Name": "db", "SecretString": "{\\"password\\": \\"sm-secret-5\\"}", "VersionId": "v1"}' },
  }
  local out = client.secretsmanager.get_secret_value{ SecretId = "db" }
  t.eq(out.SecretString, '{"password": "sm-secret-5"}')
  t.ok(secret.is_secret(out.SecretString), "SecretString marked")
  t.contains(secret.redact("value " .. out.SecretString), secret.MASK)
  t.ok(secret.is_secret("sm-secret-5"), "a field of a JSON SecretString is marked on its own")
  t.eq(secret.redact("password is sm-secret-5"), "password is " .. secret.MASK)
end)

t.test("descriptive secret fields stay readable", function()
  local fields = '{\\"username\\": \\"app_user_91\\", \\"password\\": \\"sm-secret-6\\", '
    .. '\\"engine\\": \\"postgres\\", \\"host\\": \\"db91.example.internal\\", \\"port\\": 5491, '
    .. '\\"dbname\\": \\"app91\\", \\"apiKey\\": \\"sm-key-7\\", '
    .. '\\"extra\\": {\\"host\\": {\\"inner\\": \\"sm-nested-8\\"}}}'
  server:script{
    { status = 200, headers = JSON_HEADERS, body = '{"Name": "db91", "SecretString": "' .. fields .. '"}' },
  }
  local out = client.secretsmanager.get_secret_value{ SecretId = "db91" }
  t.ok(secret.is_secret(out.SecretString), "the whole SecretString is marked")
  t.ok(secret.is_secret("sm-secret-6"), "password marked")
  t.ok(secret.is_secret("sm-key-7"), "a field of any other name marked")
  t.ok(secret.is_secret("sm-nested-8"), "a table under a descriptive name is still walked")
  for _, readable in ipairs({ "app_user_91", "postgres", "db91.example.internal", "5491", "app91" }) do
    t.eq(secret.is_secret(readable), false, readable .. " stays readable")
  end
end)

t.test("random password output is marked", function()
  server:script{ { status = 200, headers = JSON_HEADERS, body = '{"RandomPassword": "rnd-Pw-77-secret"}' } }
  local out = client.secretsmanager.get_random_password{ PasswordLength = 16 }
  t.eq(out.RandomPassword, "rnd-Pw-77-secret")
  t.ok(secret.is_secret("rnd-Pw-77-secret"), "RandomPassword marked")
end)

t.test("default client uses environment", function()
  server:script{}
  helper.with_env({ AWS_ENDPOINT_URL = server.endpoint, AWS_REGION = "eu-central-1", AWS_ACCESS_KEY_ID = "AKDEFAULT",
                    AWS_SECRET_ACCESS_KEY = "default-secret-3" }, function()
    aws.ssm.describe_parameters{}
  end)
  local r = server:requests()[1]
  t.ok(r ~= nil, "the default client sent to AWS_ENDPOINT_URL")
  t.contains(r:header("Authorization"), "Credential=AKDEFAULT/")
  t.contains(r:header("Authorization"), "/eu-central-1/ssm/aws4_request")
  t.ok(aws.default_client() == aws.default_client(), "one default client")
end)

t.test("configure replaces the default client", function()
  server:script{}
  local previous = aws.default_client()
  aws.configure{ endpoint_url = server.endpoint, region = "ap-south-1", access_key_id = "AKCONFIGURED",
                 secret_access_key = "configured-secret-5" }
  aws.ssm.describe_parameters{}
  local r = server:requests()[1]
  t.ok(aws.default_client() ~= previous, "a new default client")
  t.contains(r:header("Authorization"), "Credential=AKCONFIGURED/")
  t.contains(r:header("Authorization"), "/ap-south-1/ssm/aws4_request")
end)

t.test("wait delegates to the waiter", function()
  local function rds_page(status)
    return { status = 200, headers = { ["Content-Type"] = "text/xml" }, body =
      "<DescribeDBInstancesResponse><DescribeDBInstancesResult><DBInstances><DBInstance>"
      .. "<DBInstanceIdentifier>db1</DBInstanceIdentifier><DBInstanceStatus>" .. status
      .. "</DBInstanceStatus></DBInstance></DBInstances></DescribeDBInstancesResult></DescribeDBInstancesResponse>" }
  end
  server:script{ rds_page("creating"), rds_page("available") }
  local log = require("mnem.log")
  log.configure{ level = "warn" }
  local ok, err = pcall(client.rds.wait, "db_instance_available", { DBInstanceIdentifier = "db1" },
    { interval = 0.05, timeout = 30 })
  log.configure{ level = "info" }
  t.ok(ok, tostring(err))
  t.eq(#server:requests(), 2, "polled until available")
  t.contains(server:requests()[2].body, "Action=DescribeDBInstances")
end)

server:stop()
return t.done()
