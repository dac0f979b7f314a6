-- mnem.cli: the command line. main.c calls `main(args)` and exits with
-- the integer it returns.
--
-- Each subcommand lives in its own module under mnem.cmd, loaded only when
-- it runs, and exports `summary` (one line), `usage` (the help text) and
-- `main(args)` returning an exit code. Exit codes: 0 success, 1 the
-- playbook or operation failed, 2 usage error or invalid playbook,
-- 130 interrupted.
local log = require("mnem.log")
local secret = require("mnem.secret")

local M = {}

M.VERSION = "0.1.0"

M.EXIT = { ok = 0, failed = 1, usage = 2, interrupted = 130 }

-- Listed in the order `mnem --help` shows them.
local COMMANDS = {
  { name = "run", module = "mnem.cmd.run" },
  { name = "check", module = "mnem.cmd.check" },
  { name = "plan", module = "mnem.cmd.plan" },
  { name = "runs", module = "mnem.cmd.runs" },
  { name = "show", module = "mnem.cmd.show" },
  { name = "report", module = "mnem.cmd.report" },
  { name = "aws", module = "mnem.cmd.aws" },
  { name = "sim", module = "mnem.cmd.sim" },
  { name = "script", module = "mnem.cmd.script" },
}

local by_name = {}
for _, c in ipairs(COMMANDS) do by_name[c.name] = c end

local function load_command(entry)
  local ok, module = pcall(require, entry.module)
  if not ok then return nil, module end
  return module
end

local function print_help()
  local out = { ("mnem %s: run operations playbooks against AWS and PostgreSQL"):format(M.VERSION),
                "", "usage: mnem COMMAND [ARGS]", "", "commands:" }
  for _, c in ipairs(COMMANDS) do
    local module = load_command(c)
    out[#out + 1] = ("  %-8s %s"):format(c.name, module and module.summary or "(not available in this build)")
  end
  out[#out + 1] = ""
  out[#out + 1] = "mnem help COMMAND shows one command's options; mnem --version prints the version."
  out[#out + 1] = "Documentation: docs/playbooks.md, docs/architecture.md, docs/simulator.md"
  io.stdout:write(table.concat(out, "\n"), "\n")
end

--- A usage error: raised by commands with `error(cli.usage_error(msg))`,
-- printed without a traceback, exit status 2.
function M.usage_error(message)
  return setmetatable({ message = message, exit = M.EXIT.usage },
    { __tostring = function(e) return e.message end })
end

-- Returns " (did you mean X?)" for the name among the keys of NAMES
-- closest to NAME, or "" when none is close.
local function did_you_mean(name, names)
  local list = {}
  for known in pairs(names) do list[#list + 1] = known end
  table.sort(list)
  local hint = require("mnem.retry").closest(name, list)
  return hint and (" (did you mean %s?)"):format(hint) or ""
end

--- Parses ARGS against SPEC, a table of option name (with its dashes) to
-- "flag", "string" or "list". Returns options (keyed by name without dashes,
-- "-" turned into "_") and the positional arguments. "--name=value" and
-- "--name value" both work; "--" ends the options.
function M.parse_args(args, spec, command)
  local options, positional = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i + 1, #args do positional[#positional + 1] = args[j] end
      break
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      local name, inline = a:match("^(%-%-?[^=]+)=(.*)$")
      name = name or a
      local kind = spec[name]
      if not kind then
        error(M.usage_error(("mnem %s: unknown option %s%s; see mnem help %s"):format(command, name,
          did_you_mean(name, spec), command)), 0)
      end
      local key = name:gsub("^%-+", ""):gsub("%-", "_")
      if kind == "flag" then
        if inline then error(M.usage_error(("mnem %s: option %s takes no value"):format(command, name)), 0) end
        options[key] = true
      else
        local value = inline
        if not value then
          i = i + 1
          value = args[i]
          if value == nil then
            error(M.usage_error(("mnem %s: option %s needs a value"):format(command, name)), 0)
          end
        end
        if kind == "list" then
          options[key] = options[key] or {}
          table.insert(options[key], value)
        else
          options[key] = value
        end
      end
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  return options, positional
end

local function report_failure(err)
  if type(err) == "table" and err.exit then
    local message = tostring(err.message or err)
    -- Commands name themselves ("mnem run: ..."); add the prefix only once.
    if message:sub(1, 5) ~= "mnem " and message:sub(1, 5) ~= "mnem:" then message = "mnem: " .. message end
    io.stderr:write(secret.redact(message), "\n")
    return err.exit
  end
  io.stderr:write(secret.redact("mnem: internal error: " .. tostring(err)), "\n")
  return M.EXIT.failed
end

-- Environment variables whose values are secrets wherever they appear.
local SECRET_VARIABLES = { "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "PGPASSWORD" }

--- Runs the command line ARGS (without the program name).
function M.main(args)
  local first = args[1]
  if first == nil or first == "--help" or first == "-h" then
    print_help()
    return first and M.EXIT.ok or M.EXIT.usage
  end
  if first == "--version" or first == "version" then
    io.stdout:write("mnem ", M.VERSION, "\n")
    return M.EXIT.ok
  end
  if first == "help" then
    local entry = args[2] and by_name[args[2]]
    if not args[2] then print_help() return M.EXIT.ok end
    if not entry then
      io.stderr:write(("mnem: unknown command %q; run mnem --help for the list\n"):format(args[2]))
      return M.EXIT.usage
    end
    local module, err = load_command(entry)
    if not module then return report_failure(err) end
    io.stdout:write(module.usage, "\n")
    return M.EXIT.ok
  end
  local entry = by_name[first]
  if not entry then
    io.stderr:write(("mnem: unknown command %q%s; run mnem --help for the list\n"):format(first,
      did_you_mean(first, by_name)))
    return M.EXIT.usage
  end
  local module, load_error = load_command(entry)
  if not module then return report_failure(load_error) end
  -- Secrets the environment hands to the AWS SDKs and libpq are masked from
  -- the start, so a command that prints them (a step running `env`) shows
  -- the mask even before any AWS or pg call has read them.
  for _, name in ipairs(SECRET_VARIABLES) do secret.mark(os.getenv(name)) end
  -- Logs go to stderr unbuffered. Line buffering keeps what a command
  -- prints to stdout in order with them when both go to one pipe or file.
  io.stdout:setvbuf("line")
  local rest = table.move(args, 2, #args, 1, {})
  for _, a in ipairs(rest) do
    if a == "--help" or a == "-h" then
      io.stdout:write(module.usage, "\n")
      return M.EXIT.ok
    end
  end
  local ok, result = xpcall(module.main, function(e)
    if type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
  end, rest)
  log.progress_done()
  if not ok then return report_failure(result) end
  return math.tointeger(result) or M.EXIT.ok
end

return M
