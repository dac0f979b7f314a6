# pg primitive: SIGINT during a long statement cancels it on the server.
. tests/lib/t.sh

if [ "${MNEM_TEST_PG:-}" != "1" ]; then
  t_skip "signal cancels statement" "no test PostgreSQL server (tests/run starts one)"
  t_done
  exit
fi

result_file="$MNEM_TEST_TMP/pg-interrupt.out"
"$MNEM" script tests/pg/cancel_on_signal.lua >"$result_file" 2>&1 &
pid=$!
# The signal must come while the statement runs: not before the helper
# traps signals, which a loaded machine can delay by seconds. Wait (up to
# 60 s) until the server shows the statement as active.
running() {
  psql -X -A -t -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'
    AND query LIKE '%mnem-interrupt-test%' AND pid <> pg_backend_pid()" 2>/dev/null | grep -qx 1
}
i=0
while ! running && kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
check "statement seen running" running
kill -INT $pid
wait $pid
check "signal cancels statement" grep -q "ok=false code=57014" "$result_file"
# The statement sleeps 20 s; under 10 s shows the cancel cut it short.
check "cancel returns promptly" grep -Eq "seconds=[0-9]\." "$result_file"
t_done
