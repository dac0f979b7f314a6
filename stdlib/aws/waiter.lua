-- aws.waiter: waits until an AWS resource reaches a state, driven by the
-- published waiter definitions (botocore's waiters-2.json, embedded in the
-- service models) plus mnem's fail-fast acceptors (aws.waiter_extra).
--
--   aws.rds.wait("db_instance_available", { DBInstanceIdentifier = "db1" },
--                { timeout = "40m", leave_state = "available" })
--
-- A wait calls the waiter's operation, checks the acceptors in order and
-- stops at the first that matches: "success" returns, "failure" raises at
-- once naming the state, "retry" (or no match) polls again after the
-- interval. An AWS error that no acceptor matches ends the wait with that
-- error, as botocore does. Running out of time raises a "timeout" error
-- naming the last state seen.
local duration = require("mnem.duration")
local errors = require("mnem.errors")
local extra = require("aws.waiter_extra")
local jmespath = require("jmespath")
local log = require("mnem.log")
local misuse = require("mnem.misuse")
local model_lib = require("aws.model")
local sys = require("mnem._sys")

local M = {}

local OPTIONS = {
  "timeout", "interval", "description", "on_poll", "min_polls", "leave_state", "expect_change", "grace",
}

local MATCHERS = { path = true, pathAll = true, pathAny = true, status = true, error = true }
local STATES = { success = true, failure = true, retry = true }

-- Plain (non-terminal) progress lines repeat an unchanged state at most
-- this often, so long waits stay visible in CI logs without flooding them.
local UNCHANGED_LOG_INTERVAL = 30

-- Polls that the settling phase (leave_state, expect_change) lasts at most
-- when no grace option is given: a resource that never shows the change
-- (a modification AWS applied at once) still ends the wait.
local DEFAULT_GRACE_POLLS = 2

-- Compiled definitions by model, then by AWS waiter name.
local compiled = setmetatable({}, { __mode = "k" })

-- Definitions ----------------------------------------------------------------

local function compile_acceptor(service_name, waiter_name, acceptor, added)
  local where = ("aws.waiter: %s %s acceptor"):format(service_name, waiter_name)
  if not MATCHERS[acceptor.matcher] then
    error(("%s has an unknown matcher %q"):format(where, tostring(acceptor.matcher)), 0)
  end
  if not STATES[acceptor.state] then
    error(("%s has an unknown state %q"):format(where, tostring(acceptor.state)), 0)
  end
  local copy = {
    state = acceptor.state, matcher = acceptor.matcher, argument = acceptor.argument,
    expected = acceptor.expected, reason = acceptor.reason, added = added,
  }
  if acceptor.matcher:match("^path") then
    copy.expression = jmespath.compile(acceptor.argument)
  end
  return copy
end

local function same_acceptor(a, b)
  return a.matcher == b.matcher and a.argument == b.argument and a.expected == b.expected and a.state == b.state
end

