# A rehearsal (`mnem run --sim`) keeps a playbook's own destinations on
# loopback too: an AWS client given its own endpoint_url, pg.connect with an
# explicit host, and programs run with their own proxy variables or a
# replaced environment. It also ignores the caller's other libpq settings,
# and marks the run as a rehearsal in its messages, record and reports.
# The addresses outside loopback are from 192.0.2.0/24 (TEST-NET-1) and
# the reserved name db.invalid, and every check raises before anything is sent.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/contained.lua" <<'PLAYBOOK'
local function code_of(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then return "sent" end
  return tostring(type(err) == "table" and err.code or err)
end

playbook {
  name = "rehearsal-contained",
  steps = {
    step "Try to leave loopback" {
      run = function()
        local far = aws.client{ endpoint_url = "https://192.0.2.1" }
        print("aws-endpoint=" .. code_of(function() return far.sts.get_caller_identity{} end))
        local ok, err = pcall(function() return far.sts.get_caller_identity{} end)
        print("aws-message=" .. tostring(err.message))
        local near = aws.client{ endpoint_url = os.getenv("AWS_ENDPOINT_URL") }
        print("aws-loopback=" .. near.sts.get_caller_identity{}.Account)
        print("pg-table=" .. code_of(pg.connect, { host = "192.0.2.1", connect_timeout = 1 }))
        print("pg-hostaddr=" .. code_of(pg.connect, { hostaddr = "192.0.2.1", connect_timeout = 1 }))
        print("pg-string=" .. code_of(pg.connect, "host=db.invalid dbname=app connect_timeout=1"))
        print("pg-uri=" .. code_of(pg.connect, "postgresql://db.invalid:5432/app?connect_timeout=1"))
        print("pg-list=" .. code_of(pg.connect, { host = "127.0.0.1,192.0.2.1", connect_timeout = 1 }))
        print("pg-dbname=" .. code_of(pg.connect, { dbname = "host=192.0.2.1 dbname=app", connect_timeout = 1 }))
        local conn = pg.connect{ host = "127.0.0.1" }
        print("pg-loopback=" .. conn:query("SELECT 2 AS two")[1].two)
        conn:close()
        local merged = exec{ "sh", "-c", "echo $HTTPS_PROXY $https_proxy $NO_PROXY", stream = false,
                             env = { HTTPS_PROXY = "http://192.0.2.1:3128", https_proxy = "http://192.0.2.1:3128",
                                     NO_PROXY = "*" } }
        print("exec-env=" .. merged.stdout:gsub("%s+$", ""))
        local replaced = exec{ "/bin/sh", "-c", "echo $HTTPS_PROXY $MNEM_REHEARSAL $HOME", stream = false,
                               env = { HOME = "/nowhere" }, env_replace = true }
        print("exec-replaced=" .. replaced.stdout:gsub("%s+$", ""))
        print("PGSSLMODE=" .. tostring(os.getenv("PGSSLMODE")))
        print("PGTARGETSESSIONATTRS=" .. tostring(os.getenv("PGTARGETSESSIONATTRS")))
      end,
    },
  },
}
PLAYBOOK
PGSSLMODE=verify-full PGTARGETSESSIONATTRS=read-only \
  "$MNEM" run --sim --scenario empty "$dir/contained.lua" --state-dir "$dir/state" >"$dir/out" 2>&1
status=$?

check "the rehearsal succeeds" test "$status" -eq 0
check "an AWS client with its own endpoint raises OutsideRehearsal" grep -q '^aws-endpoint=OutsideRehearsal$' "$dir/out"
check "the message names the endpoint and the fix" \
  grep -q '^aws-message=sts request to https://192.0.2.1 (endpoint from: endpoint_url option) not sent: .*Leave out endpoint_url' "$dir/out"
check "an AWS client aimed at the simulator works" grep -q '^aws-loopback=[0-9]\{12\}$' "$dir/out"
check "pg.connect{host} elsewhere raises" grep -q '^pg-table=OutsideRehearsal$' "$dir/out"
check "pg.connect{hostaddr} elsewhere raises" grep -q '^pg-hostaddr=OutsideRehearsal$' "$dir/out"
check "a connection string elsewhere raises" grep -q '^pg-string=OutsideRehearsal$' "$dir/out"
check "a connection URI elsewhere raises" grep -q '^pg-uri=OutsideRehearsal$' "$dir/out"
check "one host of a list elsewhere raises" grep -q '^pg-list=OutsideRehearsal$' "$dir/out"
check "a host inside dbname raises" grep -q '^pg-dbname=OutsideRehearsal$' "$dir/out"
check "pg.connect to loopback works" grep -q '^pg-loopback=2$' "$dir/out"
check "exec env cannot replace the rehearsal proxy" \
  grep -q '^exec-env=http://127.0.0.1:9 http://127.0.0.1:9 127.0.0.1,localhost,::1$' "$dir/out"
check "env_replace keeps the rehearsal proxy" grep -q '^exec-replaced=http://127.0.0.1:9 1 /nowhere$' "$dir/out"
check "the caller's PGSSLMODE is removed" grep -q '^PGSSLMODE=nil$' "$dir/out"
check "the caller's other PG variables are removed" grep -q '^PGTARGETSESSIONATTRS=nil$' "$dir/out"
check "the run start says rehearsal" grep -q 'playbook "rehearsal-contained" (rehearsal on the local simulator)' "$dir/out"
check "the final message says rehearsal run" grep -q 'succeeded in .* (rehearsal run ' "$dir/out"
"$MNEM" runs --state-dir "$dir/state" >"$dir/runs" 2>&1
check "mnem runs marks the rehearsal" grep -q 'rehearsal-contained  succeeded (rehearsal)' "$dir/runs"
"$MNEM" report --state-dir "$dir/state" "$(sed -n '2s/ .*//p' "$dir/runs")" >"$dir/report" 2>&1
check "the report says rehearsal and its scenario" \
  grep -q '^- Rehearsal: against the local simulator (scenario empty)' "$dir/report"
"$MNEM" show --state-dir "$dir/state" "$(sed -n '2s/ .*//p' "$dir/runs")" >"$dir/show" 2>&1
check "mnem show marks the rehearsal" grep -q 'rehearsal on the local simulator (scenario empty)' "$dir/show"
t_done
