-- Hostile and odd responses through the real AWS client against a loopback
-- server (client_server.py): wrong JSON types, nulls, deep nesting, huge
-- arrays, out-of-range timestamps, XML with namespaces, duplicates and
-- attributes. Each must give a clear error or a sane value. Also the
-- parameter checks and encoders for values that used to crash them.
local t = require("t")
local helper = require("client_helper")
local aws = require("aws")
local model = require("aws.model")
local shape_value = require("aws.shape_value")
local validate = require("aws.validate")
local format_epoch = require("mnem._sys").format_epoch

local server = helper.start()
local client = aws.client{ endpoint_url = server.endpoint, region = "us-east-1", max_attempts = 1,
                           access_key_id = "test", secret_access_key = "test" }

local JSON = { ["Content-Type"] = "application/x-amz-json-1.1", ["x-amzn-RequestId"] = "req-h" }
local XML = { ["Content-Type"] = "text/xml" }

-- Calls ecs.describe_tasks with the server replying BODY; returns the
-- output's task list.
local function ecs_tasks(body)
  server:script{ { status = 200, headers = JSON, body = body } }
  return client.ecs.describe_tasks{ tasks = { "t1" } }.tasks
end

-- Calls rds.describe_db_instances with the server replying INNER inside
-- the result wrapper; returns the output.
local function rds_instances(inner, root_attrs)
  server:script{ { status = 200, headers = XML, body = ("<DescribeDBInstancesResponse%s><DescribeDBInstancesResult>"
    .. "%s</DescribeDBInstancesResult></DescribeDBInstancesResponse>"):format(root_attrs or "", inner) } }
  return client.rds.describe_db_instances{}
end

-- JSON ------------------------------------------------------------------------

t.test("json huge numeric timestamp text", function()
  local tasks = ecs_tasks('{"tasks": [{"taskArn": "a", "createdAt": "9999999999999999999999999999999"},'
    .. ' {"taskArn": "b", "createdAt": 1700000000.5}]}')
  t.eq(tasks[1].createdAt, "9999999999999999999999999999999", "kept as sent")
  t.eq(tasks[2].createdAt, "2023-11-14T22:13:20.500Z")
end)

