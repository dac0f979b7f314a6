# Destinations that looked like loopback to a rehearsal's checks but were
# not. A host with a connect-to entry for one port bypasses the rehearsal's
# proxy, so libcurl resolved it and connected directly on any other port,
# also after a redirect. A dotted "127.x" name that is not an address goes
# to DNS. A PostgreSQL service takes its host from ~/.pg_service.conf,
# ahead of PGHOST. MNEM_REHEARSAL=1 turns the checks on as `mnem run --sim`
# does. The destinations outside loopback are db.invalid (a reserved name)
# and 192.0.2.0/24 (TEST-NET-1), and every check raises before sending.
. tests/lib/t.sh

dir=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

# A loopback server whose /away redirects to db.invalid on port 81, which
# the connect-to entry below does not map.
cat > "$dir/server.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/away":
            self.send_response(302)
            self.send_header("Location", "http://db.invalid:81/x")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".new", "w").write(str(s.server_port))
import os; os.rename(sys.argv[1] + ".new", sys.argv[1])
s.serve_forever()
PY
python3 "$dir/server.py" "$dir/port" &
server_pid=$!
i=0
while [ ! -s "$dir/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$dir/port" 2>/dev/null)

mkdir "$dir/home"
printf '[prod]\nhost=192.0.2.7\ndbname=app\nconnect_timeout=1\n' > "$dir/home/.pg_service.conf"

cat > "$dir/escape.lua" <<'LUA'
local http = require("http")
local pg = require("pg")
local rehearsal = require("mnem.rehearsal")
local port = tonumber(arg[1])

local function outcome(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then return "sent" end
  if type(err) ~= "table" then return tostring(err) end
  return err.code .. " " .. tostring(err.message)
end

http.set_connect_to{ ("db.invalid:80:127.0.0.1:%d"):format(port) }
print("mapped-port=" .. outcome(http.request, { url = "http://db.invalid/", timeout = 5 }))
print("other-port=" .. outcome(http.request, { url = "http://db.invalid:81/", timeout = 5 }))
print("redirect=" .. outcome(http.request, { url = "http://db.invalid/away", follow_redirects = true, timeout = 5 }))
print("dotted-name=" .. outcome(http.request, { url = "http://127.0.0.999/", timeout = 5 }))
print("octal-name=" .. outcome(http.request, { url = "http://127.0.0.09/", timeout = 5 }))
print("loopback-address=" .. tostring(rehearsal.is_loopback("127.10.0.255")))
print("pg-dotted-name=" .. outcome(pg.connect, { host = "127.0.0.999", connect_timeout = 1 }))
print("pg-service=" .. outcome(pg.connect, { service = "prod" }))
print("pg-service-string=" .. outcome(pg.connect, "service=prod"))
print("pg-service-uri=" .. outcome(pg.connect, "postgresql:///?service=prod"))
print("pg-service-dbname=" .. outcome(pg.connect, { dbname = "service=prod" }))
local ok, err = pcall(require("aws").client, { endpoint_url = "http://127.0.0.999:4566" })
if ok then ok, err = pcall(function() return err.sts.get_caller_identity{} end) end
print("aws-dotted-name=" .. (ok and "sent" or tostring(err.code)))
LUA
HOME="$dir/home" MNEM_REHEARSAL=1 PGHOST=127.0.0.1 PGPORT=1 \
  "$MNEM" script "$dir/escape.lua" "$port" >"$dir/out" 2>&1

check "the loopback server started" test -n "$port"
check "a mapped host on its mapped port is sent" grep -q '^mapped-port=sent$' "$dir/out"
check "a mapped host on another port raises" \
  grep -q '^other-port=OutsideRehearsal .*db.invalid:81 is neither' "$dir/out"
check "a redirect to another port goes to the closed proxy port" \
  grep -q '^redirect=ConnectionRefused .*127.0.0.1 port 9' "$dir/out"
check "a dotted name past 255 raises" grep -q '^dotted-name=OutsideRehearsal ' "$dir/out"
check "a dotted name with a leading zero raises" grep -q '^octal-name=OutsideRehearsal ' "$dir/out"
check "a 127.0.0.0/8 address is loopback" grep -q '^loopback-address=true$' "$dir/out"
check "pg.connect to a dotted name raises" grep -q '^pg-dotted-name=OutsideRehearsal ' "$dir/out"
check "pg.connect{service} raises" grep -q '^pg-service=OutsideRehearsal .*service prod' "$dir/out"
check "a service in a connection string raises" grep -q '^pg-service-string=OutsideRehearsal ' "$dir/out"
check "a service in a URI raises" grep -q '^pg-service-uri=OutsideRehearsal ' "$dir/out"
check "a service inside dbname raises" grep -q '^pg-service-dbname=OutsideRehearsal ' "$dir/out"
check "an AWS endpoint at a dotted name raises" grep -q '^aws-dotted-name=OutsideRehearsal$' "$dir/out"
t_done
