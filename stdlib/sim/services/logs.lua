-- sim.services.logs: the simulated CloudWatch Logs groups, streams and events.
--
-- GetLogEvents tokens have AWS's shape (`f/<56 digits>/s`, `b/<56 digits>/s`)
-- and encode a position in the stream's events. Reading forward past the
-- last event returns the same forward token that was sent, as AWS does.
-- FilterLogEvents understands term patterns: bare and quoted terms (all
-- must match), `-term` (must not match) and `?term` (at least one of the
-- `?` terms must match). Other simulated services write events through
-- M.append.
--
-- Scenario section (optional):
--   logs = { groups = { { name = "/ecs/app", retention_in_days = 30,
--            streams = { { name = "ecs/app/abc", events = { { timestamp = ms, message = "..." } } } } } } }
local common = require("sim.services.common")

local M = {}

M.model = "logs"

local function state(world)
  return common.state(world, "logs")
end

local function region_of(world)
  return world.region or "us-east-1"
end

local function group_arn(world, name)
  return common.arn("logs", region_of(world), world.account, "log-group:" .. name)
end

local function create_group(world, name, fields)
  local st = state(world)
  local group = {
    name = name, created = common.ms(world:now()), streams = {},
    retention = fields and fields.retention_in_days, kms_key_id = fields and fields.kms_key_id,
    tags = fields and fields.tags or {},
  }
  st.groups[name] = group
  return group
end

local function create_stream(world, group, name)
  local stream = { name = name, created = common.ms(world:now()), events = {}, bytes = 0, sequence = 1 }
  group.streams[name] = stream
  return stream
end

-- Inserts EVENT into STREAM keeping timestamp order (stable for equal times).
local function insert_event(stream, event)
  local events = stream.events
  local i = #events
  while i > 0 and events[i].timestamp > event.timestamp do i = i - 1 end
  table.insert(events, i + 1, event)
  stream.first = stream.first and math.min(stream.first, event.timestamp) or event.timestamp
  stream.last = stream.last and math.max(stream.last, event.timestamp) or event.timestamp
  stream.ingested = event.ingestionTime
  stream.bytes = stream.bytes + #event.message + 26
  stream.sequence = stream.sequence + 1
end

local function group_name(input)
  local name = input.logGroupName or input.logGroupIdentifier
  if name then name = name:match("^arn:aws:logs:[^:]*:%d+:log%-group:([^:]+)") or name end
  return name
end

local function find_group(ctx, input)
  local name = group_name(input)
  local group = name and state(ctx.world).groups[name]
  if not group then ctx.fail("ResourceNotFoundException", "The specified log group does not exist.", 400) end
  return group
end

local function find_stream(ctx, group, name)
  local stream = name and group.streams[name]
  if not stream then ctx.fail("ResourceNotFoundException", "The specified log stream does not exist.", 400) end
  return stream
end

local function check_limit(ctx, limit, maximum)
  if limit ~= nil and (limit < 1 or limit > maximum) then
    ctx.fail("InvalidParameterException", ("1 validation error detected: Value '%d' at 'limit' failed to satisfy "
      .. "constraint: Member must have value less than or equal to %d"):format(limit, maximum), 400)
  end
end

M.operations = {}

--- CreateLogGroup.
function M.operations.CreateLogGroup(ctx, input)
  local name = input.logGroupName
  if type(name) ~= "string" or not name:match("^[%w%._%-/#]+$") or #name > 512 then
    ctx.fail("InvalidParameterException", "1 validation error detected: Value at 'logGroupName' failed to satisfy "
      .. "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+", 400)
  end
  if state(ctx.world).groups[name] then
    ctx.fail("ResourceAlreadyExistsException", "The specified log group already exists", 400)
  end
  create_group(ctx.world, name, { kms_key_id = input.kmsKeyId, tags = input.tags })
  return {}
end

--- DeleteLogGroup.
function M.operations.DeleteLogGroup(ctx, input)
  local group = find_group(ctx, input)
  state(ctx.world).groups[group.name] = nil
  return {}
end

--- PutRetentionPolicy.
function M.operations.PutRetentionPolicy(ctx, input)
  find_group(ctx, input).retention = input.retentionInDays
  return {}
end

