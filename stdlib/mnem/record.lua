-- mnem.record: the append-only run record.
--
-- Every run writes one JSON object per line to
-- <state dir>/runs/<run id>.jsonl (folder mode 0700, file mode 0600). The
-- state dir is --state-dir, else $XDG_STATE_HOME/mnem, else
-- ~/.local/state/mnem. Each line is written with a single write(2), so a
-- killed process leaves only whole lines, at most with a cut last line that
-- `read` skips. Every value passes through mnem.secret.redact_value before
-- it is encoded. Each line has `event`, `time` (ISO 8601 UTC) and `elapsed`
-- (seconds since the run started); the events are listed in
-- docs/playbooks.md.
local cjson = require("cjson")
local errors = require("mnem.errors")
local secret = require("mnem.secret")
local sys = require("mnem._sys")

local M = {}

local json = cjson.new()
json.encode_sparse_array(true)
json.encode_max_depth(64)

local active = nil   -- the record of the run in progress, if any

local MAX_DEPTH = 20

-- Top-level record fields whose values the engine picks from a fixed set
-- of words, so they never hold a secret and are never masked.
local FIXED_VALUES = { status = true, kind = true, reason = true }

--- Returns number N as JSON can hold it: NaN and the infinities, which
-- JSON has no literal for, become the strings "nan", "inf" and "-inf".
function M.plain_number(n)
  if n ~= n then return "nan" end
  if n == math.huge then return "inf" end
  if n == -math.huge then return "-inf" end
  return n
end

--- Returns the one-line message of string error TEXT and its Lua stack
-- traceback (nil when it has none).
function M.split_traceback(text)
  local message, traceback = text:match("^(.-)\n%s*(stack traceback:.*)$")
  if message then return message, traceback end
  return text, nil
end

--- Returns a plain, acyclic copy of VALUE that cjson can encode: error
-- values keep their fields plus `text` (their one-line form), functions and
-- userdata become short descriptions, dry-run placeholders their text.
-- Tables are read with raw access, so their metamethods do not run, except
-- the __tostring of mnem errors and placeholders.
function M.plain(value, depth, seen)
  local kind = type(value)
  if kind == "number" then return M.plain_number(value) end
  if kind == "string" or kind == "boolean" or kind == "nil" then return value end
  if kind ~= "table" then return "<" .. kind .. ">" end
  depth, seen = depth or 0, seen or {}
  local mt = getmetatable(value)
  if type(mt) == "table" and rawget(mt, "__name") == "mnem.Unknown" then return tostring(value) end
  if seen[value] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "<too deep>" end
  seen[value] = true
  local copy = {}
  -- next, not pairs: a playbook's __pairs metamethod must not run here.
  for k, v in next, value do
    local key = M.plain(k, depth + 1, seen)
    if type(key) ~= "number" then key = tostring(key) end
    copy[key] = M.plain(v, depth + 1, seen)
  end
  if errors.is(value) then
    local ok, text = pcall(tostring, value)
    copy.text = ok and text or "(its text cannot be shown)"
  end
  seen[value] = nil
  return copy
end

