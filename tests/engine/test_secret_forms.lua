-- Secrets with characters that JSON escapes stay masked when a table
-- containing them is encoded for a log line or a run record, and secrets
-- with a quote or a backslash stay masked in the shell words exec logs and
-- in SQL literals pg.quote_literal writes.
local t = require("t")
local cjson = require("cjson")
local secret = require("mnem.secret")
local sql = require("pg.sql")

local CASES = {
  { "quote and backslash", 'p"q\\r-secret' },
  { "newline (PEM key)", "-----BEGIN KEY-----\nMIIsecret\n-----END KEY-----" },
  { "slash", "a/b/secret-9" },
}

for _, case in ipairs(CASES) do
  t.test("escaped secret: " .. case[1], function()
    secret.mark(case[2])
    local encoded = cjson.encode({ nested = { deeper = case[2] } })
    local text = secret.redact("fields " .. encoded)
    t.not_contains(text, case[2], "plain form")
    t.not_contains(text, cjson.encode(case[2]):sub(2, -2), "escaped form")
    t.contains(text, secret.MASK)
  end)
end

t.test("quoted secret in exec's command line", function()
  -- A failing command is logged with its command line, each argument
  -- shell-quoted, so a quote in the secret becomes '\''.
  local value = "it's-exec-secret-31"
  local dir = t.tmpdir()
  local script = assert(io.open(dir .. "/run.lua", "w"))
  script:write(("require('mnem.secret').mark(%q)\n"):format(value),
    ("pcall(require('mnem.exec').run, { 'false', %q })\n"):format(value))
  script:close()
  os.execute(("%s script %s/run.lua >%s/log 2>&1"):format(os.getenv("MNEM_BIN"), dir, dir))
  local f = assert(io.open(dir .. "/log"))
  local text = f:read("a")
  f:close()
  t.contains(text, "false", "the command was logged")
  t.not_contains(text, "exec-secret-31", "no part of the secret")
  t.contains(text, secret.MASK, "the mask")
end)

t.test("quoted secret in SQL literals", function()
  local cases = { "o'brien-sql-secret-32", "back\\slash-sql-secret-33", "both'\\-sql-secret-34" }
  for _, value in ipairs(cases) do
    secret.mark(value)
    local text = secret.redact("ALTER ROLE app PASSWORD " .. sql.quote_literal(value))
    t.not_contains(text, "sql-secret", value)
    t.contains(text, secret.MASK, value .. " masked")
  end
end)

t.test("plain secret still masked", function()
  secret.mark("plain-secret-77")
  t.eq(secret.redact("x plain-secret-77 y"), "x " .. secret.MASK .. " y")
end)

return t.done()