--- CreateLogStream.
function M.operations.CreateLogStream(ctx, input)
  local group = find_group(ctx, input)
  local name = input.logStreamName
  if type(name) ~= "string" or name == "" or name:find("[:*]") then
    ctx.fail("InvalidParameterException", "1 validation error detected: Value at 'logStreamName' failed to satisfy "
      .. "constraint: Member must satisfy regular expression pattern: [^:*]*", 400)
  end
  if group.streams[name] then
    ctx.fail("ResourceAlreadyExistsException", "The specified log stream already exists", 400)
  end
  create_stream(ctx.world, group, name)
  return {}
end

local function group_output(world, group)
  local bytes = 0
  for _, s in pairs(group.streams) do bytes = bytes + s.bytes end
  local arn = group_arn(world, group.name)
  return {
    logGroupName = group.name, creationTime = group.created, retentionInDays = group.retention,
    metricFilterCount = 0, arn = arn .. ":*", logGroupArn = arn, storedBytes = bytes,
    kmsKeyId = group.kms_key_id, logGroupClass = "STANDARD",
  }
end

--- DescribeLogGroups: by name prefix or pattern, paginated (limit at most 50).
function M.operations.DescribeLogGroups(ctx, input)
  check_limit(ctx, input.limit, 50)
  local out = {}
  for _, group in ipairs(common.sorted_values(state(ctx.world).groups)) do
    local keep = true
    if input.logGroupNamePrefix then keep = common.starts_with(group.name, input.logGroupNamePrefix) end
    if input.logGroupNamePattern then keep = group.name:find(input.logGroupNamePattern, 1, true) ~= nil end
    if keep then out[#out + 1] = group_output(ctx.world, group) end
  end
  local page, token = common.page(out, input.nextToken, input.limit or 50)
  if not page then ctx.fail("InvalidParameterException", "The specified nextToken is invalid.", 400) end
  return { logGroups = page, nextToken = token }
end

local function stream_output(world, group, stream)
  return {
    logStreamName = stream.name, creationTime = stream.created, firstEventTimestamp = stream.first,
    lastEventTimestamp = stream.last, lastIngestionTime = stream.ingested,
    uploadSequenceToken = ("%056d"):format(stream.sequence),
    arn = group_arn(world, group.name) .. ":log-stream:" .. stream.name, storedBytes = 0,
  }
end

--- DescribeLogStreams: orderBy LogStreamName (default) or LastEventTime,
-- descending, logStreamNamePrefix, limit (at most 50) and nextToken.
function M.operations.DescribeLogStreams(ctx, input)
  local group = find_group(ctx, input)
  check_limit(ctx, input.limit, 50)
  local order = input.orderBy or "LogStreamName"
  if order == "LastEventTime" and input.logStreamNamePrefix then
    ctx.fail("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.", 400)
  end
  local streams = {}
  for _, s in pairs(group.streams) do
    if not input.logStreamNamePrefix or common.starts_with(s.name, input.logStreamNamePrefix) then
      streams[#streams + 1] = s
    end
  end
  local descending = input.descending == true
  table.sort(streams, function(a, b)
    local ka, kb = a.name, b.name
    if order == "LastEventTime" then
      ka, kb = a.last or a.created, b.last or b.created
      if ka == kb then ka, kb = a.name, b.name end
    end
    if descending then return ka > kb end
    return ka < kb
  end)
  local out = {}
  for _, s in ipairs(streams) do out[#out + 1] = stream_output(ctx.world, group, s) end
  local page, token = common.page(out, input.nextToken, input.limit or 50)
  if not page then ctx.fail("InvalidParameterException", "The specified nextToken is invalid.", 400) end
  return { logStreams = page, nextToken = token }
end

--- PutLogEvents: appends events (sequence tokens are accepted and ignored,
-- as AWS does today). Events older than 14 days or more than 2 hours ahead
-- are rejected through rejectedLogEventsInfo.
function M.operations.PutLogEvents(ctx, input)
  local group = find_group(ctx, input)
  local stream = find_stream(ctx, group, input.logStreamName)
  local events = input.logEvents or {}
  if #events == 0 or #events > 10000 then
    ctx.fail("InvalidParameterException", "1 validation error detected: Value at 'logEvents' failed to satisfy "
      .. "constraint: Member must have length between 1 and 10000", 400)
  end
  local now = common.ms(ctx.world:now())
  local too_old, too_new
  for i, e in ipairs(events) do
    if i > 1 and e.timestamp < events[i - 1].timestamp then
      ctx.fail("InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological "
        .. "order.", 400)
    end
    if e.timestamp < now - 14 * 86400000 then
      too_old = i
    elseif e.timestamp > now + 2 * 3600000 then
      too_new = too_new or i
    else
      insert_event(stream, { timestamp = math.tointeger(e.timestamp), message = e.message, ingestionTime = now })
    end
  end
  local rejected
  if too_old or too_new then
    rejected = { tooOldLogEventEndIndex = too_old, tooNewLogEventStartIndex = too_new and (too_new - 1) }
  end
  return { nextSequenceToken = ("%056d"):format(stream.sequence), rejectedLogEventsInfo = rejected }
end

-- Forward and backward tokens: position N in the stream's events.
local function make_token(direction, n)
  return ("%s/%056d/s"):format(direction, n)
end

local function parse_token(ctx, token)
  local direction, digits = token:match("^([fb])/(%d+)/s$")
  local n = digits and math.tointeger(tonumber(digits))
  if not n then ctx.fail("InvalidParameterException", "The specified nextToken is invalid.", 400) end
  return direction, n
end

local function in_window(e, start_time, end_time)
  return (not start_time or e.timestamp >= start_time) and (not end_time or e.timestamp < end_time)
end

local function event_output(e)
  return { timestamp = e.timestamp, message = e.message, ingestionTime = e.ingestionTime }
end

--- GetLogEvents: a page of one stream, read from the head (startFromHead
-- or an `f/` token) or from the tail (default, or a `b/` token).
function M.operations.GetLogEvents(ctx, input)
  local group = find_group(ctx, input)
  local stream = find_stream(ctx, group, input.logStreamName)
  check_limit(ctx, input.limit, 10000)
  local limit = input.limit or 10000
  local events = stream.events
  local direction, position = input.startFromHead and "f" or "b", input.startFromHead and 0 or #events
  if input.nextToken then direction, position = parse_token(ctx, input.nextToken) end
  position = math.min(position, #events)
  local picked = {}
  local first, last
  if direction == "f" then
    local i = position + 1
    while i <= #events and #picked < limit do
      if in_window(events[i], input.startTime, input.endTime) then picked[#picked + 1] = events[i] end
      i = i + 1
    end
    first, last = position, i - 1
  else
    local i = position
    while i >= 1 and #picked < limit do
      if in_window(events[i], input.startTime, input.endTime) then table.insert(picked, 1, events[i]) end
      i = i - 1
    end
    first, last = i, position
  end
  local out = {}
  for _, e in ipairs(picked) do out[#out + 1] = event_output(e) end
  local forward, backward = make_token("f", last), make_token("b", first)
  if #picked == 0 and input.nextToken then
    if direction == "f" then forward = input.nextToken else backward = input.nextToken end
  end
  return { events = out, nextForwardToken = forward, nextBackwardToken = backward }
end

-- Splits a filter pattern into terms: { text, mode } with mode "all",
-- "not" or "any". Raises InvalidParameterException for JSON and
-- space-delimited patterns, which the simulator does not implement.
local function parse_pattern(ctx, pattern)
  local terms = {}
  local i = 1
  pattern = pattern or ""
  if pattern:match("^%s*[{%[]") then
    ctx.fail("InvalidParameterException", "mnem simulator supports only term filter patterns, not JSON or "
      .. "space-delimited patterns: " .. pattern, 400)
  end
  while i <= #pattern do
    local ch = pattern:sub(i, i)
    if ch:match("%s") then
      i = i + 1
    else
      local mode = "all"
      if ch == "-" or ch == "?" then
        mode = ch == "-" and "not" or "any"
        i = i + 1
      end
      local text
      if pattern:sub(i, i) == "\"" then
        local close = pattern:find("\"", i + 1, true)
        if not close then ctx.fail("InvalidParameterException", "Invalid filter pattern: unmatched quote", 400) end
        text = pattern:sub(i + 1, close - 1)
        i = close + 1
      else
        local stop = pattern:find("%s", i) or (#pattern + 1)
        text = pattern:sub(i, stop - 1)
        i = stop
      end
      if text ~= "" then terms[#terms + 1] = { text = text, mode = mode } end
    end
  end
  return terms
end

local function matches(terms, message)
  local any_seen, any_hit = false, false
  for _, t in ipairs(terms) do
    local found = message:find(t.text, 1, true) ~= nil
    if t.mode == "all" and not found then return false end
    if t.mode == "not" and found then return false end
    if t.mode == "any" then
      any_seen = true
      any_hit = any_hit or found
    end
  end
  return not any_seen or any_hit
end

--- FilterLogEvents: events of a group across streams (logStreamNames or
-- logStreamNamePrefix), in time order, matching filterPattern, paginated
-- with nextToken (limit at most 10000).
function M.operations.FilterLogEvents(ctx, input)
  local group = find_group(ctx, input)
  check_limit(ctx, input.limit, 10000)
  if input.logStreamNames and input.logStreamNamePrefix then
    ctx.fail("InvalidParameterException", "logStreamNames and logStreamNamePrefix are mutually exclusive", 400)
  end
  local terms = parse_pattern(ctx, input.filterPattern)
  local streams = {}
  if input.logStreamNames then
    for _, name in ipairs(input.logStreamNames) do streams[#streams + 1] = find_stream(ctx, group, name) end
  else
    for _, name in ipairs(common.sorted_keys(group.streams)) do
      if not input.logStreamNamePrefix or common.starts_with(name, input.logStreamNamePrefix) then
        streams[#streams + 1] = group.streams[name]
      end
    end
  end
  local found, searched = {}, {}
  for _, s in ipairs(streams) do
    searched[#searched + 1] = { logStreamName = s.name, searchedCompletely = true }
    for n, e in ipairs(s.events) do
      if in_window(e, input.startTime, input.endTime) and matches(terms, e.message) then
        found[#found + 1] = { logStreamName = s.name, timestamp = e.timestamp, message = e.message,
                              ingestionTime = e.ingestionTime, eventId = ("%s-%06d"):format(s.name, n),
                              seq = #found }
      end
    end
  end
  table.sort(found, function(a, b)
    if a.timestamp ~= b.timestamp then return a.timestamp < b.timestamp end
    return a.seq < b.seq
  end)
  for _, e in ipairs(found) do e.seq = nil end
  local page, token = common.page(found, input.nextToken, input.limit or 10000)
  if not page then ctx.fail("InvalidParameterException", "The specified nextToken is invalid.", 400) end
  return { events = page, searchedLogStreams = searched, nextToken = token }
end

--- Appends log lines for other simulated services: MESSAGES is a list of
-- strings or { timestamp = ms, message = }, written to GROUP/STREAM at
-- TIME (epoch seconds, default now). Creates the group and stream when
-- missing (as the awslogs driver does with awslogs-create-group).
function M.append(world, group_name_, stream_name, messages, time)
  local st = state(world)
  local group = st.groups[group_name_] or create_group(world, group_name_)
  local stream = group.streams[stream_name] or create_stream(world, group, stream_name)
  local base = common.ms(time or world:now())
  for i, m in ipairs(messages) do
    local e = type(m) == "table" and m or { message = m }
    local ts = math.tointeger(e.timestamp) or (base + i - 1)
    insert_event(stream, { timestamp = ts, message = e.message, ingestionTime = math.max(ts, base) + 200 })
  end
end

--- Sets up the groups and streams from the scenario's `logs` SECTION.
function M.init(world, section)
  local st = state(world)
  st.groups = {}
  common.scenario_table("logs", section, { "groups" })
  for i, g in ipairs(common.scenario_list("logs.groups", (section or {}).groups)) do
    local where = ("logs.groups[%d]"):format(i)
    common.scenario_table(where, g, { "name", "retention_in_days", "streams" })
    common.scenario_value(where .. ".name", g.name, "string")
    common.scenario_value(where .. ".retention_in_days", g.retention_in_days, "non-negative integer", true)
    for j, s in ipairs(common.scenario_list(where .. ".streams", g.streams)) do
      common.scenario_table(("%s.streams[%d]"):format(where, j), s, { "name", "events" })
      common.scenario_value(("%s.streams[%d].name"):format(where, j), s.name, "string")
      common.scenario_table(("%s.streams[%d].events"):format(where, j), s.events)
    end
    local group = create_group(world, g.name, { retention_in_days = g.retention_in_days })
    for _, s in ipairs(g.streams or {}) do
      create_stream(world, group, s.name)
      if s.events then M.append(world, g.name, s.name, s.events) end
    end
  end
end

return M
