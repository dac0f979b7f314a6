-- Mistakes in scenario files name FILE:LINE of the offending entry as well
-- as its key path, through `mnem sim serve` and sim.scenario_lines. The
-- rewritten file must behave as written: call syntax, comments and long
-- strings with braces, functions building tables.
local t = require("t")
local cjson = require("cjson")
local scenario_lines = require("sim.scenario_lines")
local sim_process = require("sim_process")
local sim_server = require("sim.server")

local MNEM = sim_process.MNEM
local DIR = t.tmpdir()
local sh, write = sim_process.sh, sim_process.write

local counter = 0

-- Writes TEXT to a new scenario file and returns its path.
local function scenario_file(text)
  counter = counter + 1
  local path = ("%s/scenario%d.lua"):format(DIR, counter)
  write(path, text)
  return path
end

-- Runs `mnem sim serve` on the scenario TEXT, which must be rejected.
-- Returns the output and the path of the file.
local function rejected(text)
  local path = scenario_file(text)
  local out, status = sh(("%s sim serve --port 0 --scenario %s"):format(MNEM, path))
  t.eq(status, 2, out)
  t.not_contains(out, "serving on")
  return out, path
end

-- Each case: the scenario text, the message after "invalid scenario FILE: ",
-- and the line the message must name.
local CASES = {
  { "unknown top-level key", "return {\n  account = '1',\n  acount = '1',\n}\n",
    "unknown key acount (did you mean account?)", 3 },
  { "top-level value of the wrong type", "return {\n  region = 'us-east-1',\n\n  time_scale = 'fast',\n}\n",
    "time_scale must be a number, got string", 4 },
  { "credentials entry", "return { credentials = {\n  { access_key_id = 'a', secret_access_key = 'b' },\n"
    .. "  { access_key_id = 'c' },\n} }\n",
    "credentials[2] must have string access_key_id and secret_access_key", 3 },
  { "service section field", "return {\n  ssm = {\n    parameters = {\n      { name = '/a', value = 'v',\n"
    .. "        tier = 'Ultra' },\n    },\n  },\n}\n",
    'ssm.parameters[1].tier (parameter /a): must be one of Advanced, Intelligent-Tiering, Standard, got "Ultra"', 5 },
  { "missing field names the entry", "return {\n  ssm = { parameters = {\n    { name = '/ok', value = 'v' },\n"
    .. "    { name = '/a' },\n  } },\n}\n",
    "ssm.parameters[2].value (parameter /a): is missing: expected a string or number", 4 },
  { "unknown key in a section", "return {\n  rds = {\n    durations = {\n      creating = 10,\n"
    .. "      createing = 5,\n    },\n  },\n}\n",
    "rds.durations: unknown key createing (did you mean creating?)", 5 },
  { "invalid instance parameter", "return { rds = { instances = {\n  { identifier = 'db1', engine = 'postgres',\n"
    .. "    class = 'db.t3.micro',\n    allocated_storage = 'big', master_username = 'u' },\n} } }\n",
    'rds.instances[1] (db1): invalid parameter allocated_storage (AllocatedStorage): expected an integer, got '
    .. 'string "big"', 4 },
  { "quoted map key", "return {\n  ecs = { services = {\n    api = {\n      desired = 1,\n"
    .. "      task_definition = 'nope:1',\n    },\n  } },\n}\n",
    'ecs.services["api"].task_definition: nope:1 is not registered', 5 },
  { "fault rule", "return {\n  faults = {\n    { service = 'ssm', throttle = 0.1 },\n    { service = 'rds',\n"
    .. "      throtle = 0.5 },\n  },\n}\n",
    "faults[2]: unknown key throtle", 5 },
  { "entry built by a function",
    "local function param(name, value, tier)\n  return { name = name, value = value,\n"
    .. "    tier = tier }\nend\nlocal list = {}\nlist[#list + 1] = param('/a', 'v')\n"
    .. "list[#list + 1] = param('/b', 'w', 'Ultra')\nreturn { ssm = { parameters = list } }\n",
    "ssm.parameters[2].tier (parameter /b): must be one of", 3 },
  { "braces in comments and strings",
    "#!/usr/bin/env mnem\n-- a comment with { and }\n--[==[ a long comment {\n]==]\nlocal s = [[ { ]] .. \"}\\\"{\"\n"
    .. "return {\n  description = s,\n  ssm = { parameters = { { name = '/a', value = '{',\n"
    .. "    type = 'Bogus' } } },\n}\n",
    'ssm.parameters[1].type (parameter /a): must be one of', 9 },
}

