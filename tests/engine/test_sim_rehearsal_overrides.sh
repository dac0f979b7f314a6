# Variables in the operator's environment that would take a `mnem run
# --sim` rehearsal away from its simulator and throwaway PostgreSQL:
# AWS_ENDPOINT_URL_<SERVICE>, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
# PGHOSTADDR and PGSERVICE. Every address used here is on loopback
# (127.0.0.1:9 and 127.0.0.2 serve nothing), so a regression fails the
# checks without any request leaving the machine.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/calls.lua" <<'PLAYBOOK'
playbook {
  name = "rehearsal-overrides",
  steps = {
    step "Call the simulator and the server" {
      run = function()
        local output = aws.rds.describe_db_instances{}
        print("rds=" .. type(output.DBInstances))
        local conn = pg.connect{}
        print("pg=" .. tostring(conn:query("SELECT 2 AS two")[1].two))
        conn:close()
        for _, name in ipairs{ "AWS_ENDPOINT_URL_RDS", "AWS_ENDPOINT_URL_STS", "PGHOSTADDR", "PGSERVICE" } do
          print(name .. "=" .. tostring(os.getenv(name)))
        end
      end,
    },
  },
}
PLAYBOOK
cat > "$dir/pg_service.conf" <<'SERVICE'
[elsewhere]
host=127.0.0.1
port=9
SERVICE

AWS_ENDPOINT_URL_RDS=http://127.0.0.1:9 AWS_ENDPOINT_URL_STS=http://127.0.0.1:9 PGHOSTADDR=127.0.0.2 \
  "$MNEM" run --sim --scenario empty "$dir/calls.lua" --state-dir "$dir/state1" >"$dir/out1" 2>&1
status=$?
check "the rehearsal with endpoint overrides succeeds" test "$status" -eq 0
check "AWS calls reach the simulator" grep -q '^rds=table$' "$dir/out1"
check "pg.connect{} reaches the throwaway server" grep -q '^pg=2$' "$dir/out1"
check "AWS_ENDPOINT_URL_RDS is removed" grep -q '^AWS_ENDPOINT_URL_RDS=nil$' "$dir/out1"
check "AWS_ENDPOINT_URL_STS is removed" grep -q '^AWS_ENDPOINT_URL_STS=nil$' "$dir/out1"
check "PGHOSTADDR is removed" grep -q '^PGHOSTADDR=nil$' "$dir/out1"

PGSERVICEFILE="$dir/pg_service.conf" PGSERVICE=elsewhere \
  "$MNEM" run --sim --scenario empty "$dir/calls.lua" --state-dir "$dir/state2" >"$dir/out2" 2>&1
status=$?
check "the rehearsal with a pg service succeeds" test "$status" -eq 0
check "a pg service does not redirect pg.connect{}" grep -q '^pg=2$' "$dir/out2"
check "PGSERVICE is removed" grep -q '^PGSERVICE=nil$' "$dir/out2"

# With this variable true the AWS client would skip AWS_ENDPOINT_URL and
# call AWS, so this playbook makes no AWS call: it only reads the variable.
cat > "$dir/ignore.lua" <<'PLAYBOOK'
playbook {
  name = "rehearsal-ignore-endpoints",
  steps = {
    step "Read the variable" {
      run = function()
        print("ignore=" .. tostring(os.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")))
      end,
    },
  },
}
PLAYBOOK
AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true \
  "$MNEM" run --sim --scenario empty "$dir/ignore.lua" --state-dir "$dir/state3" >"$dir/out3" 2>&1
check "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is removed" grep -q '^ignore=nil$' "$dir/out3"
t_done
