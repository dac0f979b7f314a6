-- bench/floor.lua: the floor of the call benchmarks.
--
--   mnem script bench/floor.lua SPEC ENDPOINT ROUNDS
--
-- Sends the same HTTP requests as bench/calls.lua, but each request is
-- serialized and signed once before the timed loop and then replayed
-- unchanged over one kept-alive libcurl session, and the responses are
-- only checked for status 200, never parsed. What remains is libcurl, the
-- loopback round trip and the simulator's own time: the limit any client
-- on this machine could reach. The "@taskArns" parameter is filled once,
-- before the loop, from a real list_tasks call.
-- With ROUNDS 0 it prepares the requests and sends none.
-- Prints one JSON line: { calls =, loop_seconds = }.
local aws = require("aws")
local cjson = require("cjson")
local endpoints = require("aws.endpoints")
local model = require("aws.model")
local protocol = require("aws.protocol")
local curl = require("mnem._curl")
local sigv4 = require("mnem._sigv4")
local sys = require("mnem._sys")

local spec_path, endpoint, rounds_text = ...
local rounds = math.tointeger(tonumber(rounds_text or ""))
if not spec_path or not endpoint or not rounds then
  error("usage: mnem script bench/floor.lua SPEC ENDPOINT ROUNDS", 0)
end

local REGION = "eu-west-1"

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function integers(value)
  if type(value) == "number" then return math.tointeger(value) or value end
  if type(value) ~= "table" then return value end
  for k, v in pairs(value) do value[k] = integers(v) end
  return value
end

-- Returns the task ARNs the "@taskArns" parameter stands for, or an empty
-- list when no request uses it.
local function task_arns_for(requests)
  for _, r in ipairs(requests) do
    for _, v in pairs(r.params) do
      if v == "@taskArns" then
        local client = aws.client{ endpoint_url = endpoint, region = REGION }
        for _, list in ipairs(requests) do
          if list.operation == "list_tasks" then
            return client[list.service][list.operation](list.params).taskArns
          end
        end
      end
    end
  end
  return {}
end

-- Returns { url =, headers =, body =, method = } for one request, signed
-- now with the dummy credentials the benchmark uses.
local function prepare(request, task_arns)
  local m = model.load(request.service)
  local operation = m:operation(request.operation).name
  local params = {}
  for k, v in pairs(request.params) do
    params[k] = v == "@taskArns" and task_arns or v
  end
  local built = protocol.for_model(m).build_request(m, operation, params)
  local scheme, authority, base_path = endpoints.split(endpoint)
  local path = base_path .. built.path
  local headers = { { "Host", authority } }
  for _, h in ipairs(built.headers or {}) do headers[#headers + 1] = { h[1], h[2] } end
  local signed = sigv4.sign{
    method = built.method, path = path, query = "", headers = headers, body = built.body or "",
    access_key = "test", secret_key = "test", region = REGION,
    service = endpoints.signing_name(m), time = sys.now(),
  }
  for _, h in ipairs(signed.headers or {}) do headers[#headers + 1] = { h[1], h[2] } end
  headers[#headers + 1] = { "Authorization", signed.authorization }
  return { method = built.method, url = scheme .. "://" .. authority .. path, headers = headers, body = built.body }
end

local requests = integers(cjson.decode(read_file(spec_path)))
-- Prepared even for ROUNDS 0, so the start-up run the driver subtracts
-- includes the preparation too.
local prepared = {}
local task_arns = task_arns_for(requests)
for i, r in ipairs(requests) do prepared[i] = prepare(r, task_arns) end

local session = curl.session()
local calls = 0
local started = sys.monotonic()
for _ = 1, rounds do
  for _, p in ipairs(prepared) do
    local response, failure = session:request(p)
    if not response then error("floor: request failed: " .. cjson.encode(failure), 0) end
    if response.status ~= 200 then
      error(("floor: %s returned HTTP %d: %s"):format(p.url, response.status, response.body), 0)
    end
    calls = calls + 1
  end
end
local elapsed = sys.monotonic() - started
session:close()
io.stdout:write(cjson.encode({ calls = calls, loop_seconds = elapsed }), "\n")
