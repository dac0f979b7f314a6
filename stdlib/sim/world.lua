-- sim.world: the simulator's world: the scenario, the accounts and keys,
-- the simulated clock, deterministic ids and randomness, and the service
-- modules with their state.
--
-- One world exists per `mnem sim serve`. Service modules (sim.services.*)
-- keep their state in world.state[name] and reach each other through
-- world:service(name). Nothing runs in the background: services advance
-- their state machines from timestamps, comparing with world:now().
local scenario_lines = require("sim.scenario_lines")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

local M = {}

--- The service modules, by the name of their file under sim/services/ and
-- of their section in a scenario.
M.SERVICES = { "sts", "rds", "ssm", "ecs", "logs", "elbv2", "application_autoscaling", "secretsmanager" }

--- The top-level keys a scenario may have. `profiles` lists the AWS CLI
-- profile names a rehearsal (`mnem run --sim`) points at the simulator.
M.SCENARIO_KEYS = {
  "name", "description", "account", "region", "credentials", "any_region", "time_scale", "seed", "profiles",
  "start_time", "faults", "postgres", "rds", "ssm", "ecs", "logs", "elbv2", "application_autoscaling",
  "secretsmanager", "sts",
}

local DEFAULT_ACCOUNT = "123456789012"
local DEFAULT_REGION = "us-east-1"

-- ---- deterministic random numbers (splitmix64 on Lua's 64-bit integers,
-- which wrap on overflow) ----

local Rng = {}
Rng.__index = Rng

--- Returns a generator seeded with the integer SEED. Two generators with
-- the same seed produce the same sequence on every machine.
function M.rng(seed)
  return setmetatable({ state = math.tointeger(seed) or 0 }, Rng)
end

--- Returns the next 64-bit integer of the sequence.
function Rng:next_integer()
  self.state = self.state + 0x9E3779B97F4A7C15
  local z = self.state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

--- Like math.random: a float in [0, 1) with no arguments, an integer in
-- [1, m] with one, in [m, n] with two.
function Rng:random(m, n)
  local float = (self:next_integer() >> 11) * (1.0 / 9007199254740992.0)
  if m == nil then return float end
  if n == nil then m, n = 1, m end
  if n < m then error(("random: empty interval [%d, %d]"):format(m, n), 2) end
  return m + math.floor(float * (n - m + 1))
end

-- ---- scenarios ----

