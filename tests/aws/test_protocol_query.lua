-- aws.protocol.query: both directions with real shapes of the rds, elbv2
-- and sts models: client requests read back by the server side, server
-- responses read back by the client side, hand-written AWS responses, and
-- error envelopes including malformed bodies.
local t = require("t")
local model = require("aws.model")
local query = require("aws.protocol.query")

local rds = model.load("rds")
local elbv2 = model.load("elbv2")
local sts = model.load("sts")

local function header(list, name)
  for _, pair in ipairs(list) do
    if pair[1]:lower() == name:lower() then return pair[2] end
  end
  return nil
end

local function round_trip_request(m, operation, params)
  local request = query.build_request(m, operation, params)
  return query.parse_request(m, request.headers, request.body)
end

local function round_trip_response(m, operation, output)
  local status, headers, body = query.build_response(m, operation, output, "req-1")
  t.eq(status, 200, "status")
  local parsed, request_id = query.parse_response(m, operation, status, headers, body)
  t.eq(request_id, "req-1", "request id")
  return parsed, body
end

-- A deep copy of model M in which the member SHAPE.MEMBER is flattened, for
-- the flattened-list and flattened-map paths no built-in query model uses.
local function flattened_variant(m, shape_name, member_name)
  local copy = setmetatable({}, getmetatable(m))
  for key, value in pairs(m) do copy[key] = value end
  copy.shapes = setmetatable({}, { __index = m.shapes })
  local shape = {}
  for key, value in pairs(m.shapes[shape_name]) do shape[key] = value end
  shape.members = {}
  for name, ref in pairs(m.shapes[shape_name].members) do shape.members[name] = ref end
  local ref = {}
  for key, value in pairs(shape.members[member_name]) do ref[key] = value end
  ref.flattened = true
  shape.members[member_name] = ref
  copy.shapes[shape_name] = shape
  return copy
end

-- Client requests --------------------------------------------------------------

t.test("request headers and framing", function()
  local request = query.build_request(rds, "describe_db_instances", {})
  t.eq(request.method, "POST")
  t.eq(request.path, "/")
  t.eq(header(request.headers, "Content-Type"), "application/x-www-form-urlencoded; charset=utf-8")
  t.eq(request.body, "Action=DescribeDBInstances&Version=2014-10-31")
end)

t.test("request body encodes like quote_plus", function()
  local request = query.build_request(rds, "DescribeDBInstances", { DBInstanceIdentifier = "a b+c/d~e_f.g-h&=%" })
  t.eq(request.body,
    "Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier=a+b%2Bc%2Fd~e_f.g-h%26%3D%25")
end)

t.test("request lists use locationName", function()
  local request = query.build_request(rds, "CreateDBInstance", {
    DBInstanceIdentifier = "db1", DBInstanceClass = "db.t3.micro", Engine = "postgres",
    VpcSecurityGroupIds = { "sg-1", "sg-2" }, Tags = { { Key = "k", Value = "v" } } })
  t.contains(request.body,
    "&VpcSecurityGroupIds.VpcSecurityGroupId.1=sg-1&VpcSecurityGroupIds.VpcSecurityGroupId.2=sg-2")
  t.contains(request.body, "&Tags.Tag.1.Key=k&Tags.Tag.1.Value=v")
end)

t.test("request empty list is sent empty", function()
  local request = query.build_request(elbv2, "DescribeLoadBalancers", { Names = {} })
  t.eq(request.body, "Action=DescribeLoadBalancers&Version=2015-12-01&Names=")
  local _, params = query.parse_request(elbv2, request.headers, request.body)
  t.eq(params, { Names = {} })
end)

t.test("request timestamps are ISO-8601", function()
  local request = query.build_request(rds, "DescribeEvents",
    { StartTime = 1704164645, EndTime = "2024-01-02T05:04:05+02:00" })
  t.eq(request.body, "Action=DescribeEvents&Version=2014-10-31&StartTime=2024-01-02T03%3A04%3A05Z"
    .. "&EndTime=2024-01-02T03%3A04%3A05Z")
end)

-- Round trips through the server side ------------------------------------

