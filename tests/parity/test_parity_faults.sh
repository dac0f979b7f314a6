# The parity playbook succeeds while the simulator throttles 10 % of calls
# and fails 2 % with 5xx errors: the AWS client's retries and the
# playbook's retry policy absorb them.
. tests/lib/t.sh
. tests/parity/lib.sh

T=$MNEM_TEST_TMP/parity-faults
mkdir -p "$T"
trap 'sim_stop' EXIT
reset_database
export MNEM_SIM_FAULTS="throttle=0.10,5xx=0.02"
if ! sim_start "$T/sim"; then
  t_fail "simulator starts" "$(cat "$T/sim/sim.log")"
  t_done; exit 1
fi
unset MNEM_SIM_FAULTS

"$MNEM_BIN" run playbooks/nonprod-parity.lua --state-dir "$T/state" >"$T/run.out" 2>"$T/run.err"
status=$?
if [ $status -eq 0 ]; then t_pass "run under faults succeeds"; else t_fail "run under faults succeeds" "exit $status: $(tail -n 25 "$T/run.err")"; fi
# A request log line with the throttling code of a query service
# (Throttling) or a JSON one (ThrottlingException).
check "the simulator injected throttling" grep -Eq \
  '^[0-9:]+ info [a-z0-9_]+\.[A-Za-z]+ 400 Throttling(Exception)? [0-9.]+ms ' "$T/sim/sim.log"
check "the client logged its retries" grep -qi "retr" "$T/run.err"
aws_sim ecs describe-services --cluster mnemosys-nonprod --services mnemosys-test-api >"$T/svc.json" 2>&1
check "service ends with 2 running tasks" test "$(json_get "$T/svc.json" 'd["services"][0]["runningCount"]')" = 2
check "schema exists after the faulty run" test "$(psql -X -At -d mnemosys_test -c "select count(*) from pg_namespace where nspname = 'mnemosys'")" = 1
t_done
