-- sim.faults: injected failures for the simulator (throttling, 5xx
-- errors, added latency, dropped connections), deterministic from a seed.
--
-- A rule is { service = "ssm" (optional), operation = "GetParameter"
-- (optional), throttle = rate, error_5xx = rate, drop = rate, latency =
-- seconds or { min, max } }, rates between 0 and 1. Rules come from the
-- scenario's `faults` list, from `mnem sim serve --fault K=V` and from the
-- MNEM_SIM_FAULTS environment variable ("throttle=0.1,5xx=0.02").
local world_module = require("sim.world")

local M = {}

local RULE_KEYS = { "service", "operation", "throttle", "error_5xx", "latency", "drop" }

-- Short names accepted in --fault and MNEM_SIM_FAULTS.
local SPEC_ALIASES = { ["5xx"] = "error_5xx", error_5xx = "error_5xx", throttle = "throttle",
  latency = "latency", drop = "drop", service = "service", operation = "operation" }

-- Service names as users write them, mapped to the module names.
local SERVICE_ALIASES = {
  elasticloadbalancing = "elbv2", ["application-autoscaling"] = "application_autoscaling",
  secrets_manager = "secretsmanager", cloudwatch_logs = "logs",
}

-- The error each protocol's services return when throttling. No model of
-- these services declares a throttling error shape, so these are the codes
-- AWS sends (botocore's retry handler lists both).
local THROTTLE = {
  query = { code = "Throttling", message = "Rate exceeded", status = 400, sender_fault = true },
  json = { code = "ThrottlingException", message = "Rate exceeded", status = 400, sender_fault = true },
}

local function fail(where, message)
  error(("%s: %s"):format(where, message), 0)
end

local function check_rate(where, key, value)
  if type(value) ~= "number" or value < 0 or value > 1 then
    fail(where, ("%s must be a rate between 0 and 1, got %s"):format(key, tostring(value)))
  end
end

--- Returns a checked copy of RULE (see the module header); WHERE names it
-- in error messages. Unknown keys and invalid values raise.
function M.check_rule(rule, where)
  if type(rule) ~= "table" then fail(where, "a fault rule must be a table") end
  local copy = {}
  for key, value in pairs(rule) do
    local known = false
    for _, k in ipairs(RULE_KEYS) do known = known or k == key end
    if not known then
      fail(where, ("unknown key %s (keys: %s)"):format(tostring(key), table.concat(RULE_KEYS, ", ")))
    end
    copy[key] = value
  end
  for _, key in ipairs({ "throttle", "error_5xx", "drop" }) do
    if copy[key] ~= nil then check_rate(where, key, copy[key]) end
  end
  local latency = copy.latency
  if type(latency) == "table" then
    if type(latency[1]) ~= "number" or type(latency[2]) ~= "number" or latency[1] < 0 or latency[2] < latency[1] then
      fail(where, "latency must be seconds or { min, max } with 0 <= min <= max")
    end
  elseif latency ~= nil and (type(latency) ~= "number" or latency < 0) then
    fail(where, "latency must be seconds or { min, max } with 0 <= min <= max")
  end
  if copy.service ~= nil then
    if type(copy.service) ~= "string" then fail(where, "service must be a string") end
    local name = SERVICE_ALIASES[copy.service] or copy.service:gsub("-", "_")
    local known = false
    for _, service in ipairs(world_module.SERVICES) do known = known or service == name end
    if not known then
      fail(where, ("unknown service %s (services: %s)"):format(copy.service, table.concat(world_module.SERVICES, ", ")))
    end
    copy.service = name
  end
  if copy.operation ~= nil and type(copy.operation) ~= "string" then fail(where, "operation must be a string") end
  return copy
end

--- Parses "throttle=0.1,5xx=0.02,latency=0.05,drop=0.01,service=ssm" (or
-- one K=V item) into a rule; latency may be "MIN-MAX". Raises on errors.
function M.parse_spec(text, where)
  where = where or "fault"
  local rule = {}
  for item in tostring(text):gmatch("[^,]+") do
    local key, value = item:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    local name = key and SPEC_ALIASES[key]
    if not name then
      fail(where, ("invalid item %q: expected throttle=RATE, 5xx=RATE, latency=SECONDS, drop=RATE, "
        .. "service=NAME or operation=NAME"):format(item))
    end
    if name == "service" or name == "operation" then
      rule[name] = value
    elseif name == "latency" and value:find("^[%d.]+%-[%d.]+$") then
      local low, high = value:match("^([%d.]+)%-([%d.]+)$")
      rule.latency = { tonumber(low), tonumber(high) }
    else
      rule[name] = tonumber(value) or fail(where, ("%s needs a number, got %q"):format(key, value))
    end
  end
  return M.check_rule(rule, where)
end

local Faults = {}
Faults.__index = Faults

--- Makes the fault injector from the list RULES (checked here) and SEED.
function M.new(rules, seed)
  local checked = {}
  for i, rule in ipairs(rules or {}) do checked[i] = M.check_rule(rule, ("faults[%d]"):format(i)) end
  return setmetatable({ rules = checked, rng = world_module.rng((math.tointeger(seed) or 1) * 131 + 17) }, Faults)
end

--- Returns whether any rule is configured.
function Faults:active()
  return #self.rules > 0
end

--- Decides the fault for one request to SERVICE (module name) and
-- OPERATION. Returns nil or { drop = true } | { throttle = true } |
-- { status = 500|503 }, plus the added delay in seconds (0 when none).
-- Every matching rule draws the same number of random numbers whatever
-- the outcome, so a run with the same seed and the same requests makes the
-- same decisions.
function Faults:decide(service, operation)
  local decision, delay = nil, 0
  for _, rule in ipairs(self.rules) do
    if (rule.service == nil or rule.service == service) and (rule.operation == nil or rule.operation == operation) then
      local r_drop, r_5xx, r_throttle, r_latency, r_kind = self.rng:random(), self.rng:random(), self.rng:random(),
        self.rng:random(), self.rng:random()
      if not decision then
        if rule.drop and r_drop < rule.drop then
          decision = { drop = true }
        elseif rule.error_5xx and r_5xx < rule.error_5xx then
          decision = { status = r_kind < 0.5 and 500 or 503 }
        elseif rule.throttle and r_throttle < rule.throttle then
          decision = { throttle = true }
        end
      end
      if type(rule.latency) == "table" then
        delay = delay + rule.latency[1] + (rule.latency[2] - rule.latency[1]) * r_latency
      elseif rule.latency then
        delay = delay + rule.latency
      end
    end
  end
  return decision, delay
end

--- Returns the error a service returns for throttled requests, for
-- PROTOCOL "query" or "json": { code, message, status, sender_fault }.
function M.throttle_error(protocol)
  return THROTTLE[protocol] or THROTTLE.query
end

--- Returns the error for an injected 5xx with STATUS 500 or 503.
function M.server_error(status)
  if status == 503 then
    return { code = "ServiceUnavailable", message = "Service is unavailable (fault injected by mnem sim)",
      status = 503, sender_fault = false }
  end
  return { code = "InternalFailure", message = "The request processing has failed because of an unknown error "
    .. "(fault injected by mnem sim)", status = 500, sender_fault = false }
end

return M
