-- Request bodies that are not valid UTF-8, over real HTTP: a JSON-protocol
-- body gets 400 SerializationException and a query-protocol parameter
-- (after percent-decoding) gets 400 MalformedQueryString, each naming the
-- byte offset. Valid multi-byte text still reaches the handlers.
local t = require("t")
local cjson = require("cjson")
local sigv4 = require("mnem._sigv4")
local sim_process = require("sim_process")

local DIR = t.tmpdir()
local sh, write = sim_process.sh, sim_process.write

local sim = sim_process.start("--quiet")

-- Sends BODY to SERVICE, signed with the test key, with curl. TARGET is the
-- X-Amz-Target of a JSON request, nil for a query request. Returns the
-- HTTP status and the response body.
local function send(service, target, body)
  local headers = { { "Host", "127.0.0.1:" .. sim.port } }
  if target then
    headers[#headers + 1] = { "Content-Type", "application/x-amz-json-1.1" }
    headers[#headers + 1] = { "X-Amz-Target", target }
  else
    headers[#headers + 1] = { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" }
  end
  local signed = sigv4.sign{ method = "POST", path = "/", headers = headers, body = body, access_key = "test",
    secret_key = "test", region = "us-east-1", service = service }
  for _, pair in ipairs(signed.headers) do headers[#headers + 1] = pair end
  headers[#headers + 1] = { "Authorization", signed.authorization }
  local args = {}
  for _, pair in ipairs(headers) do
    if pair[1] ~= "Host" then args[#args + 1] = ("-H '%s: %s'"):format(pair[1], pair[2]) end
  end
  write(DIR .. "/body", body)
  write(DIR .. "/out", "")
  local out = sh(("curl -s -o %s/out -w '%%{http_code}' %s --data-binary @%s/body %s/"):format(DIR,
    table.concat(args, " "), DIR, sim.endpoint))
  return tonumber(out:match("(%d+)%s*$")), t.read_file(DIR .. "/out")
end

local function put_parameter(value_json)
  return send("ssm", "AmazonSSM.PutParameter", '{"Name":"/utf8","Type":"String","Overwrite":true,"Value":'
    .. value_json .. "}")
end

t.test("json valid multibyte accepted", function()
  local status, body = put_parameter('"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"')
  t.eq(status, 200, body)
  status, body = send("ssm", "AmazonSSM.GetParameter", '{"Name":"/utf8"}')
  t.eq(status, 200, body)
  t.eq(cjson.decode(body).Parameter.Value, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80")
end)

t.test("json invalid byte rejected", function()
  local status, body = put_parameter('"ab\xFFcd"')
  t.eq(status, 400)
  local answer = cjson.decode(body)
  t.eq(answer.__type, "SerializationException")
  -- The value's opening quote is byte 57 of the body, so 0xFF is byte 60.
  t.eq(answer.message, "the request body is not valid UTF-8: byte 0xFF at byte offset 60 does not start a "
    .. "valid UTF-8 sequence")
end)

t.test("json bad sequences rejected", function()
  local cases = {
    { "overlong slash", "\xC0\xAF" },
    { "surrogate half", "\xED\xA0\x80" },
    { "above U+10FFFF", "\xF4\x90\x80\x80" },
    { "lone continuation byte", "\x80" },
    { "truncated sequence", "\xE2\x82" },
  }
  for _, case in ipairs(cases) do
    local status, body = put_parameter('"x' .. case[2] .. '"')
    t.eq(status, 400, case[1])
    t.eq(cjson.decode(body).__type, "SerializationException", case[1])
    t.contains(body, "at byte offset 59", case[1])
  end
end)

t.test("json invalid byte in one MiB body", function()
  local filler = ("\xC3\xA9"):rep(512 * 1024 - 16)
  local status, body = put_parameter('"' .. filler .. '\xFE"')
  t.eq(status, 400)
  t.eq(cjson.decode(body).__type, "SerializationException")
  t.contains(body, ("byte 0xFE at byte offset %d"):format(58 + #filler))
end)

t.test("json invalid byte before operation check", function()
  local status, body = send("ssm", "AmazonSSM.NoSuchOperation", '{"Name":"\xFF"}')
  t.eq(status, 400)
  t.eq(cjson.decode(body).__type, "UnknownOperationException")
end)

local RDS_PREFIX = "Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier="

t.test("query percent-encoded invalid byte rejected", function()
  local status, body = send("rds", nil, RDS_PREFIX .. "db%FFx")
  t.eq(status, 400)
  t.contains(body, "<Code>MalformedQueryString</Code>")
  t.contains(body, "the value of parameter DBInstanceIdentifier is not valid UTF-8 after percent-decoding: "
    .. "byte 0xFF at byte offset 2 does not start a valid UTF-8 sequence")
end)

t.test("query raw invalid byte rejected", function()
  local status, body = send("rds", nil, RDS_PREFIX .. "abc\xC3(")
  t.eq(status, 400)
  t.contains(body, "<Code>MalformedQueryString</Code>")
  t.contains(body, "byte 0xC3 at byte offset 3")
end)

t.test("query invalid parameter name rejected", function()
  local status, body = send("sts", nil, "Action=GetCallerIdentity&Version=2011-06-15&X%E9=1")
  t.eq(status, 400)
  t.contains(body, "<Code>MalformedQueryString</Code>")
  t.contains(body, "the name of parameter X%E9 is not valid UTF-8")
end)

t.test("query valid multibyte reaches handler", function()
  local status, body = send("rds", nil, RDS_PREFIX .. "caf%C3%A9")
  t.eq(status, 404)
  t.contains(body, "<Code>DBInstanceNotFound</Code>")
  t.contains(body, "DBInstance caf\xC3\xA9 not found.")
end)

t.test("elbv2 query invalid byte rejected", function()
  local status, body = send("elasticloadbalancing", nil,
    "Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=%C3%28")
  t.eq(status, 400)
  t.contains(body, "<Code>MalformedQueryString</Code>")
  t.contains(body, "parameter Names.member.1")
end)

t.test("server serves after rejections", function()
  local status, body = send("sts", nil, "Action=GetCallerIdentity&Version=2011-06-15")
  t.eq(status, 200, body)
  t.contains(body, "<GetCallerIdentityResponse")
end)

sim_process.stop_all()
return t.done()
