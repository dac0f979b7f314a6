-- Request headers as mnem._curl puts them on the wire, read byte for byte
-- by a loopback server (tests/wire/raw_head_server.py). The cases: values
-- of sizes around the 1 KiB line buffer and far past it, values of blanks
-- only, names and values that would corrupt the request, and many headers.
local t = require("t")
local curl = require("mnem._curl")
local sys = require("mnem._sys")

local test_dir = (arg and arg[0] or "tests/wire/test_curl_headers.lua"):match("^(.*)/[^/]+$") or "."

local dir = t.tmpdir()
local pid do
  local command = ("python3 '%s/raw_head_server.py' '%s' >'%s/server.log' 2>&1 & echo $!"):format(test_dir, dir, dir)
  local p = io.popen(command)
  pid = p:read("l")
  p:close()
end
local port
for _ = 1, 600 do
  local f = io.open(dir .. "/port")
  if f then
    port = f:read("l")
    f:close()
    break
  end
  sys.sleep(0.05)
end
assert(port, "raw_head_server.py did not start; see " .. dir .. "/server.log")

local session = curl.session()
local sent = 0

-- Sends a GET with HEADERS and returns the request head the server read.
local function head_for(headers)
  local response, err = session:request{ url = "http://127.0.0.1:" .. port .. "/", headers = headers }
  assert(response, err and err.message)
  t.eq(response.status, 200, "status")
  sent = sent + 1
  local f = assert(io.open(dir .. "/head-" .. sent, "rb"))
  local head = f:read("a")
  f:close()
  return head
end

t.test("header value sizes", function()
  for _, size in ipairs{ 1, 1013, 1014, 1015, 1016, 1023, 1024, 1025, 100 * 1024 } do
    local value = ("v"):rep(size - 1) .. "w"
    local head = head_for{ { "X-Size", value } }
    t.contains(head, "\r\nX-Size: " .. value .. "\r\n", "value of " .. size .. " bytes")
  end
end)

t.test("header empty and blank values", function()
  for _, value in ipairs{ "", " ", "   ", "\t", " \t " } do
    local head = head_for{ { "X-Blank", value } }
    t.contains(head, "\r\nX-Blank:\r\n", ("value %q is sent empty"):format(value))
  end
end)

t.test("header map form sizes", function()
  local value = ("m"):rep(2000)
  local head = head_for{ ["X-Map"] = value, ["X-Blank"] = "  " }
  t.contains(head, "\r\nX-Map: " .. value .. "\r\n", "long value")
  t.contains(head, "\r\nX-Blank:\r\n", "blank value")
end)

t.test("header names outside token rejected", function()
  local names = { " X-Lead", "X-Trail ", "X\tTab", "X-Semi;", "X(paren)", "X\"quote", "X,comma", "X/slash",
                  "X\1ctl", "X\127del", "X-\195\169", "X\0nul", "X:colon", "" }
  for _, name in ipairs(names) do
    t.raises(function() head_for{ { name, "1" } } end, "invalid header name or value", ("name %q"):format(name))
    t.raises(function() head_for{ [name] = "1" } end, "invalid header name or value", ("map name %q"):format(name))
  end
end)

t.test("header names with token symbols sent", function()
  local name = "X-!#$%&'*+.^_`|~09az"
  t.contains(head_for{ { name, "ok" } }, "\r\n" .. name .. ": ok\r\n")
end)

t.test("header values with NUL rejected", function()
  t.raises(function() head_for{ { "X-Nul", "abc\0def" } } end, "invalid header name or value")
  t.raises(function() head_for{ ["X-Nul"] = "abc\0" } end, "invalid header name or value")
end)

t.test("many headers all sent", function()
  local headers = {}
  for i = 1, 5000 do headers[i] = { "X-H" .. i, ("%d"):rep(3):format(i, i, i) } end
  local head = head_for(headers)
  local count = 0
  for _ in head:gmatch("\nX%-H%d+: %d+\r") do count = count + 1 end
  t.eq(count, 5000, "headers seen")
  t.contains(head, "\r\nX-H5000: 500050005000\r\n", "the last header")
end)

os.execute("kill " .. pid .. " 2>/dev/null")

return t.done()
