-- Pagination through the model's paginators, against scripted pages from
-- a loopback capture server.
local t = require("t")
local helper = require("client_helper")
local aws = require("aws")
local cjson = require("cjson")

local server = helper.start()
local client = aws.client{ endpoint_url = server.endpoint, region = "us-east-1", max_attempts = 1,
                           access_key_id = "test", secret_access_key = "test" }
local HEADERS = { ["Content-Type"] = "application/x-amz-json-1.1", ["x-amzn-RequestId"] = "req-p" }

local function page(body)
  return { status = 200, headers = HEADERS, body = cjson.encode(body) }
end

local function sent_bodies()
  local bodies = {}
  for i, r in ipairs(server:requests()) do bodies[i] = cjson.decode(r.body) end
  return bodies
end

t.test("pages follow nextToken", function()
  server:script{
    page{ events = { { message = "a" } }, searchedLogStreams = {}, nextToken = "t1" },
    page{ events = { { message = "b" }, { message = "c" } }, nextToken = "t2" },
    page{ events = { { message = "d" } } },
  }
  local messages, pages = {}, 0
  for p in client.logs.paginate("filter_log_events", { logGroupName = "/g", limit = 2 }) do
    pages = pages + 1
    for _, e in ipairs(p.events) do messages[#messages + 1] = e.message end
  end
  t.eq(pages, 3)
  t.eq(messages, { "a", "b", "c", "d" })
  local bodies = sent_bodies()
  t.eq(bodies[1].nextToken, nil, "first page has no token")
  t.eq(bodies[2].nextToken, "t1")
  t.eq(bodies[3].nextToken, "t2")
  t.eq(bodies[3].logGroupName, "/g", "other parameters kept")
  t.eq(bodies[3].limit, 2, "page size kept")
end)

t.test("get_all concatenates result lists", function()
  server:script{
    page{ Parameters = { { Name = "/a/1" }, { Name = "/a/2" } }, NextToken = "n1" },
    page{ Parameters = { { Name = "/a/3" } }, NextToken = "n2" },
    page{ Parameters = {} },
  }
  local all = client.ssm.get_all("get_parameters_by_path", { Path = "/a", Recursive = true })
  local names = {}
  for i, p in ipairs(all.Parameters) do names[i] = p.Name end
  t.eq(names, { "/a/1", "/a/2", "/a/3" })
  t.eq(all.NextToken, nil, "token removed from the result")
  t.eq(#server:requests(), 3)
end)

t.test("get_all with two result keys", function()
  server:script{
    page{ events = { { message = "a" } }, searchedLogStreams = { { logStreamName = "s1" } }, nextToken = "t1" },
    page{ events = { { message = "b" } }, searchedLogStreams = { { logStreamName = "s2" } } },
  }
  local all = client.logs.get_all("FilterLogEvents", { logGroupName = "/g" })
  t.eq(#all.events, 2)
  t.eq(all.searchedLogStreams[2].logStreamName, "s2")
end)

t.test("repeated token stops with error", function()
  server:script{
    page{ Parameters = { { Name = "/a" } }, NextToken = "same" },
    page{ Parameters = { { Name = "/b" } }, NextToken = "same" },
    page{ Parameters = { { Name = "/c" } }, NextToken = "same" },
  }
  local err = t.raises(function() client.ssm.get_all("get_parameters_by_path", { Path = "/" }) end,
    "same pagination token twice")
  t.eq(err.code, "RepeatedPaginationToken")
  t.eq(#server:requests(), 2, "stopped after the second page")
end)

t.test("max_pages option", function()
  server:script{ page{ taskArns = { "a" }, nextToken = "x" }, page{ taskArns = { "b" }, nextToken = "y" } }
  local count = 0
  for _ in client.ecs.paginate("list_tasks", { cluster = "c" }, { max_pages = 1 }) do count = count + 1 end
  t.eq(count, 1)
  t.eq(#server:requests(), 1)
  t.raises(function() client.ecs.paginate("list_tasks", {}, { max_page = 1 }) end, "unknown option max_page")
end)

t.test("operation without paginator", function()
  t.raises(function() client.ssm.paginate("get_parameter", { Name = "/x" }) end, "cannot be paginated")
  t.raises(function() client.ssm.paginate("get_parametr", {}) end, "unknown operation get_parametr")
end)

t.test("query protocol pages", function()
  local function rds_page(ids, marker)
    local items = {}
    for _, id in ipairs(ids) do
      items[#items + 1] = "<DBInstance><DBInstanceIdentifier>" .. id .. "</DBInstanceIdentifier></DBInstance>"
    end
    return { status = 200, headers = { ["Content-Type"] = "text/xml" }, body =
      "<DescribeDBInstancesResponse><DescribeDBInstancesResult>"
      .. (marker and ("<Marker>" .. marker .. "</Marker>") or "")
      .. "<DBInstances>" .. table.concat(items) .. "</DBInstances></DescribeDBInstancesResult>"
      .. "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeDBInstancesResponse>" }
  end
  server:script{ rds_page({ "db1", "db2" }, "m1"), rds_page({ "db3" }) }
  local all = client.rds.get_all("describe_db_instances", { MaxRecords = 20 })
  t.eq(#all.DBInstances, 3)
  t.eq(all.DBInstances[3].DBInstanceIdentifier, "db3")
  t.contains(server:requests()[2].body, "Marker=m1")
end)

server:stop()
return t.done()