t.test("round trip rds CreateDBInstance", function()
  local params = {
    DBInstanceIdentifier = "db 1/ü", DBInstanceClass = "db.t3.micro", Engine = "postgres",
    AllocatedStorage = 20, MultiAZ = false, PubliclyAccessible = true, Port = 5432,
    VpcSecurityGroupIds = { "sg-1", "sg-2" },
    Tags = { { Key = "team", Value = "ops & dev" }, { Key = "empty", Value = "" } },
  }
  local operation, parsed = round_trip_request(rds, "create_db_instance", params)
  t.eq(operation, "CreateDBInstance")
  t.eq(parsed, params)
  t.eq(math.type(parsed.AllocatedStorage), "integer", "integer stays an integer")
end)

t.test("round trip nested lists and doubles", function()
  local params = {
    DBClusterIdentifier = "c1",
    ServerlessV2ScalingConfiguration = { MinCapacity = 0.5, MaxCapacity = 16.0 },
    CloudwatchLogsExportConfiguration = { EnableLogTypes = { "postgresql" }, DisableLogTypes = {} },
  }
  local _, parsed = round_trip_request(rds, "ModifyDBCluster", params)
  t.eq(parsed, params)
  t.eq(math.type(parsed.ServerlessV2ScalingConfiguration.MaxCapacity), "float")
  local _, filters = round_trip_request(rds, "DescribeDBInstances",
    { Filters = { { Name = "engine", Values = { "postgres" } }, { Name = "db-instance-id", Values = { "a", "b" } } } })
  t.eq(filters.Filters[2].Values, { "a", "b" })
  t.eq(filters.Filters[1].Values, { "postgres" }, "a one-element list is still a list")
end)

t.test("round trip timestamps", function()
  local _, parsed = round_trip_request(rds, "DescribeEvents",
    { StartTime = "2024-01-02T03:04:05.250Z", EndTime = 0 })
  t.eq(parsed, { StartTime = "2024-01-02T03:04:05.250Z", EndTime = "1970-01-01T00:00:00Z" })
end)

t.test("round trip elbv2 map", function()
  local params = {
    ListenerArn = "arn:l", Priority = 10,
    Conditions = { { Field = "path-pattern", Values = { "/api/*" } } },
    Actions = { {
      Type = "authenticate-oidc", Order = 1,
      AuthenticateOidcConfig = {
        Issuer = "https://issuer", AuthorizationEndpoint = "https://a", TokenEndpoint = "https://t",
        UserInfoEndpoint = "https://u", ClientId = "c",
        AuthenticationRequestExtraParams = { prompt = "login", display = "page" },
        SessionTimeout = 604800,
      },
    } },
  }
  local request = query.build_request(elbv2, "CreateRule", params)
  local map_key = "Actions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.1"
  t.contains(request.body, map_key .. ".key=display&" .. map_key .. ".value=page")
  local _, parsed = query.parse_request(elbv2, request.headers, request.body)
  t.eq(parsed, params)
end)

t.test("round trip flattened list", function()
  local m = flattened_variant(rds, "CreateDBInstanceMessage", "VpcSecurityGroupIds")
  local params = { DBInstanceIdentifier = "db1", DBInstanceClass = "c", Engine = "e",
    VpcSecurityGroupIds = { "sg-1", "sg-2" } }
  local request = query.build_request(m, "CreateDBInstance", params)
  t.contains(request.body, "&VpcSecurityGroupId.1=sg-1&VpcSecurityGroupId.2=sg-2")
  local _, parsed = query.parse_request(m, request.headers, request.body)
  t.eq(parsed, params)
end)

t.test("parse_request ignores parameter order", function()
  local body = "Tags.Tag.2.Value=b&Engine=postgres&Tags.Tag.1.Key=x&Version=2014-10-31&Tags.Tag.2.Key=y"
    .. "&DBInstanceIdentifier=db1&Tags.Tag.1.Value=a&Action=CreateDBInstance&DBInstanceClass=c"
  local operation, params = query.parse_request(rds, {}, body)
  t.eq(operation, "CreateDBInstance")
  t.eq(params, { Engine = "postgres", DBInstanceIdentifier = "db1", DBInstanceClass = "c",
    Tags = { { Key = "x", Value = "a" }, { Key = "y", Value = "b" } } })
end)

