# A dry run of the parity playbook: reads run, changes are only printed,
# steps that need the missing changes say what they depend on, and the
# simulated world and the database are left as they were.
. tests/lib/t.sh
. tests/parity/lib.sh

T=$MNEM_TEST_TMP/parity-dryrun
mkdir -p "$T"
trap 'sim_stop' EXIT
reset_database
if ! sim_start "$T/sim"; then
  t_fail "simulator starts" "$(cat "$T/sim/sim.log")"
  t_done; exit 1
fi

"$MNEM_BIN" run --dry-run playbooks/nonprod-parity.lua --state-dir "$T/state" >"$T/run.out" 2>"$T/run.err"
status=$?
check "dry run exits 0" test $status -eq 0
check "dry run prints the create it would make" grep -q "would: aws rds CreateDBInstance" "$T/run.err"
check "dry run masks the master password" grep -q "MasterUserPassword=\*\*\*\*\*\*\*\*" "$T/run.err"
check "dependent step says what it waits for" grep -q 'step "Bootstrap the schema" would run, depends on Create the database instance' "$T/run.err"
check "health check says it needs the changes" grep -q 'step "Check the health endpoint" would run, depends on changes a dry run does not make' "$T/run.err"
aws_sim rds describe-db-instances --db-instance-identifier mnemosys-test-postgres >"$T/db.json" 2>&1
check "no instance was created" grep -q DBInstanceNotFound "$T/db.json"
aws_sim ssm get-parameter --name /mnemosys/test/db/port --with-decryption >"$T/port.json" 2>&1
check "SSM port parameter is unchanged" test "$(json_get "$T/port.json" 'd["Parameter"]["Value"]')" = 5439
check "no database was created" test "$(psql -X -At -d postgres -c "select count(*) from pg_database where datname = 'mnemosys_test'")" = 0
for f in "$T/run.out" "$T/run.err" "$T"/state/runs/*.jsonl; do
  check "no secret in $(basename "$f")" sh -c "! grep -q '$PARITY_PASSWORD' '$f'"
done
t_done
