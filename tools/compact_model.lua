-- compact_model.lua: turn one service's botocore data into mnem's model file.
--
-- Usage: lua5.4 tools/compact_model.lua BOTOCORE_SERVICE_DIR OUTPUT.json
--
-- BOTOCORE_SERVICE_DIR is e.g. /usr/lib/python3/dist-packages/botocore/data/rds;
-- the newest API version folder in it is used. The output is one JSON object
-- { metadata, operations, shapes, waiters, paginators } with documentation,
-- examples and endpoint rule sets dropped, so it is small enough to build into
-- the binary. Shapes are kept exactly as published: nothing is hand-written.
local cjson = require("cjson")

local service_dir, output = arg[1], arg[2]
if not service_dir or not output then
  io.stderr:write("usage: compact_model.lua BOTOCORE_SERVICE_DIR OUTPUT.json\n")
  os.exit(2)
end

local function read_json(path, optional)
  local f = io.open(path, "rb")
  if not f then
    local gz = io.popen("gzip -dc '" .. path .. ".gz' 2>/dev/null")
    local text = gz and gz:read("a") or ""
    if gz then gz:close() end
    if text ~= "" then return cjson.decode(text) end
    if optional then return nil end
    error("missing model file " .. path)
  end
  local text = f:read("a")
  f:close()
  return cjson.decode(text)
end

-- API versions are dated folder names, so the greatest one is the newest.
local newest
local listing = io.popen("ls -1 '" .. service_dir .. "'")
for name in listing:lines() do
  if name:match("^%d%d%d%d%-%d%d%-%d%d$") and (not newest or name > newest) then
    newest = name
  end
end
listing:close()
if not newest then error("no API version folder in " .. service_dir) end
local dir = service_dir .. "/" .. newest

local DROPPED = { documentation = true, documentationUrl = true, examples = true,
                  deprecatedMessage = true }

local function strip(value)
  if type(value) ~= "table" then return value end
  for key, inner in pairs(value) do
    if DROPPED[key] then value[key] = nil else strip(inner) end
  end
  return value
end

local service = read_json(dir .. "/service-2.json")
local waiters = read_json(dir .. "/waiters-2.json", true)
local paginators = read_json(dir .. "/paginators-1.json", true)

local model = {
  metadata = strip(service.metadata),
  operations = strip(service.operations),
  shapes = strip(service.shapes),
  waiters = waiters and waiters.waiters or {},
  paginators = paginators and paginators.pagination or {},
}
model.metadata.apiVersionFolder = newest

local out = assert(io.open(output, "wb"))
out:write(cjson.encode(model))
out:close()
