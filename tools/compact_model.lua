-- compact_model.lua: turn one service's botocore data into mnem's model file.
--
-- Usage: lua5.4 tools/compact_model.lua BOTOCORE_SERVICE_DIR OUTPUT.json
--
-- BOTOCORE_SERVICE_DIR is e.g. /usr/lib/python3/dist-packages/botocore/data/rds;
-- the newest API version folder in it is used. The output is one JSON object
-- { metadata, operations, shapes, waiters, paginators } with documentation,
-- examples and endpoint rule sets dropped, so it is small enough to build into
-- the binary. Shapes are kept exactly as published: nothing is hand-written.
-- One field is added: each structure shape gets memberOrder, its member
-- names in the published order, because decoding JSON into Lua tables loses
-- that order and query request bodies list members in it.
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

-- Returns, for each shape of the service JSON TEXT that has "members", the
-- member names in the order the text lists them. This scanner reads just
-- enough JSON to follow the nesting: strings, objects and arrays; other
-- values are skipped.
local function member_orders(text)
  local pos = 1
  local orders = {}

  local function skip_space()
    pos = text:find("[^ \t\r\n]", pos) or #text + 1
  end

  local function read_string()
    local start = pos + 1
    local i = start
    while true do
      local c = text:sub(i, i)
      if c == "\\" then
        i = i + 2
      elseif c == '"' then
        break
      elseif c == "" then
        error("unterminated string in model JSON")
      else
        i = i + 1
      end
    end
    pos = i + 1
    return cjson.decode(text:sub(start - 1, i))
  end

  -- Reads one value; PATH is the list of keys leading to it.
  local function read_value(path)
    skip_space()
    local c = text:sub(pos, pos)
    if c == "{" then
      pos = pos + 1
      local keys = {}
      skip_space()
      if text:sub(pos, pos) == "}" then pos = pos + 1 return end
      while true do
        skip_space()
        local key = read_string()
        keys[#keys + 1] = key
        skip_space()
        pos = pos + 1 -- the colon
        path[#path + 1] = key
        read_value(path)
        path[#path] = nil
        skip_space()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == "}" then break end
      end
      if #path == 3 and path[1] == "shapes" and path[3] == "members" then orders[path[2]] = keys end
    elseif c == "[" then
      pos = pos + 1
      skip_space()
      if text:sub(pos, pos) == "]" then pos = pos + 1 return end
      while true do
        path[#path + 1] = false
        read_value(path)
        path[#path] = nil
        skip_space()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == "]" then break end
      end
    elseif c == '"' then
      read_string()
    else
      pos = text:find("[,}%]]", pos) or #text + 1
    end
  end

  read_value({})
  return orders
end

local function read_text(path)
  local f = io.open(path, "rb")
  if f then
    local text = f:read("a")
    f:close()
    return text
  end
  local gz = assert(io.popen("gzip -dc '" .. path .. ".gz'"))
  local text = gz:read("a")
  gz:close()
  return text
end

local service_text = read_text(dir .. "/service-2.json")
local service = cjson.decode(service_text)
for shape_name, order in pairs(member_orders(service_text)) do
  local shape = service.shapes[shape_name]
  for _, member in ipairs(order) do
    assert(shape.members[member], "member order scan disagrees with the model at " .. shape_name)
  end
  shape.memberOrder = order
end
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
