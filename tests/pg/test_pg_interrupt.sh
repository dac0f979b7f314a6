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
sleep 1
kill -INT $pid
wait $pid
check "signal cancels statement" grep -q "ok=false code=57014" "$result_file"
check "cancel returns promptly" grep -Eq "seconds=[0-4]\." "$result_file"
t_done
