# Abandoned runs: a run whose process is gone without writing run_end
# (killed with SIGKILL, say) is listed as abandoned by mnem runs and mnem
# report when it ran on this host. The record file is not changed. Runs of
# other hosts, and runs whose process is still alive, stay "running".
. tests/lib/t.sh

TMP=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/abandoned.XXXXXX")
host=$(cat /proc/sys/kernel/hostname)
boot_id=$(cat /proc/sys/kernel/random/boot_id)

cat >"$TMP/playbook.lua" <<'LUA'
playbook {
  name = "long-sleep",
  vars = { dir = { type = "path" } },
  steps = {
    step "Sleep" { run = function(ctx)
      local f = io.open(ctx.vars.dir .. "/log", "a") f:write("sleeping\n") f:close()
      sleep(120)
    end },
  },
}
LUA

# --- a real run killed with SIGKILL ---------------------------------------
dir="$TMP/killed"
state="$dir/state"
mkdir -p "$dir"
"$MNEM" run "$TMP/playbook.lua" --state-dir "$state" --var "dir=$dir" >"$dir/out" 2>"$dir/err" &
pid=$!
i=0
# Up to 30 s: a loaded machine can be slow to start mnem.
while ! grep -q sleeping "$dir/log" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
record=$(ls "$state"/runs/*.jsonl | head -n 1)

"$MNEM" runs --state-dir "$state" >"$dir/runs-alive" 2>&1
check "live run shows running" grep -q 'long-sleep  running' "$dir/runs-alive"
"$MNEM" show last --state-dir "$state" >"$dir/show-alive" 2>&1
check "show says a live run is still going" grep -q 'no run_end line: the run is still going' "$dir/show-alive"
check "run_start records the boot id" grep -q "\"boot_id\":\"$boot_id\"" "$record"
check "run_start records the start time" grep -q '"process_start":[0-9]' "$record"

kill -KILL "$pid"
wait "$pid"
rc=$?
check "mnem was killed by SIGKILL" test "$rc" -eq 137
cp "$record" "$dir/before"

"$MNEM" runs --state-dir "$state" >"$dir/runs" 2>&1
check "runs shows killed run abandoned" grep -q 'long-sleep  abandoned' "$dir/runs"
check "runs no longer says running" sh -c "! grep -q running '$dir/runs'"
"$MNEM" report last --state-dir "$state" >"$dir/report" 2>&1
check "report outcome abandoned" grep -q 'Outcome: \*\*abandoned\*\*' "$dir/report"
check "report says the process is gone" grep -q "process $pid on $host is no longer running" "$dir/report"
"$MNEM" report last --format json --state-dir "$state" >"$dir/report.json" 2>&1
check "json report status abandoned" grep -q '"status":"abandoned"' "$dir/report.json"
"$MNEM" show last --state-dir "$state" >"$dir/show" 2>&1
check "show says the run was abandoned" grep -q "no run_end line: abandoned, process $pid on $host is no longer running" "$dir/show"
check "record file is unchanged" cmp -s "$record" "$dir/before"

# --- hand-written records ---------------------------------------------------
# write_record NAME HOST PID [EXTRA]: writes a record that has only its
# run_start line, with EXTRA JSON fields added, in state folder $TMP/NAME.
write_record() {
  mkdir -p "$TMP/$1/runs"
  printf '{"event":"run_start","run":"20260101T000000.000Z-%s","name":"%s","time":"2026-01-01T00:00:00.000Z",%s"host":"%s","pid":%s}\n' \
    "000000" "$1" "${4:-}" "$2" "$3" >"$TMP/$1/runs/20260101T000000.000Z-000000.jsonl"
}

sleep 60 &
other=$!

write_record other-host "not-$host" "$other"
"$MNEM" runs --state-dir "$TMP/other-host" >"$TMP/other-host.out" 2>&1
check "other host run stays running" grep -q 'other-host  running' "$TMP/other-host.out"

write_record reused-pid "$host" "$other"
"$MNEM" runs --state-dir "$TMP/reused-pid" >"$TMP/reused-pid.out" 2>&1
check "pid of another program is abandoned" grep -q 'reused-pid  abandoned' "$TMP/reused-pid.out"
"$MNEM" report last --state-dir "$TMP/reused-pid" >"$TMP/reused-pid.report" 2>&1
check "report names the other program" grep -q "process $other on $host is not mnem" "$TMP/reused-pid.report"

write_record start-differs "$host" "$other" "\"boot_id\":\"$boot_id\",\"process_start\":1,"
"$MNEM" runs --state-dir "$TMP/start-differs" >"$TMP/start-differs.out" 2>&1
check "other start time is abandoned" grep -q 'start-differs  abandoned' "$TMP/start-differs.out"

write_record rebooted "$host" "$other" '"boot_id":"00000000-0000-0000-0000-000000000000","process_start":1,'
"$MNEM" runs --state-dir "$TMP/rebooted" >"$TMP/rebooted.out" 2>&1
check "run before a reboot is abandoned" grep -q 'rebooted  abandoned' "$TMP/rebooted.out"

# A record without a start time whose pid is a live mnem process stays
# running. This mnem process sleeps in the background for that check.
"$MNEM" script /dev/stdin >/dev/null 2>&1 <<'LUA' &
require("mnem._sys").sleep(60)
LUA
live=$!
i=0
while ! tr '\0' ' ' <"/proc/$live/cmdline" 2>/dev/null | grep -q mnem && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
write_record live-mnem "$host" "$live"
"$MNEM" runs --state-dir "$TMP/live-mnem" >"$TMP/live-mnem.out" 2>&1
check "live mnem pid stays running" grep -q 'live-mnem  running' "$TMP/live-mnem.out"

kill "$other" "$live"
wait "$other" "$live" 2>/dev/null

t_done
