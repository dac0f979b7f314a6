-- mnem.rehearsal: what keeps a rehearsal on loopback.
--
-- `mnem run --sim` sets MNEM_REHEARSAL=1 for the playbook it rehearses,
-- with the AWS endpoint, libpq's variables and the proxy variables aimed at
-- loopback servers. A playbook can still name a destination of its own: an
-- http URL, an AWS client's endpoint_url, a pg.connect host. The primitives
-- ask this module before they connect, and a destination that is not
-- loopback raises OutsideRehearsal before anything is sent.
local errors = require("mnem.errors")

local M = {}

--- Returns whether this process runs a rehearsal.
function M.active()
  return os.getenv("MNEM_REHEARSAL") == "1"
end

--- Returns whether HOST (lower case, IPv6 without brackets) is a loopback
-- name or address: localhost, 127.0.0.0/8 in dotted decimal, or ::1.
-- A dotted form that is not an address ("127.0.0.999", "127.0.0.09",
-- which inet_aton reads as invalid octal) does not count, because
-- resolvers then send it to DNS as a name.
function M.is_loopback(host)
  if host == "localhost" or host == "::1" then return true end
  local parts = { host:match("^127%.(%d+)%.(%d+)%.(%d+)$") }
  if #parts ~= 3 then return false end
  for _, part in ipairs(parts) do
    if #part > 3 or tonumber(part) > 255 or part:match("^0%d") then return false end
  end
  return true
end

--- Returns the lower-case host of AUTHORITY ("user@host:port", "[::1]:80").
function M.authority_host(authority)
  authority = authority:gsub("^.*@", "")
  local v6 = authority:match("^%[(.-)%]")
  if v6 then return v6:lower() end
  return (authority:gsub(":%d*$", "")):lower()
end

--- Returns the OutsideRehearsal error, of error kind KIND, for an attempt
-- to reach HOST, described as WHAT ("GET https://...", "ssm request to
-- https://..."), with FIX telling how to stay on loopback. FIELDS (taken
-- over) adds fields of its own.
function M.outside_error(kind, what, host, fix, fields)
  fields = fields or {}
  fields.kind, fields.code, fields.retryable = kind, "OutsideRehearsal", false
  fields.message = ("%s not sent: a rehearsal reaches only loopback and the simulator, and %s is neither. %s")
    :format(what, host, fix)
  return errors.new(fields)
end

return M