local function closest(name, candidates)
  local best, best_distance
  for _, candidate in ipairs(candidates) do
    local a, b = name:lower(), candidate:lower()
    local previous = {}
    for j = 0, #b do previous[j] = j end
    for i = 1, #a do
      local current = { [0] = i }
      for j = 1, #b do
        local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
        current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      end
      previous = current
    end
    if not best_distance or previous[#b] < best_distance then best, best_distance = candidate, previous[#b] end
  end
  if best and best_distance <= math.max(2, #name // 3) then return best end
  return nil
end

--- Returns the message of a mistake in SCENARIO, loaded from the file
-- PATH: "invalid scenario PATH: TEXT", followed by "(at PATH:LINE)" when
-- the line of the entry that TEXT names by its key path is known.
function M.scenario_message(path, scenario, text)
  local line = scenario and scenario_lines.line_of(scenario, text)
  local message = ("invalid scenario %s: %s"):format(path, text)
  if line then message = ("%s (at %s:%d)"):format(message, path, line) end
  return message
end

local function scenario_error(path, message, scenario)
  error({ scenario_error = true, message = M.scenario_message(path, scenario, message) }, 0)
end

local function check_scenario(path, scenario)
  local known = {}
  for _, key in ipairs(M.SCENARIO_KEYS) do known[key] = true end
  for key in pairs(scenario) do
    if type(key) ~= "string" or not known[key] then
      local hint = type(key) == "string" and closest(key, M.SCENARIO_KEYS)
      local suggestion = hint and (" (did you mean " .. hint .. "?)") or ""
      scenario_error(path, ("unknown key %s%s"):format(tostring(key), suggestion), scenario)
    end
  end
  local function expect(key, kind)
    if scenario[key] ~= nil and type(scenario[key]) ~= kind then
      scenario_error(path, ("%s must be a %s, got %s"):format(key, kind, type(scenario[key])), scenario)
    end
  end
  expect("account", "string")
  expect("region", "string")
  expect("credentials", "table")
  expect("any_region", "boolean")
  expect("profiles", "table")
  expect("time_scale", "number")
  expect("seed", "number")
  expect("faults", "table")
  if scenario.time_scale and scenario.time_scale <= 0 then
    scenario_error(path, "time_scale must be a positive number of simulated seconds per real second", scenario)
  end
  for i, entry in ipairs(scenario.credentials or {}) do
    if type(entry) ~= "table" or type(entry.access_key_id) ~= "string" or type(entry.secret_access_key) ~= "string" then
      scenario_error(path, ("credentials[%d] must have string access_key_id and secret_access_key"):format(i),
        scenario)
    end
  end
end

--- Loads the scenario file at PATH: a Lua chunk returning a table. Raises
-- { scenario_error = true, message } naming the file when the file is
-- missing or invalid, and the line of a syntax or run-time error or of
-- the entry with the mistake.
function M.load_scenario(path)
  local chunk, load_error = scenario_lines.load(path)
  if not chunk then scenario_error(path, load_error) end
  local ok, scenario = pcall(chunk)
  if not ok then scenario_error(path, tostring(scenario)) end
  if type(scenario) ~= "table" then
    scenario_error(path, ("the file must return a table, it returned %s"):format(type(scenario)))
  end
  check_scenario(path, scenario)
  return scenario
end

-- ---- the world ----

local World = {}
World.__index = World

--- Returns the simulated time in epoch seconds: the start time plus the
-- real time elapsed since the world was made, times the time scale.
function World:now()
  return self.start_time + (self.clock() - self.clock_origin) * self.time_scale
end

--- Returns the simulated seconds elapsed since the simulated time START.
function World:elapsed(start)
  return self:now() - start
end

--- Returns true once at least SECONDS simulated seconds have passed since
-- the simulated time START.
function World:after(start, seconds)
  return self:now() >= start + seconds
end

--- Returns a deterministic float in [0, 1), or an integer like math.random.
function World:random(m, n)
  return self.rng:random(m, n)
end

--- Returns a new request id, formatted like a UUID, deterministic from the
-- seed and the number of ids made before.
function World:request_id()
  local a, b = self.id_rng:next_integer(), self.id_rng:next_integer()
  local hex = ("%016x%016x"):format(a, b)
  return ("%s-%s-4%s-%s%s-%s"):format(hex:sub(1, 8), hex:sub(9, 12), hex:sub(14, 16),
    ("89ab"):sub((b & 3) + 1, (b & 3) + 1), hex:sub(18, 20), hex:sub(21, 32))
end

--- Returns the ARN arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE. REGION defaults
-- to the world's region; pass "" for global services such as IAM.
function World:arn(service, resource, region)
  return ("arn:aws:%s:%s:%s:%s"):format(service, region or self.region, self.account, resource)
end

--- Returns the service module NAME (e.g. "logs"), or nil when this build
-- has none.
function World:service(name)
  return self.services[name]
end

--- Returns the credential entry for ACCESS_KEY_ID, or nil when unknown.
function World:credentials(access_key_id)
  return self.keys[access_key_id]
end

--- Adds a credential the signature check accepts: { access_key_id,
-- secret_access_key, session_token (optional), arn (optional) }. Used by
-- STS AssumeRole. The secret key and token are marked secret, except
-- keys shorter than 8 characters: marking a dummy key like "test" would
-- mask that word in every log line (resource names included).
function World:add_credentials(entry)
  assert(type(entry) == "table" and type(entry.access_key_id) == "string"
    and type(entry.secret_access_key) == "string",
    "world:add_credentials: expected { access_key_id = string, secret_access_key = string }")
  for _, value in ipairs({ entry.secret_access_key, entry.session_token or "" }) do
    if #value >= 8 then secret.mark(value) end
  end
  self.keys[entry.access_key_id] = entry
  return entry
end

-- Loads the service module NAME; nil when this build has none.
local function load_service(name)
  local ok, module = pcall(require, "sim.services." .. name)
  if ok then return module end
  if tostring(module):find("module 'sim.services." .. name .. "' not found", 1, true) then return nil end
  error(module, 0)
end

--- Makes a world. OPTIONS: scenario (a table, e.g. from load_scenario,
-- default empty); seed, time_scale and start_time, which override the
-- scenario's; clock, a function returning real seconds (default the
-- monotonic clock, and tests pass their own); services, the module names
-- to load (default M.SERVICES); scenario_path, the file named in errors.
-- Modules missing from the build are skipped. A mistake in a service's
-- section raises { scenario_error = true, message } naming the file and
-- the key.
function M.new(options)
  options = options or {}
  local scenario = options.scenario or {}
  local seed = math.tointeger(options.seed or scenario.seed or 1)
  if not seed then error("world.new: seed must be an integer", 2) end
  local self = setmetatable({
    scenario = scenario,
    account = scenario.account or DEFAULT_ACCOUNT,
    region = scenario.region or DEFAULT_REGION,
    any_region = scenario.any_region ~= false,
    time_scale = options.time_scale or scenario.time_scale or 1,
    seed = seed,
    clock = options.clock or sys.monotonic,
    start_time = options.start_time or scenario.start_time or sys.now(),
    rng = M.rng(seed),
    id_rng = M.rng(seed * 31 + 7),
    state = {},
    services = {},
    keys = {},
  }, World)
  self.clock_origin = self.clock()
  local credentials = scenario.credentials or { { access_key_id = "test", secret_access_key = "test" } }
  for _, entry in ipairs(credentials) do self:add_credentials(entry) end
  for _, name in ipairs(options.services or M.SERVICES) do
    local module = load_service(name)
    if module then
      self.state[name] = self.state[name] or {}
      self.services[name] = module
    end
  end
  for _, name in ipairs(options.services or M.SERVICES) do
    local module = self.services[name]
    if module and module.init then
      local ok, problem = pcall(module.init, self, scenario[name])
      if not ok then
        -- A service raises a string naming the key; anything else (a
        -- runtime error on a value of an unexpected type) still comes from
        -- the section, so it is reported the same way, without a traceback.
        local text = type(problem) == "table" and (problem.message or problem.code) or problem
        text = tostring(text):gsub("^[^:\n]*%.lua:%d+: ", "")
        if not text:find("^" .. name .. "[%.:%[]") then text = ("%s: %s"):format(name, text) end
        scenario_error(options.scenario_path or "table", text, scenario)
      end
    end
  end
  return self
end

return M
