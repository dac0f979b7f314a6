-- mnem._xml.read with hostile and odd XML: hand-made plans fed directly,
-- and whole responses through the AWS client against a loopback capture
-- server (client_server.py). Every case must give a sane value or a clear
-- error, never a crash.
local t = require("t")
local xml = require("mnem._xml")
local helper = require("client_helper")
local aws = require("aws")

local STRING_FIELD = { "A", "string", false }

-- Direct reads -------------------------------------------------------------

t.test("attribute pair not a table skipped", function()
  local plan = { 1, { a = STRING_FIELD }, { "not a pair", { nil, "b" }, { "B", "b" } } }
  local value, problem = xml.read('<r a="1" b="2"><a>x</a></r>', plan)
  t.eq(problem, nil, "no error")
  t.eq(value, { A = "x", B = "2" })
end)

t.test("invalid number in list raises", function()
  local value, problem = xml.read("<r><m>5</m><m>abc</m><m>7</m></r>", { 2, "integer", false })
  t.eq(value, nil, "no value")
  t.contains(problem, 'an item is not a valid integer: "abc"')
end)

t.test("blank number in list is left out", function()
  local value = xml.read("<r><m/><m>5</m><m> </m><m>7</m></r>", { 2, "integer", false })
  t.eq(value, { 5, 7 })
end)

t.test("invalid number in flattened list", function()
  local plan = { 1, { m = { "M", { 2, "float", false }, true } }, false }
  local value, problem = xml.read("<r><m>1.5</m><other/><m>y</m><m>2</m></r>", plan)
  t.eq(value, nil, "no value")
  t.contains(problem, 'is not a valid float: "y"')
end)

