-- Secrets with characters that JSON escapes stay masked when a table
-- holding them is encoded for a log line or a run record.
local t = require("t")
local cjson = require("cjson")
local secret = require("mnem.secret")

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

t.test("plain secret still masked", function()
  secret.mark("plain-secret-77")
  t.eq(secret.redact("x plain-secret-77 y"), "x " .. secret.MASK .. " y")
end)

return t.done()
