-- bench/calls.lua: the mnem client of the call benchmarks.
--
--   mnem script bench/calls.lua SPEC ENDPOINT ROUNDS
--
-- SPEC is a JSON file written by bench/run.py: a list of requests
-- { service =, operation = (snake case), params = {} }. The script makes
-- one aws client for ENDPOINT and sends the whole list ROUNDS times, each
-- call through the full path a playbook uses (validation, serialization,
-- signing, sending, parsing). A parameter whose value is the string
-- "@taskArns" takes the taskArns of the latest list_tasks output.
-- With ROUNDS 0 it only loads the models, the HTTP library and makes the
-- client, so the driver can subtract that start-up from the cost per call.
-- Prints one JSON line: { calls =, loop_seconds = }.
local aws = require("aws")
local cjson = require("cjson")
local sys = require("mnem._sys")

local spec_path, endpoint, rounds_text = ...
local rounds = math.tointeger(tonumber(rounds_text or ""))
if not spec_path or not endpoint or not rounds then
  error("usage: mnem script bench/calls.lua SPEC ENDPOINT ROUNDS", 0)
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- cjson decodes every JSON number as a float; AWS integer members need
-- Lua integers.
local function integers(value)
  if type(value) == "number" then return math.tointeger(value) or value end
  if type(value) ~= "table" then return value end
  for k, v in pairs(value) do value[k] = integers(v) end
  return value
end

-- mnem loads its libcurl binding on the first request. It is loaded here
-- so that start-up includes it, as boto3's start-up includes importing
-- urllib3 and floor.lua's includes making its session.
require("mnem._curl")

local requests = integers(cjson.decode(read_file(spec_path)))
local client = aws.client{ endpoint_url = endpoint, region = "eu-west-1" }
local services = {}
for i, r in ipairs(requests) do
  services[i] = client[r.service]
end

local task_arns = {}

local function call(index, request)
  local params = {}
  for k, v in pairs(request.params) do
    if v == "@taskArns" then v = task_arns end
    params[k] = v
  end
  local output = services[index][request.operation](params)
  if request.operation == "list_tasks" then task_arns = output.taskArns end
end

local calls = 0
local started = sys.monotonic()
for _ = 1, rounds do
  for i, request in ipairs(requests) do
    call(i, request)
    calls = calls + 1
  end
end
local elapsed = sys.monotonic() - started
io.stdout:write(cjson.encode({ calls = calls, loop_seconds = elapsed }), "\n")
