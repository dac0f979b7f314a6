# The parity playbook end to end: the simulator (parity scenario) and the
# test harness's real PostgreSQL, checked afterwards with the real AWS CLI
# and psql; then a second run that must change nothing; then the report.
. tests/lib/t.sh
. tests/parity/lib.sh

T=$MNEM_TEST_TMP/parity-run
mkdir -p "$T"
trap 'sim_stop' EXIT
reset_database
if ! sim_start "$T/sim"; then
  t_fail "simulator starts" "$(cat "$T/sim/sim.log")"
  t_done; exit 1
fi
STATE=$T/state

"$MNEM_BIN" run playbooks/nonprod-parity.lua --state-dir "$STATE" >"$T/run1.out" 2>"$T/run1.err"
status=$?
if [ $status -eq 0 ]; then t_pass "first run succeeds"; else t_fail "first run succeeds" "exit $status: $(tail -n 25 "$T/run1.err")"; fi

# --- the final state, seen by independent clients ---
aws_sim rds describe-db-instances --db-instance-identifier mnemosys-test-postgres >"$T/db.json" 2>&1
check "instance is available" test "$(json_get "$T/db.json" 'd["DBInstances"][0]["DBInstanceStatus"]')" = available
check "instance class is db.t4g.large" test "$(json_get "$T/db.json" 'd["DBInstances"][0]["DBInstanceClass"]')" = db.t4g.large
check "instance storage is 200 GB gp3" test "$(json_get "$T/db.json" '"%s %s" % (d["DBInstances"][0]["AllocatedStorage"], d["DBInstances"][0]["StorageType"])')" = "200 gp3"
check "instance is Multi-AZ" test "$(json_get "$T/db.json" 'd["DBInstances"][0]["MultiAZ"]')" = True
check "instance keeps 35 days of backups" test "$(json_get "$T/db.json" 'd["DBInstances"][0]["BackupRetentionPeriod"]')" = 35
check "instance has deletion protection" test "$(json_get "$T/db.json" 'd["DBInstances"][0]["DeletionProtection"]')" = True
check "instance is encrypted" test "$(json_get "$T/db.json" 'd["DBInstances"][0]["StorageEncrypted"]')" = True
check "instance has no explicit IOPS" test "$(json_get "$T/db.json" 'd["DBInstances"][0].get("Iops") in (None, 3000)')" = True

aws_sim ssm get-parameter --name /mnemosys/test/db/host --with-decryption >"$T/host.json" 2>&1
check "SSM host parameter is written" test "$(json_get "$T/host.json" 'd["Parameter"]["Value"]')" = "$PGHOST"
check "SSM host parameter is a SecureString" test "$(json_get "$T/host.json" 'd["Parameter"]["Type"]')" = SecureString
aws_sim ssm get-parameter --name /mnemosys/test/db/name --with-decryption >"$T/name.json" 2>&1
check "SSM name parameter is mnemosys_test" test "$(json_get "$T/name.json" 'd["Parameter"]["Value"]')" = mnemosys_test

aws_sim ecs describe-services --cluster mnemosys-nonprod --services mnemosys-test-api >"$T/svc.json" 2>&1
check "service desired count is 2" test "$(json_get "$T/svc.json" 'd["services"][0]["desiredCount"]')" = 2
check "service runs 2 tasks" test "$(json_get "$T/svc.json" 'd["services"][0]["runningCount"]')" = 2
check "service has one deployment" test "$(json_get "$T/svc.json" 'len(d["services"][0]["deployments"])')" = 1
check "service rollout completed" test "$(json_get "$T/svc.json" 'd["services"][0]["deployments"][0].get("rolloutState")')" = COMPLETED
check "service grace period is 180" test "$(json_get "$T/svc.json" 'd["services"][0]["healthCheckGracePeriodSeconds"]')" = 180
check "service circuit breaker rolls back" test "$(json_get "$T/svc.json" 'd["services"][0]["deploymentConfiguration"]["deploymentCircuitBreaker"]["rollback"]')" = True

check "schema mnemosys exists" test "$(psql -X -At -d mnemosys_test -c "select count(*) from pg_namespace where nspname = 'mnemosys'")" = 1
check "app role has USAGE on the schema" test "$(psql -X -At -d mnemosys_test -c "select has_schema_privilege('mnemosys_app', 'mnemosys', 'USAGE')")" = t
check "app role has CREATE on the schema" test "$(psql -X -At -d mnemosys_test -c "select has_schema_privilege('mnemosys_app', 'mnemosys', 'CREATE')")" = t

# --- what the first run recorded ---
RECORD=$(ls "$STATE"/runs/*.jsonl | head -n 1)
check "record notes the IOPS fallback" grep -q 'InvalidParameterCombination' "$RECORD"
check "record lists the instance creation" grep -q '"resource":"rds:db-instance"' "$RECORD"
check "record file is private" test "$(stat -c %a "$RECORD")" = 600

# --- a second run changes nothing ---
"$MNEM_BIN" run playbooks/nonprod-parity.lua --state-dir "$STATE" >"$T/run2.out" 2>"$T/run2.err"
status=$?
if [ $status -eq 0 ]; then t_pass "second run succeeds"; else t_fail "second run succeeds" "exit $status: $(tail -n 20 "$T/run2.err")"; fi
RECORD2=$(ls -t "$STATE"/runs/*.jsonl | head -n 1)
check "second run records no change" sh -c "! grep -q '\"event\":\"change\"' '$RECORD2'"
for s in "Create the database instance" "Write the connection parameters" "Bootstrap the schema" "Redeploy the API"; do
  check "second run: $s already in place" record_has "$RECORD2" step_skip "$s" already_done
done
check "second run prints already in place" grep -q "already in place" "$T/run2.err"

# --- the report ---
RUN1=$(basename "$RECORD" .jsonl)
"$MNEM_BIN" report "$RUN1" --state-dir "$STATE" >"$T/report.md" 2>&1
for section in "## Actions taken" "## Problems encountered and how they were solved" "## Problems left unresolved" \
               "## Changes and artifacts" "## Follow-up work"; do
  check "report has section: $section" grep -qF "$section" "$T/report.md"
done
check "report explains the IOPS fallback" grep -q "without explicit IOPS" "$T/report.md"
check "report lists the created instance" grep -q "created rds:db-instance \`mnemosys-test-postgres\`" "$T/report.md"
check "report lists written parameters" grep -q "written ssm:parameter \`/mnemosys/test/db/port\`" "$T/report.md"
"$MNEM_BIN" report "$RUN1" --state-dir "$STATE" --format json >"$T/report.json" 2>&1
check "json report parses" python3 -c "import json,sys; json.load(open('$T/report.json'))"

# --- no secret anywhere ---
for f in "$T/run1.out" "$T/run1.err" "$T/run2.out" "$T/run2.err" "$T/report.md" "$T/report.json" \
         "$STATE"/runs/*.jsonl "$T/sim/sim.log"; do
  check "no secret in $(basename "$f")" sh -c "! grep -q '$PARITY_PASSWORD' '$f'"
done
t_done
