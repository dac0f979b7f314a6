-- aws.model: the AWS service models built into mnem, and lookups on them.
--
-- Each model is botocore's published service model, compacted at build
-- time (tools/compact_model.lua) and embedded as models/<service>.json:
-- { metadata, operations, shapes, waiters, paginators }. Structure shapes
-- also carry memberOrder, the member names in the order the published
-- model lists them, because JSON objects decoded into Lua tables lose it and
-- query request bodies are ordered by it.
local cjson = require("cjson")
local embed = require("mnem._embed")

local M = {}

-- The botocore data folder names of the services built into mnem.
local SERVICES = { "rds", "ssm", "ecs", "logs", "elbv2", "application-autoscaling", "sts", "secretsmanager" }

local KNOWN = {}
for _, name in ipairs(SERVICES) do KNOWN[name] = true end

-- Other spellings playbooks use for the same services. "autoscaling" is
-- deliberately absent: it names EC2 Auto Scaling, a different service.
local ALIASES = {
  application_autoscaling = "application-autoscaling",
  applicationautoscaling = "application-autoscaling",
  ["app-autoscaling"] = "application-autoscaling",
  secrets_manager = "secretsmanager",
  ["secrets-manager"] = "secretsmanager",
  cloudwatch_logs = "logs",
  ["cloudwatch-logs"] = "logs",
  cloudwatchlogs = "logs",
  elasticloadbalancingv2 = "elbv2",
  elb_v2 = "elbv2",
  ["elb-v2"] = "elbv2",
}

local cache = {}

local Model = {}
Model.__index = Model
Model.__name = "aws.Model"

--- Returns the list of service names built into mnem (botocore folder names).
function M.services()
  return table.move(SERVICES, 1, #SERVICES, 1, {})
end

--- Returns the botocore folder name for NAME, accepting case differences,
-- underscores for dashes and the aliases above. Raises when NAME names no
-- service built into mnem, listing the known ones.
function M.canonical_name(name)
  if type(name) ~= "string" then
    error(("aws.model: invalid service name: expected a string, got %s"):format(type(name)), 2)
  end
  local lower = name:lower()
  if KNOWN[lower] then return lower end
  if ALIASES[lower] then return ALIASES[lower] end
  local dashed = lower:gsub("_", "-")
  if KNOWN[dashed] then return dashed end
  if ALIASES[dashed] then return ALIASES[dashed] end
  local hint = M.closest(name, SERVICES)
  error(("aws.model: unknown service %q%s; known services: %s"):format(
    name, hint and (" (did you mean " .. hint .. "?)") or "", table.concat(SERVICES, ", ")), 2)
end

-- snake_case -----------------------------------------------------------------

--- Converts an AWS CamelCase name to boto3's snake_case exactly as
-- xform_name in botocore 1.29 (Debian's python3-botocore) does. A name that
-- already contains "_" is returned unchanged. A trailing run of two or more
-- capitals followed by "s" ("ARNs") becomes "_arns". Then "_" goes before
-- each capital that starts a lowercase run, and between a lowercase letter
-- or digit and a capital, scanning left to right without overlap, as
-- botocore's two regular expressions do (Lua's gsub scans the same way).
-- NOTE: botocore also hard-codes a few names of other services
-- ("CreateCachediSCSIVolume", "ExecutePartiQLStatement", ...); those are
-- not special-cased here because no built-in model has them.
function M.snake_case(name)
  if name:find("_", 1, true) then return name end
  local head, acronym = name:match("^(.-)(%u%u+s)$")
  if head then name = head .. "_" .. acronym:lower() end
  name = name:gsub("(.)(%u%l+)", "%1_%2")
  return (name:gsub("([%l%d])(%u)", "%1_%2"):lower())
end

-- Suggestions -------------------------------------------------------------

-- Levenshtein distance between two strings.
local function edit_distance(a, b)
  local previous = {}
  for j = 0, #b do previous[j] = j end
  for i = 1, #a do
    local current = { [0] = i }
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = (ca == b:byte(j)) and 0 or 1
      current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[#b]
end

--- Returns the entry of CANDIDATES (a list of strings) closest to NAME by
-- case-insensitive edit distance, or nil when none is close enough to be a
-- plausible typo (distance above a third of the longer name, minimum 2).
function M.closest(name, candidates)
  if type(name) ~= "string" then return nil end
  local lower = name:lower()
  local best, best_distance
  for _, candidate in ipairs(candidates) do
    local distance = edit_distance(lower, candidate:lower())
    if not best_distance or distance < best_distance then
      best, best_distance = candidate, distance
    end
  end
  if not best then return nil end
  local limit = math.max(2, math.max(#name, #best) // 3)
  if best_distance > limit then return nil end
  return best
end

-- Loading -----------------------------------------------------------------

--- Returns the model of SERVICE (any name canonical_name accepts), loading
-- and decoding it on first use and caching it afterwards.
function M.load(service)
  local name = M.canonical_name(service)
  if cache[name] then return cache[name] end
  local text = embed.read("models/" .. name .. ".json")
  if not text then error("aws.model: the model of " .. name .. " is not built into this mnem binary", 2) end
  local model = cjson.decode(text)
  model.service = name
  model.waiters = model.waiters or {}
  model.paginators = model.paginators or {}
  local snake = {}
  for operation_name in pairs(model.operations) do
    snake[M.snake_case(operation_name)] = operation_name
  end
  model.snake_names = snake
  setmetatable(model, Model)
  cache[name] = model
  return model
end

--- Returns the operation table for NAME, given as the AWS name
-- ("DescribeDBInstances") or boto3's snake_case ("describe_db_instances"),
-- or nil when the service has no such operation.
function Model:operation(name)
  if type(name) ~= "string" then return nil end
  return self.operations[name] or self.operations[self.snake_names[name] or false]
end

--- Returns the sorted list of the service's AWS operation names.
function Model:operation_names()
  local names = {}
  for name in pairs(self.operations) do names[#names + 1] = name end
  table.sort(names)
  return names
end

--- Returns the shape named NAME, or nil.
function Model:shape(name)
  return self.shapes[name]
end

--- Returns the member names of structure SHAPE (a shape table or name) in
-- the published model's order; sorted names when the order is unknown.
function Model:member_names(shape)
  if type(shape) == "string" then shape = self.shapes[shape] end
  if not shape or not shape.members then return {} end
  if shape.memberOrder then return shape.memberOrder end
  local names = {}
  for member in pairs(shape.members) do names[#names + 1] = member end
  table.sort(names)
  shape.memberOrder = names
  return names
end

--- Returns the entry of CANDIDATES closest to NAME (see aws.model.closest).
function Model.closest(_, candidates, name)
  return M.closest(name, candidates)
end

return M