t.test("invalid number message is bounded", function()
  local plan = { 1, { N = { "N", "integer", false } }, false }
  local _, problem = xml.read("<r><N>" .. ("9"):rep(30) .. ("x"):rep(5000) .. "</N></r>", plan)
  t.contains(problem, 'member N is not a valid integer: "' .. ("9"):rep(30) .. ("x"):rep(10) .. '..."')
  t.ok(#problem < 300, "message length " .. #problem)
end)

t.test("special floats read as botocore reads them", function()
  local plan = { 1, { F = { "F", { 2, "float", false }, false } }, false }
  local value = assert(xml.read("<r><F><m>NaN</m><m>Infinity</m><m>-inf</m><m>+INF</m></F></r>", plan))
  t.ok(value.F[1] ~= value.F[1], "NaN")
  t.eq(value.F[2], math.huge, "Infinity")
  t.eq(value.F[3], -math.huge, "-inf")
  t.eq(value.F[4], math.huge, "+INF")
  local _, problem = xml.read("<r><F><m>nan</m><m>infinite</m></F></r>", plan)
  t.contains(problem, 'an item is not a valid float: "infinite"')
end)

t.test("nesting limit holds in skipped subtrees", function()
  local plan = { 1, { a = STRING_FIELD }, false }
  local ok_doc = "<r>" .. ("<z>"):rep(63) .. ("</z>"):rep(63) .. "<a>1</a></r>"
  t.eq(xml.read(ok_doc, plan), { A = "1" }, "64 levels")
  local deep = "<r>" .. ("<z>"):rep(64) .. ("</z>"):rep(64) .. "</r>"
  local value, problem = xml.read(deep, plan)
  t.eq(value, nil, "65 levels")
  t.contains(problem, "nested deeper than 64 levels")
end)

t.test("cyclic flattened list plan stops", function()
  local plan = { 2, false, true }
  plan[2] = plan
  local value, problem = xml.read("<r><m>1</m></r>", plan)
  t.eq(value, nil)
  t.contains(problem, "the shape nests deeper than the reader allows")
end)

t.test("size limit exact", function()
  local limit = 32 * 1024 * 1024
  local text = ("x"):rep(limit - 7)
  local value = xml.read("<r>" .. text .. "</r>", "string")
  t.eq(#value, limit - 7, "a document of exactly 32 MiB is read")
  local over, problem = xml.read("<r>" .. text .. "x</r>", "string")
  t.eq(over, nil, "one byte more is rejected")
  t.contains(problem, "more than the limit of 32 MiB")
end)

t.test("doctype and entities rejected", function()
  local value, problem = xml.read("<!DOCTYPE r [<!ENTITY a 'b'>]><r>&a;</r>", "string")
  t.eq(value, nil)
  t.contains(problem, "DOCTYPE is not allowed")
  value, problem = xml.read("<r>&undefined;</r>", "string")
  t.eq(value, nil)
  t.contains(problem, "undefined entity")
end)

t.test("cdata entities comments in text", function()
  t.eq(xml.read("<r><![CDATA[<a>&amp;]]>&lt;&#x41;&#66;<!--c--><?pi x?>!</r>", "string"), "<a>&amp;<AB!")
end)

t.test("children of a scalar skipped", function()
  t.eq(xml.read("<r>x<b>y<c>z</c></b>w</r>", "string"), "xw")
end)

t.test("namespaces and duplicate members", function()
  local plan = { 1, { a = STRING_FIELD }, false }
  local text = '<x:r xmlns:x="u"><x:a>1</x:a><y:a xmlns:y="v">2</y:a><a>3</a></x:r>'
  t.eq(xml.read(text, plan), { A = "1" }, "the first child gives the member")
end)

t.test("many siblings in a list", function()
  local parts = { "<r>" }
  for i = 1, 100000 do parts[#parts + 1] = "<m>" .. i .. "</m>" end
  parts[#parts + 1] = "</r>"
  local value = xml.read(table.concat(parts), { 2, "integer", false })
  t.eq(#value, 100000, "length")
  t.eq(value[100000], 100000, "last item")
end)

t.test("truncated and invalid documents", function()
  local plan = { 1, { a = STRING_FIELD }, false }
  for _, text in ipairs{ "", "<r><a>", "<r><a>1</a>", "<r/><s/>", "<r>\xff</r>", "<r a='1' a='2'/>", "<r>&#0;</r>" } do
    local value, problem = xml.read(text, plan)
    t.eq(value, nil, ("%q"):format(text))
    t.contains(problem, "XML parse error at line 1", ("%q"):format(text))
  end
end)

t.test("plan function errors propagate", function()
  t.raises(function() xml.read("<r>x</r>", function() error("plan failed", 0) end) end, "plan failed")
end)

-- Through the AWS client ---------------------------------------------------

local server = helper.start()
local client = aws.client{ endpoint_url = server.endpoint, region = "us-east-1", max_attempts = 1,
                           access_key_id = "test", secret_access_key = "test" }

-- Runs DescribeDBInstances against a response whose DBInstance element
-- contains INNER; returns the first instance, or raises.
local function describe_with(inner)
  server:script{ { status = 200, headers = { ["Content-Type"] = "text/xml" },
    body = "<DescribeDBInstancesResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">"
      .. "<DescribeDBInstancesResult><DBInstances><DBInstance>" .. inner
      .. "</DBInstance></DBInstances></DescribeDBInstancesResult>"
      .. "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></DescribeDBInstancesResponse>" } }
  local output = client.rds.describe_db_instances{}
  return output.DBInstances[1]
end

t.test("client timestamps canonical and not", function()
  local cases = {
    { "2024-02-29T12:00:00Z", "2024-02-29T12:00:00Z" },
    { "2024-01-01T12:00:00.000Z", "2024-01-01T12:00:00Z" },
    { "2024-01-01T12:00:00.123456Z", "2024-01-01T12:00:00.123Z" },
    { "2024-01-01T12:00:00+02:00", "2024-01-01T10:00:00Z" },
    { "not a time", "not a time" },
  }
  for _, case in ipairs(cases) do
    local instance = describe_with("<InstanceCreateTime>" .. case[1] .. "</InstanceCreateTime>")
    t.eq(instance.InstanceCreateTime, case[2], case[1])
  end
end)

t.test("client odd scalars", function()
  local instance = describe_with("<AllocatedStorage/><MultiAZ>TRUE</MultiAZ>"
    .. "<DBInstanceIdentifier>db<junk>x</junk>-1</DBInstanceIdentifier><Unknown><Deep><Deeper/></Deep></Unknown>")
  t.eq(instance.AllocatedStorage, nil, "empty integer")
  t.eq(instance.MultiAZ, false, "only true is true")
  t.eq(instance.DBInstanceIdentifier, "db-1", "child element skipped")
end)

t.test("client invalid integer raises", function()
  local err = t.raises(function() describe_with("<AllocatedStorage>12abc</AllocatedStorage>") end)
  t.eq(err.code, "InvalidResponse")
  t.contains(err.message, 'member AllocatedStorage is not a valid integer: "12abc"')
end)

t.test("client truncated body is an error", function()
  local err = t.raises(function() describe_with("<DBInstanceIdentifier>db") end)
  t.eq(err.code, "InvalidResponse")
  t.contains(err.message, "invalid XML response")
end)

-- Runs DescribeDBInstances against the response BODY (status 200).
local function describe_body(body)
  server:script{ { status = 200, headers = { ["Content-Type"] = "text/xml" }, body = body } }
  return client.rds.describe_db_instances{}
end

t.test("client missing result element raises", function()
  local bodies = {
    "<html><body>Welcome to the proxy</body></html>",
    "<DescribeDBInstancesResponse><ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata>"
      .. "</DescribeDBInstancesResponse>",
    "<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters/></DescribeDBClustersResult>"
      .. "</DescribeDBClustersResponse>",
  }
  for _, body in ipairs(bodies) do
    local err = t.raises(function() describe_body(body) end, nil, body)
    t.eq(err.code, "InvalidResponse", body)
    t.contains(err.message, "no <DescribeDBInstancesResult> element", body)
  end
end)

t.test("client empty result element reads empty", function()
  local output = describe_body("<DescribeDBInstancesResponse><DescribeDBInstancesResult/>"
    .. "<ResponseMetadata><RequestId>req-3</RequestId></ResponseMetadata></DescribeDBInstancesResponse>")
  t.eq(output.DBInstances, nil, "no instances member")
end)

server:stop()

return t.done()