t.test("parse_request rejects malformed requests", function()
  local cases = {
    { "Version=2014-10-31", "MissingAction" },
    { "", "MissingAction" },
    { "Action=DescribeDBInstancez&Version=2014-10-31", "InvalidAction" },
    { "Action=DescribeDBInstances&DBInstanceIdentifier=%zz", "MalformedQueryString" },
    { "Action=DescribeDBInstances&MaxRecords=twenty", "ValidationError" },
    { "Action=CreateDBInstance&MultiAZ=maybe", "ValidationError" },
    { "Action=DescribeEvents&StartTime=yesterday", "ValidationError" },
  }
  for _, case in ipairs(cases) do
    local ok, err = pcall(query.parse_request, rds, {}, case[1])
    t.eq(ok, false, case[1])
    t.eq(type(err), "table", case[1])
    t.eq(err.code, case[2], case[1])
    t.eq(err.status, 400, case[1])
    t.ok(type(err.message) == "string" and err.message ~= "", case[1] .. " has a message")
  end
end)

-- Responses --------------------------------------------------------------

t.test("parse a real-shaped DescribeDBInstances", function()
  local body = [[<?xml version="1.0" encoding="UTF-8"?>
<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBInstancesResult>
    <DBInstances>
      <DBInstance>
        <DBInstanceIdentifier>db1</DBInstanceIdentifier>
        <DBInstanceStatus>available</DBInstanceStatus>
        <AllocatedStorage>20</AllocatedStorage>
        <MultiAZ>false</MultiAZ>
        <StorageEncrypted>true</StorageEncrypted>
        <InstanceCreateTime>2024-01-02T03:04:05.123Z</InstanceCreateTime>
        <Endpoint><Address>db1.local</Address><Port>5432</Port></Endpoint>
        <VpcSecurityGroups>
          <VpcSecurityGroupMembership><VpcSecurityGroupId>sg-1</VpcSecurityGroupId><Status>active</Status>
          </VpcSecurityGroupMembership>
        </VpcSecurityGroups>
        <TagList/>
      </DBInstance>
      <DBInstance>
        <DBInstanceIdentifier>db2 &amp; co</DBInstanceIdentifier>
        <InstanceCreateTime>2024-01-02T03:04:05Z</InstanceCreateTime>
      </DBInstance>
    </DBInstances>
    <Marker>m-2</Marker>
  </DescribeDBInstancesResult>
  <ResponseMetadata><RequestId>abc-123</RequestId></ResponseMetadata>
</DescribeDBInstancesResponse>]]
  local output, request_id = query.parse_response(rds, "DescribeDBInstances", 200, {}, body)
  t.eq(request_id, "abc-123")
  t.eq(output.Marker, "m-2")
  t.eq(#output.DBInstances, 2)
  local db = output.DBInstances[1]
  t.eq(db.DBInstanceIdentifier, "db1")
  t.eq(db.AllocatedStorage, 20)
  t.eq(math.type(db.AllocatedStorage), "integer")
  t.eq(db.MultiAZ, false)
  t.eq(db.StorageEncrypted, true)
  t.eq(db.InstanceCreateTime, "2024-01-02T03:04:05.123Z")
  t.eq(db.Endpoint, { Address = "db1.local", Port = 5432 })
  t.eq(db.VpcSecurityGroups, { { VpcSecurityGroupId = "sg-1", Status = "active" } }, "one-element list")
  t.eq(db.TagList, {}, "empty list")
  t.eq(output.DBInstances[2].DBInstanceIdentifier, "db2 & co")
  t.eq(output.DBInstances[2].InstanceCreateTime, "2024-01-02T03:04:05Z")
end)

t.test("parse response without result", function()
  local body = "<DeleteDBParameterGroupResponse><ResponseMetadata><RequestId>r9</RequestId>"
    .. "</ResponseMetadata></DeleteDBParameterGroupResponse>"
  local output, request_id = query.parse_response(rds, "DeleteDBParameterGroup", 200, {}, body)
  t.eq(output, {})
  t.eq(request_id, "r9")
end)

t.test("parse invalid XML raises", function()
  t.raises(function() query.parse_response(rds, "DescribeDBInstances", 200, {}, "<html><body>oops") end,
    "rds.DescribeDBInstances: invalid XML response")
end)

t.test("build_response exact XML for sts", function()
  local status, headers, body = query.build_response(sts, "GetCallerIdentity",
    { UserId = "AID", Account = "123456789012", Arn = "arn:aws:iam::123456789012:user/a<b>" }, "r1")
  t.eq(status, 200)
  t.eq(header(headers, "Content-Type"), "text/xml")
  t.eq(header(headers, "x-amzn-RequestId"), "r1")
  t.eq(body, '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    .. "<GetCallerIdentityResult><UserId>AID</UserId><Account>123456789012</Account>"
    .. "<Arn>arn:aws:iam::123456789012:user/a&lt;b&gt;</Arn></GetCallerIdentityResult>"
    .. "<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
end)

t.test("round trip rds DescribeDBInstances output", function()
  local output = {
    Marker = "next",
    DBInstances = {
      {
        DBInstanceIdentifier = "db1", AllocatedStorage = 100, MultiAZ = true,
        InstanceCreateTime = 1704164645.5,
        Endpoint = { Address = "db1.local", Port = 5432, HostedZoneId = "Z1" },
        VpcSecurityGroups = { { VpcSecurityGroupId = "sg-1", Status = "active" } },
        TagList = { { Key = "k", Value = "line1\r\nline2\ttab" } },
        ReadReplicaDBInstanceIdentifiers = { "r1", "r2" },
      },
    },
  }
  local parsed, body = round_trip_response(rds, "DescribeDBInstances", output)
  t.contains(body, "<VpcSecurityGroups><VpcSecurityGroupMembership><VpcSecurityGroupId>sg-1</VpcSecurityGroupId>")
  t.contains(body, "<ReadReplicaDBInstanceIdentifiers><ReadReplicaDBInstanceIdentifier>r1<")
  t.contains(body, "<MultiAZ>true</MultiAZ>")
  output.DBInstances[1].InstanceCreateTime = "2024-01-02T03:04:05.500Z"
  t.eq(parsed, output)
end)

t.test("round trip elbv2 DescribeLoadBalancers output", function()
  local output = {
    LoadBalancers = { {
      LoadBalancerArn = "arn:lb", DNSName = "lb.local", CreatedTime = "2024-01-02T03:04:05Z",
      Scheme = "internet-facing", State = { Code = "active" }, Type = "application",
      AvailabilityZones = { { ZoneName = "us-east-1a", SubnetId = "subnet-1" }, { ZoneName = "us-east-1b",
        SubnetId = "subnet-2", LoadBalancerAddresses = { { IpAddress = "10.0.0.1" } } } },
      SecurityGroups = { "sg-1" },
    } },
  }
  local parsed = round_trip_response(elbv2, "DescribeLoadBalancers", output)
  t.eq(parsed, output)
end)

t.test("round trip flattened list output", function()
  local m = flattened_variant(rds, "DBInstance", "ReadReplicaDBInstanceIdentifiers")
  local output = { DBInstances = { { DBInstanceIdentifier = "db1", ReadReplicaDBInstanceIdentifiers = { "r1" } } } }
  local parsed, body = round_trip_response(m, "DescribeDBInstances", output)
  t.contains(body, "<DBInstanceIdentifier>db1</DBInstanceIdentifier>"
    .. "<ReadReplicaDBInstanceIdentifier>r1</ReadReplicaDBInstanceIdentifier>")
  t.eq(parsed, output)
end)

t.test("round trip elbv2 map output", function()
  local output = { Rules = { { RuleArn = "arn:r", IsDefault = false, Actions = { {
    Type = "authenticate-oidc", Order = 1,
    AuthenticateOidcConfig = { Issuer = "i", ClientId = "c", AuthenticationRequestExtraParams = { a = "1", b = "2" } },
  } } } } }
  local parsed, body = round_trip_response(elbv2, "DescribeRules", output)
  t.contains(body, "<AuthenticationRequestExtraParams><entry><key>a</key><value>1</value></entry>")
  t.eq(parsed, output)
end)

-- Errors -------------------------------------------------------------------

t.test("parse ErrorResponse", function()
  local body = [[<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <Error><Type>Sender</Type><Code>DBInstanceNotFound</Code><Message>DBInstance db9 not found.</Message></Error>
  <RequestId>e-1</RequestId>
</ErrorResponse>]]
  t.eq(query.parse_error(rds, 404, {}, body), { code = "DBInstanceNotFound", message = "DBInstance db9 not found.",
    request_id = "e-1", sender_fault = true })
end)

t.test("parse Response Errors form", function()
  local body = "<Response><Errors><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></Errors>"
    .. "<RequestID>e-2</RequestID></Response>"
  t.eq(query.parse_error(rds, 400, {}, body), { code = "Throttling", message = "Rate exceeded", request_id = "e-2" })
end)

t.test("parse Receiver fault", function()
  local body = "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>x</Message></Error>"
    .. "</ErrorResponse>"
  local parsed = query.parse_error(rds, 500, { { "x-amzn-RequestId", "h-1" } }, body)
  t.eq(parsed.sender_fault, false)
  t.eq(parsed.request_id, "h-1", "request id from the header")
end)

t.test("parse malformed error bodies", function()
  local empty = query.parse_error(rds, 503, { ["x-amzn-requestid"] = "h-2" }, "")
  t.eq(empty.code, "HTTP 503")
  t.eq(empty.request_id, "h-2")
  t.contains(empty.message, "503")
  t.contains(empty.message, "empty body")
  local html = query.parse_error(rds, 502, {}, "<html><head><title>502 Bad Gateway</title></head>\n<body>"
    .. ("x"):rep(500) .. "</body></html>")
  t.eq(html.code, "HTTP 502")
  t.contains(html.message, "502 Bad Gateway")
  t.not_contains(html.message, "<title>")
  t.ok(#html.message < 250, "excerpt is short")
  local truncated = query.parse_error(rds, 500, {}, "<ErrorResponse><Error><Code>Thr")
  t.eq(truncated.code, "HTTP 500")
  local binary = query.parse_error(rds, 500, {}, "\0\1\2\255garbage")
  t.eq(binary.code, "HTTP 500")
  t.ok(not binary.message:find("[%z\1-\31\128-\255]"), "no control or non-ASCII bytes in the message")
  local odd = query.parse_error(rds, nil, nil, nil)
  t.eq(odd.code, "UnknownError")
end)

t.test("build_error uses the error shape", function()
  local status, headers, body = query.build_error(rds, "DBInstanceNotFoundFault", "DBInstance db9 not found.",
    nil, "e-3")
  t.eq(status, 404)
  t.eq(header(headers, "x-amzn-RequestId"), "e-3")
  t.eq(body, '<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>'
    .. "<Code>DBInstanceNotFound</Code><Message>DBInstance db9 not found.</Message></Error>"
    .. "<RequestId>e-3</RequestId></ErrorResponse>")
  t.eq(query.parse_error(rds, status, headers, body), { code = "DBInstanceNotFound",
    message = "DBInstance db9 not found.", request_id = "e-3", sender_fault = true })
end)

t.test("build_error by wire code and defaults", function()
  local status = query.build_error(rds, "DBInstanceNotFound", "m", nil, "e")
  t.eq(status, 404, "status from the shape named by its error code")
  local status2, _, body2 = query.build_error(rds, "Throttling", "Rate exceeded", nil, "e")
  t.eq(status2, 400)
  t.contains(body2, "<Type>Sender</Type><Code>Throttling</Code>")
  local status3, _, body3 = query.build_error(rds, "InternalFailure", "boom", 500, "e")
  t.eq(status3, 500)
  t.contains(body3, "<Type>Receiver</Type>")
end)

return t.done()
