-- mnem.errors: the structured error values raised by primitives.
--
-- Failures of the outside world (an AWS error, an SQL error, an HTTP
-- failure, a command that exited non-zero, a timeout) are raised as tables
-- made here, never as bare strings, so retry policies can match them by
-- code and the engine can record them. Fields every error has:
--   kind       "aws", "pg", "http", "exec", "timeout", "interrupted", ...
--   code       a stable code: the AWS error code, the SQLSTATE, "HTTP 503",
--              "ConnectionRefused", "Timeout", ...
--   message    one human line
--   retryable  boolean: whether retrying the same call may succeed
--   where      "FILE:LINE" of the playbook line, or of the user's own
--              module, that was running when the error was made. Set by
--              M.new, and nil when no such line was running
-- Kinds add their own fields (http_status, request_id, service, operation,
-- sqlstate, detail, hint, url, stage, exit_status, ...).
local misuse = require("mnem.misuse")
local secret = require("mnem.secret")

local M = {}

local Error = {}
Error.__index = Error
Error.__name = "mnem.Error"

--- One line: "kind CODE: message (field=value, ...)", secrets masked.
function Error.__tostring(e)
  local parts = { e.kind or "error" }
  -- "interrupted Interrupted:" repeats one word, so a code equal
  -- to the kind (ignoring case) is left out.
  local code = e.code and tostring(e.code) or ""
  if code ~= "" and code:lower() ~= tostring(e.kind or "error"):lower() then parts[#parts + 1] = " " .. code end
  parts[#parts + 1] = ": " .. tostring(e.message or "(no message)")
  local extra = {}
  for _, key in ipairs({ "service", "operation", "http_status", "request_id", "url", "stage" }) do
    if e[key] ~= nil then extra[#extra + 1] = key .. "=" .. tostring(e[key]) end
  end
  if #extra > 0 then parts[#parts + 1] = " (" .. table.concat(extra, ", ") .. ")" end
  return secret.redact(table.concat(parts))
end

--- Makes an error value from FIELDS (which it takes over). kind, code and
-- message are required; retryable defaults to false.
function M.new(fields)
  assert(type(fields) == "table", "errors.new expects a table")
  assert(fields.kind, "errors.new: missing kind")
  assert(fields.message, "errors.new: missing message")
  if fields.retryable == nil then fields.retryable = false end
  if fields.where == nil then fields.where = misuse.position() end
  return setmetatable(fields, Error)
end

--- Raises a new error made from FIELDS.
function M.raise(fields, level)
  error(M.new(fields), level or 2)
end

--- Returns true when VALUE is an error made by this module.
function M.is(value)
  return getmetatable(value) == Error
end

local function field_text(value)
  if type(value) == "string" then return ("%q"):format(value) end
  if type(value) == "table" then return "{...}" end
  return tostring(value)
end

--- Returns the one-line text of any raised value ERR, secrets masked: a
-- string loses a Lua stack traceback after its first line, a table with
-- __tostring gives its text, and a plain table (`error({ code = "Boom" })`)
-- lists its fields, code and message first, instead of "table: 0x...".
function M.text(err)
  if type(err) == "string" then return secret.redact((err:gsub("\n%s*stack traceback:.*$", ""))) end
  local mt = getmetatable(err)
  if type(err) ~= "table" or (mt and mt.__tostring) then return secret.redact(tostring(err)) end
  local head = {}
  if err.code ~= nil then head[#head + 1] = tostring(err.code) end
  if err.message ~= nil then head[#head + 1] = tostring(err.message) end
  local keys = {}
  for key in pairs(err) do
    if key ~= "code" and key ~= "message" then keys[#keys + 1] = tostring(key) end
  end
  table.sort(keys)
  local extra = {}
  for _, key in ipairs(keys) do
    local value = err[key]
    if value == nil then value = err[tonumber(key)] end
    extra[#extra + 1] = key .. "=" .. field_text(value)
  end
  local text = #head > 0 and table.concat(head, ": ") or "error table"
  if #extra > 0 then text = text .. " (" .. table.concat(extra, ", ") .. ")" end
  return secret.redact(text)
end

--- Returns whether error E matches MATCHER: a string is compared with
-- e.code (and e.sqlstate), a number with e.http_status, a function is
-- called with e and its result used, and a list matches when any entry does.
function M.matches(e, matcher)
  local kind = type(matcher)
  if kind == "function" then return matcher(e) and true or false end
  if kind == "table" then
    for _, m in ipairs(matcher) do if M.matches(e, m) then return true end end
    return false
  end
  if type(e) ~= "table" then
    return kind == "string" and matcher == "*"
  end
  if matcher == "*" then return true end
  if kind == "number" then return e.http_status == matcher end
  if kind == "string" then return e.code == matcher or e.sqlstate == matcher end
  return false
end

return M