for _, case in ipairs(CASES) do
  t.test("scenario line " .. case[1], function()
    local out, path = rejected(case[2])
    t.contains(out, ("invalid scenario %s: %s"):format(path, case[3]))
    t.contains(out, ("(at %s:%d)"):format(path, case[4]))
  end)
end

t.test("scenario syntax error keeps its line", function()
  local out, path = rejected("return {\n  account = '1'\n  region = 'x',\n}\n")
  t.contains(out, ("invalid scenario %s: %s:3:"):format(path, path))
  t.not_contains(out, "__mnem")
end)

t.test("scenario runtime error keeps its line", function()
  local out, path = rejected("local x = {\n  a = 1,\n}\nerror('broken on purpose')\nreturn x\n")
  t.contains(out, ("%s:4: broken on purpose"):format(path))
end)

t.test("scenario table has no lines", function()
  local ok, err = pcall(sim_server.new, { log = false, scenario = { ssm = { parameters = { { name = "/a" } } } } })
  t.ok(not ok, "new raised")
  t.contains(err.message, "invalid scenario table: ssm.parameters[1].value (parameter /a): is missing")
  t.not_contains(err.message, "(at ")
end)

t.test("rewritten scenario keeps its values", function()
  local path = scenario_file([[
local function param(spec) return { name = spec[1], value = spec[2] } end
local params = { param{ "/call/a", "{x}" }, param{ "/call/b", [==[}]==] } }
local extra = setmetatable({}, { __index = { value = "from-meta" } })
local names = {}
for i = 1, 3 do
  if i % 2 == 1 then names[#names + 1] = ("/loop/%d"):format(i) end
end
repeat local done = true until done
local tail = { table.unpack({ 1, 2, 3 }) }
return {
  description = ("%d items"):format(#tail),
  ssm = { parameters = {
    params[1], params[2],
    { name = "/meta", value = extra.value },
    { name = names[1], value = "one" }, { name = names[2], value = "three" },
    { ["name"] = "/bracket", value = tostring(#{ 1, 2, nil }) },
  } },
}
]])
  local chunk = assert(scenario_lines.load(path))
  local scenario = chunk()
  t.eq(scenario.description, "3 items")
  t.eq(#scenario.ssm.parameters, 6)
  for key in pairs(scenario.ssm.parameters[1]) do t.ok(key == "name" or key == "value", "no extra key " .. key) end
  t.eq(scenario.ssm.parameters[2].value, "}")
  t.eq(scenario.ssm.parameters[3].value, "from-meta")
  t.eq(scenario.ssm.parameters[5].name, "/loop/3")
  t.eq(scenario_lines.line_of(scenario, "ssm.parameters[1].value: x"), 1)
  t.eq(scenario_lines.line_of(scenario, "ssm.parameters[4].value: x"), 15)
  t.eq(scenario_lines.line_of(scenario, "ssm.parameters[6]: x"), 16)

  local sim = sim_process.start("--quiet --scenario " .. path)
  local out = sh(("AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true "
    .. "AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1 AWS_PAGER= "
    .. "/usr/bin/aws --endpoint-url %s --output json ssm get-parameters --names /call/a /call/b /meta /loop/3")
    :format(sim.endpoint))
  local ok, result = pcall(cjson.decode, out)
  t.ok(ok, out)
  local values = {}
  for _, p in ipairs(result.Parameters) do values[p.Name] = p.Value end
  t.eq(values["/call/a"], "{x}")
  t.eq(values["/call/b"], "}")
  t.eq(values["/meta"], "from-meta")
  t.eq(values["/loop/3"], "three")
  sim_process.stop(sim)
end)

t.test("built-in scenarios still load", function()
  local root = os.getenv("MNEM_ROOT") or "."
  for _, name in ipairs({ "empty", "parity" }) do
    local path = root .. "/stdlib/sim/scenarios/" .. name .. ".lua"
    local region_line
    local number = 0
    for text in io.lines(path) do
      number = number + 1
      if not region_line and text:find("^%s*region = ") then region_line = number end
    end
    local chunk = assert(scenario_lines.load(path))
    local scenario = chunk()
    t.eq(type(scenario), "table", name)
    t.eq(type(scenario.region), "string", name)
    t.eq(scenario_lines.line_of(scenario, "region: x"), region_line, name)
  end
end)

sim_process.stop_all()
return t.done()
