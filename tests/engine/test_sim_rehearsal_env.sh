# What `mnem run --sim` gives a playbook: libpq's variables aimed at the
# throwaway PostgreSQL (pg.connect{} with no arguments reaches it), the
# simulator's endpoint, and proxy variables aimed at a closed loopback port
# with loopback exempt, so programs the playbook runs cannot reach any other
# host. Nothing here sends a request anywhere but loopback.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/env.lua" <<'PLAYBOOK'
playbook {
  name = "rehearsal-env",
  steps = {
    step "Read the environment" {
      run = function()
        local conn = pg.connect{}
        local row = conn:query("SELECT current_user AS who, 1 + 1 AS two")[1]
        conn:close()
        local names = { "AWS_ENDPOINT_URL", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY",
                        "PGHOST", "PGDATABASE", "PGPASSWORD" }
        for _, name in ipairs(names) do print(name .. "=" .. tostring(os.getenv(name))) end
        print("pg=" .. row.who .. "/" .. tostring(row.two))
      end,
    },
  },
}
PLAYBOOK
"$MNEM" run --sim --scenario empty "$dir/env.lua" --state-dir "$dir/state" >"$dir/out" 2>&1
status=$?

check "the rehearsal succeeds" test "$status" -eq 0
check "pg.connect{} reaches the throwaway server" grep -q '^pg=postgres/2$' "$dir/out"
check "PGHOST is loopback" grep -q '^PGHOST=127.0.0.1$' "$dir/out"
check "PGDATABASE is set" grep -q '^PGDATABASE=postgres$' "$dir/out"
check "the AWS endpoint is the simulator" grep -Eq '^AWS_ENDPOINT_URL=http://127\.0\.0\.1:[0-9]+$' "$dir/out"
check "HTTPS_PROXY is a closed loopback port" grep -q '^HTTPS_PROXY=http://127.0.0.1:9$' "$dir/out"
check "https_proxy is set too" grep -q '^https_proxy=http://127.0.0.1:9$' "$dir/out"
check "HTTP_PROXY is set" grep -q '^HTTP_PROXY=http://127.0.0.1:9$' "$dir/out"
check "ALL_PROXY is set" grep -q '^ALL_PROXY=http://127.0.0.1:9$' "$dir/out"
check "loopback is exempt" grep -q '^NO_PROXY=127.0.0.1,localhost,::1$' "$dir/out"
check "PGPASSWORD is set and masked" grep -q '^PGPASSWORD=\*\*\*\*\*\*\*\*$' "$dir/out"

# A scenario whose credential has a session token: the rehearsal passes the
# token on, so the playbook's AWS calls and the AWS CLI it runs sign with it,
# and the token stays masked.
cat > "$dir/token-scenario.lua" <<'LUA'
return { credentials = {
  { access_key_id = "ASIAREHEARSAL", secret_access_key = "rehearsalsecret77", session_token = "RehearsalToken55" },
} }
LUA
cat > "$dir/token.lua" <<'PLAYBOOK'
playbook {
  name = "rehearsal-token",
  steps = {
    step "Call with the token" {
      run = function()
        local id = aws.sts.get_caller_identity{}
        local cli = exec{ "/usr/bin/aws", "--endpoint-url", os.getenv("AWS_ENDPOINT_URL"), "--output", "text",
                          "--query", "Account", "sts", "get-caller-identity", stream = false }
        print("account=" .. id.Account .. " cli=" .. cli.stdout:gsub("%s+$", ""))
        print("token=" .. tostring(os.getenv("AWS_SESSION_TOKEN")))
      end,
    },
  },
}
PLAYBOOK
"$MNEM" run --sim --scenario "$dir/token-scenario.lua" "$dir/token.lua" --state-dir "$dir/state" >"$dir/token.out" 2>&1
status=$?
check "the rehearsal with a session token succeeds" test "$status" -eq 0
check "mnem and the AWS CLI sign with the token" grep -q '^account=[0-9]\{12\} cli=[0-9]\{12\}$' "$dir/token.out"
check "the token is masked" grep -q '^token=\*\*\*\*\*\*\*\*$' "$dir/token.out"
check "the token never shows" sh -c "! grep -rq RehearsalToken55 '$dir/token.out' '$dir/state'"

# HTTP in a rehearsal. Loopback works. Another host raises OutsideRehearsal
# before anything is sent. A redirect from loopback to another host goes to
# the closed loopback proxy and fails there.
python3 tests/engine/redirect_server.py "$dir/port" &
server=$!
i=0
while [ ! -s "$dir/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$dir/port")
cat > "$dir/requests.lua" <<PLAYBOOK
playbook {
  name = "rehearsal-http",
  steps = {
    step "Requests" {
      run = function()
        print("loopback=" .. http.get("http://127.0.0.1:$port/").status)
        local ok, err = pcall(http.get, "http://192.0.2.1/")
        print("direct=" .. tostring(ok) .. " " .. tostring(err.code))
        ok, err = pcall(http.get, "http://127.0.0.1:$port/away", { follow_redirects = true })
        print("redirect=" .. tostring(ok) .. " " .. tostring(err.message))
      end,
    },
  },
}
PLAYBOOK
"$MNEM" run --sim --scenario empty "$dir/requests.lua" --state-dir "$dir/state" >"$dir/http.out" 2>&1
kill "$server" 2>/dev/null
check "loopback requests work in a rehearsal" grep -q '^loopback=200$' "$dir/http.out"
check "another host raises OutsideRehearsal" grep -q '^direct=false OutsideRehearsal$' "$dir/http.out"
check "a redirect off loopback meets the closed proxy" grep -q '^redirect=false .*127.0.0.1 port 9' "$dir/http.out"
t_done
