-- mnem.exec: run programs from a playbook.
--
--   exec{ "alembic", "upgrade", "heads", cwd = app_dir, timeout = "5m" }
--   exec.shell("docker info | head -1", { read_only = true })
--
-- Programs run from an argument list, never through a shell unless
-- exec.shell is called. Output streams to the log line by line as it comes
-- and is captured; a non-zero exit raises an mnem.errors value (kind
-- "exec") unless check = false. Children run in their own process group,
-- which a timeout or an interrupt stops as a whole.
local errors = require("mnem.errors")
local log = require("mnem.log")
local misuse = require("mnem.misuse")
local duration = require("mnem.duration")
local proc = require("mnem._proc")
local sys = require("mnem._sys")

local M = {}

local OPTIONS = {
  timeout = true, env = true, env_replace = true, cwd = true, stdin = true,
  check = true, stream = true, read_only = true, description = true,
  max_output = true, name = true,
}

-- After SIGTERM, how long a child gets to exit before SIGKILL.
local KILL_GRACE = 2

local function closest_option(key)
  local best, best_score
  for name in pairs(OPTIONS) do
    local score = 0
    for i = 1, math.min(#name, #key) do
      if name:sub(i, i) == key:sub(i, i) then score = score + 1 end
    end
    if not best_score or score > best_score then best, best_score = name, score end
  end
  return best
end

local function check_options(fn, options)
  for key in pairs(options) do
    if type(key) == "string" and not OPTIONS[key] then
      misuse.raise(("%s: unknown option %q (did you mean %q?)"):format(fn, key, closest_option(key)), 3)
    end
  end
end

-- Splits exec{...} into argv and options, or takes (argv, options).
local function split_arguments(fn, first, second)
  if type(first) ~= "table" then
    misuse.raise(("%s: expected a table of arguments, got %s"):format(fn, type(first)), 3)
  end
  local argv, options = {}, second or {}
  for i, v in ipairs(first) do argv[i] = v end
  if second == nil then
    options = {}
    for k, v in pairs(first) do
      if type(k) ~= "number" then options[k] = v end
    end
  end
  if #argv == 0 then misuse.raise(fn .. ": missing the program to run (argument 1)", 3) end
  for i, v in ipairs(argv) do
    local kind = type(v)
    if kind == "number" then
      argv[i] = tostring(v)
    elseif kind ~= "string" then
      misuse.raise(("%s: argument %d must be a string, got %s"):format(fn, i, kind), 3)
    end
  end
  check_options(fn, options)
  return argv, options
end

local function command_text(argv)
  local parts = {}
  for i, a in ipairs(argv) do
    parts[i] = a:find("[%s'\"]") and ("'" .. a:gsub("'", "'\\''") .. "'") or a
  end
  return table.concat(parts, " ")
end

-- The variables a rehearsal (`mnem run --sim`) sets to keep programs on
-- loopback: the proxy variables aim every other host at a closed loopback
-- port. A child of a rehearsal always gets the rehearsal's values, whatever
-- OPTIONS.env sets, so env = { HTTPS_PROXY = ... } or env_replace cannot
-- take it off loopback.
local REHEARSAL_VARIABLES = {
  "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NO_PROXY", "no_proxy",
  "MNEM_REHEARSAL", "AWS_EC2_METADATA_DISABLED",
}

-- The environment for the child: the current one with OPTIONS.env merged
-- in, or OPTIONS.env alone when env_replace is set. Nil means inherit.
local function child_environment(options)
  if not options.env then return nil end
  local merged, fixed = {}, {}
  if require("mnem.rehearsal").active() then
    for _, name in ipairs(REHEARSAL_VARIABLES) do
      local value = os.getenv(name)
      if value then fixed[name] = value end
    end
  end
  if not options.env_replace then
    for _, entry in ipairs(sys.environ()) do
      local name = entry:match("^([^=]+)=")
      if name and options.env[name] == nil and not fixed[name] then merged[#merged + 1] = entry end
    end
  end
  for name, value in pairs(options.env) do
    if value ~= false and not fixed[name] then merged[#merged + 1] = name .. "=" .. tostring(value) end
  end
  for name, value in pairs(fixed) do merged[#merged + 1] = name .. "=" .. value end
  return merged
end

local function engine_remaining()
  local engine = package.loaded["mnem.engine"]
  if engine and engine.remaining then return engine.remaining() end
  return nil
end

local function record_call(fields)
  local record = package.loaded["mnem.record"]
  if record and record.primitive then record.primitive(fields) end
end

-- Keeps at most LIMIT bytes of a stream: the head is dropped first.
local function append_capped(buffer, chunk, limit)
  buffer.size = buffer.size + #chunk
  buffer[#buffer + 1] = chunk
  while buffer.size > limit and #buffer > 1 do
    buffer.size = buffer.size - #table.remove(buffer, 1)
    buffer.truncated = true
  end
end

-- Logs complete lines of CHUNK as they arrive; keeps the partial tail.
local function stream_lines(state, chunk, label, fields)
  state.pending = state.pending .. chunk
  while true do
    local line, rest = state.pending:match("^([^\n]*)\n(.*)$")
    if not line then break end
    state.pending = rest
    log.info(label .. ": " .. line, fields)
  end
end

-- Returns the last line of TEXT that contains a letter, else its last
-- line that is not blank. A program's last line is often a marker under
-- the error, such as psql's "^" below the failing position.
local function last_line(text)
  local tail, worded
  for line in text:gmatch("[^\n]+") do
    if line:match("%S") then tail = line end
    if line:match("%a") then worded = line end
  end
  return worded or tail
end

local function stop_child(child)
  child:kill("TERM")
  local status = child:wait(KILL_GRACE)
  if status then return status end
  child:kill("KILL")
  return child:wait()
end

local function run(argv, options, fn)
  require("mnem.dryrun").check_known({ argv, options })
  local started = sys.monotonic()
  local description = options.description or command_text(argv)
  local name = options.name or argv[1]:match("[^/]+$")

  local dryrun = package.loaded["mnem.dryrun"]
  if dryrun and dryrun.active() and not options.read_only then
    return dryrun.would("exec " .. description, { argv = argv, cwd = options.cwd })
  end

  local timeout = options.timeout and duration.parse(options.timeout, fn .. ": timeout")
  local remaining = engine_remaining()
  local capped = false
  if remaining and (not timeout or remaining < timeout) then timeout, capped = math.max(remaining, 0), true end
  local limit = options.max_output or 16 * 1024 * 1024
  local stream = options.stream ~= false

  local child, spawn_error = proc.spawn{
    argv = argv, env = child_environment(options), cwd = options.cwd,
    stdin = options.stdin ~= nil, stdout = "pipe", stderr = "pipe",
  }
  if not child then
    record_call{ name = "exec", args = { argv = argv }, status = "error", error = spawn_error }
    errors.raise({ kind = "exec", code = "NotFound", message = spawn_error .. " (check the program name and PATH)",
                   command = description }, 3)
  end
  if stream then log.info("running " .. description) end

  local stdin = options.stdin and tostring(options.stdin) or nil
  local out, err = { size = 0 }, { size = 0 }
  local out_lines, err_lines = { pending = "" }, { pending = "" }
  -- Text lines already start with the program's name, so only JSON lines
  -- carry it as a field.
  local fields = log.format() == "json" and { command = name } or nil
  local status, failure

  while true do
    if stdin then
      if #stdin == 0 then
        child:close_stdin()
        stdin = nil
      else
        stdin = stdin:sub(child:write(stdin) + 1)
      end
    end
    local got = child:read(0.1)
    if got.stdout then
      append_capped(out, got.stdout, limit)
      if stream then stream_lines(out_lines, got.stdout, name, fields) end
    end
    if got.stderr then
      append_capped(err, got.stderr, limit)
      if stream then stream_lines(err_lines, got.stderr, name .. " (stderr)", fields) end
    end
    if not got.open then
      status = child:wait(0.05)
      if status then break end
    end
    if sys.signal() then
      stop_child(child)
      failure = { kind = "interrupted", code = "Interrupted",
                  message = ("%s was stopped by %s"):format(description, sys.signal()) }
      break
    end
    if timeout and sys.monotonic() - started > timeout then
      stop_child(child)
      failure = { kind = "exec", code = "Timeout", retryable = true,
                  message = ("%s timed out after %s"):format(description, duration.format(timeout)) }
      break
    end
  end
  if stream then
    if out_lines.pending ~= "" then log.info(name .. ": " .. out_lines.pending, fields) end
    if err_lines.pending ~= "" then log.info(name .. " (stderr): " .. err_lines.pending, fields) end
  end

  local result = {
    stdout = table.concat(out), stderr = table.concat(err),
    duration = sys.monotonic() - started, command = description,
  }
  if status then
    result.code, result.signal = status.code, status.signal
    result.ok = status.code == 0
  end
  record_call{ name = "exec", args = { argv = argv, cwd = options.cwd },
               status = (failure or not result.ok) and "error" or "ok",
               exit_code = result.code, duration = result.duration }
  if failure then
    -- A command cut short by the step's deadline fails as that timeout. Its
    -- clock started before the deadline was read, so it runs out first.
    local engine = package.loaded["mnem.engine"]
    if capped and failure.code == "Timeout" and engine and engine.check_deadline then engine.check_deadline(true) end
    failure.command, failure.stdout, failure.stderr = description, result.stdout, result.stderr
    errors.raise(failure, 3)
  end
  if not result.ok and options.check ~= false then
    local how = result.signal and ("was killed by signal " .. result.signal)
                or ("exited with status " .. result.code)
    local hint = last_line(result.stderr) or last_line(result.stdout)
    errors.raise({ kind = "exec", code = "ExitStatus", exit_status = result.code, signal = result.signal,
                   message = description .. " " .. how .. (hint and (": " .. hint) or ""),
                   command = description, stdout = result.stdout, stderr = result.stderr }, 3)
  end
  return result
end

--- Runs a program and waits for it.
-- Call as exec{ "prog", "arg", option = ... } or exec.run({ "prog", "arg" }, options).
-- Options: timeout (seconds or "5m"), env (table merged into the current
-- environment; env_replace = true to pass only it), cwd, stdin (string),
-- check (default true: a non-zero exit raises), stream (default true: log
-- output lines), read_only (default false: in dry-run the program is not
-- run unless this is true), description, max_output (bytes kept per stream).
-- Returns { code, signal, ok, stdout, stderr, duration, command }.
-- Raises kind "exec" errors with code NotFound, ExitStatus or Timeout, and
-- kind "interrupted" on SIGINT/SIGTERM.
function M.run(argv, options)
  local list, opts = split_arguments("exec.run", argv, options)
  return run(list, opts, "exec.run")
end

--- Runs COMMAND with /bin/sh -c, for pipelines and redirections.
-- Takes the same options as exec.run.
function M.shell(command, options)
  if type(command) ~= "string" then
    misuse.raise(("exec.shell: expected a command string, got %s"):format(type(command)), 2)
  end
  check_options("exec.shell", options or {})
  local copy = { description = command, name = "sh" }
  for k, v in pairs(options or {}) do copy[k] = v end
  return run({ "/bin/sh", "-c", command }, copy, "exec.shell")
end

--- Starts a program in the background and returns its handle:
-- handle.pid, handle:wait([seconds]) -> status or nil, handle:stop()
-- (SIGTERM, then SIGKILL after a grace period), handle:read([seconds]).
-- Options: env, env_replace, cwd, stdout/stderr ("pipe", "inherit",
-- "null", or an absolute file path to append to; default "null"). The child is killed when the handle is
-- collected or closed.
function M.spawn(argv, options)
  options = options or {}
  local child, message = proc.spawn{
    argv = argv, env = child_environment(options), cwd = options.cwd,
    stdout = options.stdout or "null", stderr = options.stderr or "null",
  }
  if not child then
    errors.raise({ kind = "exec", code = "NotFound", message = message, command = command_text(argv) }, 2)
  end
  local handle = { pid = child:pid(), process = child }
  function handle.wait(_, seconds) return child:wait(seconds) end
  function handle.read(_, seconds) return child:read(seconds) end
  function handle.kill(_, signal) child:kill(signal) end
  function handle.stop() return stop_child(child) end
  function handle.close() child:close() end
  return handle
end

return setmetatable(M, {
  __call = function(_, argv, options)
    local list, opts = split_arguments("exec", argv, options)
    return run(list, opts, "exec")
  end,
})
