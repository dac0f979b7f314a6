# A parity run that fails after it created the RDS instance: the ECS tasks
# keep crashing (their health rule needs a schema nobody creates), the
# redeploy step fails early with the evidence from the task logs, and the
# rollback hook deletes the instance this run created. The record shows it.
. tests/lib/t.sh
. tests/parity/lib.sh

T=$MNEM_TEST_TMP/parity-rollback
mkdir -p "$T"
trap 'sim_stop' EXIT
reset_database
cat >"$T/scenario.lua" <<LUA
local scenario = assert(loadfile("$MNEM_ROOT/stdlib/sim/scenarios/parity.lua"))()
scenario.ecs.services["mnemosys-test-api"].health = { requires_schema = "reporting", database_from_ssm = "/mnemosys/test/db/" }
return scenario
LUA
if ! sim_start "$T/sim" "$T/scenario.lua"; then
  t_fail "simulator starts" "$(cat "$T/sim/sim.log")"
  t_done; exit 1
fi

"$MNEM_BIN" run playbooks/nonprod-parity.lua --state-dir "$T/state" >"$T/run.out" 2>"$T/run.err"
status=$?
check "run fails with exit 1" test $status -eq 1
check "failure names the redeploy step" grep -q 'failed at step "Redeploy the API"' "$T/run.err"
check "failure shows the log evidence" grep -q 'schema "reporting" does not exist' "$T/run.err"
check "failure shows the exit code" grep -q "exited with code 1" "$T/run.err"
check "final message lists the rollback" grep -q 'rolled back: "Create the database instance"' "$T/run.err"
RECORD=$(ls "$T"/state/runs/*.jsonl | head -n 1)
check "record has the rollback of the instance" record_has "$RECORD" rollback_finish "Create the database instance"
check "record has the deletion" grep -q '"action":"deleted"' "$RECORD"
aws_sim rds describe-db-instances --db-instance-identifier mnemosys-test-postgres >"$T/db.json" 2>&1
check "instance is deleting or gone" sh -c "grep -q DBInstanceNotFound '$T/db.json' || grep -q '\"deleting\"' '$T/db.json'"
"$MNEM_BIN" report "$(basename "$RECORD" .jsonl)" --state-dir "$T/state" >"$T/report.md"
check "report lists the rollback" grep -q "Create the database instance: undone" "$T/report.md"
check "report lists the unresolved failure" grep -q "Redeploy the API: ecs DeploymentFailed" "$T/report.md"
for f in "$T/run.out" "$T/run.err" "$RECORD" "$T/report.md" "$T/sim/sim.log"; do
  check "no secret in $(basename "$f")" sh -c "! grep -q '$PARITY_PASSWORD' '$f'"
done
t_done
