-- aws.model: loading, service names, operation lookup, snake_case and
-- member order, checked against botocore itself where it is installed.
-- The embedded models are compacted from /usr/lib/python3/dist-packages/botocore/data
-- (see BOTOCORE in GNUmakefile).
local t = require("t")
local cjson = require("cjson")
local model = require("aws.model")

local SERVICES = { "rds", "ssm", "ecs", "logs", "elbv2", "application-autoscaling", "sts", "secretsmanager" }

-- Runs SCRIPT with the system Python, whose botocore (Debian's
-- python3-botocore) is the one the built-in models come from and the one
-- /usr/bin/aws uses, and returns its output decoded from JSON, or nil when
-- python3 or botocore is missing.
local function botocore_json(script)
  local path = t.tmpdir() .. "/probe.py"
  local f = assert(io.open(path, "wb"))
  f:write(script)
  f:close()
  local p = io.popen("/usr/bin/python3 " .. path .. " 2>/dev/null")
  local text = p:read("a")
  p:close()
  if text == "" then return nil end
  return cjson.decode(text)
end

t.test("services lists the eight models", function()
  t.eq(model.services(), SERVICES)
end)

t.test("canonical_name accepts aliases", function()
  t.eq(model.canonical_name("application_autoscaling"), "application-autoscaling")
  t.eq(model.canonical_name("secrets_manager"), "secretsmanager")
  t.eq(model.canonical_name("RDS"), "rds")
  t.eq(model.canonical_name("elbv2"), "elbv2")
  t.eq(model.canonical_name("cloudwatch_logs"), "logs")
end)

t.test("canonical_name rejects autoscaling", function()
  local err = t.raises(function() model.canonical_name("autoscaling") end, "unknown service \"autoscaling\"")
  t.contains(tostring(err), "known services: rds, ssm, ecs, logs, elbv2, application-autoscaling, sts, secretsmanager")
end)

t.test("canonical_name suggests close names", function()
  t.raises(function() model.canonical_name("secretmanager") end, "did you mean secretsmanager?")
end)

t.test("load caches each model", function()
  local m = model.load("rds")
  t.ok(model.load("RDS") == m, "same table for an alias")
  t.eq(m.metadata.protocol, "query")
  t.eq(m.service, "rds")
  t.eq(type(m.waiters.DBInstanceAvailable), "table")
  t.eq(type(m.paginators.DescribeDBInstances), "table")
end)

t.test("every model loads", function()
  for _, name in ipairs(SERVICES) do
    local m = model.load(name)
    t.ok(#m:operation_names() > 0, name .. " has operations")
    t.ok(m.metadata.protocol == "query" or m.metadata.protocol == "json", name .. " protocol")
  end
end)

t.test("operation by AWS or snake name", function()
  local m = model.load("rds")
  t.eq(m:operation("DescribeDBInstances").name, "DescribeDBInstances")
  t.eq(m:operation("describe_db_instances").name, "DescribeDBInstances")
  t.eq(m:operation("create_db_instance_read_replica").name, "CreateDBInstanceReadReplica")
  t.eq(m:operation("describe_db_instance"), nil)
  t.eq(m:operation(42), nil)
  t.eq(m:shape("DBInstance").type, "structure")
  t.eq(m:shape("NoSuchShape"), nil)
end)

t.test("snake_case documented examples", function()
  local cases = {
    DescribeDBInstances = "describe_db_instances",
    GetParametersByPath = "get_parameters_by_path",
    ListTagsForResource = "list_tags_for_resource",
    DescribeDBClusterParameterGroups = "describe_db_cluster_parameter_groups",
    CreateDBInstanceReadReplica = "create_db_instance_read_replica",
    ListARNs = "list_arns",
    AssumeRoleWithSAML = "assume_role_with_saml",
    already_snake = "already_snake",
  }
  for name, expected in pairs(cases) do t.eq(model.snake_case(name), expected, name) end
end)

t.test("snake_case agrees with botocore", function()
  local names = {}
  for _, service in ipairs(SERVICES) do
    for _, name in ipairs(model.load(service):operation_names()) do names[#names + 1] = name end
  end
  local expected = botocore_json(([[
import json, sys
from botocore import xform_name
names = json.loads(%q)
print(json.dumps({n: xform_name(n) for n in names}))
]]):format(cjson.encode(names)))
  if not expected then t.skip("python3 with botocore is not installed") end
  local mismatches = {}
  for _, name in ipairs(names) do
    local mine = model.snake_case(name)
    if mine ~= expected[name] then mismatches[#mismatches + 1] = ("%s: %s ~= %s"):format(name, mine, expected[name]) end
  end
  t.ok(#names > 400, "checked every operation of the eight models")
  t.eq(mismatches, {}, "operations whose snake_case differs from botocore")
end)

t.test("member order matches botocore", function()
  local expected = botocore_json([[
import json
import botocore.session
s = botocore.session.get_session()
out = {}
for svc, shape in [("rds", "CreateDBInstanceMessage"), ("ssm", "PutParameterRequest"),
                   ("ecs", "UpdateServiceRequest"), ("elbv2", "LoadBalancer")]:
    m = s.get_service_model(svc)
    out[svc + "." + shape] = list(m.shape_for(shape).members)
print(json.dumps(out))
]])
  if not expected then t.skip("python3 with botocore is not installed") end
  for key, names in pairs(expected) do
    local service, shape = key:match("^(.-)%.(.*)$")
    local m = model.load(service)
    t.eq(m:member_names(shape), names, key)
  end
end)

t.test("closest suggests by edit distance", function()
  t.eq(model.closest("DBInstanceIdentifer", { "Engine", "DBInstanceIdentifier" }), "DBInstanceIdentifier")
  t.eq(model.closest("engine", { "Engine", "EngineVersion" }), "Engine")
  t.eq(model.closest("Zzzzzz", { "Engine", "Tags" }), nil)
  local m = model.load("ssm")
  t.eq(m:closest({ "Name", "Value" }, "Nmae"), "Name")
end)

return t.done()