-- Returns mnem's added acceptors for the waiter that the published list
-- does not already contain.
local function missing_additions(service_name, waiter_name, published)
  local additions = (extra.failure_acceptors[service_name] or {})[waiter_name] or {}
  local missing = {}
  for _, addition in ipairs(additions) do
    local present = false
    for _, acceptor in ipairs(published) do
      if same_acceptor(addition, acceptor) then present = true end
    end
    if not present then missing[#missing + 1] = addition end
  end
  return missing
end

-- Picks the expression whose value is the progress text: the waiter_extra
-- override, else the first path acceptor that compares with a non-boolean
-- (a status field, not a computed true/false), else any path acceptor.
local function state_expression(service_name, waiter_name, acceptors)
  local override = (extra.state_expressions[service_name] or {})[waiter_name]
  if override then return jmespath.compile(override) end
  local fallback
  for _, acceptor in ipairs(acceptors) do
    if acceptor.expression then
      if type(acceptor.expected) ~= "boolean" then return acceptor.expression end
      fallback = fallback or acceptor.expression
    end
  end
  return fallback
end

local function waiter_names(model)
  local names = {}
  for name in pairs(model.waiters) do names[#names + 1] = model_lib.snake_case(name) end
  table.sort(names)
  return names
end

-- Returns the AWS name of waiter NAME (snake case or AWS name) in MODEL.
local function resolve_name(model, name, where)
  if type(name) ~= "string" then
    error(("%s: waiter name must be a string, got %s"):format(where, type(name)), 0)
  end
  if model.waiters[name] then return name end
  for aws_name in pairs(model.waiters) do
    if model_lib.snake_case(aws_name) == name then return aws_name end
  end
  local names = waiter_names(model)
  local hint = model_lib.closest(name, names)
  error(("%s: unknown waiter %q for %s%s; waiters: %s"):format(where, name, model.service or "this service",
    hint and (" (did you mean " .. hint .. "?)") or "", #names > 0 and table.concat(names, ", ") or "none"), 0)
end

--- Returns the compiled definition of waiter NAME (snake case or AWS name)
-- of MODEL (an aws.model model): { name, snake_name, service, operation,
-- delay, max_attempts, acceptors, state }, where acceptors lists mnem's
-- additions first (marked `added = true`) and then the published ones,
-- each path argument compiled as JMESPath. Raises when the waiter does not
-- exist or a definition is invalid. Does not touch the network.
function M.definition(model, name)
  local aws_name = resolve_name(model, name, "aws.waiter")
  local by_name = compiled[model]
  if not by_name then
    by_name = {}
    compiled[model] = by_name
  end
  if by_name[aws_name] then return by_name[aws_name] end
  local service_name = model.service or "aws"
  local published = model.waiters[aws_name]
  local acceptors = {}
  for _, acceptor in ipairs(missing_additions(service_name, aws_name, published.acceptors)) do
    acceptors[#acceptors + 1] = compile_acceptor(service_name, aws_name, acceptor, true)
  end
  for _, acceptor in ipairs(published.acceptors) do
    acceptors[#acceptors + 1] = compile_acceptor(service_name, aws_name, acceptor, false)
  end
  local definition = {
    name = aws_name,
    snake_name = model_lib.snake_case(aws_name),
    service = service_name,
    operation = published.operation,
    delay = published.delay,
    max_attempts = published.maxAttempts,
    acceptors = acceptors,
    state = state_expression(service_name, aws_name, acceptors),
  }
  by_name[aws_name] = definition
  return definition
end

--- Returns the snake-case names of MODEL's waiters, sorted.
function M.names(model)
  return waiter_names(model)
end

-- Matching -------------------------------------------------------------------

-- Returns whether ACCEPTOR matches a poll that returned OUTPUT or failed
-- with ERR (an AWS error value).
local function matches(acceptor, output, err)
  local matcher, expected = acceptor.matcher, acceptor.expected
  if matcher == "error" then
    if expected == true then return err ~= nil end
    if expected == false then return err == nil end
    return err ~= nil and err.code == expected
  end
  if matcher == "status" then
    -- An operation that returned an output got an HTTP 200 response.
    local status = err and err.http_status or 200
    return status == expected
  end
  if err then return false end
  local result = acceptor.expression:search(output)
  if matcher == "path" then return jmespath.equal(result, expected) end
  if jmespath.type(result) ~= "array" then return false end
  if matcher == "pathAny" then
    for _, value in ipairs(result) do
      if jmespath.equal(value, expected) then return true end
    end
    return false
  end
  if #result == 0 then return false end
  for _, value in ipairs(result) do
    if not jmespath.equal(value, expected) then return false end
  end
  return true
end

local function first_match(acceptors, output, err)
  for _, acceptor in ipairs(acceptors) do
    if matches(acceptor, output, err) then return acceptor end
  end
  return nil
end

-- Progress texts -------------------------------------------------------------

local function value_text(value)
  if value == nil or value == jmespath.null then return "null" end
  if type(value) == "table" then
    local parts = {}
    if jmespath.type(value) == "array" then
      for i, element in ipairs(value) do
        if type(element) == "table" then return jmespath.encode_json(value) end
        parts[i] = tostring(element)
      end
      return #parts > 0 and table.concat(parts, ", ") or "(none)"
    end
    return jmespath.encode_json(value)
  end
  return tostring(value)
end

-- Returns the short text of the state a poll observed.
local function observed_state(definition, output, err)
  if err then return "error " .. tostring(err.code) end
  if not definition.state then return "(no state field)" end
  local ok, value = pcall(definition.state.search, definition.state, output)
  if not ok then return "(state unreadable)" end
  local text = value_text(value)
  if #text > 200 then text = text:sub(1, 197) .. "..." end
  return text
end

-- Returns the field an acceptor looks at, for messages: the last name of
-- a plain path ("DBInstanceStatus"), else the whole argument.
local function acceptor_subject(acceptor)
  if acceptor.matcher == "error" then return "error" end
  if acceptor.matcher == "status" then return "HTTP status" end
  local argument = acceptor.argument or ""
  if argument:match("^[%w_%.%[%]]+$") then return argument:match("([%w_]+)[%[%]]*$") or argument end
  return argument
end

local function expected_text(expected)
  if type(expected) == "string" then return ("%q"):format(expected) end
  return tostring(expected)
end

local function params_summary(params)
  local parts, keys = {}, {}
  for key in pairs(params) do
    if type(key) == "string" then keys[#keys + 1] = key end
  end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local value = params[key]
    if type(value) == "string" or type(value) == "number" then
      parts[#parts + 1] = key .. "=" .. tostring(value)
    elseif type(value) == "table" and #value > 0 and type(value[1]) ~= "table" then
      parts[#parts + 1] = key .. "=" .. table.concat(value, ",", 1, math.min(#value, 3))
        .. (#value > 3 and ",..." or "")
    end
    if #parts == 3 then break end
  end
  return table.concat(parts, " ")
end

-- Options --------------------------------------------------------------------

local function check_options(options, where)
  if options == nil then return {} end
  if type(options) ~= "table" then
    misuse.raise(("%s: options must be a table, got %s"):format(where, type(options)), 0)
  end
  local valid = {}
  for _, key in ipairs(OPTIONS) do valid[key] = true end
  for key in pairs(options) do
    if not valid[key] then
      local hint = model_lib.closest(tostring(key), OPTIONS)
      misuse.raise(("%s: unknown option %q%s; valid options: %s"):format(where, tostring(key),
        hint and (" (did you mean " .. hint .. "?)") or "", table.concat(OPTIONS, ", ")), 0)
    end
  end
  if options.on_poll ~= nil and type(options.on_poll) ~= "function" then
    misuse.raise(("%s: on_poll must be a function, got %s"):format(where, type(options.on_poll)), 0)
  end
  if options.min_polls ~= nil and math.type(options.min_polls) ~= "integer" then
    misuse.raise(("%s: min_polls must be an integer, got %s"):format(where, tostring(options.min_polls)), 0)
  end
  if options.leave_state ~= nil and type(options.leave_state) ~= "string" then
    misuse.raise(("%s: leave_state must be a state name string, got %s"):format(where, type(options.leave_state)), 0)
  end
  if options.expect_change ~= nil and type(options.expect_change) ~= "boolean" then
    misuse.raise(("%s: expect_change must be a boolean, got %s"):format(where, type(options.expect_change)), 0)
  end
  if options.description ~= nil and type(options.description) ~= "string" then
    misuse.raise(("%s: description must be a string, got %s"):format(where, type(options.description)), 0)
  end
  return options
end

local function engine_remaining()
  local ok, engine = pcall(require, "mnem.engine")
  if not ok or type(engine) ~= "table" or type(engine.remaining) ~= "function" then return nil end
  local remaining = engine.remaining()
  return type(remaining) == "number" and remaining or nil
end

-- The wait loop ----------------------------------------------------------------

-- One wait in progress: what it awaits, its clock and what it has seen.
local Wait = {}
Wait.__index = Wait

function Wait:elapsed()
  return sys.monotonic() - self.started
end

function Wait:report(state)
  local elapsed = self:elapsed()
  local line = ("waiting for %s: %s (%s elapsed, %s left)"):format(self.what, state, duration.format(elapsed),
    duration.format(math.max(self.deadline - sys.monotonic(), 0)))
  if log.interactive() then
    log.progress(line)
  elseif state ~= self.logged_state or elapsed - self.logged_at >= UNCHANGED_LOG_INTERVAL then
    log.info(line)
    self.logged_state, self.logged_at = state, elapsed
  end
end

function Wait:fail(fields)
  log.progress_done()
  fields.service, fields.waiter, fields.last_state = self.service_name, self.waiter_name, self.last_state
  fields.retryable = false
  error(errors.new(fields), 0)
end

function Wait:fail_acceptor(acceptor)
  local why = acceptor.added and ("mnem fail-fast acceptor: " .. acceptor.reason) or "acceptor failure"
  self:fail{
    kind = "waiter", code = "WaiterFailure", acceptor = acceptor,
    message = ("%s failed: %s is %s (%s)"):format(self.name, acceptor_subject(acceptor),
      expected_text(acceptor.expected), why),
  }
end

function Wait:fail_timeout()
  self:fail{
    kind = "timeout", code = "WaiterTimeout",
    message = ("timed out after %s waiting for %s; last state: %s%s"):format(duration.format(self:elapsed()),
      self.name, self.last_state or "(none)", self.capped and " (limited by the step or run deadline)" or ""),
  }
end

function Wait:fail_interrupted()
  self:fail{
    kind = "interrupted", code = "Interrupted",
    message = ("interrupted by %s while waiting for %s; last state: %s"):format(sys.signal() or "a signal",
      self.name, self.last_state or "(none)"),
  }
end

-- Returns whether the settling phase (leave_state, expect_change) is over
-- after a poll that observed STATE.
function Wait:settled(state)
  if self.changed then return true end
  if self.leave_state then
    self.changed = state ~= self.leave_state
  elseif self.baseline == nil then
    self.baseline = state
  else
    self.changed = state ~= self.baseline
  end
  if not self.changed and self:elapsed() >= self.grace then
    log.info(("%s: no change from %s seen within %s; accepting the current state"):format(self.name, state,
      duration.format(self.grace)))
    self.changed = true
  end
  return self.changed
end

-- Calls the operation once. Returns the output, or nil and the AWS error
-- the call raised; other errors (misuse, interrupts) are raised again.
function Wait:poll()
  local ok, result = pcall(self.call, self.params)
  if ok then return result, nil end
  if errors.is(result) and result.kind == "aws" and result.code ~= "Interrupted" then
    return nil, result
  end
  log.progress_done()
  error(result, 0)
end

-- Returns the outcome of one poll: "success", "failure", "error" or
-- "retry", and the acceptor that decided it.
function Wait:decide(output, err, state)
  local acceptor = first_match(self.acceptors, output, err)
  local settled = self:settled(state)
  if not acceptor then return err and "error" or "retry", nil end
  if not settled and self.leave_state and state == self.leave_state then return "retry", acceptor end
  if acceptor.state == "success" and (not settled or self.polls < self.min_polls) then return "retry", acceptor end
  return acceptor.state, acceptor
end

function Wait:run()
  log.info(("waiting for %s (timeout %s, polling every %s)"):format(self.what, duration.format(self.timeout),
    duration.format(self.interval)))
  while true do
    self.polls = self.polls + 1
    local output, err = self:poll()
    local state = observed_state(self.definition, output, err)
    self.last_state = state
    if self.on_poll then self.on_poll(output or err, state) end
    local outcome, acceptor = self:decide(output, err, state)
    if outcome == "success" then
      log.progress_done()
      log.info(("%s: done after %s (%d poll%s); state: %s"):format(self.name, duration.format(self:elapsed()),
        self.polls, self.polls == 1 and "" or "s", state))
      return output, state
    elseif outcome == "failure" then
      self:fail_acceptor(acceptor)
    elseif outcome == "error" then
      log.progress_done()
      err.waiter = self.name
      error(err, 0)
    end
    self:report(state)
    require("mnem.dryrun").check_wait(self.what, state)
    local left = self.deadline - sys.monotonic()
    if left <= 0 then self:fail_timeout() end
    if not sys.sleep(math.min(self.interval, left)) then self:fail_interrupted() end
  end
end

--- Waits until waiter NAME (snake case such as "db_instance_available",
-- or the AWS name) of SERVICE succeeds, polling its operation with PARAMS.
-- SERVICE is an aws client service object: `name`, `model`, and an
-- operation function per snake-case operation name. OPTIONS (all optional):
--   timeout        seconds or a duration ("40m"); default delay * maxAttempts
--                  of the definition, capped by the step or run deadline
--   interval       seconds or a duration between polls; default the delay
--   description    what is awaited, for progress lines (default: PARAMS)
--   on_poll        function(output_or_error, state_text) called each poll
--   min_polls      success is not accepted before this many polls
--   leave_state    a state the resource is leaving, such as "available"
--                  after a modification: polls that still show it are not
--                  accepted (neither success nor failure) until another
--                  state was seen or the grace time passed
--   expect_change  true: success is not accepted until the state differs
--                  from the first poll's or the grace time passed
--   grace          seconds or a duration; default 2 intervals
-- Returns the last output (nil when an error acceptor succeeded) and the
-- state text. Raises a "waiter" error (code WaiterFailure) when a failure
-- acceptor matches, the AWS error when no acceptor matches one, a
-- "timeout" error (code WaiterTimeout) naming the last state, and an
-- "interrupted" error on SIGINT/SIGTERM. Waits and touches the network.
function M.wait(service, name, params, options)
  if type(service) ~= "table" or type(service.model) ~= "table" then
    error("aws.waiter.wait: argument 1 must be an aws service object", 2)
  end
  local where = ("aws.%s.wait"):format(service.name or "service")
  params = params or {}
  if type(params) ~= "table" then
    error(("%s: parameters must be a table, got %s"):format(where, type(params)), 2)
  end
  local ok, definition = pcall(M.definition, service.model, name)
  if not ok then error((tostring(definition):gsub("^aws%.waiter", where)), 2) end
  options = check_options(options, where)
  local self = M.prepare(service, definition, params, options, where)
  return self:run()
end

--- Builds the state of one wait from a compiled DEFINITION; used by `wait`.
function M.prepare(service, definition, params, options, where)
  local interval = options.interval and duration.parse(options.interval, where .. ": interval") or definition.delay
  local timeout = options.timeout and duration.parse(options.timeout, where .. ": timeout")
    or definition.delay * definition.max_attempts
  local grace = options.grace and duration.parse(options.grace, where .. ": grace")
    or DEFAULT_GRACE_POLLS * interval
  local capped = false
  local remaining = engine_remaining()
  if remaining and remaining < timeout then timeout, capped = math.max(remaining, 0), true end
  local snake_operation = model_lib.snake_case(definition.operation)
  local call = service[snake_operation]
  if type(call) ~= "function" then
    error(("%s: the service has no operation %s"):format(where, snake_operation), 0)
  end
  local name = ("%s %s"):format(service.name or definition.service, definition.snake_name)
  local summary = options.description or params_summary(params)
  local started = sys.monotonic()
  return setmetatable({
    name = name,
    what = summary ~= "" and ("%s (%s)"):format(name, summary) or name,
    service_name = service.name or definition.service,
    waiter_name = definition.snake_name,
    definition = definition,
    acceptors = definition.acceptors,
    call = call,
    params = params,
    on_poll = options.on_poll,
    min_polls = options.min_polls or 0,
    leave_state = options.leave_state,
    changed = not (options.leave_state or options.expect_change),
    interval = interval,
    timeout = timeout,
    grace = grace,
    capped = capped,
    started = started,
    deadline = started + timeout,
    polls = 0,
    logged_at = 0,
  }, Wait)
end

return M