t.test("json out-of-range timestamp numbers", function()
  local tasks = ecs_tasks('{"tasks": [{"createdAt": 1e308}, {"createdAt": -1e308}, {"createdAt": -5},'
    .. ' {"createdAt": NaN}, {"createdAt": Infinity}]}')
  t.eq(#tasks, 5)
  t.eq(tasks[1].createdAt, 1e308, "no date, kept as sent")
  t.eq(tasks[2].createdAt, -1e308, "no date, kept as sent")
  t.eq(tasks[3].createdAt, "1969-12-31T23:59:55Z")
  t.ok(tasks[4].createdAt ~= tasks[4].createdAt, "NaN kept")
  t.eq(tasks[5].createdAt, math.huge)
end)

t.test("json tables where scalars belong", function()
  local tasks = ecs_tasks('{"tasks": [{"taskArn": {"x": null}, "version": [null], "createdAt": {"a": 1},'
    .. ' "enableExecuteCommand": [true], "cpu": "256"}]}')
  t.eq(tasks[1], { cpu = "256" }, "a list or object where a string, number, boolean or timestamp belongs is dropped")
end)

t.test("json table where secret string belongs", function()
  server:script{ { status = 200, headers = JSON, body = '{"Name": "n", "SecretString": {"password": "x"}}' } }
  local out = client.secretsmanager.get_secret_value{ SecretId = "n" }
  t.eq(out.SecretString, nil)
  t.eq(out.Name, "n")
end)

t.test("json nulls everywhere", function()
  local tasks = ecs_tasks('{"tasks": [null, {"taskArn": null, "containers": null, "createdAt": null,'
    .. ' "attributes": [null, {"name": null}]}, null], "failures": null}')
  t.eq(tasks, { { attributes = { {} } } })
end)

t.test("json wrong containers", function()
  t.eq(ecs_tasks('{"tasks": "x"}'), nil, "a string where a list belongs")
  t.eq(ecs_tasks('{"tasks": {"a": 1}}'), {}, "an object where a list belongs")
  t.eq(ecs_tasks('{"tasks": [[1, 2], 3]}'), { {} }, "a list where a structure belongs")
  t.eq(ecs_tasks("[1, 2, 3]"), nil, "a list as the whole body")
  t.eq(ecs_tasks("42"), nil, "a number as the whole body")
  t.eq(ecs_tasks(""), nil, "an empty body")
end)

t.test("json deep nesting", function()
  local deep = ('{"a": '):rep(990) .. "1" .. ("}"):rep(990)
  local tasks = ecs_tasks('{"tasks": [{"overrides": ' .. deep .. "}]}")
  t.eq(tasks, { { overrides = {} } }, "unknown members of a deep value dropped")
  local err = t.raises(function() ecs_tasks('{"tasks": ' .. ("["):rep(1001) .. ("]"):rep(1001) .. "}") end)
  t.contains(tostring(err), "invalid JSON response")
  t.eq(err.code, "InvalidResponse")
end)

t.test("json huge array", function()
  local items = {}
  for i = 1, 50000 do items[i] = ('{"taskArn": "t%d", "version": %d, "createdAt": 1700000000}'):format(i, i) end
  local tasks = ecs_tasks('{"tasks": [' .. table.concat(items, ", ") .. "]}")
  t.eq(#tasks, 50000)
  t.eq(tasks[50000], { taskArn = "t50000", version = 50000, createdAt = "2023-11-14T22:13:20Z" })
  t.eq(math.type(tasks[1].version), "integer")
end)

-- XML -------------------------------------------------------------------------

t.test("xml huge numeric timestamp text", function()
  local out = rds_instances("<DBInstances><DBInstance><DBInstanceIdentifier>a</DBInstanceIdentifier>"
    .. "<InstanceCreateTime>99999999999999999999999999999999</InstanceCreateTime></DBInstance>"
    .. "<DBInstance><InstanceCreateTime>2024-01-02T03:04:05.5+01:00</InstanceCreateTime></DBInstance>"
    .. "</DBInstances>")
  t.eq(out.DBInstances[1].InstanceCreateTime, "99999999999999999999999999999999", "kept as sent")
  t.eq(out.DBInstances[2].InstanceCreateTime, "2024-01-02T02:04:05.500Z")
end)

t.test("xml namespaces duplicates attributes", function()
  local out = rds_instances('<a:DBInstances xmlns:a="urn:x"><a:DBInstance id="1">'
    .. "<a:DBInstanceIdentifier>first</a:DBInstanceIdentifier>"
    .. "<a:DBInstanceIdentifier>second</a:DBInstanceIdentifier>"
    .. '<a:AllocatedStorage unit="GiB">20</a:AllocatedStorage><MultiAZ>TRUE</MultiAZ>'
    .. "</a:DBInstance>stray text<Unknown><X/></Unknown></a:DBInstances>", ' xmlns="urn:rds"')
  t.eq(out.DBInstances[1], { DBInstanceIdentifier = "first", AllocatedStorage = 20, MultiAZ = false })
  t.eq(#out.DBInstances, 2, "every child element of a list is an item")
end)

t.test("xml invalid documents", function()
  for _, body in ipairs{ ("<a>"):rep(70) .. ("</a>"):rep(70), '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
                         "<a><b>", "<a>&#0;</a>", "" } do
    server:script{ { status = 200, headers = XML, body = body } }
    local err = t.raises(function() client.rds.describe_db_instances{} end)
    t.eq(err.code, "InvalidResponse", body:sub(1, 20))
    t.contains(tostring(err), "invalid XML response")
  end
end)

-- Timestamps --------------------------------------------------------------------

t.test("timestamp text beyond any date", function()
  for _, text in ipairs{ "99999999999999999999", "999999999999999999999999999999", "-1" .. ("0"):rep(40),
                         "1" .. ("0"):rep(400) } do
    t.eq(shape_value.to_iso(text), nil, text)
    t.eq(shape_value.to_epoch(text), nil, text)
    t.eq(shape_value.parse_timestamp(text), nil, text)
  end
  t.eq(shape_value.to_iso("1700000000"), "2023-11-14T22:13:20Z")
  t.eq(shape_value.to_iso("-1.5"), "1969-12-31T23:59:58.500Z")
end)

t.test("timestamp dates that do not exist", function()
  for _, text in ipairs{ "2023-02-29T00:00:00Z", "2024-02-30T00:00:00Z", "2024-04-31", "1900-02-29T12:00:00+01:00",
                         "2100-02-29 00:00:00" } do
    t.eq(shape_value.parse_timestamp(text), nil, text)
    t.eq(shape_value.to_iso(text), nil, text)
  end
  t.eq(shape_value.to_iso("2024-02-29T00:00:00Z"), "2024-02-29T00:00:00Z", "leap day")
  t.eq(shape_value.to_iso("2000-02-29 10:00:00"), "2000-02-29T10:00:00Z", "leap day of a 400th year")
  t.eq(shape_value.to_iso("2024-12-31T23:59:59+00:00"), "2024-12-31T23:59:59Z", "last day")
end)

t.test("timestamp integer limits", function()
  t.eq(shape_value.to_iso(math.mininteger), nil)
  t.eq(shape_value.to_iso(math.maxinteger), nil)
  t.eq(shape_value.to_iso(0 / 0), nil)
  t.eq(shape_value.to_iso(-math.huge), nil)
end)

t.test("format_epoch matches os.date", function()
  local values = { 0, 1, 0.001, 0.0005, 0.9995, 59.9999995, 86399.9999996, 951782400, 951868800, 4107542400,
                   2 ^ 31, 2 ^ 31 - 0.5, 2 ^ 32, 1700000000.123456, 253402300799, 253402300799.999 }
  math.randomseed(1)
  for _ = 1, 2000 do values[#values + 1] = math.random() * 253402300799 end
  for _, value in ipairs(values) do
    local seconds = math.floor(value)
    local millis = math.floor((value - seconds) * 1e6 + 0.5) // 1000
    if millis >= 1000 then seconds, millis = seconds + 1, 0 end
    local expected = os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. (millis ~= 0 and (".%03d"):format(millis) or "") .. "Z"
    t.eq(format_epoch(value), expected, ("%.17g"):format(value))
  end
  t.eq(format_epoch(253402300800), nil, "year 10000")
  t.eq(format_epoch(-0.5), nil, "before 1970")
end)

-- Parameters --------------------------------------------------------------------

t.test("timestamp parameters without a date rejected", function()
  local m = model.load("rds")
  local check = validate.checker(m, "DescribeEvents")
  for _, value in ipairs{ 0 / 0, math.huge, -math.huge, 1e300, math.mininteger, "99999999999999999999999999" } do
    local label = tostring(value)
    t.eq(check{ StartTime = value }, false, "compiled check: " .. label)
    t.raises(function() validate.input(m, "DescribeEvents", { StartTime = value }) end,
      "invalid parameter StartTime: expected a timestamp", "full check: " .. label)
  end
  t.eq(check{ StartTime = -1 }, true, "a date before 1970")
end)

t.test("timestamp parameters sent nothing", function()
  server:script{}
  t.raises(function() client.rds.describe_events{ StartTime = 0 / 0 } end, "invalid parameter StartTime")
  t.raises(function()
    client["application-autoscaling"].put_scheduled_action{ ServiceNamespace = "ecs", ScheduledActionName = "x",
      ResourceId = "service/a/b", ScalableDimension = "ecs:service:DesiredCount", StartTime = 1e300 }
  end, "invalid parameter StartTime")
  t.eq(#server:requests(), 0)
end)

t.test("whole float integers sent plainly", function()
  server:script{}
  client.rds.describe_db_instances{ MaxRecords = 20.0 }
  client.ecs.list_tasks{ maxResults = 20.0 }
  local requests = server:requests()
  t.eq(#requests, 2)
  t.contains(requests[1].body, "&MaxRecords=20")
  t.not_contains(requests[1].body, "MaxRecords=20.0")
  t.eq(requests[2].body, '{"maxResults": 20}')
end)

server:stop()
return t.done()