-- Moves the Lua traceback of each string `error` field in the plain value
-- ENTRY (the line, or an entry such as one of run_end's rollback_failed)
-- to a `traceback` field beside it, so `error` is its one-line message.
local function split_errors(entry)
  if type(entry.error) == "string" and entry.traceback == nil then
    entry.error, entry.traceback = M.split_traceback(entry.error)
  end
  for key, value in pairs(entry) do
    if type(value) == "table" and key ~= "outputs" and key ~= "args" and key ~= "vars" then split_errors(value) end
  end
end

-- Returns FIELDS as a plain, redacted line for the record. The fields the
-- record's structure rests on are kept out of redaction: a short secret
-- ("e", "1204", "status") must not turn a field name, the event name, the
-- run id or a status word into the mask. Top-level field names are the
-- engine's own, so they are kept, as are values chosen from a fixed set.
local function plain_line(fields)
  local line = M.plain(fields or {})
  split_errors(line)
  local redacted = {}
  for key, value in pairs(line) do
    redacted[key] = FIXED_VALUES[key] and value or secret.redact_value(value)
  end
  return redacted
end

local function timestamp(now)
  local seconds = math.floor(now)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. (".%03dZ"):format(math.floor((now - seconds) * 1000))
end

--- Returns the state folder: DIR when given, else $XDG_STATE_HOME/mnem,
-- else ~/.local/state/mnem.
function M.state_dir(dir)
  if dir and dir ~= "" then return dir end
  local xdg = os.getenv("XDG_STATE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/mnem" end
  local home = os.getenv("HOME")
  if not home or home == "" then
    error("cannot find the state folder: HOME and XDG_STATE_HOME are unset; use --state-dir", 0)
  end
  return home .. "/.local/state/mnem"
end

--- Returns the folder holding the run records under state folder DIR.
function M.runs_dir(dir)
  return M.state_dir(dir) .. "/runs"
end

--- Returns a new run id: UTC start time to the millisecond and six random
-- hex digits, such as 20261204T160305.042Z-ab12cd, so ids sort by start
-- time even for runs started in the same second.
function M.new_id()
  local hex = sys.random_bytes(3):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
  local now = sys.now()
  local seconds = math.floor(now)
  local millis = math.min(999, math.floor((now - seconds) * 1000))
  return os.date("!%Y%m%dT%H%M%S", seconds) .. (".%03dZ-"):format(millis) .. hex
end

local Record = {}
Record.__index = Record

--- Opens a new run record in the runs folder of state folder OPTIONS.dir
-- with id OPTIONS.id (new when absent) and makes it the active record.
-- Raises a string error when the folder or file cannot be created.
function M.open(options)
  options = options or {}
  local folder = M.runs_dir(options.dir)
  local ok, message = sys.mkdir_p(folder, tonumber("700", 8))
  if not ok then error("cannot create the run record folder: " .. message, 0) end
  local id = options.id or M.new_id()
  local path = folder .. "/" .. id .. ".jsonl"
  local file, open_error = sys.open_record(path)
  if not file then error("cannot create the run record: " .. open_error, 0) end
  -- `step` is the step running now, set by the engine for primitive lines.
  local rec = setmetatable({ id = id, path = path, file = file, started = sys.monotonic(), step = nil }, Record)
  active = rec
  return rec
end

--- Appends one line for event NAME with FIELDS (redacted, made plain).
-- A value cjson cannot encode is replaced by its text, never dropped.
function Record:event(name, fields)
  if not self.file then return end
  local now = sys.now()
  -- Fields can hold values from playbook code (outputs, raised error
  -- values) whose metamethods may raise; the line is written all the same.
  local converted, line = pcall(plain_line, fields)
  if not converted then line = { encode_error = secret.redact(tostring(line)) } end
  line.event = name
  line.time = timestamp(now)
  line.elapsed = math.floor((sys.monotonic() - self.started) * 1000 + 0.5) / 1000
  line.run = self.id
  local ok, encoded = pcall(json.encode, line)
  if not ok then
    encoded = json.encode({ event = name, time = line.time, run = self.id,
                            encode_error = secret.redact(tostring(encoded)) })
  end
  self.file:write(encoded .. "\n")
end

--- Flushes the record to disk; the engine calls it at every step boundary.
function Record:sync()
  if self.file then self.file:sync() end
end

--- Closes the record and, when it is the active one, clears it.
function Record:close()
  if self.file then self.file:close() end
  self.file = nil
  if active == self then active = nil end
end

--- Returns the active record, or nil when no run is in progress.
function M.active() return active end

--- Appends event NAME with FIELDS to the active record; does nothing when
-- no run is active.
function M.event(name, fields)
  if active then active:event(name, fields) end
end

--- Records one primitive call: { name = "aws.rds.create_db_instance",
-- args = {...}, status = "ok"|"error", error = err, duration = seconds,
-- ... }, with the current step added. Primitives call it after each call;
-- a no-op when no run is active.
function M.primitive(call)
  if not active then return end
  if type(call) ~= "table" then error("record.primitive: expected a table, got a " .. type(call), 2) end
  local fields = {}
  for k, v in pairs(call) do fields[k] = v end
  if fields.step == nil then fields.step = active.step end
  active:event("primitive", fields)
end

--- Reads the run record at PATH and returns its events (a list of tables)
-- and whether the last line was cut short (a killed writer). A whole line
-- that is not JSON becomes { event = "unreadable", line = N }. Returns nil
-- and a message when the file cannot be opened.
function M.read(path)
  local f, message = io.open(path, "rb")
  if not f then return nil, message end
  local data = f:read("a")
  f:close()
  local events, truncated, number = {}, false, 0
  for line, newline in data:gmatch("([^\n]*)(\n?)") do
    if line == "" and newline == "" then break end
    number = number + 1
    local ok, value = pcall(json.decode, line)
    if ok and type(value) == "table" then
      events[#events + 1] = value
    elseif newline == "" then
      truncated = true
    elseif line ~= "" then
      events[#events + 1] = { event = "unreadable", line = number }
    end
  end
  return events, truncated
end

--- Returns nil when EVENTS (as returned by `read`) start like a run
-- record, else a short text saying what is wrong with them.
function M.problem(events)
  if #events == 0 then return "it has no events" end
  local first = events[1]
  if first.event ~= "run_start" then return "its first line is not a run_start event" end
  if type(first.run) ~= "string" or type(first.name) ~= "string" or type(first.time) ~= "string" then
    return "its run_start line has fields of the wrong type (run, name and time must be strings)"
  end
  return nil
end

-- Returns the first line of the file at PATH, or nil when it cannot be read.
local function read_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local line = f:read("l")
  f:close()
  return line
end

--- Returns this host's name (from /proc, else $HOSTNAME), or nil.
function M.hostname()
  return read_line("/proc/sys/kernel/hostname") or os.getenv("HOSTNAME")
end

--- Returns the id of the running Linux kernel boot, which changes at each
-- restart, or nil where /proc does not provide it.
function M.boot_id()
  return read_line("/proc/sys/kernel/random/boot_id")
end

--- Returns the start time of process PID in clock ticks since boot and
-- its state letter ("Z" for a zombie), both read from /proc/PID/stat.
-- Returns nil when no such process is visible.
function M.process_start(pid)
  local stat = read_line("/proc/" .. tostring(pid) .. "/stat")
  if not stat then return nil end
  -- The command name in brackets may contain spaces and brackets, so the
  -- fields are counted from the last ")": state is field 3, starttime 22.
  local fields = {}
  for field in stat:match(".*%)%s+(.*)$"):gmatch("%S+") do fields[#fields + 1] = field end
  return math.tointeger(tonumber(fields[20])), fields[1]
end

-- Returns whether the program of live process PID is mnem, judged by the
-- file name of its argv[0]; nil when its command line cannot be read.
local function runs_mnem(pid)
  local f = io.open("/proc/" .. tostring(pid) .. "/cmdline", "rb")
  if not f then return nil end
  local cmdline = f:read("a") or ""
  f:close()
  local program = cmdline:match("^[^%z]*"):match("[^/]*$")
  return program:find("mnem", 1, true) ~= nil
end

--- Returns why the run summarized by S (from `summarize`) is abandoned:
-- it has no run_end line, it ran on this host, and its process is gone.
-- Returns nil when the run ended, ran on another host, or may still run.
-- The process counts as gone when no process has the recorded pid, when
-- it is a zombie, or when the host restarted since the run started. It is
-- also gone when the pid now belongs to a process that started at another
-- time. A record without a start time only allows checking that the
-- process with that pid runs mnem.
-- NOTE: a process of another user can be hidden from /proc (mount option
-- hidepid); its run then reads as abandoned.
function M.abandoned(s)
  -- cjson decodes every number as a float; /proc paths need the integer.
  local pid = math.tointeger(s.pid)
  if s.status ~= "running" or not pid or pid <= 0 or not s.host or s.host ~= M.hostname() then return nil end
  local process = ("process %d on %s"):format(pid, s.host)
  -- A boot id that secret masking changed (a short secret occurring in it)
  -- is not a UUID any more and is ignored.
  local boot_id = s.boot_id and s.boot_id:match("^%x+%-%x+%-%x+%-%x+%-%x+$")
  if boot_id and boot_id ~= M.boot_id() then
    return process .. " is no longer running: the host restarted since the run started"
  end
  local started, state = M.process_start(pid)
  if not started or state == "Z" then return process .. " is no longer running" end
  if s.process_start then
    if started ~= s.process_start then
      return process .. " is no longer running: the pid now belongs to another process"
    end
    return nil
  end
  if runs_mnem(pid) == false then
    return process .. " is not mnem: the run's process ended and the pid was reused"
  end
  return nil
end

--- Summarizes EVENTS (as returned by `read`): id, playbook, name, status,
-- started (time text), duration in seconds, error text, interrupted_during
-- ("rollback" when a signal stopped the rollbacks), counts, rehearsal
-- ({ scenario } for `mnem run --sim`), and the host,
-- pid, boot_id and process_start of the process that ran it.
-- Fields of the wrong type (a damaged or hand-edited record) are left out.
function M.summarize(events)
  local function str(v) return type(v) == "string" and v or nil end
  local function num(v) return type(v) == "number" and v or nil end
  local s = { status = "running", steps = 0, changes = 0, problems = 0 }
  for _, e in ipairs(events) do
    if e.event == "run_start" then
      s.id, s.playbook, s.name, s.started = str(e.run), str(e.playbook), str(e.name), str(e.time)
      s.dry_run = e.dry_run == true
      s.rehearsal = type(e.rehearsal) == "table" and { scenario = str(e.rehearsal.scenario) } or nil
      s.host, s.pid, s.boot_id, s.process_start = str(e.host), num(e.pid), str(e.boot_id), num(e.process_start)
    elseif e.event == "run_end" then
      s.status, s.duration, s.error = str(e.status) or "unknown", num(e.duration), e.error
      s.interrupted_during = str(e.interrupted_during)
    elseif e.event == "step_finish" then
      s.steps = s.steps + 1
    elseif e.event == "change" then
      s.changes = s.changes + 1
    elseif e.event == "problem" then
      s.problems = s.problems + 1
    end
  end
  return s
end

--- Returns the run ids in the runs folder of state folder DIR, newest
-- first (ids sort by start time). A missing folder gives an empty list.
function M.list(dir)
  local names = sys.list_dir(M.runs_dir(dir)) or {}
  local ids = {}
  for _, name in ipairs(names) do
    local id = name:match("^(.+)%.jsonl$")
    if id then ids[#ids + 1] = id end
  end
  table.sort(ids, function(a, b) return a > b end)
  return ids
end

--- Returns the path of run ID's record under state folder DIR, and the full
-- id. ID may be any unique prefix of a run id, or "last" for the newest
-- run. Raises a string error when no run or several runs match.
function M.find(dir, id)
  local ids = M.list(dir)
  if id == "last" or id == "latest" then
    if not ids[1] then error("no runs recorded in " .. M.runs_dir(dir), 0) end
    return M.runs_dir(dir) .. "/" .. ids[1] .. ".jsonl", ids[1]
  end
  local found = {}
  for _, candidate in ipairs(ids) do
    if candidate == id then found = { candidate } break end
    if candidate:sub(1, #id) == id then found[#found + 1] = candidate end
  end
  if #found == 0 then error(("no run %q in %s (mnem runs lists them)"):format(id, M.runs_dir(dir)), 0) end
  if #found > 1 then
    error(("run id %q is ambiguous: it matches %s"):format(id, table.concat(found, ", ", 1, math.min(#found, 5))), 0)
  end
  return M.runs_dir(dir) .. "/" .. found[1] .. ".jsonl", found[1]
end

return M
